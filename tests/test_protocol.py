"""Frame encoding and the validation of every client message."""

from __future__ import annotations

import pytest

from relay import protocol
from relay.errors import ErrorCode, ProtocolError


def test_binary_frames_round_trip() -> None:
    chunk = protocol.parse_server_binary(protocol.output_frame(2**40, b"hello"))
    assert chunk == protocol.OutputChunk(2**40, b"hello")
    snap = protocol.parse_server_binary(protocol.snapshot_frame(7, 80, 24, b"\x1bc"))
    assert snap == protocol.Snapshot(7, 80, 24, b"\x1bc")
    assert protocol.parse_client_binary(protocol.input_frame(b"ls\r")) == b"ls\r"


@pytest.mark.parametrize("frame", [b"", b"x", b"o\x00", b"s\x00\x00"])
def test_bad_server_binary(frame: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.parse_server_binary(frame)
    assert info.value.code is ErrorCode.BAD_FRAME


@pytest.mark.parametrize("frame", [b"", b"o\x00\x00", b"\xffboom"])
def test_bad_client_binary(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        protocol.parse_client_binary(frame)


def test_valid_messages_parse() -> None:
    assert protocol.parse_client_text('{"type":"hello","version":1}')["version"] == 1
    join = protocol.parse_client_text('{"type":"join","session":"s","offset":null}')
    assert join["offset"] is None
    assert protocol.parse_client_text('{"type":"release"}') == {"type": "release"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not json", "not valid JSON"),
        ("[1,2]", "JSON object"),
        ('{"type":"launch"}', "unknown message type"),
        ('{"kind":"hello"}', "unknown message type"),
        ('{"type":"chat"}', "missing field 'text'"),
        ('{"type":"chat","text":5}', "wrong type"),
        ('{"type":"chat","text":"hi","extra":1}', "unknown field 'extra'"),
        ('{"type":"resize","cols":true,"rows":5}', "wrong type"),
        ('{"type":"resize","cols":0,"rows":5}', "cols must be"),
        ('{"type":"resize","cols":80,"rows":5000}', "rows must be"),
        ('{"type":"join","session":"s","offset":-1}', "offset must not be negative"),
    ],
)
def test_malformed_messages_get_a_clear_error(text: str, fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.parse_client_text(text)
    assert info.value.code is ErrorCode.BAD_FRAME
    assert fragment in info.value.message
