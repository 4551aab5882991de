"""Frame encoding and the validation of every client message."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.core import protocol
from relay.core.errors import ErrorCode, ProtocolError


def test_binary_frames_round_trip() -> None:
    chunk = protocol.parse_server_binary(protocol.output_frame(2**40, b"hello"))
    assert chunk == protocol.OutputChunk(2**40, b"hello")
    snap = protocol.parse_server_binary(protocol.snapshot_frame(7, 80, 24, b"\x1bc"))
    assert snap == protocol.Snapshot(7, 80, 24, b"\x1bc")
    size = protocol.parse_server_binary(protocol.resize_frame(2**62 + 5, 132, 43))
    assert size == protocol.SizeChange(2**62 + 5, 132, 43)
    assert protocol.parse_client_binary(protocol.input_frame(b"ls\r")) == b"ls\r"


@pytest.mark.parametrize(
    "frame", [b"", b"x", b"o\x00", b"s\x00\x00", b"r" + bytes(11), b"r" + bytes(13)]
)
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
        ('{"type":"join","session":"s","offset":-1}', "offset must be from 0"),
    ],
)
def test_malformed_messages_get_a_clear_error(text: str, fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.parse_client_text(text)
    assert info.value.code is ErrorCode.BAD_FRAME
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ('{"type":"grant","id":"c2","ttl":NaN}', "bad_frame", "NaN"),
        ('{"type":"grant","id":"c2","ttl":Infinity}', "bad_frame", "Infinity"),
        ('{"type":"grant","id":"c2","ttl":1e400}', "bad_frame", "out of range"),
        ('{"type":"grant","id":"c2","ttl":0}', "bad_frame", "more than 0"),
        ('{"type":"grant","id":"c2","ttl":-5}', "bad_frame", "more than 0"),
        ('{"type":"grant","id":"c2","ttl":1e12}', "bad_frame", "ttl must be"),
        ('{"type":"hello","version":' + "9" * 5000 + "}", "bad_frame", "more than 20 digits"),
        ("[" * 100_000, "bad_frame", "nested too deeply"),
        ('{"type":"chat","text":"hi","text":"ho"}', "bad_frame", "appears twice"),
        ('{"type":"chat","text":"\\ud800"}', "bad_frame", "lone surrogate"),
        (
            '{"type":"access_request","role":"viewer","reason":"a\\udfffb"}',
            "bad_frame",
            "surrogate",
        ),
        ('{"type":"chat","text":"hi","\\ud800":1}', "bad_frame", "unknown field"),
        ('{"type":"\\ud800"}', "bad_frame", "unknown message type"),
        ('{"type":"join","session":"' + "s" * 600_000 + '"}', "bad_frame", "longer than 128"),
        ('{"type":"join","session":"a\\nb"}', "bad_frame", "must be an id"),
        ('{"type":"join","session":"s","offset":18446744073709551616}', "bad_frame", "offset"),
        ('{"type":"request_control","reason":"' + "x" * 501 + '"}', "reason_too_long", "500"),
        ('{"type":"auth","method":"invite","invite":"wr1.a.b","name":"x y"}', "bad_frame", "name"),
        ('{"type":"access_decide","id":"r1","approve":1}', "bad_frame", "wrong type"),
    ],
)
def test_hostile_values_are_refused_with_a_code(text: str, code: str, fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.parse_client_text(text)
    assert info.value.code == code and fragment in info.value.message
    assert len(info.value.message) < 400  # never an echo of the hostile value
    info.value.message.encode()  # always encodable: it is sent and audited


def test_the_ref_of_a_refusal_is_a_known_type_or_none() -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.parse_client_text('{"type":"grant","id":"c2","ttl":-1}')
    assert info.value.ref == "grant"
    with pytest.raises(ProtocolError) as info:
        protocol.parse_client_text('{"type":"x\\ud800"}')
    assert info.value.ref is None


def test_encode_never_produces_unencodable_text() -> None:
    text = protocol.encode({"type": "chat", "text": "a\ud800b"})
    text.encode()
    assert protocol.json_decode(text)["text"] == "a\ud800b"  # escaped, not lost


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["c1", "s-1", "viewer", "", "\x1b[2J", "\ud800", "x" * 200]),
)


@given(
    kind=st.sampled_from([*sorted(protocol.CLIENT_TYPES), "nope"]),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "id",
                "ttl",
                "reason",
                "text",
                "session",
                "offset",
                "cols",
                "rows",
                "name",
                "role",
                "user",
                "version",
                "method",
                "token",
                "approve",
                "target",
                "bogus",
            ]
        ),
        _scalars,
        max_size=6,
    ),
)
def test_parsing_refuses_with_a_protocol_error_or_returns_clean_values(
    kind: str, fields: dict[str, object]
) -> None:
    """Whatever a client sends: a ProtocolError, or a message of known fields whose
    strings encode as UTF-8 and whose numbers are finite."""
    frame = json.dumps({"type": kind, **fields})
    try:
        message = protocol.parse_client_text(frame)
    except ProtocolError as exc:
        exc.message.encode()
        return
    for name, value in message.items():
        if isinstance(value, str):
            value.encode()
            assert len(value) <= protocol.MAX_CHAT
        if isinstance(value, float):
            assert math.isfinite(value) and name == "ttl"


@given(st.text(max_size=300))
def test_any_text_frame_parses_or_is_refused(text: str) -> None:
    try:
        protocol.parse_client_text(text)
    except ProtocolError as exc:
        exc.message.encode()
