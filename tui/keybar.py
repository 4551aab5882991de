"""The key bar at the bottom of the session window, drawn from :mod:`tui.commands`.

Textual's ``Footer`` lists bindings, but a driver's letters are not bindings
(they go to the shell) and are reached through ``ctrl+]``: this bar shows the
same words either way, with the chord in front while driving, and only the
keys that work now.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Static

from tui.commands import Command, render_keys


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._available: Callable[[Command], bool] = lambda _: False
        self._driving = False
        self._labels: dict[str, str] = {}

    def show(
        self, available: Callable[[Command], bool], *, driving: bool, labels: dict[str, str]
    ) -> None:
        self._available, self._driving, self._labels = available, driving, labels
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        width = self.size.width or 1000
        self.update(
            render_keys(self._available, driving=self._driving, width=width, labels=self._labels)
        )
