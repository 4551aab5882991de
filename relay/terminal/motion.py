"""Cursor motion and tab stops: the controls that move the cursor and nothing else.

A part of :class:`relay.terminal.screen.TerminalScreen` (which mixes this class
in), kept apart because it only reads the screen's geometry, margins and
origin mode and writes the cursor and the tab stops; the rest of the screen
(cells, buffers, scrolling) is in :mod:`relay.terminal.screen`.
"""

from __future__ import annotations

from typing import NamedTuple

from relay.terminal.cells import BLANK
from relay.terminal.modes import DECOM


class Cursor:
    """Where the next character goes, and the pen it is written with."""

    __slots__ = ("attrs", "hidden", "x", "y")

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.attrs = BLANK
        self.hidden = False


class Margins(NamedTuple):
    """The scroll region (DECSTBM), 0-based and inclusive."""

    top: int
    bottom: int


class CursorMotion:
    """CUU/CUD/CUF/CUB, CUP and its relatives, BS, HT and the tab-stop controls."""

    columns: int
    lines: int
    cursor: Cursor
    margins: Margins | None
    mode: set[int]
    tabstops: set[int]

    def cursor_up(self, count: int | None = None) -> None:
        """CUU stops at the top margin only from inside or below the region."""
        top = self.margins.top if self.margins and self.cursor.y >= self.margins.top else 0
        self.cursor.y = max(self.cursor.y - (count or 1), top)
        self.cursor.x = min(self.cursor.x, self.columns - 1)

    def cursor_up1(self, count: int | None = None) -> None:
        """CPL: CUU, then to the first column."""
        self.cursor_up(count)
        self.cursor.x = 0

    def cursor_down(self, count: int | None = None) -> None:
        """CUD stops at the bottom margin only from inside or above the region."""
        region = self.margins
        bottom = region.bottom if region and self.cursor.y <= region.bottom else self.lines - 1
        self.cursor.y = min(self.cursor.y + (count or 1), bottom)
        self.cursor.x = min(self.cursor.x, self.columns - 1)

    def cursor_down1(self, count: int | None = None) -> None:
        """CNL: CUD, then to the first column."""
        self.cursor_down(count)
        self.cursor.x = 0

    def cursor_back(self, count: int | None = None) -> None:
        """CUB (and BS): from the pending wrap, counted from the last column."""
        x = min(self.cursor.x, self.columns - 1)
        self.cursor.x = max(0, x - (count or 1))

    def backspace(self) -> None:
        self.cursor_back()

    def cursor_forward(self, count: int | None = None) -> None:
        self.cursor.x = min(self.cursor.x + (count or 1), self.columns - 1)

    def cursor_position(self, line: int | None = None, column: int | None = None) -> None:
        """CUP; under DECOM, relative to and clamped into the region (pyte ignored it)."""
        y = (line or 1) - 1
        if self.margins is not None and DECOM in self.mode:
            y = min(y + self.margins.top, self.margins.bottom)
        self.cursor.y = min(y, self.lines - 1)
        self.cursor.x = min((column or 1) - 1, self.columns - 1)

    def cursor_to_column(self, column: int | None = None) -> None:
        """CHA and HPA."""
        self.cursor.x = min((column or 1) - 1, self.columns - 1)

    def cursor_to_line(self, line: int | None = None) -> None:
        """VPA (pyte asserted margins existed under DECOM)."""
        self.cursor_position(line, min(self.cursor.x, self.columns - 1) + 1)

    def set_tab_stop(self) -> None:
        if self.cursor.x < self.columns:
            self.tabstops.add(self.cursor.x)

    def clear_tab_stop(self, how: int | None = None) -> None:
        """TBC: 0 the stop at the cursor, 3 all of them."""
        if not how:
            self.tabstops.discard(self.cursor.x)
        elif how == 3:
            self.tabstops.clear()

    def tab(self) -> None:
        """HT: to the next tab stop, or the last column; nothing in the pending-wrap state.

        (As xterm.js; pyte moved a pending wrap back to the last column.)
        """
        x = self.cursor.x
        if x < self.columns:
            stop = self.columns - 1  # (every stop is left of the margin)
            for t in self.tabstops:  # (a loop, not min() of a generator: a third of the cost)
                if x < t < stop:
                    stop = t
            self.cursor.x = stop

    def tab_forward(self, count: int | None = None) -> None:
        """CHT (``CSI I``)."""
        for _ in range(min(count or 1, self.columns)):
            self.tab()

    def tab_back(self, count: int | None = None) -> None:
        """CBT (``CSI Z``); nothing in the pending-wrap state (xterm.js)."""
        if self.cursor.x >= self.columns:
            return
        for _ in range(min(count or 1, self.columns)):
            x = self.cursor.x
            self.cursor.x = max((t for t in self.tabstops if t < x), default=0)
