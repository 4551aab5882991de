"""The banner over the terminal while the four-eyes policy pauses input."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from tui.room import Room


def render_paused(room: Room) -> Text:
    """Why input is paused, and what unblocks it (empty when it is not)."""
    if room.paused is None:
        return Text("")
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(" ‖ INPUT PAUSED ", style="bold")
    text.append(f" {room.paused}", style="")
    if room.driving:
        text.append("  — your keys do not reach the shell until enough people watch", "italic")
    return text


class PausedBanner(Static):
    """Shown above the terminal to everyone while the relay pauses input."""

    DEFAULT_CSS = """
    PausedBanner {
        height: 1;
        background: $error;
        color: $text;
        display: none;
    }
    PausedBanner.-shown {
        display: block;
    }
    """

    room: reactive[Room] = reactive(Room)  # bound to the session screen's

    def watch_room(self, room: Room) -> None:
        self.set_class(room.paused is not None, "-shown")
        self.update(render_paused(room))
