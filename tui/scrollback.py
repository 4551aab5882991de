"""Following the scrollback while output changes it.

The pane addresses lines by their index in the model's scrollback plus screen
("absolute" rows: ``len(history) + y`` for screen row ``y``), because that
index stays with its text while output scrolls lines off the screen: the
screen's row 0 becomes history line ``len(history) - 1`` and keeps its
absolute index. Two things break that, and :class:`Drops` notices both:

* the scrollback is full (bounded): every line added drops the oldest, and
  every absolute index shifts down by the number dropped;
* the scrollback is cleared (``ESC c``, ``CSI 3 J``): the lines an index
  pointed at are gone.

The model counts the lines that left the front of its scrollback
(``history.dropped``): the difference between two looks is the shift. When
the newest line seen at the first look has left too, nothing the view pointed
at is left, and the positions are lost.
"""

from __future__ import annotations

from typing import Protocol


class Counted(Protocol):
    """The scrollback as :class:`relay.terminal.TerminalModel` shows it."""

    @property
    def dropped(self) -> int: ...

    def __len__(self) -> int: ...


class Drops:
    """How many lines left the front of the scrollback between two looks."""

    def __init__(self) -> None:
        self._dropped = 0
        self._newest = -1  # the number of the newest line at the last look (-1: none)

    def look(self, history: Counted) -> None:
        """Remember where the scrollback stands now (before a feed)."""
        self._dropped = history.dropped
        self._newest = history.dropped + len(history) - 1 if len(history) else -1

    def dropped(self, history: Counted) -> int | None:
        """Lines dropped from the front since :meth:`look` (None: positions lost)."""
        if history.dropped > self._newest >= 0:
            return None  # every line there was is gone (cleared, or flooded out)
        return history.dropped - self._dropped
