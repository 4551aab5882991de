"""Just-in-time access: temporary grants and access requests, on top of the config.

The config gives engineers their standing roles. Production access should be
least privilege, so anything more is temporary: a lead grants a role for a
while (``warroom grant bob --role driver --ttl 30m``), or an engineer asks for
it with a reason and a lead approves with a time limit. Grants expire on
their own; the relay enforces expiry live. Like the session core, this module
is pure: no I/O, time passed in, and every decision is returned, not done.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from relay.roles import Role

GrantRole = Literal["viewer", "driver", "reviewer"]
GRANT_ROLES: tuple[str, ...] = get_args(GrantRole)

DEFAULT_MAX_TTL: dict[str, float] = {"viewer": 8 * 3600.0, "driver": 3600.0, "reviewer": 86400.0}
REASON_LENGTH = 500
_RANK = {Role.REVIEWER: 0, Role.VIEWER: 1, Role.LEAD: 2}


class AccessError(Exception):
    """A grant, revocation or request that cannot be done; the message says why."""


@dataclass(frozen=True)
class Grant:
    """A temporary role for ``user``, on one session, one target, or (neither) any."""

    id: str
    user: str
    role: GrantRole
    session: str | None
    target: str | None
    expires_at: float
    granted_by: str
    reason: str

    def covers(self, session: str, target: str) -> bool:
        return self.session in (None, session) and self.target in (None, target)

    @property
    def scope(self) -> str:
        if self.session:
            return f"session {self.session}"
        if self.target:
            return f"target {self.target}"
        return "every session"

    def public(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_public(cls, data: dict[str, Any]) -> Grant:
        """Read a grant back from its ``public()`` form (what clients receive)."""
        return cls(
            str(data["id"]),
            str(data["user"]),
            parse_grant_role(str(data["role"])),
            data.get("session"),
            data.get("target"),
            float(data["expires_at"]),
            str(data.get("granted_by", "")),
            str(data.get("reason", "")),
        )


@dataclass(frozen=True)
class AccessRequest:
    """An engineer asking for a role, with the reason the leads will judge."""

    id: str
    user: str
    role: GrantRole
    session: str | None
    reason: str
    at: float

    @property
    def scope(self) -> str:
        return f"session {self.session}" if self.session else "any session"

    def public(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_public(cls, data: dict[str, Any]) -> AccessRequest:
        """Read a request back from its ``public()`` form (what clients receive)."""
        return cls(
            str(data["id"]),
            str(data["user"]),
            parse_grant_role(str(data["role"])),
            data.get("session"),
            str(data.get("reason", "")),
            float(data.get("at") or 0.0),
        )


def join_role(role: GrantRole) -> Role:
    """The session role a grant admits with: a driver grant joins as a viewer who drives."""
    return Role.REVIEWER if role == "reviewer" else Role.VIEWER


def higher(a: Role | None, b: Role | None) -> Role | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if _RANK[a] >= _RANK[b] else b


def parse_grant_role(value: str) -> GrantRole:
    if value not in GRANT_ROLES:
        raise AccessError(f"unknown role {value!r}: grants are for {', '.join(GRANT_ROLES)}")
    role: GrantRole = value  # type: ignore[assignment]
    return role


@dataclass
class AccessBook:
    """Every live grant and pending request on the relay."""

    max_ttl: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MAX_TTL))
    grants: dict[str, Grant] = field(default_factory=dict)
    requests: dict[str, AccessRequest] = field(default_factory=dict)

    # ------------------------------------------------------------ grants

    def grant(
        self,
        user: str,
        role: str,
        ttl: float,
        by: str,
        now: float,
        *,
        session: str | None = None,
        target: str | None = None,
        reason: str = "",
    ) -> Grant:
        """Record a grant; refuse a TTL over the configured maximum for the role."""
        checked = parse_grant_role(role)
        self.check_ttl(checked, ttl, "grant")
        grant = Grant(
            secrets.token_hex(4),
            user,
            checked,
            session,
            target,
            now + ttl,
            by,
            reason[:REASON_LENGTH],
        )
        self.grants[grant.id] = grant
        return grant

    def check_ttl(self, role: str, ttl: float, what: str) -> None:
        """Refuse a lifetime over the role's maximum (an invite for a lead counts as driver)."""
        limited = "driver" if role == Role.LEAD.value else parse_grant_role(role)
        limit = self.max_ttl.get(limited, DEFAULT_MAX_TTL[limited])
        if not 0 < ttl <= limit:
            raise AccessError(
                f"a {role} {what} lasts at most {_hours(limit)} on this relay "
                f"(asked for {_hours(ttl)})"
            )

    def revoke(self, user: str, session: str | None = None) -> list[Grant]:
        """Remove ``user``'s grants (on ``session`` only, if given); return them."""
        gone = [g for g in self.grants.values() if g.user == user and session in (None, g.session)]
        for g in gone:
            del self.grants[g.id]
        return gone

    def expire(self, now: float) -> list[Grant]:
        """Remove and return the grants whose time is up."""
        gone = [g for g in self.grants.values() if g.expires_at <= now]
        for g in gone:
            del self.grants[g.id]
        return gone

    def active(self, user: str, now: float) -> list[Grant]:
        return [g for g in self.grants.values() if g.user == user and g.expires_at > now]

    def admission(
        self, user: str, base: Role | None, session: str, target: str, now: float
    ) -> tuple[Role | None, float | None, Grant | None]:
        """The role ``user`` joins ``session`` with, until when, and any driver grant.

        The standing role wins when it is at least as high as the grants'; a
        role that only a grant gives ends when the grant does.
        """
        covering = [g for g in self.active(user, now) if g.covers(session, target)]
        role, until = base, None
        for g in covering:
            granted = join_role(g.role)
            if higher(role, granted) is not role or role is None:
                role, until = granted, g.expires_at
            elif role is granted and until is not None:
                until = max(until, g.expires_at)
        driver = max(
            (g for g in covering if g.role == "driver"), key=lambda g: g.expires_at, default=None
        )
        return role, until, driver

    # ------------------------------------------------------------ requests

    def request(
        self, user: str, role: str, reason: str, now: float, session: str | None = None
    ) -> AccessRequest:
        checked = parse_grant_role(role)
        reason = reason.strip()
        if not reason:
            raise AccessError("say why you need access (e.g. the incident number)")
        if len(reason) > REASON_LENGTH:
            raise AccessError(f"reasons are limited to {REASON_LENGTH} characters")
        if any(r.user == user and r.role == checked for r in self.requests.values()):
            raise AccessError(f"you already asked for {checked}; wait for a lead to answer")
        request = AccessRequest(secrets.token_hex(4), user, checked, session, reason, now)
        self.requests[request.id] = request
        return request

    def expire_requests(self, before: float) -> list[AccessRequest]:
        """Remove and return requests made before ``before`` and never answered."""
        gone = [r for r in self.requests.values() if r.at < before]
        for r in gone:
            del self.requests[r.id]
        return gone

    def take_request(self, request_id: str) -> AccessRequest:
        """Remove a pending request to decide on it."""
        request = self.requests.pop(request_id, None)
        if request is None:
            raise AccessError(f"no pending access request {request_id!r}")
        return request


def _hours(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
