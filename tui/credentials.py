"""Where the CLI keeps the short-lived token the relay issues.

The OS keyring (``keyring``) when a backend exists. Where none does (a
headless server, a container), ``keyring`` raises ``NoKeyringError``; we never
fall back to a plaintext file silently. Instead the user is told, and the
explicit fallback is the ``WARROOM_TOKEN`` environment variable, which also
wins over the keyring when set so that scripts can pass a token directly.
"""

from __future__ import annotations

import contextlib
import os

import keyring
import keyring.errors

SERVICE = "warroom"
ENV_VAR = "WARROOM_TOKEN"


class NoKeyring(Exception):
    """No keyring backend: the message tells the user what to do instead."""


def load_token(relay_url: str) -> str | None:
    """The token for ``relay_url``: ``$WARROOM_TOKEN`` first, then the keyring."""
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return from_env
    try:
        token: str | None = keyring.get_password(SERVICE, relay_url)
    except keyring.errors.KeyringError:
        return None
    return token


def store_token(relay_url: str, token: str) -> None:
    """Keep ``token`` in the OS keyring; raise :class:`NoKeyring` with advice if none."""
    try:
        keyring.set_password(SERVICE, relay_url, token)
    except keyring.errors.KeyringError as exc:
        raise NoKeyring(
            f"no OS keyring is available ({exc}); the login works for this run only. "
            f"To reuse it, set {ENV_VAR} to the token (warroom login --print-token prints it)."
        ) from None


def forget_token(relay_url: str) -> None:
    with contextlib.suppress(keyring.errors.KeyringError):
        keyring.delete_password(SERVICE, relay_url)
