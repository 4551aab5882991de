"""The status bar: session, target, your role, recording, grant time left, connection."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from tui.room import Link, Room


def format_left(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}:{secs:02d}"


def render_status(room: Room, now: float, cropped: str = "") -> Text:
    """One line: what a glance at the bottom of the screen should tell."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if room.recording:
        text.append(" ● REC ", style="bold white on red")
    text.append(f" {room.session or '…'} ", style="bold")
    if room.target:
        text.append(f"on {room.target} ", style="")
    text.append("│ ", style="dim")
    if room.user:
        text.append(f"{room.user} ", style="bold")
    text.append(room.role or "…", style="cyan")
    if room.driving:
        text.append(" DRIVING", style="bold green")
    elif room.driver_name:
        text.append(f" · {room.driver_name} drives", style="")
    else:
        text.append(" · nobody drives", style="dim")
    left = room.time_left(now)
    if left is not None and left < 24 * 3600:
        text.append(" │ ", style="dim")
        text.append(f"access ends in {format_left(left)}", style="yellow" if left < 300 else "")
    if cropped:
        text.append(" │ ", style="dim")
        text.append(cropped, style="bold yellow")
    if room.link is not Link.LIVE:
        text.append(" │ ", style="dim")
        detail = f": {room.link_detail}" if room.link_detail else ""
        text.append(f"{room.link.value}{detail}", style="bold red")
    return text


class StatusBar(Static):
    """Redrawn when the room changes and once a second (for the time left)."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        dock: top;
        background: $panel;
    }
    """

    def show(self, room: Room, cropped: str = "") -> None:
        self.update(render_status(room, time.time(), cropped))
