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


class ProtocolError(Exception):
    """A refusal that ends up as an ``error`` frame with ``code`` and ``message``."""

    def __init__(self, code: ErrorCode, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref  # the message type refused, when known
