"""The values a session's state is made of: participants, control, requests, bounds.

Plain data, kept apart from the rules that change it
(:mod:`relay.core.session` and its hand-off rules, :mod:`relay.core.handoff`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from relay.core.messages import ParticipantSummary
from relay.core.protocol import REASON_LENGTH
from relay.core.roles import Role


class State(StrEnum):
    OPEN = "open"
    ENDED = "ended"


@dataclass(frozen=True)
class Limits:
    """The bounds a session enforces; the relay config supplies real values."""

    chat_length: int = 2000
    chat_rate: int = 5
    chat_window: float = 10.0
    reason_length: int = REASON_LENGTH
    participants: int = 64
    lead_slots: int = 0  # of ``participants``, places kept for leads
    input_bytes: int = 65536
    denial_audit_interval: float = 1.0
    driver_grace: float = 30.0  # seconds a driver whose link dropped keeps control


@dataclass(frozen=True)
class FourEyes:
    """Teleport-style moderated sessions: input needs ``watchers`` other people reading.

    A watcher counts when they are a different person from the driver (not
    the driver's other window, not a guest the driver invited), hold one of
    ``roles``, and their connection is reading now (the live session says
    which are not: stalled or closing).

    ``action`` says what happens when too few watch: ``pause`` refuses input
    until enough are back; ``end`` ends the session (only once it had been
    satisfied, so that a lead opening the session alone is not thrown out).
    """

    watchers: int = 0
    action: str = "pause"
    roles: frozenset[str] = frozenset({"lead", "viewer"})  # roles that count as eyes


@dataclass
class Participant:
    pid: str
    user: str
    role: Role
    joined_at: float
    expires_at: float | None = None
    cols: int = 80
    rows: int = 24
    person: str = ""  # who this is as a person: the user, or for guests their invite
    invited_by: str | None = None  # for guests: the lead who issued their invite
    chat_times: deque[float] = field(default_factory=deque)
    key: str | None = None  # the credential's fingerprint: who may take this place back
    away_since: float | None = None  # the connection dropped then (a driver in grace)

    def __post_init__(self) -> None:
        self.person = self.person or self.user

    def public(self) -> ParticipantSummary:
        return {
            "id": self.pid,
            "user": self.user,
            "role": self.role.value,
            "joined_at": self.joined_at,
            "expires_at": self.expires_at,
            "invited_by": self.invited_by,
            "away": self.away_since is not None,
        }


@dataclass(frozen=True)
class Control:
    """Who drives, until when, and whose just-in-time grant that rests on.

    One frozen value, replaced whole: the three always change together, so
    no path can move the driver and forget the expiry or the origin.
    ``expires_at`` and ``origin`` are ``None`` whenever nobody drives.
    """

    driver: str | None = None  # the pid of the participant who drives
    expires_at: float | None = None  # time-limited control ends then
    origin: str | None = None  # the user whose just-in-time grant control rests on


NOBODY = Control()


@dataclass(frozen=True)
class ControlRequest:
    pid: str
    reason: str
    at: float
