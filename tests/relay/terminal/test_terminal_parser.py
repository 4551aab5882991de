"""The tokenizer (relay/terminal/parser.py): where each sequence starts and ends.

Its users (the terminal model and the output masker) rely on three things,
checked here on generated streams: the tokens' raw bytes are exactly the
input, whatever the chunking the same sequences come out, and the fast
path's shortcuts (``SIMPLE``, the screen's runs) only ever match whole
tokens. The examples pin the rules that decide where a sequence ends (CAN,
SUB, ESC inside a string, BEL/ST/C1 ST, C1 controls, UTF-8), which are
xterm.js's; tests/relay/terminal/test_terminal_oracle.py compares the resulting screens.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.terminal import TerminalModel
from relay.terminal.fastpath import RUN as _RUN
from relay.terminal.fastpath import sequence_end
from relay.terminal.parser import MAX_HELD, SIMPLE, STRINGS, TEXT, Token, Tokenizer
from tests.terminal_streams import chunked, garbage, shell_streams, streams

ESC = "\x1b"
CSI = "\x1b["


def tokens(*chunks: bytes) -> tuple[list[Token], Tokenizer]:
    tokenizer = Tokenizer()
    out: list[Token] = []
    for chunk in chunks:
        out += tokenizer.feed(chunk)
    return out, tokenizer


def kinds(data: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokens(data.encode())[0]]


def sequences(found: list[Token]) -> list[Token]:
    """The tokens that are not text: whatever the chunking, these come out the same."""
    return [t for t in found if t.kind != TEXT]


def joined_text(found: list[Token]) -> list[str]:
    """The text between sequences (a chunk boundary may cut a text run in two)."""
    out, run = [], ""
    for token in found:
        if token.kind == TEXT:
            run += token.text
        else:
            out.append(run)
            run = ""
    return [*out, run]


anything = st.one_of(shell_streams(), streams(), garbage)


# ---------------------------------------------------------------------- properties


@given(st.data(), anything)
def test_raw_bytes_are_the_input_whatever_the_chunking(data: st.DataObject, stream: str) -> None:
    encoded = stream.encode()
    chunks = data.draw(chunked(encoded))
    found, tokenizer = tokens(*chunks)
    assert b"".join(t.raw for t in found) + tokenizer.pending() == encoded
    whole, _ = tokens(encoded)
    assert sequences(found) == sequences(whole)
    assert joined_text(found) == joined_text(whole)


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=6))
def test_any_bytes_round_trip(data: bytes, cuts: list[int]) -> None:
    """Invalid UTF-8 included: raw gives every byte back (surrogateescape)."""
    bounds = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    found, tokenizer = tokens(*(data[a:b] for a, b in itertools.pairwise(bounds)))
    assert b"".join(t.raw for t in found) + tokenizer.pending() == data
    fresh = Tokenizer()
    assert b"".join(t.raw for t in fresh.feed(tokenizer.pending())) + fresh.pending() == (
        tokenizer.pending()
    )


@given(anything)
def test_fast_path_expressions_match_whole_tokens(stream: str) -> None:
    """``SIMPLE`` at a token's start matches that token; a run ends where a token ends;
    a sequence the fast path reads after an ESC is the token there, or none."""
    text = stream.encode().decode()
    found, _ = tokens(stream.encode())
    starts, pos = [], 0
    for token in found:
        starts.append((pos, token))
        pos += len(token.text)
    # where a shortcut may stop: at a token's end, or anywhere inside text
    cuts = {p + len(t.text) for p, t in starts}
    cuts.update(i for p, t in starts if t.kind == TEXT for i in range(p, p + len(t.text)))
    for pos, token in starts:
        m = SIMPLE.match(text, pos)
        if m is not None:
            assert m.group() == token.text, (token, m)
        run = _RUN.match(text, pos)
        if run is not None:
            assert run.end() in cuts, (token, run.group())
        if text[pos] == "\x1b":  # the fast path reads a sequence from the text after its ESC
            piece, _, after = text[pos + 1 :].partition("\x1b")
            end = sequence_end(piece, after.partition("\x1b")[0] if _ else "")
            if end:
                assert text[pos : pos + 1 + end] == token.text, (token, end)


# ---------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        ("ab\x1b[1;31mc", [("text", "ab"), ("csi", "\x1b[1;31m"), ("text", "c")]),
        # text ending in a CSI final byte is text
        ("OK\x1b[K", [("text", "OK"), ("csi", "\x1b[K")]),
        # CAN and SUB abort a sequence and belong to it
        ("\x1b[1;2\x18x", [("csi", "\x1b[1;2\x18"), ("text", "x")]),
        ("\x1b]0;t\x1ax", [("osc", "\x1b]0;t\x1a"), ("text", "x")]),
        # ESC aborts a CSI and starts the next sequence
        ("\x1b[1\x1b[2J", [("csi", "\x1b[1"), ("csi", "\x1b[2J")]),
        # an OSC ends at BEL, ST, C1 ST, or the ESC of another sequence
        ("\x1b]2;a\x07", [("osc", "\x1b]2;a\x07")]),
        ("\x1b]2;a\x1b\\", [("osc", "\x1b]2;a\x1b\\")]),
        ("\x1b]2;a\x9c", [("osc", "\x1b]2;a\x9c")]),
        ("\x1b]2;a\x1b[m", [("osc", "\x1b]2;a"), ("csi", "\x1b[m")]),
        # a C1 control other than ST abandons it
        ("\x1b]2;a\x85b", [("osc", "\x1b]2;a"), ("control", "\x85"), ("text", "b")]),
        # BEL does not end a DCS or an APC
        ("\x1bPq#0\x07!\x1b\\x", [("dcs", "\x1bPq#0\x07!\x1b\\"), ("text", "x")]),
        ("\x1b_a\x07b\x1b\\", [("apc", "\x1b_a\x07b\x1b\\")]),
        # C1 forms
        (
            "\x9b2J\x9d0;t\x07\x90q\x9c",
            [("csi", "\x9b2J"), ("osc", "\x9d0;t\x07"), ("dcs", "\x90q\x9c")],
        ),
        # C0 controls inside a CSI belong to it (and run)
        ("\x1b[1\n2H", [("csi", "\x1b[1\n2H")]),
        ("\x1b\n[A", [("csi", "\x1b\n[A")]),
        # a malformed CSI is read to its final, ignored
        ("\x1b[1?2hx", [("csi", "\x1b[1?2h"), ("text", "x")]),
        # non-ASCII aborts a CSI, an ESC, an APC (xterm.js) and belongs to it
        ("\x1b[1é2J", [("csi", "\x1b[1é"), ("text", "2J")]),
        ("\x1b_aéb", [("apc", "\x1b_aé"), ("text", "b")]),
        # but not an OSC (titles in any language)
        ("\x1b]0;日本\x07", [("osc", "\x1b]0;日本\x07")]),
        # escapes with intermediates, and lone ST
        ("\x1b(0\x1b#8\x9c", [("esc", "\x1b(0"), ("esc", "\x1b#8"), ("control", "\x9c")]),
        ("\x7f\x00\x85", [("control", "\x7f"), ("control", "\x00"), ("control", "\x85")]),
    ],
)
def test_where_sequences_end(stream: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(stream) == expected


def test_token_fields() -> None:
    csi, osc, dcs, esc = (
        t for t in tokens(b"\x1b[?1049;2h\x1b]0;a\x01b\x07\x1bP1$r0m\x1b\\\x1b(0")[0]
    )
    assert (csi.params, csi.intermediates, csi.final, csi.aborted) == ("?1049;2", "", "h", False)
    assert (osc.body, osc.terminator) == ("0;ab", "\x07")  # ignored C0 dropped from the body
    assert (dcs.params, dcs.intermediates, dcs.final, dcs.body) == ("1", "$", "r", "0m")
    assert (esc.intermediates, esc.final) == ("(", "0")
    cancelled = tokens(b"\x1b]0;x\x18")[0][0]
    assert cancelled.aborted and cancelled.terminator == "\x18"
    inside = tokens(b"\x1b[2\r\x08C")[0][0]
    assert (inside.params, inside.final, inside.controls) == ("2", "C", "\r\x08")


def test_utf8_and_sequences_cut_anywhere_are_held() -> None:
    data = "中\x1b[38;2;1;2;3m\x1b]0;tïtle\x07\xc2\x85".encode()
    for cut in range(1, len(data)):
        first, tokenizer = tokens(data[:cut])
        held = tokenizer.pending()
        assert b"".join(t.raw for t in first) + held == data[:cut]
        rest = tokenizer.feed(data[cut:])
        assert sequences(first + rest) == sequences(tokens(data)[0])
    assert tokens(b"\xc2")[1].pending() == b"\xc2"  # maybe the start of a C1 control


def test_invalid_utf8_is_text_and_ignored_inside_sequences() -> None:
    found, _ = tokens(b"\xff \x1b[1\xfe2J")
    assert [t.kind for t in found] == ["text", "csi"]
    assert found[1].params == "12" and found[1].raw == b"\x1b[1\xfe2J"


def test_long_strings_come_in_bounded_pieces() -> None:
    tokenizer = Tokenizer()
    pieces = tokenizer.feed(b"\x1b]52;c;" + b"A" * 10_000)
    pieces += tokenizer.feed(b"B" * 10_000)
    assert tokenizer.in_string and len(tokenizer.pending()) <= MAX_HELD
    pieces += tokenizer.feed(b"C\x07ok")
    assert [(t.partial, t.continued) for t in pieces[:-1]] == [
        (True, False),
        (True, True),
        (False, True),
    ]
    assert all(t.kind == "osc" for t in pieces[:-1]) and pieces[-1].text == "ok"
    assert (
        b"".join(t.raw for t in pieces)
        == b"\x1b]52;c;" + b"A" * 10_000 + b"B" * 10_000 + b"C\x07ok"
    )
    # what is pending puts a fresh tokenizer inside the same string
    tokenizer = Tokenizer()
    tokenizer.feed(b"\x1b]2;" + b"x" * 9000)
    fresh = Tokenizer()
    assert fresh.feed(tokenizer.pending()) == [] and fresh.pending().startswith(b"\x1b]2;xx")
    assert [t.kind for t in fresh.feed(b"\x07")] == ["osc"]


def test_runaway_csi_is_handed_out_aborted() -> None:
    tokenizer = Tokenizer()
    found = tokenizer.feed(b"\x1b[" + b"1;" * 5000)
    assert found[0].kind == "csi" and found[0].aborted and len(found[0].text) == MAX_HELD
    assert len(tokenizer.pending()) <= MAX_HELD


def test_string_kinds() -> None:
    for intro, kind in [("]", "osc"), ("P", "dcs"), ("X", "sos"), ("^", "pm"), ("_", "apc")]:
        token = tokens(f"{ESC}{intro}x{ESC}\\".encode())[0][0]
        assert token.kind == kind and kind in STRINGS


def test_random_bytes_never_raise() -> None:
    rng = random.Random(3)
    tokenizer = Tokenizer()
    fed = b""
    out: list[Token] = []
    for _ in range(300):
        chunk = bytes(
            rng.choice(b"\x1b[]P_^X\\;?0:1\x07\x18\x1a\xc2\x9b\x9c\x9dA\xe4\xb8\xad\n")
            for _ in range(rng.randint(1, 40))
        )
        fed += chunk
        out += tokenizer.feed(chunk)
    assert b"".join(t.raw for t in out) + tokenizer.pending() == fed


@given(st.text(alphabet="0123456789;:", max_size=16), st.sampled_from("Hf"))
def test_the_fast_path_reads_a_cursor_move_as_the_reference_path(params: str, final: str) -> None:
    """``fastpath.cup`` reads CUP's parameters by character code (long ones, empty
    ones, sub-parameters, more than two): the cursor lands where the tokenizer and
    the screen's dispatch put it."""
    data = f"{CSI}{params}{final}x".encode()
    fast, slow = TerminalModel(120, 40), TerminalModel(120, 40, fast=False)
    fast.feed(data)
    slow.feed(data)
    assert fast.cursor == slow.cursor
    assert fast.line_text(slow.cursor[1]) == slow.line_text(slow.cursor[1])
