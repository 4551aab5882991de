"""The masker and the terminal model cut the output at the same places.

Issue 11, item 3: ``ESC ] 0 ; CAN AKIA...`` (CAN ends the OSC for the terminal),
C1 CSI, an ESC inside a string, BEL and ST terminators... every disagreement
between the masker and the terminal about where a sequence ends is a secret
drawn in clear. :mod:`relay.masking.sequences` reads chunks with the terminal
model's tokenizer (:mod:`relay.terminal.parser`), by a fast regex road for
plain sequences and token by token for the rest. Here generated streams made of
the characters that start, end, abort and fill sequences check that both roads
give the tokenizer's own answer (the oracle: the tokenizer fed the same bytes)
for the text, the string sequences and where an unfinished sequence begins,
and that a key with such pieces inside it never reaches a viewer's screen.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.masking import OutputMasker
from relay.masking.screen import ScreenCheck
from relay.masking.sequences import (
    StringSequence,
    open_sequence,
    scan,
    text_of,
    unfinished,
)
from relay.terminal import TerminalModel
from relay.terminal.parser import CONTROL, CSI, ESC, STRINGS, TEXT, Token, Tokenizer

_KINDS = {"osc": "]", "dcs": "P", "sos": "X", "pm": "^", "apc": "_"}
_DRAWING = "\x08\t\n\x0b\x0c\r"
_C1_START = re.compile(rb"\xc2[\x90\x98\x9b\x9d\x9e\x9f]")

# What starts, ends, aborts and fills sequences, and text around them.
_PIECES = [
    # introducers, ESC and C1
    b"\x1b", b"\x1b[", b"\x1b]", b"\x1bP", b"\x1bX", b"\x1b^", b"\x1b_",
    b"\xc2\x9b", b"\xc2\x9d", b"\xc2\x90", b"\xc2\x98", b"\xc2\x9e", b"\xc2\x9f",
    # terminators and aborts
    b"\x07", b"\x1b\\", b"\xc2\x9c", b"\x18", b"\x1a",
    # other C1 and C0 controls, DEL
    b"\xc2\x85", b"\xc2\x84", b"\xc2\x8d", b"\xc2\x80",
    b"\x00", b"\x08", b"\t", b"\n", b"\r", b"\x0e", b"\x0f", b"\x7f", b"\x05",
    # parameters, markers, intermediates, finals
    b"0;", b"1", b"52;", b"8;;", b"?", b"?25", b"38:2::1:2:3", b" ", b"(", b"#",
    b"m", b"H", b"K", b"B", b"q", b"|",
    # text, non-ASCII, invalid UTF-8, a lone lead byte
    b"abc", b"key", b"\xc3\xa9", b"\xe6\x97\xa5", b"\xc2\xa0", b"\x80", b"\xff",
    b"\xe2\x82", b"\xc2", b" \r",
    # well-formed sequences the fast road reads
    b"\x1b[31m", b"\x1b[0m", b"\x1b(B", b"\x1b]0;title\x07", b"\x1b]8;;http://x\x1b\\",
]  # fmt: skip

_STREAMS = st.lists(st.sampled_from(_PIECES), max_size=40).map(b"".join)


def _tokens(data: bytes) -> tuple[list[tuple[int, Token]], Tokenizer]:
    """The tokenizer's tokens of ``data`` with their byte offsets."""
    tokenizer = Tokenizer()
    out = []
    pos = 0
    for token in tokenizer.feed(data):
        out.append((pos, token))
        pos += len(token.raw)
    return out, tokenizer


def _expected_text(data: bytes) -> bytes:
    """What the terminal draws or moves by: text, and the controls that move the cursor."""
    out = []
    tokens, tokenizer = _tokens(data)
    for _, token in tokens:
        if token.kind == TEXT or (token.kind == CONTROL and token.text in _DRAWING):
            out.append(token.raw)
        elif token.kind in (ESC, CSI):
            out += [c.encode() for c in token.text if c in _DRAWING]
    held = tokenizer.pending()
    if not tokenizer.in_string and not held.startswith(b"\x1b") and _C1_START.match(held) is None:
        out.append(held)  # a character cut short: text (what is drawn for it comes next)
    return b"".join(out)


def _expected_strings(data: bytes) -> list[tuple[int, int, str, bytes]]:
    """Each string sequence: where it starts and stops, its kind, and its body's bytes."""
    out = []
    for pos, token in _tokens(data)[0]:
        if token.kind in STRINGS:
            out.append((pos, pos + len(token.raw), _KINDS[token.kind], token.body))
    return out


def _strings(data: bytes, found: list[StringSequence]) -> list[tuple[int, int, str, bytes]]:
    """The masker's strings, their bodies read as the terminal collects them."""
    out = []
    for seq in found:
        body = data[seq.body : seq.end].decode("utf-8", "surrogateescape")
        if seq.kind == "P":  # the body runs from the introducer: take the DCS header off
            header = Tokenizer().feed(data[seq.start : seq.stop] + b"\x18")[0]
            body = header.body
        elif seq.kind == "]":
            body = "".join(c for c in body if c >= " " or c == "\x07")  # ignored controls
        out.append((seq.start, seq.stop, seq.kind, body.encode("utf-8", "surrogateescape")))
    return out


def _as_bodies(expected: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str, bytes]]:
    return [(a, b, k, body.encode("utf-8", "surrogateescape")) for a, b, k, body in expected]


@given(_STREAMS)
def test_the_text_is_what_the_tokenizer_draws(data: bytes) -> None:
    """Text, for a chunk cut where the masker cuts it: both roads, and the tokenizer."""
    work = data[: unfinished(data)]
    expected = _expected_text(work)
    assert text_of(work, wraps=False) == expected
    assert scan(work, wraps=False, fast=False).text == expected


@given(_STREAMS)
def test_the_fast_road_and_the_tokenizer_agree(data: bytes) -> None:
    """Every span, string and wrap the fast road finds is the tokenizer road's."""
    work = data[: unfinished(data)]
    fast = scan(work)
    slow = scan(work, wraps=True, fast=False)
    assert fast.text == slow.text
    assert _joined(fast.removed) == _joined(slow.removed)  # the fast road takes runs of controls
    assert fast.strings == slow.strings


def _joined(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


@given(_STREAMS)
def test_string_sequences_are_the_tokenizer_s(data: bytes) -> None:
    """Where each OSC, DCS, SOS, PM and APC starts and stops, and what its body holds."""
    work = data[: unfinished(data)]
    assert _strings(work, scan(work).strings) == _as_bodies(_expected_strings(work))


@given(_STREAMS)
def test_an_unfinished_sequence_is_held_where_the_tokenizer_holds_it(data: bytes) -> None:
    tokens, tokenizer = _tokens(data)
    held = tokenizer.pending()
    if tokenizer.in_string:  # a long string handed out in pieces: open from its first piece
        start = next(pos for pos, t in tokens if t.partial and not t.continued)
    elif held[:1] == b"\x1b" or (held[:1] == b"\xc2" and len(held) > 1):
        start = len(data) - len(held)  # a sequence the tokenizer waits to finish
    elif held == b"\xc2":
        start = len(data) - 1  # may be the start of a C1 control
    else:
        start = len(data)  # nothing, or a character cut short: text
    assert unfinished(data) == start
    if start < len(data) and held != b"\xc2":
        kind = open_sequence(data)[1]
        assert kind == Tokenizer().feed(data[start:] + b"\x18")[0].kind


@pytest.mark.parametrize(
    ("data", "text"),
    [
        # CAN ends the OSC for the terminal: the key after it is drawn, and is text
        (b"\x1b]0;\x18AKIAIOSFODNN7EXAMPLE\x07", b"AKIAIOSFODNN7EXAMPLE"),
        (b"\xc2\x9b31mAKIA\xc2\x9b0mIOSF", b"AKIAIOSF"),  # C1 CSI
        (b"AKIA\x00IOSF\x7fODNN\x0f7EXAMPLE", b"AKIAIOSFODNN7EXAMPLE"),  # NUL, DEL, SI
        (b"AKIA\x1b[1\x00mIOSF", b"AKIAIOSF"),  # NUL inside a CSI runs, the CSI goes on
        (b"AKIA\x1b[1!2mIOSF", b"AKIAIOSF"),  # malformed CSI: read to its final, ignored
        (b"AKIA\x1b\x00[0mIOSF", b"AKIAIOSF"),  # ESC NUL [: still a CSI
        (b"AKIA\x1b_\xc3\xa9IOSF", b"AKIAIOSF"),  # a character from U+00A0 ends an APC
        (b"AKIA\x1b]0;t\xc2\x85IOSF", b"AKIAIOSF"),  # a C1 control ends an OSC
        (b"AKIA\x1b[1\nA", b"AKIA\n"),  # LF inside a CSI moves the cursor
    ],
)
def test_examples(data: bytes, text: bytes) -> None:
    assert text_of(data) == text == _expected_text(data)


# A key with pieces inside that draw nothing, as the terminal reads them.
_KEY = b"AKIAIOSFODNN7EXAMPLE"
_INSIDE = [
    b"\x1b[31m", b"\xc2\x9b1m", b"\x00", b"\x7f", b"\x0f", b"\x1b[1\x00m", b"\x1b[1!2m",
    b"\x1b\x00[0m", b"\x1b_\xc3\xa9", b"\x1b]0;t\xc2\x85", b"\x1b]0;\x18", b"\x1bP\x1a",
    b"\x1b]2;x\x1b\\", b"\xc2\x9d0;t\xc2\x9c", b"\x1bX\x18", b"\x1b(B",
]  # fmt: skip


@given(
    st.lists(st.sampled_from(_PIECES), max_size=12).map(b"".join),
    st.lists(st.tuples(st.integers(1, 19), st.sampled_from(_INSIDE)), max_size=4),
    st.integers(1, 16),
)
def test_a_key_with_sequences_inside_never_reaches_the_screen(
    before: bytes, inside: list[tuple[int, bytes]], size: int
) -> None:
    """A key split by sequences and controls that draw nothing, after garbage, chunked."""
    key = _KEY
    for at, piece in sorted(inside, reverse=True):
        key = key[:at] + piece + key[at:]
    # CAN and a line break end whatever the garbage left open; the key starts a line.
    data = before + b"\x18\r\n" + key + b"\r\n"
    masker, check, model = OutputMasker(), ScreenCheck(), TerminalModel(80, 6)
    stream = b""
    for i in range(0, len(data), size):
        frame = masker.feed(data[i : i + size])[0] + masker.flush()[0]
        if frame:
            model.feed(frame)
            stream += frame + check.check(model, frame)[0]
    stream += masker.flush(end_of_stream=True)[0]
    assert b"IOSFODNN" not in text_of(stream)
    assert "IOSFODNN" not in "".join(model.display())


@pytest.mark.parametrize(
    ("string", "end", "after"),
    [
        (b"\x1b]0;", b"\x07", b" visible"),  # BEL ends an OSC
        (b"\x1bP1$q", b"\x07 still data \x1b\\", b" visible"),  # not a DCS: ST does
        (b"\x1b_", b"\xc3\xa9", b" visible"),  # U+00A0 and up ends an APC (and is dropped)
        (b"\x1b]0;", b"\xc2\x9c", b" visible"),  # C1 ST
        (b"\x1b]0;", b"\x18", b" visible"),  # CAN
        (b"\x1b]0;", b"", b"\xc2\x85 visible"),  # a C1 control ends it and is its own
    ],
)
def test_an_overlong_string_is_dropped_to_where_the_tokenizer_ends_it(
    string: bytes, end: bytes, after: bytes
) -> None:
    """Past STRING_MAX a string is dropped; what follows its end comes out, by its rules."""
    for size in (1, 7, 5000):
        data = b"ok " + string + b"A" * 20000 + end + after
        masker = OutputMasker()
        out = b"".join(masker.feed(data[i : i + size])[0] for i in range(0, len(data), size))
        out += masker.flush(end_of_stream=True)[0]
        assert b"A" not in out and b"still" not in out
        assert text_of(out) == text_of(b"ok " + after)  # an ST left alone draws nothing


@pytest.mark.parametrize(
    "start", [b"\x1b]0;", b"\x1bP1$q", b"\x1b_", b"\xc2\x9d0;", b"\x1b[1;2;3"], ids=repr
)
def test_an_unfinished_sequence_a_byte_per_frame_is_not_read_again_each_frame(
    start: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 item 7's attack on sequences: the bytes read for where they end stay linear."""
    from relay.masking import stream

    read = 0

    def counting(data: bytes) -> tuple[int, str]:
        nonlocal read
        read += len(data)
        return open_sequence(data)

    monkeypatch.setattr(stream, "open_sequence", counting)
    masker = OutputMasker()
    body = b"1;" * 1000 if start.startswith(b"\x1b[") else b"A" * 20000
    data = b"ok " + start + body
    for i in range(len(data)):
        masker.feed(data[i : i + 1])
    assert read < 4 * len(data)
