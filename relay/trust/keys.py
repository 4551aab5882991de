"""The relay's own ed25519 signing key.

It signs tokens, invites, recording checkpoints and audit checkpoints, so
that an auditor holding only the public key can check them offline. The key
lives under ``<data-dir>/keys/`` and is generated on first start (mode 0600).
Like OpenSSH with a private key file, the relay refuses to load a key that
group or others may read or write: whoever can read it can mint any token.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from relay.core.errors import WarroomError

KEY_FILE = "relay_ed25519"
PUBLIC_KEY_FILE = "relay_ed25519.pub"
PUBLIC_KEY_PREFIX = "warroom-ed25519:"
PRIVATE_MODE_MASK = 0o077
"""Permission bits for group and others: any of them on the key file is refused."""


class KeyFileError(WarroomError, ValueError):
    """The key file cannot be used as it is; the message says what to do."""


def check_private(path: Path) -> None:
    """Refuse ``path`` if group or others have any access to it, as OpenSSH does.

    OpenSSH says "UNPROTECTED PRIVATE KEY FILE!" and ignores the key; a relay
    without its key cannot serve, so it stops with the fix in the message.
    """
    mode = path.stat().st_mode & 0o777
    if mode & PRIVATE_MODE_MASK:
        raise KeyFileError(
            f"permissions {mode:04o} for {path} are too open: the relay's signing key must "
            f"not be accessible by group or others (it signs every token and invite). "
            f"Run: chmod 600 {path}"
        )


@dataclass(frozen=True)
class VerifyKey:
    """A relay public key, as printed by ``warroom relay --print-key``."""

    key: Ed25519PublicKey

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Return whether ``signature`` is this key's signature of ``data``."""
        try:
            self.key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def text(self) -> str:
        """The one-line form auditors copy: ``warroom-ed25519:<base64>``."""
        raw = self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode()

    @classmethod
    def from_text(cls, text: str) -> VerifyKey:
        """Parse the one-line form; raise ``ValueError`` when it is not one."""
        text = text.strip()
        if not text.startswith(PUBLIC_KEY_PREFIX):
            raise ValueError(f"not a warroom public key (expected {PUBLIC_KEY_PREFIX}...)")
        try:
            raw = base64.b64decode(text[len(PUBLIC_KEY_PREFIX) :], validate=True)
            return cls(Ed25519PublicKey.from_public_bytes(raw))
        except ValueError as exc:
            raise ValueError(f"malformed warroom public key: {exc}") from None


def load_verify_key(text: str) -> VerifyKey:
    """A public key given inline (``warroom-ed25519:...``) or as a file holding it
    (``relay_ed25519.pub``); raise ``ValueError`` or ``OSError`` saying why not."""
    if not text.strip().startswith(PUBLIC_KEY_PREFIX):
        try:
            text = Path(text).read_text()
        except OSError as exc:
            raise ValueError(f"cannot read {text}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ValueError(f"{text} is not a warroom public key file") from None
    return VerifyKey.from_text(text)


@dataclass(frozen=True)
class SigningKey:
    """The relay's private key."""

    key: Ed25519PrivateKey

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data)

    @property
    def public(self) -> VerifyKey:
        return VerifyKey(self.key.public_key())

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> SigningKey:
        """Load the key from ``keys_dir``, generating it (mode 0600) on first start.

        Raises :class:`KeyFileError` when the file is readable by group or others.
        """
        path = keys_dir / KEY_FILE
        if path.exists():
            check_private(path)
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError(f"{path}: not an ed25519 private key")
            return cls(loaded)
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        signing = cls.generate()
        pem = signing.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        (keys_dir / PUBLIC_KEY_FILE).write_text(signing.public.text() + "\n")
        return signing
