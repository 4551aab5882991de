"""The wire format between the relay and its clients (version 1).

Text frames carry one JSON object with a ``type``; binary frames carry
terminal bytes, tagged so that a client always knows where in the session's
output stream it stands:

* relay → client ``o`` + u64 offset + bytes: output starting at ``offset``;
* relay → client ``s`` + u64 offset + u16 cols + u16 rows + bytes: a screen
  snapshot valid at ``offset`` (reset the screen, apply, continue from there);
* client → relay ``i`` + bytes: keystrokes (forwarded only for the driver).

Everything here is pure: parsing raises :class:`ProtocolError` with a code
from :mod:`relay.errors`, and ``docs/protocol.md`` documents every message.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

from relay.errors import ErrorCode, ProtocolError

VERSION = 1

OUTPUT = b"o"
SNAPSHOT = b"s"
INPUT = b"i"

_OFFSET = struct.Struct(">Q")
_SNAPSHOT_HEAD = struct.Struct(">QHH")

MAX_COLS = 1000
MAX_ROWS = 1000


def output_frame(offset: int, data: bytes) -> bytes:
    return OUTPUT + _OFFSET.pack(offset) + data


def snapshot_frame(offset: int, cols: int, rows: int, data: bytes) -> bytes:
    return SNAPSHOT + _SNAPSHOT_HEAD.pack(offset, cols, rows) + data


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


def parse_server_binary(frame: bytes) -> OutputChunk | Snapshot:
    """Decode a binary frame from the relay (used by clients)."""
    kind = frame[:1]
    if kind == OUTPUT and len(frame) >= 1 + _OFFSET.size:
        (offset,) = _OFFSET.unpack_from(frame, 1)
        return OutputChunk(offset, frame[1 + _OFFSET.size :])
    if kind == SNAPSHOT and len(frame) >= 1 + _SNAPSHOT_HEAD.size:
        offset, cols, rows = _SNAPSHOT_HEAD.unpack_from(frame, 1)
        return Snapshot(offset, cols, rows, frame[1 + _SNAPSHOT_HEAD.size :])
    raise ProtocolError(ErrorCode.BAD_FRAME, f"unknown binary frame kind {kind!r}")


def parse_client_binary(frame: bytes) -> bytes:
    """Decode a binary frame from a client: only input exists."""
    if frame[:1] != INPUT:
        raise ProtocolError(
            ErrorCode.BAD_FRAME, f"unknown binary frame kind {frame[:1]!r} (expected b'i')"
        )
    return frame[1:]


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


# ------------------------------------------------------------ client messages

_NUMBER = (int, float)

# type -> {field: (python type, required)}
_FIELDS: dict[str, dict[str, tuple[type | tuple[type, ...], bool]]] = {
    "hello": {"version": (int, True), "client": (str, False)},
    "auth": {
        "method": (str, True),
        "token": (str, False),
        "invite": (str, False),
        "name": (str, False),
        "user": (str, False),
        "signature": (str, False),
    },
    "list_sessions": {},
    "list_recordings": {"session": (str, False)},
    "fetch_recording": {"name": (str, True), "offset": (int, False)},
    "open": {"target": (str, True), "reason": (str, True)},
    "join": {
        "session": (str, True),
        "offset": ((int, type(None)), False),
        "cols": (int, False),
        "rows": (int, False),
    },
    "leave": {},
    "resize": {"cols": (int, True), "rows": (int, True)},
    "request_control": {"reason": (str, True)},
    "grant": {"id": (str, True), "ttl": (_NUMBER, False)},
    "deny": {"id": (str, True), "reason": (str, False)},
    "release": {},
    "take": {},
    "chat": {"text": (str, True)},
    "end": {"reason": (str, False)},
    "access_grant": {
        "user": (str, True),
        "role": (str, True),
        "ttl": (_NUMBER, True),
        "session": (str, False),
        "target": (str, False),
        "reason": (str, False),
    },
    "access_revoke": {"user": (str, True), "session": (str, False)},
    "access_request": {"role": (str, True), "reason": (str, True), "session": (str, False)},
    "access_decide": {
        "id": (str, True),
        "approve": (bool, True),
        "ttl": (_NUMBER, False),
        "reason": (str, False),
    },
    "access_list": {},
    "invite": {
        "role": (str, True),
        "session": (str, True),
        "ttl": (_NUMBER, True),
        "name": (str, False),
    },
}

CLIENT_TYPES = frozenset(_FIELDS)


def parse_client_text(text: str) -> dict[str, Any]:
    """Decode and validate a JSON frame from a client.

    Unknown fields are refused rather than ignored: a typo in a client must
    show up as an error, not as a silently missing option.
    """
    try:
        message = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"frame is not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.BAD_FRAME, "frame must be a JSON object")
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        known = ", ".join(sorted(_FIELDS))
        raise ProtocolError(
            ErrorCode.BAD_FRAME, f"unknown message type {kind!r} (expected one of: {known})"
        )
    fields = _FIELDS[kind]
    for name, value in message.items():
        if name == "type":
            continue
        if name not in fields:
            raise ProtocolError(ErrorCode.BAD_FRAME, f"{kind}: unknown field {name!r}")
        expected, _ = fields[name]
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            raise ProtocolError(ErrorCode.BAD_FRAME, f"{kind}: field {name!r} has the wrong type")
    for name, (_, required) in fields.items():
        if required and name not in message:
            raise ProtocolError(ErrorCode.BAD_FRAME, f"{kind}: missing field {name!r}")
    _check_size(message)
    return message


def _check_size(message: dict[str, Any]) -> None:
    for name in ("cols", "rows"):
        value = message.get(name)
        limit = MAX_COLS if name == "cols" else MAX_ROWS
        if value is not None and not 1 <= value <= limit:
            raise ProtocolError(
                ErrorCode.BAD_FRAME, f"{message['type']}: {name} must be from 1 to {limit}"
            )
    offset = message.get("offset")
    if offset is not None and offset < 0:
        raise ProtocolError(ErrorCode.BAD_FRAME, "join: offset must not be negative")


def json_decode(text: str) -> dict[str, Any]:
    """Decode a relay → client JSON frame (used by clients)."""
    try:
        message = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"frame is not valid JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError(ErrorCode.BAD_FRAME, "frame must be a JSON object with a type")
    return message
