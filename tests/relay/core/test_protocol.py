"""Frame encoding and the validation of every client message."""

from __future__ import annotations

import json
import math
import typing
from typing import Annotated, Literal, NotRequired, TypedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.core import messages, protocol
from relay.core.errors import ErrorCode, ProtocolError
from tests.tools import ROOT


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


# ------------------------------------------------------------ the TypedDicts are the table


def _valid(spec: protocol.Spec) -> st.SearchStrategy[object]:
    """Values ``spec`` lets through (not all of them: enough to vary every field)."""
    match spec:
        case protocol.Text(limit, pattern):
            if pattern is not None:
                return st.from_regex(pattern, fullmatch=True).filter(lambda s: len(s) <= limit)
            return st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
        case protocol.Number(low, high, integer, low_open, nullable):
            number: st.SearchStrategy[object]
            if integer:
                number = st.integers(int(low) + low_open, int(high))
            else:
                number = st.floats(low, high, exclude_min=low_open)
            return st.none() | number if nullable else number
        case protocol.Flag():
            return st.booleans()
    raise AssertionError(spec)


def _typed_fields(message: type) -> tuple[dict[str, object], set[str]]:
    """A TypedDict's fields as Python sees them: ``{name: type}`` and the required ones."""
    hints = typing.get_type_hints(message, include_extras=True)
    fields: dict[str, object] = {}
    required: set[str] = set()
    for name, hint in hints.items():
        if typing.get_origin(hint) is typing.NotRequired:
            (hint,) = typing.get_args(hint)
        else:
            required.add(name)
        fields[name] = typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint
    return fields, required


@pytest.mark.parametrize("message", protocol.CLIENT_MESSAGES, ids=lambda m: m.__name__)
@given(data=st.data())
def test_what_the_parser_accepts_is_what_the_message_type_says(
    message: type, data: st.DataObject
) -> None:
    """Every field of the TypedDict may be sent, each required one must be, no other
    may be, and what comes out has the declared types: the handlers' static types
    and the parser's rules cannot part."""
    kind = protocol.message_type(message)
    types, required = _typed_fields(message)
    table = protocol.FIELDS[kind]
    assert set(types) - {"type"} == set(table) and types["type"] == Literal[kind]
    optional = data.draw(st.sets(st.sampled_from(sorted(set(table) - required) or [""])))
    sent: dict[str, object] = {"type": kind}
    for name, (spec, _) in table.items():
        if name in required or name in optional:
            sent[name] = data.draw(_valid(spec), label=name)
    parsed = protocol.parse_client_text(json.dumps(sent))
    assert parsed == sent
    for name, value in parsed.items():
        if name == "type":
            continue
        declared = types[name]
        allowed = typing.get_args(declared) or (declared,)
        if float in allowed:
            allowed = (*allowed, int)  # JSON's 5 is a fine float
        assert isinstance(value, allowed), (name, value, declared)
        assert not isinstance(value, bool) or bool in allowed, (name, value, declared)
    for name in required - {"type"}:
        with pytest.raises(ProtocolError, match=f"missing field '{name}'"):
            protocol.parse_client_text(json.dumps({k: v for k, v in sent.items() if k != name}))
    with pytest.raises(ProtocolError, match="unknown field 'not_declared'"):
        protocol.parse_client_text(json.dumps({**sent, "not_declared": 1}))


def test_a_field_without_bounds_or_with_the_wrong_ones_is_refused_on_import() -> None:
    class Unbounded(TypedDict):
        type: Literal["x"]
        text: str

    class Mismatched(TypedDict):
        type: Literal["x"]
        count: Annotated[int, protocol.Text(5)]

    class Nullable(TypedDict):
        type: Literal["x"]
        offset: NotRequired[Annotated[int, protocol.Number(0, 5, nullable=True)]]

    for message, fragment in [
        (Unbounded, "Unbounded.text"),
        (Mismatched, "Mismatched.count"),
        (Nullable, "Nullable.offset"),
    ]:
        with pytest.raises(TypeError, match=fragment):
            protocol.field_table(message)


def test_every_client_message_and_field_is_in_the_documented_table() -> None:
    """docs/protocol.md lists each message a client may send with each of its fields."""
    doc = (ROOT / "docs" / "protocol.md").read_text()
    section = doc.split("\n## Client → relay messages\n", 1)[1].split("\n\n")
    table = next(part for part in section if part.strip().startswith("| type |"))
    rows: dict[str, str] = {}
    for line in table.splitlines():
        first = line.split("|")[1].strip() if line.startswith("| `") else ""
        if first:
            kind = first.split("`")[1]
            rows[kind] = rows.get(kind, "") + line
    assert set(rows) == protocol.CLIENT_TYPES
    for kind, fields in protocol.FIELDS.items():
        for name in fields:
            assert f"`{name}`" in rows[kind], f"{kind}.{name} is not documented"


def test_every_relay_message_and_field_is_in_the_documented_table() -> None:
    """docs/protocol.md lists each message the relay sends with each of its fields, and
    each has its TypedDict: what clients read is what they are told."""
    doc = (ROOT / "docs" / "protocol.md").read_text()
    section = doc.split("\n## Relay → client messages\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            for kind in first.split("`")[1::2]:
                rows[kind] = rows.get(kind, "") + line
    shapes = {protocol.message_type(m): m for m in messages.RELAY_MESSAGES}
    assert set(rows) == set(shapes)
    for kind, shape in shapes.items():
        for name in typing.get_type_hints(shape):
            if name != "type":
                assert f"`{name}`" in rows[kind], f"{kind}.{name} is not documented"
