"""Keys typed before the window's first join: kept, then sent if this window drives.

People who use ssh or tmate type as soon as the command starts: what they
type while the connection comes up is sent once it is up. ``warroom demo``
and ``warroom join`` take a moment to join (the terminal still reads keys
into its buffer meanwhile, and the window gets them all while its frame says
CONNECTING), so the window keeps those keys, in order, and once the relay's
first roster says who this window is:

* it drives (the lead drives on join): the kept keys go to the shell, before
  any key typed after (the terminal pane keeps them, and sends them on the
  way its later keys take, ahead of them);
* it watches: they are discarded, never sent, and never replayed as the
  window's letters either (``d`` leaves, ``e`` ends...), nor are the keys
  typed before that but read after it (:meth:`TypeAhead.typed_ahead`); the
  user is told how many;
* input is paused (four-eyes) or the session ended: discarded, and told.

Only the *first* join: once the window has been in the session, keys typed
while the link is down are refused and never sent late (the shell moved on
meanwhile: :meth:`tui.session_link.SessionLink.send_input`).

At most :data:`LIMIT` bytes are kept; past it every further key is dropped
too (later keys sent after a gap could run something nobody typed), and the
user is told once. Pure: the terminal pane feeds it keys, the room and the time,
and shows what it tells.
"""

from __future__ import annotations

from collections.abc import Callable

from tui.room import Room

LIMIT = 4 * 1024  # bytes kept before the first join: a few lines typed ahead, not a file

Tell = Callable[[str, str], None]  # (what happened, its title): shown to the user


def _untold(text: str, title: str) -> None:
    """Where notes go when nobody listens (a pane that never types ahead)."""


class TypeAhead:
    """Keys typed before the first join, until :meth:`settle` decides their fate."""

    def __init__(self, keeping: bool = True, limit: int = LIMIT, tell: Tell = _untold) -> None:
        self.limit = limit
        self.keeping = keeping  # until the first join settles it
        self.tell = tell
        self._kept = bytearray()
        self.keys = 0  # key presses (and pastes) kept
        self.dropped = 0  # bytes dropped past the limit
        self.settled_at: float | None = None  # when it was settled (the keys' clock)

    @property
    def kept(self) -> bytes:
        return bytes(self._kept)

    def keep(self, data: bytes) -> bool:
        """Keep ``data`` if still before the first join (whether it was taken)."""
        if not self.keeping:
            return False
        if not data:
            return True
        if self.dropped or len(self._kept) + len(data) > self.limit:
            if not self.dropped:
                self.tell(
                    f"You typed more than {self.limit // 1024} KiB before the window joined: "
                    "the rest is dropped, not sent. Only what came before is sent, "
                    "if you drive.",
                    "Keys dropped",
                )
            self.dropped += len(data)
            return True
        self._kept += data
        self.keys += 1
        return True

    def settle(self, room: Room, now: float) -> bytes | None:
        """Once the relay has said who this window is: the kept keys to send now.

        ``None`` while it has not (no roster with this window in it yet), and
        once settled. Keys that cannot be sent (a watcher, input paused, the
        session over) are discarded and the user is told how many.
        """
        if not self.keeping:
            return None
        if not room.ended and (room.you is None or room.you not in room.members):
            return None
        self.keeping = False
        self.settled_at = now
        kept, self._kept = bytes(self._kept), bytearray()
        if not kept or (room.driving and not room.input_blocked):
            return kept
        self.tell(self._discarded(room), "Keys not sent")
        return b""

    def typed_ahead(self, when: float) -> bool:
        """Whether a key typed at ``when`` was typed before the first join settled."""
        return self.keeping or (self.settled_at is not None and when < self.settled_at)

    def _discarded(self, room: Room) -> str:
        what = "1 typed key was" if self.keys == 1 else f"{self.keys} typed keys were"
        if room.ended:
            why = "the session is over"
        elif room.driving:
            why = f"input is paused: {room.paused}"
        else:
            who = f"{room.driver_name} drives" if room.driver_name else "nobody drives"
            why = f"you are watching ({who})"
        return f"{what} discarded (typed before the window joined), not sent: {why}."
