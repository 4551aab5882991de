"""Just-in-time access as the TUI knows it: your grants, and requests waiting on leads.

Built only from what the relay says (``access``, ``access_granted``,
``access_revoked``, ``access_request``, ``access_requested``,
``access_decided``, ``access_decision``); like :mod:`tui.room` it is pure, so
the panes' logic is testable without a relay. :meth:`Access.apply` returns the
line to show the user when a message deserves one; time is passed in.

The relay tells nobody when a grant runs out on its own, so grants whose
``expires_at`` has passed are dropped here by the clock (:meth:`Access.expire`).
The relay does not tell one lead when another lead decides a request either:
a lead's list is refreshed with ``access_list`` (the screens ask for it when
the list is opened).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relay.config import parse_duration

ROLES = ("viewer", "driver", "reviewer")
DEFAULT_TTL = "30m"


@dataclass(frozen=True)
class AccessGrant:
    id: str
    user: str
    role: str
    session: str | None
    target: str | None
    expires_at: float
    granted_by: str
    reason: str

    @classmethod
    def parse(cls, data: dict[str, Any]) -> AccessGrant:
        return cls(
            str(data["id"]),
            str(data["user"]),
            str(data["role"]),
            data.get("session"),
            data.get("target"),
            float(data["expires_at"]),
            str(data.get("granted_by", "")),
            str(data.get("reason", "")),
        )

    @property
    def scope(self) -> str:
        if self.session:
            return f"session {self.session}"
        if self.target:
            return f"target {self.target}"
        return "every session"


@dataclass(frozen=True)
class AccessAsk:
    """An access request (``AccessRequest`` on the relay)."""

    id: str
    user: str
    role: str
    session: str | None
    reason: str
    at: float

    @classmethod
    def parse(cls, data: dict[str, Any]) -> AccessAsk:
        return cls(
            str(data["id"]),
            str(data["user"]),
            str(data["role"]),
            data.get("session"),
            str(data.get("reason", "")),
            float(data.get("at") or 0.0),
        )

    @property
    def scope(self) -> str:
        return f"session {self.session}" if self.session else "any session"


@dataclass(frozen=True)
class Notice:
    """What to tell the user about an access message."""

    title: str
    text: str
    severity: str = "information"


def parse_ttl(text: str) -> float:
    """``"30m"``, ``"1h"``, ``"90s"`` or a bare number of minutes; ``ValueError`` if odd."""
    text = text.strip() or DEFAULT_TTL
    if text.isdigit():
        return float(int(text) * 60)
    return parse_duration(text)


def format_left(seconds: float) -> str:
    """``4:59``, ``1h05m``: time left, as a glance should read it."""
    seconds = int(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}:{secs:02d}"


@dataclass
class Access:
    """This user's live grants and the access requests they may see."""

    user: str = ""
    lead: bool = False  # a relay-wide lead: sees and decides everyone's requests
    grants: dict[str, AccessGrant] = field(default_factory=dict)
    requests: dict[str, AccessAsk] = field(default_factory=dict)

    # ------------------------------------------------------------ updates

    def apply(self, message: dict[str, Any], now: float) -> Notice | None:
        """Take in one ``access*`` message; return what to tell the user, if anything."""
        kind = message.get("type")
        if kind == "access":
            self.grants = {}
            for data in message.get("grants", []):
                self._add_grant(AccessGrant.parse(data))
            self.requests = {
                r.id: r for r in (AccessAsk.parse(d) for d in message.get("requests", []))
            }
            return None
        if kind == "access_granted":
            grant = AccessGrant.parse(message["grant"])
            self._add_grant(grant)
            if grant.user == self.user:
                return Notice(
                    "Access granted",
                    f"{grant.role} on {grant.scope} for {format_left(grant.expires_at - now)}"
                    f" (by {grant.granted_by})",
                )
            return Notice("Access granted", f"{grant.user}: {grant.role} on {grant.scope}")
        if kind == "access_revoked":
            for item in message.get("grants", []):
                self.grants.pop(str(item["id"] if isinstance(item, dict) else item), None)
            by = message.get("by")
            return Notice("Access revoked", f"by {by}" if by else "revoked", "warning")
        if kind == "access_request":
            ask = AccessAsk.parse(message["request"])
            self.requests[ask.id] = ask
            if ask.user == self.user:
                return None
            return Notice(
                "Access requested",
                f"{ask.user} asks for {ask.role} on {ask.scope}: {ask.reason}",
                "warning",
            )
        if kind == "access_requested":
            ask = AccessAsk.parse(message["request"])
            self.requests[ask.id] = ask
            return Notice("Access requested", f"asked the leads for {ask.role}; waiting…")
        if kind == "access_decided":
            self.requests.pop(str(message.get("id")), None)
            if message.get("grant"):
                self._add_grant(AccessGrant.parse(message["grant"]))
            return None
        if kind == "access_decision":
            self.requests.pop(str(message.get("id")), None)
            by = message.get("by", "?")
            if message.get("approved") and message.get("grant"):
                parsed = AccessGrant.parse(message["grant"])
                self._add_grant(parsed)
                left = format_left(parsed.expires_at - now)
                return Notice("Access approved", f"{by} approved {parsed.role} for {left}")
            reason = message.get("reason") or "no reason given"
            return Notice("Access denied", f"{by} denied your request: {reason}", "warning")
        return None

    def _add_grant(self, grant: AccessGrant) -> None:
        if grant.user == self.user:
            self.grants[grant.id] = grant

    def expire(self, now: float) -> None:
        """Drop grants whose time is up (the relay already enforced it)."""
        for gid in [g.id for g in self.grants.values() if g.expires_at <= now]:
            del self.grants[gid]

    # ------------------------------------------------------------ questions

    def mine(self, now: float) -> list[AccessGrant]:
        """Your live grants, soonest to expire first."""
        return sorted(
            (g for g in self.grants.values() if g.expires_at > now), key=lambda g: g.expires_at
        )

    def to_decide(self) -> list[AccessAsk]:
        """Requests from others a relay-wide lead may answer, oldest first."""
        if not self.lead:
            return []
        return sorted(
            (r for r in self.requests.values() if r.user != self.user), key=lambda r: r.at
        )

    def asked(self) -> list[AccessAsk]:
        """Your own requests still waiting."""
        return [r for r in self.requests.values() if r.user == self.user]
