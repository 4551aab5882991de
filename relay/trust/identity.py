"""Who someone is: relay-signed tokens and invites, join URLs, SSH-key challenges.

Everything here is pure: no sockets, no files, no clock. Time is passed in as
``now`` (unix seconds), so every rule can be tested without waiting.

Credentials are compact strings, ``wr1.<payload>.<signature>``, where the
payload is base64url (no padding) of the JSON claims and the signature is the
relay's ed25519 signature over the ASCII bytes ``"wr1." + payload``. The
signature is checked before the payload is parsed, so untrusted JSON is never
decoded; nothing secret is ever compared by hand (ed25519 verification does
the only comparison that matters).

An engineer proves who they are by signing a relay challenge with their SSH
key. The challenge is domain-separated and binds the relay's name, a fresh
nonce and the claimed user name, so a signature cannot be replayed to another
relay, in another attempt, or for another user, nor be confused with an SSH
login signature.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
import struct
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args
from urllib.parse import SplitResult, urlsplit

import asyncssh
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from relay.core.errors import WarroomError
from relay.core.roles import Role
from relay.trust.keys import SigningKey, VerifyKey

CredentialType = Literal["token", "invite"]
AuthErrorCode = Literal[
    "malformed",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "wrong_type",
    "wrong_relay",
    "wrong_session",
    "unknown_credential",
    "revoked",
    "used_up",
    "unknown_user",
    "role_changed",
    "name_taken",
]
"""Why a credential was refused, as the audit log names it (``auth.failed`` ``code``).

The first seven are decided here from the credential alone; the rest by the
relay, which checks each credential against its store and config on every use
(``name_taken``: a guest asked for a name that could pass for someone else's).
"""

CREDENTIAL_PREFIX = "wr1"
MAX_CREDENTIAL_LENGTH = 4096
"""Longer credentials are rejected before any decoding, bounding the work a stranger can cause."""

CHALLENGE_DOMAIN = b"warroom-auth-v1\0"
MIN_NONCE_LENGTH = 16
MAX_SIGNATURE_LENGTH = 8192
"""Far above any SSH signature (RSA 16384 is ~2 KiB); bounds work on garbage input."""
MIN_RSA_BITS = 2048

CLOCK_SKEW = 5.0
"""Seconds of clock difference tolerated between relays and with an auditor's clock.

A credential is accepted up to this long after its ``exp`` and refused if
its ``iat`` is further than this in the future. Relays that share a store
and a key (a cluster) must keep their clocks within it (NTP does).
"""

ACCEPTED_SIGNATURE_ALGORITHMS = frozenset(
    {
        b"ssh-ed25519",
        b"ssh-ed448",
        b"ecdsa-sha2-nistp256",
        b"ecdsa-sha2-nistp384",
        b"ecdsa-sha2-nistp521",
        b"rsa-sha2-256",
        b"rsa-sha2-512",
        b"sk-ssh-ed25519@openssh.com",
        b"sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
"""Signature algorithms a challenge answer may use.

Plain ``ssh-rsa`` (SHA-1) is left out on purpose, as OpenSSH itself does:
RSA keys must sign with ``rsa-sha2-256`` or ``rsa-sha2-512``.
"""

ACCEPTED_KEY_ALGORITHMS = frozenset(
    {
        "ssh-ed25519",
        "ssh-ed448",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "ssh-rsa",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_SESSION_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
_INVITE_SHAPE = re.compile(r"wr1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_SHELL_SAFE = re.compile(r"[A-Za-z0-9._~:/@%+=,-]+")
"""Characters no common shell treats specially, so a URL made of them pastes unquoted."""


class AuthError(WarroomError):
    """A credential was refused; ``code`` is for programs, ``message`` for people.

    ``subject`` is set once the credential's signature was good: the audit
    log can then name the user whose (stale, revoked) credential it was.
    """

    def __init__(self, code: AuthErrorCode, message: str, subject: str | None = None) -> None:
        super().__init__(message)
        self.code: AuthErrorCode = code
        self.message = message
        self.subject = subject  # whom a signed credential named, for the audit log


@dataclass(frozen=True)
class Claims:
    """What a relay vouches for in a token or an invite.

    ``ses`` is ``None`` when the credential admits to any session. ``aud`` is
    the name of the relay that issued it (its audience): another relay that
    happens to hold the same key still refuses it. ``inv`` is the ``jti`` of
    the invite a token was exchanged for, so the audit log can trace a
    guest's token back to the lead's invite.
    """

    typ: CredentialType
    sub: str
    role: Role
    ses: str | None
    iat: float
    exp: float
    jti: str
    aud: str
    inv: str | None = None
    by: str | None = None  # who issued the invite (for a token: the invite's issuer)


@dataclass(frozen=True)
class JoinTarget:
    """What ``warroom join <text>`` should connect to.

    ``url`` is always the relay's base URL (``ws://host:port``); ``invite``
    is set for invite links and ``session`` for ``/s/<session>`` links.
    """

    url: str
    invite: str | None = None
    session: str | None = None


# --- credentials -----------------------------------------------------------------------------


def issue(
    signing_key: SigningKey,
    typ: CredentialType,
    sub: str,
    role: Role,
    session: str | None,
    ttl: float,
    now: float,
    *,
    audience: str,
    invite: str | None = None,
    by: str | None = None,
) -> str:
    """Sign a new credential valid for ``ttl`` seconds from ``now``.

    ``audience`` is the issuing relay's name; ``invite`` is the ``jti`` of the
    invite a token is being exchanged for; ``by`` the user who issued the
    invite (shown beside a guest's name, and a guest invited by the driver is
    not a second pair of eyes).
    """
    claims = new_claims(typ, sub, role, session, ttl, now, audience=audience, invite=invite, by=by)
    return encode(signing_key, claims)


def new_claims(
    typ: CredentialType,
    sub: str,
    role: Role,
    session: str | None,
    ttl: float,
    now: float,
    *,
    audience: str,
    invite: str | None = None,
    by: str | None = None,
) -> Claims:
    """The claims of a new credential with a fresh ``jti``; sign them with :func:`encode`.

    The relay keeps the ``jti`` in its store before it hands the credential
    out, so that it can revoke it later. It is hex so that it can be typed back
    as it is printed: a base64url id may start with ``-``, which the command
    line takes for an option (``warroom invite --revoke -xIu…``).
    """
    if not (math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
    if typ not in get_args(CredentialType):
        raise ValueError(f"typ must be 'token' or 'invite', got {typ!r}")
    return Claims(
        typ=typ,
        sub=sub,
        role=Role(role),
        ses=session,
        iat=now,
        exp=now + ttl,
        jti=secrets.token_hex(9),
        aud=audience,
        inv=invite,
        by=by,
    )


def encode(signing_key: SigningKey, claims: Claims) -> str:
    """Serialise and sign ``claims``; use ``issue`` unless you already hold the claims."""
    fields = asdict(claims)
    fields["role"] = claims.role.value
    for optional in ("inv", "by"):
        if fields[optional] is None:
            del fields[optional]
    body = json.dumps(fields, separators=(",", ":"), sort_keys=True).encode()
    signed_part = f"{CREDENTIAL_PREFIX}.{_b64encode(body)}"
    signature = signing_key.sign(signed_part.encode("ascii"))
    return f"{signed_part}.{_b64encode(signature)}"


def verify(
    verify_key: VerifyKey,
    credential: str,
    now: float,
    *,
    typ: CredentialType,
    audience: str,
    session: str | None = None,
) -> Claims:
    """Return the claims of ``credential`` or raise ``AuthError``.

    Checks, in order: shape, signature, claim types, credential type,
    audience (the relay's name), issue time (not in the future), expiry
    (both with ``CLOCK_SKEW`` of leeway), session. With ``session=None`` the
    session check is skipped: the caller then owns ``claims.ses`` (for
    example, to route the client into it), and must not treat a
    session-bound credential as relay-wide.

    A valid signature only says this relay once issued the credential; the
    relay still checks it against its store (revocation, invite uses) and its
    current config (the user and role) on every use.
    """
    signed_part, signature = _split(credential, typ)
    if not verify_key.verify(signature, signed_part.encode("ascii")):
        raise AuthError("bad_signature", _not_ours_message(typ))
    claims = _parse_claims(signed_part.split(".")[1], typ)
    _check_type(claims, typ)
    _check_audience(claims, audience)
    _check_issued(claims, now)
    _check_expiry(claims, now)
    _check_session(claims, session)
    return claims


def _split(credential: str, typ: CredentialType) -> tuple[str, bytes]:
    """Cut a credential into its signed part and raw signature, refusing anything odd."""
    malformed = AuthError("malformed", _malformed_message(typ))
    if len(credential) > MAX_CREDENTIAL_LENGTH:
        raise malformed
    parts = credential.strip().split(".")
    if len(parts) != 3 or parts[0] != CREDENTIAL_PREFIX:
        raise malformed
    try:
        _b64decode(parts[1])
        signature = _b64decode(parts[2])
    except ValueError:
        raise malformed from None
    return f"{parts[0]}.{parts[1]}", signature


def _parse_claims(payload: str, typ: CredentialType) -> Claims:
    """Decode the (already authenticated) payload; any surprise is ``malformed``."""
    try:
        fields = json.loads(_b64decode(payload))
        return _claims_from_fields(fields)
    except (ValueError, TypeError, KeyError):
        raise AuthError("malformed", _malformed_message(typ)) from None


def _claims_from_fields(fields: Any) -> Claims:
    """Build ``Claims`` from decoded JSON, raising ``ValueError`` on a missing or mistyped claim."""
    if not isinstance(fields, dict):
        raise ValueError("claims are not a JSON object")
    typ = fields["typ"]
    if typ not in get_args(CredentialType):
        raise ValueError(f"unknown credential type {typ!r}")
    return Claims(
        typ=typ,
        sub=_claim_str(fields["sub"]),
        role=Role(fields["role"]),
        ses=_claim_optional_str(fields["ses"]),
        iat=_claim_time(fields["iat"]),
        exp=_claim_time(fields["exp"]),
        jti=_claim_str(fields["jti"]),
        aud=_claim_str(fields["aud"]),
        inv=_claim_optional_str(fields.get("inv")),
        by=_claim_optional_str(fields.get("by")),
    )


def _claim_str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


def _claim_optional_str(value: Any) -> str | None:
    return None if value is None else _claim_str(value)


def _claim_time(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("expected a finite number")
    return float(value)


def _check_type(claims: Claims, expected: CredentialType) -> None:
    if claims.typ == expected:
        return
    if claims.typ == "invite":
        message = "this is an invite, not a token: use it with `warroom join <invite-url>`"
    else:
        message = "this is a login token, not an invite: ask the lead for an invite link"
    raise AuthError("wrong_type", message)


def _check_audience(claims: Claims, audience: str) -> None:
    if claims.aud == audience:
        return
    noun = "this invite" if claims.typ == "invite" else "your login token"
    raise AuthError(
        "wrong_relay",
        f"{noun} was issued by relay {claims.aud!r}, not by this relay ({audience!r}); "
        + (
            "ask the lead for an invite to this relay"
            if claims.typ == "invite"
            else "sign in to this relay with `warroom login`"
        ),
    )


def _check_issued(claims: Claims, now: float) -> None:
    """Refuse a credential dated in the future: a clock gone wrong, or a forgery attempt."""
    if claims.iat <= now + CLOCK_SKEW:
        return
    raise AuthError(
        "not_yet_valid",
        f"this credential is dated {describe_duration(claims.iat - now)} in the future; "
        "check the relay's clock",
    )


def _check_expiry(claims: Claims, now: float) -> None:
    if now < claims.exp + CLOCK_SKEW:
        return
    ago = describe_duration(now - claims.exp)
    if claims.typ == "invite":
        message = f"this invite expired {ago} ago; ask the lead for a new one"
    else:
        message = f"your login token expired {ago} ago; sign in again with `warroom join`"
    raise AuthError("expired", message)


def _check_session(claims: Claims, session: str | None) -> None:
    if session is None or claims.ses is None or claims.ses == session:
        return
    noun = "this invite" if claims.typ == "invite" else "your login token"
    message = (
        f"{noun} admits only to session {claims.ses!r}, not {session!r}; "
        "join that session or ask the lead for access to this one"
    )
    raise AuthError("wrong_session", message)


def _malformed_message(typ: CredentialType) -> str:
    if typ == "invite":
        return (
            "this is not a valid warroom invite (expected wr1.<payload>.<signature>); "
            "check it was copied whole, or ask the lead for a new one"
        )
    return "this is not a valid warroom login token; sign in again with `warroom join`"


def _not_ours_message(typ: CredentialType) -> str:
    if typ == "invite":
        return (
            "this invite was not signed by this relay (it is from another relay, "
            "or was altered); ask the lead for a new one"
        )
    return (
        "your login token was not issued by this relay (another relay, or its key "
        "changed); sign in again with `warroom join`"
    )


def describe_duration(seconds: float) -> str:
    """Say a span of time the way a person would: ``"3 minutes"``, ``"1 day"``."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    if seconds < 1:
        return "less than a second"
    count = int(seconds)
    return f"{count} second{'s' if count != 1 else ''}"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict unpadded base64url: one spelling per byte string, so credentials are not malleable."""
    if not _BASE64URL.fullmatch(text):
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None
    if _b64encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data


# --- join URLs -------------------------------------------------------------------------------


def relay_base_url(text: str) -> str:
    """Return ``text`` as a relay base URL (``ws[s]://host[:port]``), or raise ``ValueError``."""
    parts = urlsplit(text.strip())
    problem = _base_url_problem(parts)
    if problem:
        raise ValueError(f"{text!r} is not a relay URL: {problem}")
    return f"{parts.scheme}://{parts.netloc}"


def _base_url_problem(parts: SplitResult) -> str | None:
    """Say what keeps ``parts`` from being a bare ``ws[s]://host[:port]`` URL, if anything."""
    if parts.scheme not in ("ws", "wss"):
        return "it does not start with ws:// or wss://"
    if not parts.hostname:
        return "it names no host"
    if parts.username is not None or parts.password is not None:
        return "it carries a user name or password"
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        return "a relay URL has no path, query or fragment"
    try:
        parts.port  # noqa: B018 - urlsplit validates the port only when it is read
    except ValueError:
        return "the port must be a number from 0 to 65535"
    return None


def invite_url(base_url: str, credential: str) -> str:
    """Make the link a lead hands out: ``<relay>/invite/<credential>``.

    The result uses only shell-safe characters so it can be pasted unquoted
    after ``warroom join``. An IPv6 literal (``[::1]``) cannot be: brackets are
    shell glob characters, so such relays need a host name in ``public_url``.
    """
    if not _INVITE_SHAPE.fullmatch(credential):
        raise ValueError("not a warroom invite credential (expected wr1.<payload>.<signature>)")
    url = f"{relay_base_url(base_url)}/invite/{credential}"
    if not _SHELL_SAFE.fullmatch(url):
        raise ValueError(
            f"{base_url!r} contains characters a shell would interpret (such as the brackets "
            "of an IPv6 address); give the relay a host name in relay.public_url"
        )
    return url


def parse_join_target(text: str) -> JoinTarget:
    """Understand what an engineer typed after ``warroom join``.

    Accepts ``ws[s]://host:port``, ``ws[s]://host:port/invite/<invite>`` and
    ``ws[s]://host:port/s/<session>``; anything else is a ``ValueError`` that
    says what is wrong and lists these forms.
    """
    text = text.strip()
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # "Invalid IPv6 URL": an unclosed [ in the host
        raise ValueError(_join_usage(text, str(exc).lower())) from None
    problem = _base_url_problem(parts._replace(path=""))
    if problem:
        raise ValueError(_join_usage(text, problem))
    base = f"{parts.scheme}://{parts.netloc}"
    kind, _, value = parts.path.strip("/").partition("/")
    if not kind:
        return JoinTarget(url=base)
    if kind == "invite" and _INVITE_SHAPE.fullmatch(value):
        return JoinTarget(url=base, invite=value)
    if kind == "invite":
        raise ValueError(_join_usage(text, "the invite is incomplete; was it copied whole?"))
    if kind == "s" and _SESSION_ID.fullmatch(value):
        return JoinTarget(url=base, session=value)
    raise ValueError(_join_usage(text, f"the path {parts.path!r} is not /invite/… or /s/…"))


def _join_usage(text: str, reason: str) -> str:
    return (
        f"cannot join {text!r}: {reason}. Expected a relay URL (ws://host:port or wss://host), "
        "an invite link (…/invite/wr1.…) or a session link (…/s/<session>)"
    )


# --- SSH-key challenges ----------------------------------------------------------------------


def challenge_payload(relay_name: str, nonce: bytes, user: str) -> bytes:
    """The bytes an engineer signs to prove they hold a key of ``user``.

    Each field is length-prefixed so no two (relay, nonce, user) triples give
    the same bytes; the domain tag keeps it from ever being a valid SSH login
    or git signature.
    """
    if len(nonce) < MIN_NONCE_LENGTH:
        raise ValueError(f"the nonce must be at least {MIN_NONCE_LENGTH} random bytes")
    fields = (relay_name.encode(), nonce, user.encode())
    return CHALLENGE_DOMAIN + b"".join(struct.pack(">I", len(f)) + f for f in fields)


def challenge_signature_algorithm(key: asyncssh.SSHKey | asyncssh.SSHKeyPair) -> bytes:
    """The algorithm to sign challenges with: RSA keys must use SHA-256, not SHA-1.

    ssh-agent keys sign with SHA-1 ``ssh-rsa`` unless told otherwise, so the
    client calls ``agent_key.set_sig_algorithm(challenge_signature_algorithm(
    agent_key))`` before ``await agent_key.sign_async(payload)``.
    """
    algorithm = key.algorithm
    if algorithm == b"ssh-rsa":
        return b"rsa-sha2-256"
    return bytes(algorithm)


def sign_challenge(key: asyncssh.SSHKey, payload: bytes) -> bytes:
    """Sign ``payload`` with a private key read from a file.

    Produces the same SSH signature encoding as an ssh-agent key's
    ``sign_async`` (algorithm name, then signature blob).
    """
    return key.sign(payload, challenge_signature_algorithm(key))


def verify_challenge(authorized: Iterable[str], payload: bytes, signature: bytes) -> bool:
    """Return whether ``signature`` over ``payload`` was made by one of the ``authorized`` keys.

    ``authorized`` holds OpenSSH public key lines (``ssh-ed25519 AAAA… comment``),
    validated when the config was loaded; a line that no longer parses is
    skipped rather than crashing a login. Weak algorithms (SHA-1 RSA) fail.
    """
    if len(signature) > MAX_SIGNATURE_LENGTH:
        return False
    if _signature_algorithm(signature) not in ACCEPTED_SIGNATURE_ALGORITHMS:
        return False
    for line in authorized:
        try:
            key = parse_authorized_key(line)
        except ValueError:
            continue
        if key.verify(payload, signature):
            return True
    return False


def parse_authorized_key(line: str) -> asyncssh.SSHKey:
    """Import one OpenSSH public key line, refusing formats and keys warroom will not trust.

    Only the one-line ``<algorithm> <base64> [comment]`` form is accepted:
    ``asyncssh.import_public_key`` would also take a *private* key and quietly
    derive its public half, which in a config file is a leak to point out.
    """
    algorithm = line.split(maxsplit=1)[0] if line.strip() else ""
    if algorithm not in ACCEPTED_KEY_ALGORITHMS:
        raise ValueError(
            "expected an OpenSSH public key line such as 'ssh-ed25519 AAAA… user@host' "
            f"(accepted types: {', '.join(sorted(ACCEPTED_KEY_ALGORITHMS))})"
        )
    try:
        key = asyncssh.import_public_key(line.strip())
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise ValueError(f"invalid {algorithm} public key: {exc}") from None
    pyca_key = key.pyca_key
    if isinstance(pyca_key, RSAPublicKey) and pyca_key.key_size < MIN_RSA_BITS:
        raise ValueError(f"RSA key has {pyca_key.key_size} bits; at least {MIN_RSA_BITS} needed")
    return key


def _signature_algorithm(signature: bytes) -> bytes:
    """Read the algorithm name an SSH signature starts with (a uint32-length string)."""
    if len(signature) < 4:
        return b""
    (length,) = struct.unpack(">I", signature[:4])
    return signature[4 : 4 + length] if length <= len(signature) - 4 else b""
