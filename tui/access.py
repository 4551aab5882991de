"""Just-in-time access as the TUI knows it: your grants, and requests waiting on leads.

Built only from what the relay says (``access``, ``access_granted``,
``access_revoked``, ``access_request``, ``access_requested``,
``access_decided``, ``access_decision``); like :mod:`tui.room` it is pure, so
the panes' logic is testable without a relay. :meth:`Access.apply` returns the
line to show the user when a message deserves one; time is passed in.

The relay says when a grant runs out (``access_expired``) and tells every lead
when a request is answered (``access_request_closed``); grants are also dropped
here by the clock (:meth:`Access.expire`), so the countdown never shows a
negative time between the expiry and the relay's message. The types are the
relay's own (:class:`relay.core.access.Grant`, :class:`relay.core.access.AccessRequest`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relay.config import parse_duration
from relay.core import protocol
from relay.core.access import GRANT_ROLES, AccessRequest, Grant
from tui.incoming import AccessMessage

ROLES = GRANT_ROLES  # what a grant or an access request may name
DEFAULT_TTL = "30m"


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


MEANWHILE = 256  # access messages kept while an access_list is unanswered


@dataclass
class Access:
    """This user's live grants and the access requests they may see."""

    user: str = ""
    lead: bool = False  # a relay-wide lead: sees and decides everyone's requests
    grants: dict[str, Grant] = field(default_factory=dict)
    requests: dict[str, AccessRequest] = field(default_factory=dict)
    # ``access_list`` questions not yet answered, and what arrived meanwhile. The
    # relay reads the list from its store while it goes on sending notices, so the
    # answer can be older than a request it already announced: the notices that
    # came between the question and the answer are applied again on top of it.
    _asked: int = 0
    _meanwhile: list[AccessMessage] = field(default_factory=list)

    # ------------------------------------------------------------ updates

    def list_request(self) -> protocol.AccessList:
        """The ``access_list`` message to send (its answer replaces what is known)."""
        self._asked += 1
        return {"type": "access_list"}

    def apply(self, message: AccessMessage, now: float) -> Notice | None:
        """Take in one ``access*`` message; return what to tell the user, if anything."""
        if message["type"] == "access":
            self.grants = {}
            for data in message.get("grants", []):
                self._add_grant(Grant.from_public(data))
            self.requests = {
                r.id: r for r in (AccessRequest.from_public(d) for d in message.get("requests", []))
            }
            for later in self._meanwhile:
                self._apply(later, now)
            self._asked = max(0, self._asked - 1)
            if not self._asked:
                self._meanwhile = []
            return None
        if self._asked:  # bounded: an answer lost with its link must not keep it growing
            self._meanwhile = [*self._meanwhile[-MEANWHILE + 1 :], message]
        return self._apply(message, now)

    def _apply(self, message: AccessMessage, now: float) -> Notice | None:
        if message["type"] == "access_granted":
            grant = Grant.from_public(message["grant"])
            self._add_grant(grant)
            if grant.user == self.user:
                return Notice(
                    "Access granted",
                    f"{grant.role} on {grant.scope} for {format_left(grant.expires_at - now)}"
                    f" (by {grant.granted_by})",
                )
            return Notice("Access granted", f"{grant.user}: {grant.role} on {grant.scope}")
        if message["type"] == "access_revoked":
            for item in message.get("grants", []):
                self.grants.pop(str(item["id"] if isinstance(item, dict) else item), None)
            by = message.get("by")
            return Notice("Access revoked", f"by {by}" if by else "revoked", "warning")
        if message["type"] == "access_request":
            ask = AccessRequest.from_public(message["request"])
            self.requests[ask.id] = ask
            if ask.user == self.user:
                return None
            return Notice(
                "Access requested",
                f"{ask.user} asks for {ask.role} on {ask.scope}: {ask.reason}",
                "warning",
            )
        if message["type"] == "access_requested":
            ask = AccessRequest.from_public(message["request"])
            self.requests[ask.id] = ask
            return Notice("Access requested", f"asked the leads for {ask.role}; waiting…")
        if message["type"] == "access_expired":
            grant = Grant.from_public(message["grant"])
            if self.grants.pop(grant.id, None) is None:
                return None
            return Notice("Access expired", f"{grant.role} on {grant.scope} ended", "warning")
        if message["type"] == "access_request_closed":
            self.requests.pop(str(message.get("id")), None)
            return None
        if message["type"] == "access_decided":
            self.requests.pop(str(message.get("id")), None)
            decided = message.get("grant")
            if decided:
                self._add_grant(Grant.from_public(decided))
            return None
        if message["type"] == "access_decision":
            self.requests.pop(str(message.get("id")), None)
            by = message.get("by", "?")
            granted = message.get("grant")
            if message.get("approved") and granted:
                parsed = Grant.from_public(granted)
                self._add_grant(parsed)
                left = format_left(parsed.expires_at - now)
                return Notice("Access approved", f"{by} approved {parsed.role} for {left}")
            reason = message.get("reason") or "no reason given"
            return Notice("Access denied", f"{by} denied your request: {reason}", "warning")
        return None

    def _add_grant(self, grant: Grant) -> None:
        if grant.user == self.user:
            self.grants[grant.id] = grant

    def expire(self, now: float) -> None:
        """Drop grants whose time is up (the relay already enforced it)."""
        for gid in [g.id for g in self.grants.values() if g.expires_at <= now]:
            del self.grants[gid]

    # ------------------------------------------------------------ questions

    def mine(self, now: float) -> list[Grant]:
        """Your live grants, soonest to expire first."""
        return sorted(
            (g for g in self.grants.values() if g.expires_at > now), key=lambda g: g.expires_at
        )

    def to_decide(self) -> list[AccessRequest]:
        """Requests from others a relay-wide lead may answer, oldest first."""
        if not self.lead:
            return []
        return sorted(
            (r for r in self.requests.values() if r.user != self.user), key=lambda r: r.at
        )

    def asked(self) -> list[AccessRequest]:
        """Your own requests still waiting."""
        return [r for r in self.requests.values() if r.user == self.user]
