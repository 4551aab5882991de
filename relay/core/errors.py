"""Error codes the relay sends in ``error`` frames and close reasons.

Every refusal a client can meet has exactly one code here, and each is
documented in ``docs/protocol.md``. Codes are stable strings: clients may
match on them; messages are for people and may change.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # framing and protocol
    BAD_FRAME = "bad_frame"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNEXPECTED = "unexpected"
    # identity
    AUTH_FAILED = "auth_failed"
    AUTH_THROTTLED = "auth_throttled"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    # permissions and session rules
    FORBIDDEN = "forbidden"
    NOT_DRIVER = "not_driver"
    PAUSED = "paused"
    ACCESS = "access"
    NO_SUCH_SESSION = "no_such_session"
    NO_SUCH_TARGET = "no_such_target"
    NO_SUCH_PARTICIPANT = "no_such_participant"
    NO_SUCH_RECORDING = "no_such_recording"
    SESSION_FULL = "session_full"
    SESSION_ENDED = "session_ended"
    ALREADY_JOINED = "already_joined"
    ALREADY_DRIVER = "already_driver"
    ALREADY_REQUESTED = "already_requested"
    NO_REQUEST = "no_request"
    REASON_REQUIRED = "reason_required"
    REASON_TOO_LONG = "reason_too_long"
    CHAT_EMPTY = "chat_empty"
    CHAT_TOO_LONG = "chat_too_long"
    CHAT_RATE = "chat_rate"
    INPUT_TOO_LARGE = "input_too_large"
    STALE_INPUT = "stale_input"
    RATE_LIMITED = "rate_limited"
    # connection health
    TOO_SLOW = "too_slow"
    TARGET_UNAVAILABLE = "target_unavailable"
    UNAVAILABLE = "unavailable"  # a service the relay depends on (its bucket...) fails
    INTERNAL_ERROR = "internal_error"


class WarroomError(Exception):
    """The base of every exception warroom raises on purpose; the message is for people.

    ``except WarroomError`` catches a refusal or a bad input the project
    itself diagnosed, and nothing else (a bug stays a bug). Where an error is
    also a kind the standard library names, it keeps that base too, so that
    ``except ValueError`` or ``except OSError`` written earlier still holds::

        WarroomError
        ├── ProtocolError          relay.core.errors: a refusal sent as an error frame
        ├── AuthError              relay.trust.identity: a credential was refused
        ├── AccessError            relay.core.access: a grant, revocation or request cannot be done
        ├── StoreError             relay.store: the durable state cannot do what was asked
        │   ├── Conflict
        │   ├── LimitReached
        │   └── InviteRefused
        ├── TargetUnavailable      relay.net.ssh: the target is unreachable or refused the relay
        ├── StorageError           relay.storage.bucket: a request to the bucket failed
        │   └── NotFound
        ├── TooLarge               relay.storage.layout: too many parts (also a ValueError)
        ├── TooSlow                relay.net.connection: a client stopped reading
        ├── ConfigError            relay.config (also a ValueError)
        ├── KeyFileError           relay.trust.keys (also a ValueError)
        ├── ForeignKeyError        relay.cluster.signing: not the cluster's signing key
        ├── SettingsMismatch       relay.cluster.settings: not the cluster's [redaction]/[limits]
        ├── CastError              relay.evidence.asciicast (also a ValueError)
        ├── PatternError           relay.masking.errors (also a ValueError)
        ├── RelayError             tui.client: the relay refused something
        ├── Unreachable            tui.dial (also a ConnectionError)
        ├── Unreadable             tui.incoming: a frame that is no relay message (a ValueError)
        ├── LinkEnded              tui.session_link: the link will not reconnect
        └── NoKeyring              tui.credentials: nowhere to keep the token
    """


class ProtocolError(WarroomError):
    """A refusal that ends up as an ``error`` frame with ``code`` and ``message``."""

    def __init__(self, code: ErrorCode, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref  # the message type refused, when known
