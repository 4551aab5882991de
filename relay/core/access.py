"""Just-in-time access: temporary grants and access requests, on top of the config.

The config gives engineers their standing roles. Production access should be
least privilege, so anything more is temporary: a lead grants a role for a
while (``warroom grant bob --role driver --ttl 30m``), or an engineer asks for
it with a reason and a lead approves with a time limit. Grants expire on
their own; the relay enforces expiry live. Like the session core, this module
is pure: no I/O, time passed in, and every decision is returned, not done.
The grants and requests themselves live in :mod:`relay.store`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from relay.core.errors import WarroomError
from relay.core.protocol import REASON_LENGTH
from relay.core.roles import Role

GrantRole = Literal["viewer", "driver", "reviewer"]
GRANT_ROLES: tuple[str, ...] = get_args(GrantRole)

DEFAULT_MAX_TTL: dict[str, float] = {"viewer": 8 * 3600.0, "driver": 3600.0, "reviewer": 86400.0}
_RANK = {Role.REVIEWER: 0, Role.VIEWER: 1, Role.LEAD: 2}


class AccessError(WarroomError):
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


@dataclass(frozen=True)
class AccessPolicy:
    """The rules for grants and requests; the grants and requests themselves are in the store.

    Every method is pure: it checks and builds records (time passed in), and
    the relay keeps them in :mod:`relay.store`, which also enforces what
    several relays could race on (one pending request per user and role).
    """

    max_ttl: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MAX_TTL))

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
        """A new grant; refuse a TTL over the configured maximum for the role."""
        checked = parse_grant_role(role)
        self.check_ttl(checked, ttl, "grant")
        return Grant(
            secrets.token_hex(4),
            user,
            checked,
            session,
            target,
            now + ttl,
            by,
            reason[:REASON_LENGTH],
        )

    def check_ttl(self, role: str, ttl: float, what: str) -> None:
        """Refuse a lifetime over the role's maximum (an invite for a lead counts as driver)."""
        limited = "driver" if role == Role.LEAD.value else parse_grant_role(role)
        limit = self.max_ttl.get(limited, DEFAULT_MAX_TTL[limited])
        if not 0 < ttl <= limit:
            raise AccessError(
                f"a {role} {what} lasts at most {_hours(limit)} on this relay "
                f"(asked for {_hours(ttl)})"
            )

    def default_ttl(self, role: str) -> float:
        """How long an approved request lasts when the lead names no time: the maximum."""
        return self.max_ttl.get(role, DEFAULT_MAX_TTL.get(role, 3600.0))

    def request(
        self, user: str, role: str, reason: str, now: float, session: str | None = None
    ) -> AccessRequest:
        """A new access request, with the reason the leads will judge."""
        checked = parse_grant_role(role)
        reason = reason.strip()
        if not reason:
            raise AccessError("say why you need access (e.g. the incident number)")
        if len(reason) > REASON_LENGTH:
            raise AccessError(f"reasons are limited to {REASON_LENGTH} characters")
        return AccessRequest(secrets.token_hex(4), user, checked, session, reason, now)


def admission(
    grants: Iterable[Grant], base: Role | None, session: str, target: str, now: float
) -> tuple[Role | None, float | None, Grant | None]:
    """The role someone joins ``session`` with, until when, and any driver grant.

    ``grants`` are that person's grants; ``base`` their standing role. The
    standing role wins when it is at least as high as the grants'; a role
    that only a grant gives ends when the grant does.
    """
    covering = [g for g in grants if g.expires_at > now and g.covers(session, target)]
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


def _hours(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
