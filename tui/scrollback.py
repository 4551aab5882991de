"""Following the scrollback while output changes it.

The pane addresses lines by their index in the model's scrollback plus screen
("absolute" rows: ``len(history) + y`` for screen row ``y``), because that
index stays with its text while output scrolls lines off the screen: the
screen's row 0 becomes history line ``len(history) - 1`` and keeps its
absolute index. Two things break that, and :class:`Drops` notices both:

* the scrollback is full (a bounded deque): every line added drops the
  oldest, and every absolute index shifts down by the number dropped;
* the scrollback is cleared (``ESC c``, ``CSI 3 J``) or pulled back onto a
  taller screen by a resize: the lines an index pointed at are gone.

It remembers the newest scrollback line (the object itself) before a feed and
looks for it after: found ``n`` places lower, ``n`` lines were dropped; not
found, the positions are lost. The search walks at most as many places as
lines were dropped, so it costs nothing while nothing is.
"""

from __future__ import annotations

from collections.abc import Sequence


class Drops:
    """How many lines left the front of the scrollback between two looks."""

    def __init__(self) -> None:
        self._probe: object | None = None
        self._index = -1

    def look(self, history: Sequence[object]) -> None:
        """Remember where the scrollback stands now (before a feed)."""
        if history:
            self._index = len(history) - 1
            self._probe = history[self._index]
        else:
            self._index, self._probe = -1, None

    def dropped(self, history: Sequence[object]) -> int | None:
        """Lines dropped from the front since :meth:`look` (None: positions lost)."""
        probe = self._probe
        if probe is None:
            return 0  # it was empty: nothing could be dropped
        for index in range(min(self._index, len(history) - 1), -1, -1):
            if history[index] is probe:
                return self._index - index
        return None
