"""Selections over terminal lines, and following the scrollback as it fills and drops."""

from __future__ import annotations

from collections import deque

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


def test_drops_counts_lines_dropped_from_a_full_scrollback() -> None:
    history: deque[list[str]] = deque(maxlen=5)
    drops = Drops()
    drops.look(history)
    history.extend([[str(i)] for i in range(3)])
    assert drops.dropped(history) == 0  # it was empty
    drops.look(history)
    history.append(["3"])
    assert drops.dropped(history) == 0  # appended, nothing dropped
    drops.look(history)
    history.extend([[str(i)] for i in range(4, 8)])  # 8 lines through 5 places: 3 dropped
    assert drops.dropped(history) == 3
    drops.look(history)
    history.clear()
    history.append(["new"])
    assert drops.dropped(history) is None  # cleared: positions are lost
