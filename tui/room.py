"""What the TUI knows about the session it is in, built only from what the relay says.

The TUI holds no authority: every role, the driver and the pending
requests come from the relay's ``roster``; this module just keeps the latest one
and answers the questions the panes ask ("am I driving?", "may I grant?").
It is pure, so the panes' logic is testable without a relay or a screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from relay.core import messages
from relay.core.access import join_role
from relay.core.roles import Role
from tui.access import Access


class Link(StrEnum):
    """The state of this client's connection to the relay."""

    CONNECTING = "connecting"
    LIVE = "live"
    SILENT = "waiting"  # connected, but the relay has not answered for a while: keys refused
    RECONNECTING = "reconnecting"
    ENDED = "ended"


@dataclass(frozen=True)
class Member:
    id: str
    user: str
    role: Role
    joined_at: float
    expires_at: float | None
    away: bool = False  # the connection dropped; a driver keeps control for a grace period


@dataclass(frozen=True)
class Request:
    id: str
    user: str
    reason: str
    at: float


@dataclass(frozen=True)
class ChatLine:
    user: str
    text: str
    t: float
    mine: bool = False
    system: bool = False


@dataclass
class Room:
    """The latest roster, and who this client is in it.

    The session screen holds one as a reactive and updates it in place as
    messages come (then ``room_changed``), so the panes bound to it redraw.
    """

    session: str = ""
    target: str = ""
    owner: str = ""
    user: str = ""
    you: str | None = None
    role: Role | None = None  # None: the relay has not said yet
    driver: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    link: Link = Link.CONNECTING
    link_detail: str = ""
    ended_reason: str | None = None
    recording: bool | None = None  # None: the relay has not said yet
    expires_at: float | None = None
    paused: str | None = None  # why the four-eyes policy pauses input, if it does
    four_eyes: int = 0  # other participants who must watch for input to reach the shell
    control_expires_at: float | None = None  # the driver's time-limited control ends then
    pty: tuple[int, int] | None = None  # the shell's size (the driver's window)
    access: Access = field(default_factory=Access)

    def __post_init__(self) -> None:
        self.access.user = self.access.user or self.user

    # ------------------------------------------------------------ updates

    def welcome(self, message: messages.WelcomeSession) -> None:
        self.you = str(message["you"])
        self.role = Role(message["role"])
        if "recording" in message:
            self.recording = bool(message["recording"])

    def apply_roster(self, message: messages.Roster) -> None:
        self.session = str(message.get("session", self.session))
        self.target = str(message.get("target", self.target))
        self.owner = str(message.get("owner", self.owner))
        self.driver = message.get("driver")
        if "recording" in message:
            self.recording = bool(message["recording"])
        self.paused = message.get("paused") or None
        self.four_eyes = int(message.get("four_eyes") or 0)
        expires = message.get("control_expires_at")
        self.control_expires_at = float(expires) if expires is not None else None
        pty = message.get("pty")
        if isinstance(pty, dict) and isinstance(pty.get("cols"), int):
            self.pty = (int(pty["cols"]), int(pty["rows"]))
        self.members = {
            str(p["id"]): Member(
                str(p["id"]),
                str(p["user"]),
                Role(p["role"]),
                float(p.get("joined_at") or 0.0),
                p.get("expires_at"),
                bool(p.get("away")),
            )
            for p in message.get("participants", [])
        }
        self.requests = [
            Request(
                str(r["id"]),
                self.members[str(r["id"])].user if str(r["id"]) in self.members else "?",
                str(r.get("reason", "")),
                float(r.get("at") or 0.0),
            )
            for r in message.get("requests", [])
        ]
        me = self.members.get(self.you or "")
        if me is not None:
            self.role = me.role
            self.user = me.user
            self.access.user = me.user
            self.expires_at = me.expires_at
        if message.get("state") == "ended":
            self.link = Link.ENDED

    # ------------------------------------------------------------ questions

    @property
    def ended(self) -> bool:
        """The session is over (the relay said so, or the link ended for good)."""
        return self.ended_reason is not None or self.link is Link.ENDED

    @property
    def driving(self) -> bool:
        return self.you is not None and self.driver == self.you and not self.ended

    @property
    def is_lead(self) -> bool:
        return self.role == Role.LEAD

    @property
    def may_decide(self) -> bool:
        """Leads and the driver answer control requests (the relay checks again)."""
        return self.is_lead or self.driving

    @property
    def may_request(self) -> bool:
        return self.role in (Role.LEAD, Role.VIEWER) and not self.driving and not self.has_requested

    @property
    def has_requested(self) -> bool:
        return any(r.id == self.you for r in self.requests)

    @property
    def driver_name(self) -> str | None:
        if self.ended:
            return None
        member = self.members.get(self.driver or "")
        return member.user if member else None

    @property
    def is_guest(self) -> bool:
        """Invite holders (``guest:<name>``) have exactly what their invite says."""
        return self.user.startswith("guest:")

    @property
    def may_review(self) -> bool:
        """Leads and reviewers read recordings (a reviewer grant counts; the relay checks)."""
        return self.role in (Role.LEAD, Role.REVIEWER) or any(
            join_role(g.role) == Role.REVIEWER for g in self.access.grants.values()
        )

    def users(self) -> list[str]:
        return [m.user for m in self.members.values()]

    def pending_for_me(self) -> Request | None:
        """The oldest request this client may answer, if any."""
        if not self.may_decide:
            return None
        for request in self.requests:
            if request.id != self.you:
                return request
        return None

    def time_left(self, now: float) -> float | None:
        """Seconds left on this client's access, when it expires."""
        if self.expires_at is None:
            return None
        return max(0.0, self.expires_at - now)

    def control_left(self, now: float) -> float | None:
        """Seconds left on the driver's time-limited control, if it is limited."""
        if self.driver is None or self.control_expires_at is None:
            return None
        return max(0.0, self.control_expires_at - now)

    @property
    def offline(self) -> bool:
        """Not (yet, or no longer) joined to a live relay: keys are not sent now.

        The link refuses keys in every state but :attr:`Link.LIVE` (a key kept and
        sent late could reach a production shell long after it made sense), so the
        window says so where the keys go: the terminal's frame. Only keys typed
        before the first join are kept (:attr:`joining`).
        """
        return self.link is not Link.LIVE and not self.ended

    @property
    def joining(self) -> bool:
        """Before the first join (the relay has not said who this window is yet): keys
        typed now are kept for the shell, sent if this window drives (:mod:`tui.typeahead`)."""
        return self.you is None and not self.ended

    @property
    def input_blocked(self) -> bool:
        """The relay refuses input now (four-eyes pause), even from the driver."""
        return self.paused is not None
