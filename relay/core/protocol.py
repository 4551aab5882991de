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

Each message a client may send is a TypedDict here whose fields carry their
bounds (``Annotated[str, Text(500)]``); the field table the parser checks,
:data:`FIELDS`, is derived from them, so what the handlers read and what the
parser let through cannot drift apart. What the relay sends is
:mod:`relay.core.messages`.

Everything here is pure: parsing raises :class:`ProtocolError` with a code
from :mod:`relay.core.errors`, and ``docs/protocol.md`` documents every message.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,
    TypedDict,
    cast,
    get_args,
    get_origin,
    get_type_hints,
)

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


def encode(message: Mapping[str, object]) -> str:
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

# One TypedDict per message a client may send: the wire's fields, each with
# its bounds (``Annotated[type, spec]``); ``NotRequired`` fields may be left
# out. The field table the parser checks is derived from these classes, so the
# type the relay's handlers read and the rule the parser applies are one text.


class Hello(TypedDict):
    """The first frame: the protocol version the client speaks."""

    type: Literal["hello"]
    version: Annotated[int, Number(0, 1 << 31)]
    client: NotRequired[Annotated[str, Text(200)]]


class Auth(TypedDict):
    """The second frame: ``method`` says which of the credentials below it carries."""

    type: Literal["auth"]
    method: Annotated[str, _ID]
    token: NotRequired[Annotated[str, Text(4096, TOKEN_TEXT)]]
    invite: NotRequired[Annotated[str, Text(4096, TOKEN_TEXT)]]
    name: NotRequired[Annotated[str, _NAME]]
    user: NotRequired[Annotated[str, _NAME]]
    signature: NotRequired[Annotated[str, Text(16384, TOKEN_TEXT)]]


class ListSessions(TypedDict):
    type: Literal["list_sessions"]


class ListRecordings(TypedDict):
    """Filters, all optional; ``text`` searches what the recordings showed."""

    type: Literal["list_recordings"]
    session: NotRequired[Annotated[str, _ID]]
    user: NotRequired[Annotated[str, _ID]]
    target: NotRequired[Annotated[str, _ID]]
    since: NotRequired[Annotated[float, _TIME]]
    until: NotRequired[Annotated[float, _TIME]]
    text: NotRequired[Annotated[str, Text(SEARCH_LENGTH)]]


class FetchRecording(TypedDict):
    type: Literal["fetch_recording"]
    name: Annotated[str, Text(255)]
    offset: NotRequired[Annotated[int, _POSITION]]


class Open(TypedDict):
    type: Literal["open"]
    target: Annotated[str, _ID]
    reason: Annotated[str, _REASON]


class Join(TypedDict):
    """``offset``: where to resume (``None``: from a snapshot); the window's size."""

    type: Literal["join"]
    session: Annotated[str, _ID]
    offset: NotRequired[Annotated[int | None, Number(0, MAX_OFFSET, nullable=True)]]
    cols: NotRequired[Annotated[int, _SIZE]]
    rows: NotRequired[Annotated[int, Number(1, MAX_ROWS)]]


class Leave(TypedDict):
    type: Literal["leave"]


class Resize(TypedDict):
    type: Literal["resize"]
    cols: Annotated[int, _SIZE]
    rows: Annotated[int, Number(1, MAX_ROWS)]


class RequestControl(TypedDict):
    type: Literal["request_control"]
    reason: Annotated[str, _REASON]


class Grant(TypedDict):
    """Control to the requester ``id`` (a participant id), for ``ttl`` seconds if given."""

    type: Literal["grant"]
    id: Annotated[str, _ID]
    ttl: NotRequired[Annotated[float, _TTL]]


class Deny(TypedDict):
    type: Literal["deny"]
    id: Annotated[str, _ID]
    reason: NotRequired[Annotated[str, _REASON]]


class Release(TypedDict):
    type: Literal["release"]


class Take(TypedDict):
    type: Literal["take"]


class Chat(TypedDict):
    type: Literal["chat"]
    text: Annotated[str, Text(MAX_CHAT, code=ErrorCode.CHAT_TOO_LONG)]


class End(TypedDict):
    type: Literal["end"]
    reason: NotRequired[Annotated[str, _REASON]]


class AccessGrant(TypedDict):
    type: Literal["access_grant"]
    user: Annotated[str, _ID]
    role: Annotated[str, _ID]
    ttl: Annotated[float, _TTL]
    session: NotRequired[Annotated[str, _ID]]
    target: NotRequired[Annotated[str, _ID]]
    reason: NotRequired[Annotated[str, _REASON]]


class AccessRevoke(TypedDict):
    type: Literal["access_revoke"]
    user: Annotated[str, _ID]
    session: NotRequired[Annotated[str, _ID]]
    grants_only: NotRequired[Annotated[bool, Flag()]]


class AccessRequest(TypedDict):
    type: Literal["access_request"]
    role: Annotated[str, _ID]
    reason: Annotated[str, _REASON]
    session: NotRequired[Annotated[str, _ID]]


class AccessDecide(TypedDict):
    type: Literal["access_decide"]
    id: Annotated[str, _ID]
    approve: Annotated[bool, Flag()]
    ttl: NotRequired[Annotated[float, _TTL]]
    reason: NotRequired[Annotated[str, _REASON]]


class AccessList(TypedDict):
    type: Literal["access_list"]


class InviteRevoke(TypedDict):
    type: Literal["invite_revoke"]
    id: Annotated[str, _ID]


class Invite(TypedDict):
    """``uses``: how many guests may come in with it (default: any number)."""

    type: Literal["invite"]
    role: Annotated[str, _ID]
    session: Annotated[str, _ID]
    ttl: Annotated[float, _TTL]
    name: NotRequired[Annotated[str, _NAME]]
    uses: NotRequired[Annotated[int, Number(1, MAX_INVITE_USES)]]


ClientMessage = (
    Hello
    | Auth
    | ListSessions
    | ListRecordings
    | FetchRecording
    | Open
    | Join
    | Leave
    | Resize
    | RequestControl
    | Grant
    | Deny
    | Release
    | Take
    | Chat
    | End
    | AccessGrant
    | AccessRevoke
    | AccessRequest
    | AccessDecide
    | AccessList
    | InviteRevoke
    | Invite
)
"""Any message a client may send, told apart by ``type`` (``match message["type"]``)."""

SessionMessage = Resize | RequestControl | Grant | Deny | Release | Take | Chat | End
"""What the session core rules on, once a connection has joined."""
AccessMessage = (
    AccessGrant | AccessRevoke | AccessRequest | AccessDecide | AccessList | Invite | InviteRevoke
)
"""Just-in-time access: grants, revocations, requests, their decisions, invites."""
RecordingRequest = ListRecordings | FetchRecording
"""What a reviewer asks of the recordings."""

CLIENT_MESSAGES: tuple[type[Any], ...] = get_args(ClientMessage)


def message_type(message: type[Any]) -> str:
    """The ``type`` a message's TypedDict names (its ``Literal``)."""
    (kind,) = get_args(get_type_hints(message)["type"])
    return str(kind)


def field_table(message: type[Any]) -> dict[str, tuple[Spec, bool]]:
    """``{field: (spec, required)}`` of a message's TypedDict, ``type`` left out.

    Raises ``TypeError`` for a field that does not say its bounds, or whose
    bounds do not fit its type (a ``Text`` on an ``int``): a message the
    parser could not check as its readers expect is refused on import.
    """
    table: dict[str, tuple[Spec, bool]] = {}
    for name, hint in get_type_hints(message, include_extras=True).items():
        if name == "type":
            continue
        required = get_origin(hint) is not NotRequired
        if not required:
            (hint,) = get_args(hint)
        if get_origin(hint) is not Annotated:
            raise TypeError(f"{message.__name__}.{name}: Annotated[type, spec] says its bounds")
        base, *specs = get_args(hint)
        bounds = [spec for spec in specs if isinstance(spec, Text | Number | Flag)]
        if len(bounds) != 1:
            raise TypeError(f"{message.__name__}.{name}: one Text, Number or Flag, not {specs}")
        spec = bounds[0]
        if not _fits(base, spec):
            raise TypeError(f"{message.__name__}.{name}: {base} does not fit {spec}")
        table[name] = (spec, required)
    return table


def _fits(base: object, spec: Spec) -> bool:
    """Whether values of type ``base`` are what ``spec`` lets through."""
    match spec:
        case Text():
            return base is str
        case Flag():
            return base is bool
        case Number(integer=integer, nullable=nullable):
            number = int if integer else float
            return base == (number | None if nullable else number)


FIELDS: dict[str, dict[str, tuple[Spec, bool]]] = {
    message_type(message): field_table(message) for message in CLIENT_MESSAGES
}
"""type -> {field: (spec, required)}: what the parser checks, from the TypedDicts."""

CLIENT_TYPES = frozenset(FIELDS)


def parse_client_text(text: str) -> ClientMessage:
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
    if not isinstance(kind, str) or kind not in FIELDS:
        known = ", ".join(sorted(FIELDS))
        raise ProtocolError(
            ErrorCode.BAD_FRAME,
            f"unknown message type {_shown(kind)} (expected one of: {known})",
        )
    fields = FIELDS[kind]
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
    return cast(ClientMessage, message)  # checked field by field against its TypedDict


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
