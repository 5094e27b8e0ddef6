"""`make ui`: Dagster's UI (`dagster dev`) on one warehouse and its own Dagster instance.

A channel that points at a sandbox on this machine (the demo's does) gets a live one on its port for as
long as the UI runs, its clock following the real one from the channel's watermark, so the UI's scheduled
and hand-launched syncs of that channel reach it and bring new orders in. Ctrl-C stops the UI with all
its processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

# the sandbox accepts any credentials; these are what the demo and the UI's sandboxes use when none are set
from pipelines.orchestration.credentials import SANDBOX_CREDENTIALS
from pipelines.orchestration.instance import warehouse_home
from pipelines.warehouse.connection import open_for_reading, warehouse_path

_LOOPBACK = ("127.0.0.1", "localhost")
_SHUTDOWN_GRACE = 20  # seconds dagster dev gets to stop its webserver, daemon and code servers
_CATCH_UP_LIMIT = timedelta(hours=24)  # a sandbox started long after the demo simulates one day, not weeks


class UIError(ValueError):
    """Printed as one line by the CLI."""


def sandbox_channels(db: Path) -> list[tuple[str, int, datetime, tuple[str, ...], list[str]]]:
    """(name, port, watermark, marketplace ids, catalog SKUs) of each channel served by a sandbox on this machine."""
    from pipelines.ingest.cursors import load_state
    from pipelines.warehouse.channels import list_channels

    if not db.exists():
        return []
    with open_for_reading(db) as con:
        skus = [
            row[0]
            for row in con.execute(
                "select product_code from products where not is_placeholder order by product_code"
            ).fetchall()
        ]
        found = []
        for channel in list_channels(con):
            where = urlsplit(channel.endpoint or "")
            if where.scheme == "http" and where.hostname in _LOOPBACK and where.port:
                found.append(
                    (channel.name, where.port, load_state(con, channel).watermark, channel.marketplace_ids, skus)
                )
    return found


def start_sandboxes(db: Path, orders_per_hour: float, say: Callable[[str], None]) -> list:
    from pipelines.sandbox import Marketplace, SandboxServer
    from pipelines.sandbox.server import DEFAULT_SKUS

    started = []
    now = datetime.now(UTC).replace(microsecond=0)
    for name, port, watermark, marketplace_ids, skus in sandbox_channels(db):
        start = max(watermark.replace(tzinfo=UTC), now - _CATCH_UP_LIMIT)
        market = Marketplace(seed=int(now.timestamp()), start=min(start, now))
        try:
            server = SandboxServer(market, port=port)
        except OSError as error:
            for running in started:
                running.stop()
            raise UIError(
                f"the sandbox of channel {name!r} cannot listen on port {port}: {error.strerror} "
                f"(is another `make ui` running?)"
            ) from None
        server.start().follow_real_time(
            orders_per_hour=orders_per_hour, skus=skus or list(DEFAULT_SKUS), marketplaces=marketplace_ids
        )
        started.append(server)
        say(
            f"sandbox for channel {name!r} at {server.url}: its clock follows the real one from the channel's "
            f"watermark, about {orders_per_hour:g} orders an hour"
        )
    return started


def run_ui(
    db: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    orders_per_hour: float = 30,
    say: Callable[[str], None] = print,
) -> int:
    """Run `dagster dev` until it ends or Ctrl-C; return its exit status."""
    if orders_per_hour < 0:
        raise UIError(f"--orders-per-hour {orders_per_hour:g} is negative")
    db_path = warehouse_path(db).resolve()
    home = warehouse_home(db_path)  # the warehouse's own instance, as the CLI's runs on it use (#28)
    sandboxes = start_sandboxes(db_path, orders_per_hour, say)
    env = dict(os.environ, AMAZON_ORDERS_DB=str(db_path), DAGSTER_HOME=str(home))
    if sandboxes:
        for name, value in SANDBOX_CREDENTIALS.items():
            env.setdefault(name, value)
    # dagster dev's notice that `dg dev` (another package) supersedes it is not for the user
    env["PYTHONWARNINGS"] = "ignore:Function `dev_command` is superseded"
    env.pop("SP_API_DEFAULT_MARKETPLACE", None)  # python-amazon-sp-api would let it override the channel's
    say(f"Dagster UI on http://{host}:{port} for warehouse {db_path} (Ctrl-C stops it)")
    # Our handlers go in before dagster dev starts: a child starts with the default action for a signal
    # its parent catches, but keeps one its parent ignores (as a shell's background job ignores SIGINT),
    # and dagster dev then never hears Ctrl-C.
    stopping = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda signum, frame: stopping.set())
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        # In its own process group, so that Ctrl-C reaches all of dagster dev's processes through us and
        # whatever one of them leaves behind ends with the group. Run from DAGSTER_HOME: dagster dev warns
        # about a dagster.yaml in its working folder that is not the home's.
        child = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-m", "pipelines.definitions", "-h", host, "-p", str(port)],
            cwd=home,
            env=env,
            start_new_session=True,
        )
        while child.poll() is None and not stopping.wait(0.5):
            pass
        if child.poll() is None:
            _signal_group(child.pid, signal.SIGINT)
            try:
                child.wait(timeout=_SHUTDOWN_GRACE)
            except subprocess.TimeoutExpired:
                say(f"Dagster did not stop within {_SHUTDOWN_GRACE} s of Ctrl-C; killing it")
        _signal_group(child.pid, signal.SIGKILL)  # anything of the group still there
        child.wait()
        return 0 if stopping.is_set() else child.returncode
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for server in sandboxes:
            server.stop()


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass
