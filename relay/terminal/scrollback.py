"""The scrollback: lines that scrolled off the top of the main screen, oldest first.

Bounded (``maxlen`` lines, the oldest dropped first). Most of a flood scrolls by
unseen, so the fast path does not draw the lines it scrolls in and out within one
feed: it hands them in as a :class:`Block` that knows how to draw them (the text
that drew them, replayed on a scratch screen) and is drawn the first time one of
its lines is read. A row the screen itself scrolled off is kept as it was.

:attr:`Scrollback.dropped` counts the lines that left the front (the oldest
dropped to make room, or cleared), so that ``dropped + index`` numbers a line
for as long as it is kept: a view scrolled back (the TUI's) stays on its text
while output arrives. A line pulled back onto the screen keeps its number as
the screen's row ``dropped + len(scrollback) + y``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import overload

from relay.terminal.cells import BLANK, Line


class Block:
    """Some consecutive scrollback lines, drawn on first reading."""

    __slots__ = ("_draw", "_lines")

    def __init__(self, draw: Callable[[], list[Line]]) -> None:
        self._draw: Callable[[], list[Line]] | None = draw
        self._lines: list[Line] = []

    def line(self, index: int) -> Line:
        if self._draw is not None:
            self._lines, self._draw = self._draw(), None
        return self._lines[index]


_Entry = Line | tuple[Block, int]


def _trimmed(row: Line) -> Line:
    end = len(row)
    while end and row[end - 1] == BLANK:
        end -= 1
    return row[:end]


class Scrollback:
    """At most ``maxlen`` lines; reading one gives its cells without trailing blanks."""

    def __init__(self, maxlen: int, dropped: int = 0) -> None:
        self._lines: deque[_Entry] = deque(maxlen=maxlen)
        self._max = maxlen
        #: Lines that left the front since the screen was made (ever growing).
        self.dropped = dropped

    @property
    def maxlen(self) -> int:
        return self._lines.maxlen or 0

    def __len__(self) -> int:
        return len(self._lines)

    def row(self, index: int) -> Line:
        """Line ``index`` as it was on the screen (as wide as the screen was)."""
        entry = self._lines[index]
        if isinstance(entry, tuple):
            block, i = entry
            return block.line(i)
        return entry

    def __getitem__(self, index: int) -> Line:
        return _trimmed(self.row(index))

    def __iter__(self) -> Iterator[Line]:
        return (self[i] for i in range(len(self._lines)))

    def _room(self, count: int) -> None:
        """Count the lines that adding ``count`` lines pushes out of the front."""
        self.dropped += max(0, len(self._lines) + count - self.maxlen)

    def append(self, row: Line) -> None:
        """Keep ``row`` (the caller no longer changes it)."""
        lines = self._lines
        if len(lines) >= self._max:  # (once per line feed at the bottom: _room inlined)
            self.dropped += 1
        lines.append(row)

    def extend(self, rows: list[Line]) -> None:
        self._room(len(rows))
        self._lines.extend(rows)

    def extend_block(self, block: Block, start: int, stop: int) -> None:
        """Keep lines ``start`` to ``stop - 1`` of ``block`` (only the last ``maxlen`` matter)."""
        self._room(stop - start)
        start = max(start, stop - self.maxlen)
        self._lines.extend((block, i) for i in range(start, stop))

    def pop(self) -> Line:
        """Take the newest line back (the screen grew): as it was on the screen."""
        row = self.row(-1)
        self._lines.pop()
        return row

    def clear(self) -> None:
        self.dropped += len(self._lines)
        self._lines.clear()


class History(Sequence[Line]):
    """A read-only view of a model's scrollback (:attr:`TerminalModel.history`).

    ``source`` gives the scrollback each time it is read: the model's, with
    the output fed since drawn first.
    """

    __slots__ = ("_source",)

    def __init__(self, source: Callable[[], Scrollback]) -> None:
        self._source = source

    def __len__(self) -> int:
        return len(self._source())

    @property
    def dropped(self) -> int:
        """Lines that left the front (dropped when full, or cleared) since the model started.

        ``dropped + i`` numbers line ``i`` for as long as it is kept, and
        ``dropped + len(history) + y`` screen row ``y``: a scrolled-back view
        or a selection stays on its text while output scrolls (see tui/scrollback.py).
        """
        return self._source().dropped

    @overload
    def __getitem__(self, index: int) -> Line: ...
    @overload
    def __getitem__(self, index: slice) -> list[Line]: ...
    def __getitem__(self, index: int | slice) -> Line | list[Line]:
        lines = self._source()
        if isinstance(index, slice):
            return [lines[i] for i in range(*index.indices(len(lines)))]
        return lines[index]
