"""The credentials a sandbox on this machine accepts (it takes any), used by the demo, the UI's sandboxes and
the CLI on a sandbox channel alike when none are set (#28: the CLI on the demo's warehouse lacked them)."""

from __future__ import annotations

import os

from pipelines.clock import is_loopback

SANDBOX_CREDENTIALS = {
    "LWA_APP_ID": "demo-app",
    "LWA_CLIENT_SECRET": "demo-secret",
    "SP_API_REFRESH_TOKEN": "demo-refresh-token",
}


def use_sandbox_credentials(channels) -> bool:
    """Set the sandbox's credentials where none are set (a variable set, even empty, is the seller's choice),
    when every channel is served by a sandbox on this machine; True if they were set."""
    if not channels or not all(
        c.endpoint and is_loopback(c.endpoint) and c.token_url and is_loopback(c.token_url) for c in channels
    ):
        return False
    if any(name in os.environ for name in SANDBOX_CREDENTIALS):
        return False
    os.environ.update(SANDBOX_CREDENTIALS)
    return True
