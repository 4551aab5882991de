"""Selections over terminal lines, and following the scrollback as it fills and drops."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.terminal import TerminalModel
from tests.terminal_streams import SIZES, chunked, shell_streams, streams
from tui.scrollback import Drops
from tui.selection import Selection

ROWS = ["first line", "wide: 中文 ok", "", "last"]


def cells(row: int) -> list[str]:
    """A row's cells: a wide character takes two, the right one empty."""
    out: list[str] = []
    for char in ROWS[row]:
        out += [char, ""] if ord(char) > 0x2E80 else [char]
    return out + [" "] * (20 - len(out))


def test_a_selection_reads_in_order_whichever_way_it_was_dragged() -> None:
    forward = Selection((0, 6), (1, 10))
    backward = Selection((1, 10), (0, 6))
    assert forward.text(cells, 20) == backward.text(cells, 20) == "line\nwide: 中文"
    assert forward.columns(0, 20) == (6, 20) and forward.columns(1, 20) == (0, 11)
    assert forward.columns(2, 20) is None


def test_blank_rows_and_trailing_blanks_are_kept_as_empty_lines() -> None:
    assert Selection((1, 0), (3, 3)).text(cells, 20) == "wide: 中文 ok\n\nlast"
    assert Selection((3, 2), (3, 2)).empty


def test_a_selection_moves_with_its_text() -> None:
    assert Selection((5, 1), (7, 2)).moved(3) == Selection((2, 1), (4, 2))


def numbered(model: TerminalModel) -> dict[int, str]:
    """The scrollback's lines by their number (``dropped + index``)."""
    history = model.history
    return {history.dropped + i: "".join(c.data for c in line) for i, line in enumerate(history)}


@settings(max_examples=max(100, settings.default.max_examples))
@given(
    st.data(),
    st.one_of(shell_streams(), streams()),
    st.sampled_from(SIZES),
    st.sampled_from([0, 1, 3, 20, 10_000]),
)
def test_a_scrollback_line_keeps_its_number_while_it_is_kept(
    data: st.DataObject, stream: str, size: tuple[int, int], scrollback: int
) -> None:
    """The numbers the pane follows: the same for the fast and the reference path.

    A line's number (``history.dropped`` plus its index) names the same text
    after every feed, however many lines a feed scrolled through a full
    scrollback (the fast path skips those it would drop at once).
    """
    chunks = data.draw(chunked(stream.encode()))
    fast = TerminalModel(*size, scrollback=scrollback)
    slow = TerminalModel(*size, scrollback=scrollback, fast=False)
    before = numbered(fast)
    for chunk in chunks:
        fast.feed(chunk)
        slow.feed(chunk)
        assert fast.history.dropped == slow.history.dropped
        after = numbered(fast)
        assert {n: after[n] for n in before.keys() & after.keys()} == {
            n: before[n] for n in before.keys() & after.keys()
        }
        assert min(after, default=fast.history.dropped) == fast.history.dropped
        before = after


def lines(count: int, start: int = 0) -> bytes:
    return b"".join(b"line %d\r\n" % i for i in range(start, start + count))


def test_drops_counts_lines_dropped_from_a_full_scrollback() -> None:
    model = TerminalModel(20, 5, scrollback=10)
    drops = Drops()
    drops.look(model.history)
    model.feed(lines(7))  # 3 lines scroll off the 5-row screen
    assert drops.dropped(model.history) == 0  # it was empty
    drops.look(model.history)
    model.feed(lines(1, 7))
    assert drops.dropped(model.history) == 0  # appended, nothing dropped
    drops.look(model.history)
    model.feed(lines(8, 8))  # 12 lines in 10 places: 2 dropped
    assert len(model.history) == 10
    assert drops.dropped(model.history) == 2


@pytest.mark.parametrize(
    "clearing",
    [b"\x1b[3J", b"\x1bc", lines(50, 100)],
    ids=["ED 3", "RIS", "a flood past everything kept"],
)
def test_drops_says_the_positions_are_lost_when_every_line_went(clearing: bytes) -> None:
    model = TerminalModel(20, 5, scrollback=10)
    model.feed(lines(12))
    drops = Drops()
    drops.look(model.history)
    model.feed(clearing)
    assert drops.dropped(model.history) is None


def test_lines_pulled_back_onto_a_taller_screen_keep_their_numbers() -> None:
    """The pane's absolute rows (``len(history) + y``) still name the same text."""
    model = TerminalModel(20, 5, scrollback=10)
    model.feed(lines(12) + b"$ ")
    rows = {model.history.dropped + len(model.history) + y: model.line(y) for y in range(5)}
    drops = Drops()
    drops.look(model.history)
    model.resize(20, 8)  # three lines come back from the scrollback
    assert drops.dropped(model.history) == 0
    assert len(model.history) == 5
    for number, row in rows.items():
        y = number - model.history.dropped - len(model.history)
        assert model.line(y) == row
