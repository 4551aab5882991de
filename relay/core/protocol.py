"""The wire format between the relay and its clients (version 1).

Text frames carry one JSON object with a ``type``; binary frames carry
terminal bytes, tagged so that a client always knows where in the session's
output stream it stands:

* relay → client ``o`` + u64 offset + bytes: output starting at ``offset``;
* relay → client ``s`` + u64 offset + u16 cols + u16 rows + bytes: a screen
  snapshot valid at ``offset`` (reset the screen, apply, continue from there);
* relay → client ``r`` + u64 offset + u16 cols + u16 rows: the PTY has this
  size from ``offset`` on (resize the screen after the bytes before it and
  before the bytes from it: every client's screen then changes size exactly
  where the relay's and a directly attached xterm's did);
* client → relay ``i`` + bytes: keystrokes (forwarded only for the driver).

Everything here is pure: parsing raises :class:`ProtocolError` with a code
from :mod:`relay.core.errors`, and ``docs/protocol.md`` documents every message.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from typing import Any

from relay.core.errors import ErrorCode, ProtocolError
from relay.core.text import SURROGATE, invalid

VERSION = 1

OUTPUT = b"o"
SNAPSHOT = b"s"
RESIZE = b"r"
INPUT = b"i"

_OFFSET = struct.Struct(">Q")
_SNAPSHOT_HEAD = struct.Struct(">QHH")  # also the whole of a resize frame

MAX_COLS = 1000
MAX_ROWS = 1000


def output_frame(offset: int, data: bytes) -> bytes:
    return OUTPUT + _OFFSET.pack(offset) + data


def snapshot_frame(offset: int, cols: int, rows: int, data: bytes) -> bytes:
    return SNAPSHOT + _SNAPSHOT_HEAD.pack(offset, cols, rows) + data


def resize_frame(offset: int, cols: int, rows: int) -> bytes:
    return RESIZE + _SNAPSHOT_HEAD.pack(offset, cols, rows)


def input_frame(data: bytes) -> bytes:
    return INPUT + data


@dataclass(frozen=True)
class OutputChunk:
    offset: int
    data: bytes


@dataclass(frozen=True)
class Snapshot:
    offset: int
    cols: int
    rows: int
    data: bytes


@dataclass(frozen=True)
class SizeChange:
    """The PTY's size from ``offset`` on, in the stream's order."""

    offset: int
    cols: int
    rows: int


def parse_server_binary(frame: bytes) -> OutputChunk | Snapshot | SizeChange:
    """Decode a binary frame from the relay (used by clients)."""
    kind = frame[:1]
    if kind == OUTPUT and len(frame) >= 1 + _OFFSET.size:
        (offset,) = _OFFSET.unpack_from(frame, 1)
        return OutputChunk(offset, frame[1 + _OFFSET.size :])
    if kind == SNAPSHOT and len(frame) >= 1 + _SNAPSHOT_HEAD.size:
        offset, cols, rows = _SNAPSHOT_HEAD.unpack_from(frame, 1)
        return Snapshot(offset, cols, rows, frame[1 + _SNAPSHOT_HEAD.size :])
    if kind == RESIZE and len(frame) == 1 + _SNAPSHOT_HEAD.size:
        offset, cols, rows = _SNAPSHOT_HEAD.unpack_from(frame, 1)
        return SizeChange(offset, cols, rows)
    raise ProtocolError(ErrorCode.BAD_FRAME, f"unknown binary frame kind {kind!r}")


def parse_client_binary(frame: bytes) -> bytes:
    """Decode a binary frame from a client: only input exists."""
    if frame[:1] != INPUT:
        raise ProtocolError(
            ErrorCode.BAD_FRAME, f"unknown binary frame kind {frame[:1]!r} (expected b'i')"
        )
    return frame[1:]


def encode(message: dict[str, Any]) -> str:
    """A relay → client JSON frame; always valid UTF-8 text.

    Clients' strings are validated on the way in, so a lone surrogate should
    never get here; if one does, it is escaped rather than left to fail in
    the writer of whichever connection the message was meant for.
    """
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    if SURROGATE.search(text):
        return json.dumps(message, separators=(",", ":"))
    return text


# ------------------------------------------------------------ client messages
#
# Every field a client may send, with its type and bounds. A client's frame is
# refused (``bad_frame``, or the field's own code) before anything stores,
# audits, masks or forwards any of it: strings must be Unicode scalar values
# within their length, identifiers must look like identifiers, numbers must be
# finite and in range. The bounds say what one field can cost the relay.


@dataclass(frozen=True)
class Text:
    """A string of at most ``limit`` characters; ``pattern``: it must match it whole."""

    limit: int
    pattern: re.Pattern[str] | None = None
    code: ErrorCode = ErrorCode.BAD_FRAME
    what: str = ""


@dataclass(frozen=True)
class Number:
    """An integer (``integer``) or any finite number, from ``low`` to ``high``."""

    low: float
    high: float
    integer: bool = True
    low_open: bool = False  # True: ``low`` itself is refused (a ttl of 0)
    nullable: bool = False


@dataclass(frozen=True)
class Flag:
    """A JSON boolean."""


Spec = Text | Number | Flag

IDENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._:@-]*")
"""Session, participant, request and target ids, user and role names."""
TOKEN_TEXT = re.compile(r"[\x21-\x7e]+")
"""Credentials and signatures: printable ASCII without spaces."""

MAX_ID = 128
MAX_OFFSET = (1 << 63) - 1
MAX_TTL = 366 * 86400.0  # a year: every role's max_ttl is far below; bounds the arithmetic
MAX_INT_DIGITS = 20  # any integer the protocol uses fits; a 5000-digit one costs nothing
REASON_LENGTH = 500  # every reason (hand-off, access, open, end): the one limit for them
MAX_CHAT = 64 * 1024  # characters; the configured chat_length is checked before masking
MAX_NAME = 63
SEARCH_LENGTH = 200  # characters of a recordings search; each candidate file is read once
MAX_TIME = 1e11  # unix seconds (year 5138): bounds a listing's since/until
MAX_INVITE_USES = 1000  # guests one invite may admit (`warroom invite --uses N`)

_ID = Text(MAX_ID, IDENT, what="an id (letters, digits, . _ : @ -)")
_NAME = Text(MAX_NAME, IDENT, what="a name (letters, digits, . _ -)")
_REASON = Text(REASON_LENGTH, code=ErrorCode.REASON_TOO_LONG)
_TTL = Number(0, MAX_TTL, integer=False, low_open=True)
_POSITION = Number(0, MAX_OFFSET)
_TIME = Number(0, MAX_TIME, integer=False)
_SIZE = Number(1, MAX_COLS)

# type -> {field: (spec, required)}
_FIELDS: dict[str, dict[str, tuple[Spec, bool]]] = {
    "hello": {"version": (Number(0, 1 << 31), True), "client": (Text(200), False)},
    "auth": {
        "method": (_ID, True),
        "token": (Text(4096, TOKEN_TEXT), False),
        "invite": (Text(4096, TOKEN_TEXT), False),
        "name": (_NAME, False),
        "user": (_NAME, False),
        "signature": (Text(16384, TOKEN_TEXT), False),
    },
    "list_sessions": {},
    "list_recordings": {
        "session": (_ID, False),
        "user": (_ID, False),
        "target": (_ID, False),
        "since": (_TIME, False),
        "until": (_TIME, False),
        "text": (Text(SEARCH_LENGTH), False),
    },
    "fetch_recording": {"name": (Text(255), True), "offset": (_POSITION, False)},
    "open": {"target": (_ID, True), "reason": (_REASON, True)},
    "join": {
        "session": (_ID, True),
        "offset": (Number(0, MAX_OFFSET, nullable=True), False),
        "cols": (_SIZE, False),
        "rows": (Number(1, MAX_ROWS), False),
    },
    "leave": {},
    "resize": {"cols": (_SIZE, True), "rows": (Number(1, MAX_ROWS), True)},
    "request_control": {"reason": (_REASON, True)},
    "grant": {"id": (_ID, True), "ttl": (_TTL, False)},
    "deny": {"id": (_ID, True), "reason": (_REASON, False)},
    "release": {},
    "take": {},
    "chat": {"text": (Text(MAX_CHAT, code=ErrorCode.CHAT_TOO_LONG), True)},
    "end": {"reason": (_REASON, False)},
    "access_grant": {
        "user": (_ID, True),
        "role": (_ID, True),
        "ttl": (_TTL, True),
        "session": (_ID, False),
        "target": (_ID, False),
        "reason": (_REASON, False),
    },
    "access_revoke": {"user": (_ID, True), "session": (_ID, False), "grants_only": (Flag(), False)},
    "access_request": {"role": (_ID, True), "reason": (_REASON, True), "session": (_ID, False)},
    "access_decide": {
        "id": (_ID, True),
        "approve": (Flag(), True),
        "ttl": (_TTL, False),
        "reason": (_REASON, False),
    },
    "access_list": {},
    "invite_revoke": {"id": (_ID, True)},
    "invite": {
        "role": (_ID, True),
        "session": (_ID, True),
        "ttl": (_TTL, True),
        "name": (_NAME, False),
        "uses": (Number(1, MAX_INVITE_USES), False),
    },
}

CLIENT_TYPES = frozenset(_FIELDS)


def parse_client_text(text: str) -> dict[str, Any]:
    """Decode and validate a JSON frame from a client.

    Unknown fields are refused rather than ignored: a typo in a client must
    show up as an error, not as a silently missing option. So are duplicate
    keys (which one would count?), ``NaN`` and infinities, integers of more
    than 20 digits, nesting (no message nests) and any string that is not
    valid Unicode text. A refusal names the message type in ``ref`` when it
    is known.
    """
    message = _decode(text)
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        known = ", ".join(sorted(_FIELDS))
        raise ProtocolError(
            ErrorCode.BAD_FRAME,
            f"unknown message type {_shown(kind)} (expected one of: {known})",
        )
    fields = _FIELDS[kind]
    for name, value in message.items():
        if name == "type":
            continue
        if name not in fields:
            raise ProtocolError(
                ErrorCode.BAD_FRAME, f"{kind}: unknown field {_shown(name)}", ref=kind
            )
        _check(kind, name, value, fields[name][0])
    for name, (_, required) in fields.items():
        if required and name not in message:
            raise ProtocolError(ErrorCode.BAD_FRAME, f"{kind}: missing field {name!r}", ref=kind)
    return message


def _decode(text: str) -> dict[str, Any]:
    try:
        message = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            parse_constant=_no_constant,
        )
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"frame is not valid JSON: {_why(exc)}") from None
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.BAD_FRAME, "frame must be a JSON object")
    return message


def _why(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)[:200]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    message = dict(pairs)
    if len(message) != len(pairs):
        raise ValueError("a field appears twice")
    return message


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(digits)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number the protocol accepts")


def _check(kind: str, name: str, value: Any, spec: Spec) -> None:
    """Refuse ``value`` unless it fits ``spec``; the message names the field."""
    where = f"{kind}: {name}"
    match spec:
        case Text(limit, pattern, code, what):
            if not isinstance(value, str):
                raise ProtocolError(ErrorCode.BAD_FRAME, f"{where} has the wrong type", ref=kind)
            problem = invalid(value, limit)
            if problem is not None:
                code = code if len(value) > limit else ErrorCode.BAD_FRAME
                raise ProtocolError(code, f"{where} is {problem}", ref=kind)
            if pattern is not None and not pattern.fullmatch(value):
                raise ProtocolError(ErrorCode.BAD_FRAME, f"{where} must be {what}", ref=kind)
        case Number(low, high, integer, low_open, nullable):
            if value is None and nullable:
                return
            number_types = (int,) if integer else (int, float)
            if isinstance(value, bool) or not isinstance(value, number_types):
                raise ProtocolError(ErrorCode.BAD_FRAME, f"{where} has the wrong type", ref=kind)
            if not (low < value if low_open else low <= value) or value > high:
                bound = f"more than {low:g}" if low_open else f"from {low:g}"
                top = f"{high:.0f}" if integer else f"{high:g}"
                raise ProtocolError(
                    ErrorCode.BAD_FRAME, f"{where} must be {bound} to {top}", ref=kind
                )
        case Flag():
            if not isinstance(value, bool):
                raise ProtocolError(ErrorCode.BAD_FRAME, f"{where} has the wrong type", ref=kind)


def _shown(value: Any) -> str:
    """A client's value quoted in an error message: short, and plain ASCII."""
    text = ascii(value)
    return text if len(text) <= 60 else text[:57] + "..."


def json_decode(text: str) -> dict[str, Any]:
    """Decode a relay → client JSON frame (used by clients)."""
    try:
        message = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"frame is not valid JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError(ErrorCode.BAD_FRAME, "frame must be a JSON object with a type")
    return message
