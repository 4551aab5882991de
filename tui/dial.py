"""Reaching a relay: which certificates to trust, and why a connection failed, in one line.

Trust: a ``wss://`` relay's certificate is checked against the system's
certificate authorities, like a browser or ``curl`` would. A relay with a
certificate from a private CA is reached with ``--ca-cert FILE`` (that CA is
then the only one trusted for the connection), or with ``SSL_CERT_FILE``,
which OpenSSL reads in place of the system bundle. The hostname is always
checked: a certificate for another name is refused, never "accepted anyway".

Failures: the exceptions a connection attempt raises (``OSError`` and its
SSL subclasses, DNS errors, websocket handshake errors, timeouts) become one
sentence for a person, naming the URL and, for a certificate, what is wrong
and what to do. :class:`Unreachable` carries it.
"""

from __future__ import annotations

import errno
import socket
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from relay.core.errors import WarroomError

NAME_MISMATCH = frozenset({62, 64})  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
CERT_EXPIRED = 10  # X509_V_ERR_CERT_HAS_EXPIRED
CA_CERT_HINT = "pass --ca-cert FILE with the CA that signed it (or set SSL_CERT_FILE)"


class Unreachable(WarroomError, ConnectionError):
    """The relay could not be reached; the message says why, for a person.

    A ``ConnectionError`` (an ``OSError``) so that code handling network
    failures handles this one too. ``fatal`` is set when trying again cannot
    help (an untrusted certificate, a URL that is not a relay), so a
    reconnecting client stops instead of looping.
    """

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.fatal = fatal


def ssl_context(url: str, ca_cert: Path | None = None) -> ssl.SSLContext | None:
    """The TLS context for dialing ``url``: ``None`` for ``ws://``.

    For ``wss://``: the system CAs (or ``SSL_CERT_FILE``), or only ``ca_cert``
    when given. A missing or unreadable ``ca_cert`` is an :class:`Unreachable`
    naming the file.
    """
    if urlsplit(url).scheme != "wss":
        return None
    if ca_cert is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(ca_cert))
    except FileNotFoundError:
        raise Unreachable(f"--ca-cert: {ca_cert} does not exist", fatal=True) from None
    except ssl.SSLError:
        raise Unreachable(
            f"--ca-cert: cannot use {ca_cert}: not a PEM certificate file", fatal=True
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise Unreachable(f"--ca-cert: cannot use {ca_cert}: {reason}", fatal=True) from None


def explain(url: str, exc: BaseException) -> Unreachable:
    """One line for a person about why dialing ``url`` failed."""
    parts = urlsplit(url)
    host = parts.hostname or url
    where = f"the relay at {url}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Unreachable(_certificate(url, host, exc), fatal=True)
    if isinstance(exc, socket.gaierror):
        return Unreachable(f"cannot reach {where}: unknown host {host!r}")
    if isinstance(exc, ssl.SSLError) or (
        parts.scheme == "wss" and isinstance(exc, ConnectionResetError)
    ):
        return Unreachable(
            f"cannot reach {where}: the TLS handshake failed "
            f"({_ssl_reason(exc)}); if the relay serves plain ws://, use a ws:// URL"
        )
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        return Unreachable(
            f"{url} is not a warroom relay (it answered HTTP {status})",
            fatal=status in (400, 401, 403, 404, 405),
        )
    if isinstance(exc, InvalidURI):
        return Unreachable(
            f"{url!r} is not a relay URL: use ws://host:port or wss://host:port", fatal=True
        )
    if isinstance(exc, InvalidHandshake):
        hint = "; if the relay serves TLS, use a wss:// URL" if parts.scheme == "ws" else ""
        return Unreachable(f"{url} did not answer as a warroom relay{hint}")
    if isinstance(exc, TimeoutError):
        return Unreachable(f"{where} did not answer in time")
    if isinstance(exc, ConnectionRefusedError):
        return Unreachable(f"cannot reach {where}: connection refused (is the relay running?)")
    if isinstance(exc, OSError):
        reason = exc.strerror or (errno.errorcode.get(exc.errno or 0)) or type(exc).__name__
        return Unreachable(f"cannot reach {where}: {reason[:1].lower()}{reason[1:]}")
    return Unreachable(f"cannot reach {where}: {exc}")


def _certificate(url: str, host: str, exc: ssl.SSLCertVerificationError) -> str:
    """What is wrong with the relay's certificate, and what to do about it."""
    why = exc.verify_message or exc.reason or "verification failed"
    if exc.verify_code in NAME_MISMATCH:
        return (
            f"the certificate of {url} is not valid for {host!r}: "
            "dial the relay by a name its certificate lists"
        )
    if exc.verify_code == CERT_EXPIRED:
        return f"the certificate of {url} has expired: the relay needs a new one"
    return f"the certificate of {url} is not trusted ({why}): {CA_CERT_HINT}"


def _ssl_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc.strerror or "TLS error").lower().replace("_", " ")
    return "the connection was reset"
