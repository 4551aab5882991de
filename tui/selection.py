"""A text selection over the terminal's lines, and the text it copies.

Positions are ``(row, col)`` in the model's coordinates: rows ``0..rows-1``
are the screen, negative rows the scrollback (``-1`` the line that scrolled
off last). A selection runs from ``anchor`` (where it started) to ``head``
(where the mouse or the keyboard cursor is now), both cells included, in
reading order, like a terminal's: whole rows in the middle, the first row from
its start cell, the last up to its end cell.

When output scrolls lines off the screen, the text under a selection moves up
by that many rows; :meth:`Selection.moved` follows it, so the selection stays
on the text it was made on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

Pos = tuple[int, int]  # (row, col)


@dataclass(frozen=True)
class Selection:
    anchor: Pos
    head: Pos

    @property
    def start(self) -> Pos:
        return min(self.anchor, self.head)

    @property
    def end(self) -> Pos:
        return max(self.anchor, self.head)

    @property
    def empty(self) -> bool:
        return self.anchor == self.head

    def columns(self, row: int, cols: int) -> tuple[int, int] | None:
        """The half-open column range selected on ``row`` (None: none of it)."""
        (top, first), (bottom, last) = self.start, self.end
        if not top <= row <= bottom:
            return None
        left = first if row == top else 0
        right = last + 1 if row == bottom else cols
        return (left, min(right, cols)) if left < min(right, cols) else None

    def moved(self, rows: int) -> Selection:
        """The same text after ``rows`` lines scrolled into the scrollback."""
        return Selection(
            (self.anchor[0] - rows, self.anchor[1]), (self.head[0] - rows, self.head[1])
        )

    def text(self, row_text: Callable[[int], Sequence[str]], cols: int) -> str:
        """The selected text: one line per row, trailing blanks dropped.

        ``row_text(y)`` gives a row's cells' characters (``""`` for the cell a
        wide character's right half takes).
        """
        lines = []
        (top, _), (bottom, _) = self.start, self.end
        for row in range(top, bottom + 1):
            span = self.columns(row, cols)
            if span is None:
                lines.append("")
                continue
            cells = row_text(row)
            lines.append("".join(cells[span[0] : span[1]]).rstrip())
        return "\n".join(lines)
