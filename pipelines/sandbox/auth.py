"""The sandbox's Login with Amazon token endpoint: a seller's access token for a refresh token, and a grantless
one (client credentials) for the operations that take no seller's authorisation. Secrets never leave this
module: not in the server's records, not in an error."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs

from .notifications import GRANTLESS_SCOPE

TOKEN_PATH = "/auth/o2/token"
ACCESS_TOKEN_PREFIX = "Atza|sandbox."
GRANTLESS_TOKEN_PREFIX = "Atc|sandbox."  # a client-credentials token: grantless operations only


def form_of(body: bytes) -> dict[str, str]:
    """The token request's form fields."""
    return {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}


def token_recorded(body: bytes) -> dict:
    """What the server records of a token request: its grant type, nothing secret."""
    form = form_of(body)
    return {"grant_type": form["grant_type"]} if "grant_type" in form else {}


def token_answer(body: bytes) -> tuple[int, dict]:
    """LWA's answer (status, JSON) to a token request."""
    form = form_of(body)
    if form.get("grant_type") == "client_credentials":
        # the grantless grant: "scope=sellingpartnerapi::notifications", no refresh token
        for name in ("scope", "client_id", "client_secret"):
            if not form.get(name):
                return 400, {"error": "invalid_request", "error_description": f"Missing parameter: {name}"}
        if form["scope"] != GRANTLESS_SCOPE:
            return 400, {"error": "invalid_scope", "error_description": "Not authorized for requested scope"}
        return 200, {
            "access_token": GRANTLESS_TOKEN_PREFIX + secrets.token_urlsafe(32),
            "token_type": "bearer",
            "expires_in": 3600,
        }
    for name in ("grant_type", "refresh_token", "client_id", "client_secret"):
        if not form.get(name):
            return 400, {"error": "invalid_request", "error_description": f"Missing parameter: {name}"}
    if form["grant_type"] != "refresh_token":
        return 400, {"error": "unsupported_grant_type", "error_description": "Only refresh_token is supported"}
    return 200, {
        "access_token": ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32),
        "token_type": "bearer",
        "expires_in": 3600,
        "refresh_token": form["refresh_token"],
    }
