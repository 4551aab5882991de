"""What the session core asks the I/O layers to do.

Every rule of :class:`relay.core.session.Session` returns a list of these
:data:`Action` values instead of doing anything itself: send a message to one
participant or to all, forward bytes to the shell, resize the PTY, write an
audit entry or a recording event, close a connection, end the session. The
live session (the adapter around the core) carries them out in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from relay.core.errors import ErrorCode
from relay.core.messages import Error, RelayMessage

Message = RelayMessage
"""Any message the relay sends (:mod:`relay.core.protocol`)."""


@dataclass(frozen=True)
class Send:
    """Send ``message`` to one participant (``to`` is a pid)."""

    to: str
    message: Message


@dataclass(frozen=True)
class Broadcast:
    """Send ``message`` to every participant."""

    message: Message


@dataclass(frozen=True)
class Forward:
    """Write ``data`` to the target's shell; ``pid``/``user`` typed it."""

    data: bytes
    pid: str
    user: str


@dataclass(frozen=True)
class Resize:
    """Set the target PTY to the driver's window size."""

    cols: int
    rows: int


@dataclass(frozen=True)
class Audit:
    """Append an entry to the relay-wide audit log."""

    event: str
    fields: dict[str, str | int | float | bool | None]


@dataclass(frozen=True)
class Record:
    """Append a non-output event to the session recording."""

    kind: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Disconnect:
    """Close one participant's connection with a reason."""

    to: str
    code: ErrorCode
    reason: str


@dataclass(frozen=True)
class End:
    """Close the SSH channel and seal the recording."""

    reason: str


Action = Send | Broadcast | Forward | Resize | Audit | Record | Disconnect | End


class ErrorExtra(TypedDict, total=False):
    ref: str | None  # the message type refused; sent when given, even as null


def error(code: ErrorCode, message: str, **extra: Unpack[ErrorExtra]) -> Error:
    """The ``error`` frame every refusal is sent as."""
    return {"type": "error", "code": code.value, "message": message, **extra}
