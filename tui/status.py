"""The status bar: session, target, your role, recording, pause, time left, connection.

Every countdown in it (your access, the driver's time-limited control, your
just-in-time grants) is computed from the relay's ``expires_at`` values and the
clock: the bar follows the session screen's room (``data_bind``) and redraws
itself once a second.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from tui.access import format_left
from tui.room import Link, Room

__all__ = ["StatusBar", "format_left", "render_status"]

SOON = 300.0  # seconds: a countdown under this is shown in warning colours
MAX_GRANTS_SHOWN = 2


def _sep(text: Text) -> None:
    text.append(" │ ", style="dim")


def render_status(room: Room, now: float, cropped: str = "") -> Text:
    """One line: what a glance at the top of the screen should tell."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if room.ended:
        text.append(" ■ ENDED ", style="bold white on grey35")
    elif room.recording:
        text.append(" ● REC ", style="bold white on red")
    if room.paused is not None and not room.ended:
        text.append(" ‖ PAUSED ", style="bold black on yellow")  # the banner says why
    text.append(f" {room.session or '…'} ", style="bold")
    if room.target:
        text.append(f"on {room.target} ", style="")
    text.append("│ ", style="dim")
    if room.user:
        text.append(f"{room.user} ", style="bold")
    text.append(room.role or "…", style="cyan")
    if room.ended:
        text.append(f" · {room.ended_reason or room.link_detail or 'ended'}", style="italic")
    elif room.driving:
        text.append(" DRIVING", style="bold green")
    elif room.driver_name:
        text.append(f" · {room.driver_name} drives", style="bold")
    else:
        text.append(" · nobody drives", style="dim")
    control = None if room.ended else room.control_left(now)
    if control is not None:
        _sep(text)
        style = "bold yellow" if control < 60 else ("yellow" if room.driving else "")
        text.append(f"control ends in {format_left(control)}", style=style)
    left = None if room.ended else room.time_left(now)
    if left is not None and left < 24 * 3600:
        _sep(text)
        text.append(f"access ends in {format_left(left)}", style="yellow" if left < SOON else "")
    grants = room.access.mine(now)
    if grants:
        _sep(text)
        text.append("grants: ", style="dim")
        for i, grant in enumerate(grants[:MAX_GRANTS_SHOWN]):
            if i:
                text.append(" · ", style="dim")
            remaining = grant.expires_at - now
            text.append(
                f"{grant.role} {format_left(remaining)}",
                style="yellow" if remaining < SOON else "green",
            )
        if len(grants) > MAX_GRANTS_SHOWN:
            text.append(f" +{len(grants) - MAX_GRANTS_SHOWN}", style="dim")
    waiting = room.access.to_decide()
    if waiting:
        _sep(text)
        text.append(f"◆ {len(waiting)} access request{'s' if len(waiting) > 1 else ''}", "bold")
    if cropped:
        _sep(text)
        text.append(cropped, style="bold yellow")
    if room.link is not Link.LIVE and not room.ended:
        _sep(text)
        detail = f": {room.link_detail}" if room.link_detail else ""
        text.append(f"{room.link.value}{detail}", style="bold red")
    return text


class StatusBar(Static):
    """Follows the room (bound to the screen's) and what the terminal cannot show."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        dock: top;
        background: $panel;
    }
    """

    room: reactive[Room] = reactive(Room, init=False)
    cropped: reactive[str] = reactive("", init=False)  # the terminal pane's crop note

    def on_mount(self) -> None:
        self.draw()
        self.set_interval(1.0, self.draw)  # the countdowns

    def watch_room(self) -> None:
        self.draw()

    def watch_cropped(self) -> None:
        self.draw()

    def draw(self) -> None:
        self.update(render_status(self.room, time.time(), self.cropped))
