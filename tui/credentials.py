"""Where the CLI keeps the short-lived token the relay issues.

In order of preference:

1. ``$WARROOM_TOKEN``, when set: scripts pass a token directly, and it wins.
2. The OS keyring (``keyring``), when a backend exists.
3. A token file, **only when the user asked for it** (``warroom login
   --insecure-storage``, as ``gh auth login --insecure-storage`` offers):
   ``tokens.json`` in the user's config directory (``platformdirs``), mode
   0600 in a 0700 directory, plain text. Once that file exists, later logins
   keep their tokens there too, so a ``warroom join`` refreshes what the
   user chose to keep.

Where no keyring backend exists (a headless server, a container), keyring
raises ``NoKeyringError`` with several lines of advice about third-party
packages; the user is told in one sentence instead, with the two ways on.
We never fall back to a plaintext file silently (installing ``keyrings.alt``
would: it makes a plaintext file the "keyring" without saying so).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import keyring
import keyring.errors
import platformdirs

from relay.core.errors import WarroomError

SERVICE = "warroom"
ENV_VAR = "WARROOM_TOKEN"
TOKEN_FILE = "tokens.json"


class NoKeyring(WarroomError):
    """No keyring backend and no opt-in file: the message says what to do instead."""


def token_file() -> Path:
    """The opt-in plaintext store: ``<user config dir>/warroom/tokens.json``."""
    return platformdirs.user_config_path("warroom") / TOKEN_FILE


def load_token(relay_url: str) -> str | None:
    """The token for ``relay_url``: ``$WARROOM_TOKEN``, then the keyring, then the file."""
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return from_env
    try:
        token: str | None = keyring.get_password(SERVICE, relay_url)
    except keyring.errors.KeyringError:
        token = None
    return token or _read_file().get(relay_url)


def store_token(relay_url: str, token: str, insecure_storage: bool = False) -> Path | None:
    """Keep ``token``; return the file it went to, or ``None`` for the keyring.

    ``insecure_storage`` (or a token file kept before) puts it in the file;
    otherwise the keyring, and :class:`NoKeyring` when there is none.
    """
    if insecure_storage or token_file().exists():
        return _write_file(relay_url, token)
    try:
        keyring.set_password(SERVICE, relay_url, token)
    except keyring.errors.KeyringError:
        raise NoKeyring(
            "there is no OS keyring here, so the login was not saved: run 'warroom login' "
            f"with --insecure-storage to keep it in {token_file()} (readable only by you), "
            f"or set {ENV_VAR} (--print-token prints it)"
        ) from None
    return None


def forget_token(relay_url: str) -> None:
    with contextlib.suppress(keyring.errors.KeyringError):
        keyring.delete_password(SERVICE, relay_url)
    tokens = _read_file()
    if tokens.pop(relay_url, None) is not None:
        _replace_file(tokens)


def _read_file() -> dict[str, str]:
    try:
        data = json.loads(token_file().read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


def _write_file(relay_url: str, token: str) -> Path:
    tokens = _read_file()
    tokens[relay_url] = token
    return _replace_file(tokens)


def _replace_file(tokens: dict[str, str]) -> Path:
    """Write atomically, created 0600 (never readable by others, not even for a moment)."""
    path = token_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(tokens, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.chmod(partial, 0o600)  # the umask cannot widen it, but an existing file could be wider
    os.replace(partial, path)
    return path
