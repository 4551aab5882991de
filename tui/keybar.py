"""The key bar at the bottom of the session window, drawn from :mod:`tui.commands`.

Textual's ``Footer`` lists bindings, but a driver's letters are not bindings
(they go to the shell) and are reached through ``ctrl+]``: this bar shows the
same words either way, with the chord in front while driving, and only the
keys that work now.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.reactive import reactive
from textual.widgets import Static

from tui.commands import Command, render_keys
from tui.room import Room


class KeyBar(Static):
    """Follows the room (bound to the session screen's); ``available`` says which
    commands work now (the screen's rule, which reads the same room)."""

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    room: reactive[Room] = reactive(Room)

    def __init__(self, available: Callable[[Command], bool], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.available = available

    def watch_room(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        driving = self.room.driving
        labels = {"control": "Release control"} if driving else {}
        width = self.size.width or 1000
        # Before the first join, letters are kept for the shell too: the window's need ctrl+].
        chord = driving or self.room.joining
        self.update(render_keys(self.available, driving=chord, width=width, labels=labels))
