"""The participants pane: who is here, their role, who drives, who asked for control or access."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from relay.core.roles import Role
from tui import commands
from tui.room import Link, Room

# Marks every monospace font has (keyboard and hand emoji show as boxes in many).
DRIVER_MARK = "▶"
REQUEST_MARK = "◆"

_LINK_STYLE = {
    Link.CONNECTING: ("◌ connecting", "yellow"),
    Link.LIVE: ("● connected", "green"),
    Link.SILENT: ("◌ no answer from the relay", "bold red"),
    Link.RECONNECTING: ("◌ reconnecting", "yellow"),
    Link.ENDED: ("○ ended", "red"),
}


def render_participants(room: Room) -> RenderableType:
    """The pane's content for ``room`` (pure: tests and snapshots call it directly)."""
    label, style = _LINK_STYLE[room.link]
    lines: list[RenderableType] = [Text(label, style=style)]
    if room.link_detail:
        lines.append(Text(room.link_detail, style="dim italic"))
    lines.append(Text(""))
    requested = {r.id: r for r in room.requests}
    for member in sorted(room.members.values(), key=lambda m: (m.joined_at, m.id)):
        line = Text()
        if member.id == room.driver:
            line.append(f"{DRIVER_MARK} ", style="bold green")
        elif member.id in requested:
            line.append(f"{REQUEST_MARK} ", style="bold yellow")
        else:
            line.append("  ")
        line.append(member.user, style="bold" if member.id == room.you else "")
        if member.id == room.you:
            line.append(" (you)", style="dim")
        line.append(f"  {member.role}", style="cyan" if member.role == Role.LEAD else "dim")
        if member.away:
            line.append("  link lost", style="bold red")
        lines.append(line)
        request = requested.get(member.id)
        if request is not None:
            lines.append(Text(f"    asks: {request.reason}", style="yellow"))
    if not room.members:
        lines.append(Text("nobody yet", style="dim"))
    lines += _access_lines(room)
    return Group(*lines)


def _access_lines(room: Room) -> list[RenderableType]:
    """Access requests waiting on a lead, and your own waiting request."""
    lines: list[RenderableType] = []
    waiting = room.access.to_decide()
    if waiting:
        key = commands.key("access_requests", chord=room.driving)
        lines += [Text(""), Text(f"Access requests ({key} to answer)", style="bold yellow")]
        for ask in waiting:
            line = Text("  ")
            line.append(ask.user, style="bold")
            line.append(f" wants {ask.role}", style="")
            lines.append(line)
            lines.append(Text(f"    {ask.reason}", style="yellow"))
    for ask in room.access.asked():
        lines += [Text(""), Text(f"You asked for {ask.role}: waiting for a lead", style="yellow")]
    return lines


class ParticipantsPane(Static):
    """Follows the room (bound to the session screen's): who is here, and who asks."""

    DEFAULT_CSS = """
    ParticipantsPane {
        height: auto;
        max-height: 50%;
    }
    """

    room: reactive[Room] = reactive(Room)

    def watch_room(self, room: Room) -> None:
        self.border_title = f"People ({len(room.members)})"
        self.update(render_participants(room))
