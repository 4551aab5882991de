"""Properties of the terminal model over generated streams (tests/terminal_streams.py).

The fast path (``TerminalModel()``) must be indistinguishable from the
character-by-character reference path (``TerminalModel(fast=False)``): after
every feed of every chunking, the same cells (text and attributes) on both
screens, cursor and pending-wrap state, pen, saved cursors, modes, margins,
tab stops, REP's character, the parser's carry-over, and the same rows marked
dirty. Examples are what found ``echo OK`` showing nothing.

CI runs the ``ci`` hypothesis profile (derandomized, bounded); ``make fuzz``
runs the ``fuzz`` profile (random seeds, many more examples). See
tests/conftest.py.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.terminal import TerminalModel, render
from relay.terminal.cells import is_wide
from tests.relay.terminal.test_terminal import comparable, rep_reproducible, state
from tests.terminal_streams import (
    SIZES,
    chunked,
    cursor_moves,
    log_streams,
    sgr,
    shell_streams,
    streams,
    text,
)

#: At least 200 examples each (more under ``make fuzz``): few examples reach some paths.
EXAMPLES = settings(max_examples=max(200, settings.default.max_examples))


def assert_fast_equals_reference(chunks: list[bytes], cols: int, rows: int) -> None:
    fast = TerminalModel(cols, rows)
    slow = TerminalModel(cols, rows, fast=False)
    for i, chunk in enumerate(chunks):
        fast.feed(chunk)
        slow.feed(chunk)
        assert fast.dirty == slow.dirty, f"dirty rows after feed {i}"
        fast.dirty.clear()
        slow.dirty.clear()
        assert state(fast) == state(slow), f"after feed {i}"


@EXAMPLES
@given(st.data(), shell_streams(), st.sampled_from(SIZES))
def test_fast_path_equals_reference_path_on_shell_output(
    data: st.DataObject, stream: str, size: tuple[int, int]
) -> None:
    chunks = data.draw(chunked(stream.encode()))
    assert_fast_equals_reference(chunks, *size)


@EXAMPLES
@given(st.data(), streams(), st.sampled_from(SIZES))
def test_fast_path_equals_reference_path_on_anything(
    data: st.DataObject, stream: str, size: tuple[int, int]
) -> None:
    chunks = data.draw(chunked(stream.encode()))
    assert_fast_equals_reference(chunks, *size)


@EXAMPLES
@given(st.data(), log_streams(), st.sampled_from(SIZES))
def test_output_drawn_late_equals_the_reference_path(
    data: st.DataObject, stream: str, size: tuple[int, int]
) -> None:
    """Feeds of plain output wait undrawn until the model is read, then are drawn as one.

    Nothing is read between the feeds here, so every run the fast path kept
    waits (up to its bound), joined with the next, and is drawn by the read.
    """
    chunks = data.draw(chunked(stream.encode()))
    fast = TerminalModel(*size)
    slow = TerminalModel(*size, fast=False)
    for chunk in chunks:
        fast.feed(chunk)
        slow.feed(chunk)
    assert fast.dirty == slow.dirty
    assert state(fast) == state(slow)


@EXAMPLES
@given(st.data(), st.one_of(shell_streams(), streams()), st.sampled_from(SIZES))
def test_chunking_changes_nothing(data: st.DataObject, stream: str, size: tuple[int, int]) -> None:
    """Split UTF-8 characters and sequences are carried over to the next feed."""
    encoded = stream.encode()
    whole = TerminalModel(*size)
    whole.feed(encoded)
    split = TerminalModel(*size)
    for chunk in data.draw(chunked(encoded)):
        split.feed(chunk)
    assert state(split) == state(whole)


def wide_halves_broken(model: TerminalModel) -> list[str]:
    """Where a right half (``""``) lacks its wide character, or a wide character its half.

    Renderers draw a wide character over two columns and skip its right half: a
    lone half or a lone wide character would shift the rest of the row.
    """
    s = model.screen
    rows = [(f"line {y}", model.line(y)) for y in range(-len(model.history), model.rows)]
    rows += [(f"other screen row {y}", row) for y, row in enumerate(s.inactive)]
    broken = []
    for where, row in rows:
        for x, cell in enumerate(row):
            if cell.data == "" and not (x and is_wide(row[x - 1])):
                broken.append(f"{where} col {x}: a right half alone")
            if is_wide(cell) and not (x + 1 < len(row) and row[x + 1].data == ""):
                broken.append(f"{where} col {x}: {cell.data!r} without its right half")
    return broken


@EXAMPLES
@given(st.one_of(shell_streams(), streams()), st.sampled_from(SIZES))
def test_wide_characters_always_keep_both_halves(stream: str, size: tuple[int, int]) -> None:
    for fast in (True, False):
        model = TerminalModel(*size, fast=fast)
        model.feed(stream.encode())
        assert not wide_halves_broken(model)


def test_inserting_between_the_halves_of_a_wide_character_splits_it() -> None:
    """ICH inside a wide character once left its right half alone (found by the oracle)."""
    model = TerminalModel(10, 3)
    model.feed("中文字\x1b[2G\x1b[@".encode())
    assert not wide_halves_broken(model)
    assert [c.data for c in model.line(0)[:5]] == [" ", " ", " ", "文", ""]


@EXAMPLES
@given(st.data(), st.one_of(shell_streams(), streams()), st.sampled_from(SIZES))
def test_a_snapshot_with_some_history_rebuilds_the_model(
    data: st.DataObject, stream: str, size: tuple[int, int]
) -> None:
    """``render(model, history_lines=n)`` fed to a fresh model: the same screens, cursor,
    modes and pen, the last ``n`` scrollback lines, and the same state after more input."""
    model = TerminalModel(*size)
    model.feed(stream.encode())
    n = data.draw(st.integers(0, len(model.history) + 2), label="history_lines")
    fresh = TerminalModel(*size)
    fresh.feed(render(model, history_lines=n))
    kept = min(n, len(model.history))
    assert fresh.history[:] == model.history[len(model.history) - kept :]
    mine, theirs = comparable(fresh, model), comparable(model, model)
    del mine["history"], theirs["history"]
    assert mine == theirs
    more = data.draw(st.one_of(shell_streams(max_pieces=10), streams(max_pieces=10)), label="more")
    if rep_reproducible(model):
        model.feed(more.encode())
        fresh.feed(more.encode())
        mine, theirs = state(fresh), state(model)
        got, want = mine.pop("history"), theirs.pop("history")
        assert got == want[len(want) - len(got) :]
        assert mine == theirs


#: Texts and pens a repaint draws again and again: the fast path keeps the cells of a
#: text it wrote with a pen (``PenCells.runs``) and copies them the next time.
_REPEATED = st.sampled_from(["top - 12:00", "  PID USER", "root", "OK", "文字", "e\u0301", "é├─"])
_PENS = st.sampled_from(["\x1b[m", "\x1b[1m", "\x1b[22m", "\x1b[30;46m", "\x1b[7m", "\x1b[44m"])
_PLACES = st.tuples(st.integers(1, 6), st.integers(1, 14)).map(lambda t: f"\x1b[{t[0]};{t[1]}H")
repaints = st.lists(
    st.one_of(_REPEATED, _PENS, _PLACES, st.sampled_from(["\x1b[K", "\r\n", "\t", "\b"])),
    min_size=10,
    max_size=120,
).map("".join)


@EXAMPLES
@given(st.data(), repaints, st.sampled_from(SIZES))
def test_texts_written_again_equal_the_reference_path(
    data: st.DataObject, stream: str, size: tuple[int, int]
) -> None:
    """The same texts with the same pens, over each other and over wide characters."""
    chunks = data.draw(chunked(stream.encode()))
    assert_fast_equals_reference(chunks + chunks, *size)


def test_more_texts_than_the_fast_path_keeps_are_still_drawn_right() -> None:
    """Past its bound (``RUN_CELLS_MAX`` cells) the fast path forgets the texts it kept."""
    frames = "".join(
        f"\x1b[{i % 5 + 1};1H\x1b[{31 + i % 7}m{i:08d} {i * 7919 % 100003:06d}\x1b[m\x1b[K"
        for i in range(3000)
    )
    chunks = [frames.encode()[i : i + 4096] for i in range(0, len(frames), 4096)]
    assert_fast_equals_reference(chunks + chunks, 40, 6)


#: What the fast path reads itself after an ESC, and what it leaves to the tokenizer's
#: state machine (then picks the text up again where that token ended), side by side.
_HANDED_OVER = st.sampled_from(
    [
        "\x1b]0;title\x1b\\",  # an OSC ended by ESC \: the next piece's first character
        "\x1b]2;a\x07",
        "\x1b]0;cut\x1b[1m",  # an OSC ended by another sequence's ESC
        "\x1bP1$r0m\x1b\\",  # DCS
        "\x9b1;31m",  # C1 CSI
        "\x9d0;c1\x9c",
        "\x1b[1\n2H",  # a C0 control inside a CSI
        "\x1b[1;2\x18",  # CAN
        "\x1b[?25l",
        "\x1b[ q",  # an intermediate
        "\x1b(0qqq\x1b(B",
        "\x1b\\",
        "\x1b",
        "\x1b\x1b[m",
        "\x85",
        "\x1b[38:2::1:2:3m",
    ]
)
handed_over = st.lists(
    st.one_of(_HANDED_OVER, text, sgr, cursor_moves, st.sampled_from(["\r\n", "\t", "\b", "é中"])),
    min_size=4,
    max_size=60,
).map("".join)


@EXAMPLES
@given(st.data(), handed_over, st.sampled_from(SIZES))
def test_sequences_handed_to_the_tokenizer_equal_the_reference_path(
    data: st.DataObject, stream: str, size: tuple[int, int]
) -> None:
    chunks = data.draw(chunked(stream.encode()))
    assert_fast_equals_reference(chunks, *size)
