"""What the terminal pane's frame says: the state of this window at a glance.

The frame is where the eyes are when typing, so it answers "where do my keys
go?": to the shell (DRIVING), nowhere because someone else drives (WATCHING),
or nowhere because the link is not live (CONNECTING, RECONNECTING, or a relay
that stopped answering). Keys typed before the window's first join are kept
and sent once it drives (type-ahead, :mod:`tui.typeahead`); once it has been
in the session, keys typed while the link is down are refused, never kept to
be sent late (:meth:`tui.session_link.SessionLink.send_input`), and the frame
says so for as long as it lasts. Pure: built from the room.
"""

from __future__ import annotations

from relay.core.roles import Role
from tui import commands
from tui.room import Link, Room

# The frame's first word while the link is not live, and why keys typed then are not sent.
OFFLINE: dict[Link, tuple[str, str]] = {
    Link.CONNECTING: ("CONNECTING", "the session is not joined yet"),
    Link.RECONNECTING: ("RECONNECTING", "the connection to the relay is down"),
}
SILENT = "NO ANSWER FROM THE RELAY"


def frame_title(room: Room) -> str:
    """The terminal frame's title for ``room`` as it is now."""
    if room.ended:
        return "ENDED · the shell is closed"
    if room.offline:
        name = OFFLINE[room.link][0] if room.link in OFFLINE else SILENT
        if room.joining:
            return f"{name} · what you type is sent once joined, if you drive"
        return f"{name} · keys are not sent, nor kept to be sent later"
    if room.driving:
        return "DRIVING · your keys go to the shell · ctrl+] then a letter for warroom"
    who = f"{room.driver_name} drives" if room.driver_name else "nobody drives"
    if room.role == Role.REVIEWER:
        return f"WATCHING · {who}"
    if room.has_requested:
        return f"WATCHING · {who} · your request is waiting"
    return f"WATCHING · {who} · {commands.key('control')} asks for control"


def why_not_sent(room: Room, refusal: str) -> str:
    """Why a key typed now was not sent (``refusal``: what the link says, when silent)."""
    return OFFLINE[room.link][1] if room.link in OFFLINE else refusal
