"""What a conversation knows of the relay it belongs to, and of who is on the other end.

:class:`RelayHost` names what a connection asks of the relay (the state its
connections share and the relay-wide decisions), which
:class:`relay.net.server.Relay` provides, so that the dependency runs one way: the
server knows its conversations, a conversation knows only this.
:class:`Identity` is who holds a connection, as the relay's own claims say;
:class:`Admission`, how they join a session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from relay.core import messages
from relay.core.access import Grant
from relay.core.roles import Role
from relay.trust import identity

if TYPE_CHECKING:
    from relay.config import RelayConfig
    from relay.core.access import AccessPolicy, AccessRequest
    from relay.core.ratelimit import DenialAudit, LoginGuard
    from relay.net.archive import Archive
    from relay.net.live import LiveSession, Room
    from relay.store import InviteRecord, Revocation, Store
    from relay.trust.keys import SigningKey, VerifyKey


GUEST_PREFIX = "guest:"


@dataclass
class Identity:
    """Who is on the other end of a connection, as the relay's own claims say."""

    user: str
    role: Role
    session: str | None  # None: not bound to one session
    expires_at: float
    via: str  # "token", "invite" or "ssh"
    token_id: str  # the jti of the token this connection holds (checked in the store)
    invite: str | None = None  # the jti of the invite a guest came in with
    invited_by: str | None = None  # who made that invite (None: the relay's operator)

    @property
    def principal(self) -> str:
        """Who this is as a person, for limits: the user, or for guests the invite."""
        return f"invite:{self.invite}" if self.via == "invite" and self.invite else self.user

    @property
    def relay_wide_lead(self) -> bool:
        """Leads with a relay-wide credential may open sessions and manage access."""
        return self.role is Role.LEAD and self.session is None


@dataclass(frozen=True)
class Admission:
    """How someone joins a session: role, until when, and a driver grant if any."""

    role: Role
    expires_at: float
    driver_grant: Grant | None


class RelayHost(Protocol):
    """What a conversation asks of the relay it belongs to (:class:`relay.net.server.Relay`).

    The relay-wide state its connections share and the relay-wide decisions,
    named here so that the dependency runs one way: the server knows its
    conversations, a conversation knows only this.
    """

    @property
    def config(self) -> RelayConfig: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def audit(self) -> DenialAudit: ...
    @property
    def logins(self) -> LoginGuard: ...
    @property
    def policy(self) -> AccessPolicy: ...
    @property
    def archive(self) -> Archive: ...
    @property
    def store(self) -> Store: ...
    @property
    def signing_key(self) -> SigningKey: ...
    @property
    def verify_key(self) -> VerifyKey: ...
    @property
    def sessions(self) -> dict[str, LiveSession]: ...
    @property
    def elsewhere(self) -> list[messages.SessionSummary]: ...

    async def open_session(self, target_name: str, owner: str, reason: str) -> LiveSession: ...
    async def live_session(self, session_id: str) -> Room: ...
    async def check_open(self, session_id: str) -> None: ...
    async def create_invite(
        self,
        role: Role,
        session: str | None,
        ttl: float,
        name: str,
        *,
        by: str | None = None,
        uses: int | None = None,
    ) -> tuple[InviteRecord, str]: ...
    async def issue_token(
        self, subject: str, role: Role, session: str | None, ttl: float, now: float
    ) -> tuple[str, identity.Claims]: ...
    def standing(self, who: Identity) -> identity.AuthError | None: ...
    async def recheck(self, who: Identity) -> identity.AuthError | None: ...
    async def admission(self, who: Identity, live: Room) -> Admission | None: ...
    async def grant_access(
        self,
        by: str,
        user: str,
        role: str,
        ttl: float,
        session: str | None,
        target: str | None,
        reason: str,
    ) -> Grant: ...
    async def revoke_access(
        self, by: str, user: str, session: str | None, grants_only: bool = False
    ) -> tuple[list[Grant], Revocation]: ...
    async def revoke_invite(self, by: str, invite_id: str) -> Revocation: ...
    async def request_access(
        self, who: Identity, role: str, reason: str, session: str | None
    ) -> AccessRequest: ...
    async def decide_access(
        self, by: str, request_id: str, approve: bool, ttl: float | None, reason: str
    ) -> Grant | None: ...
    def name_taken(self, name: str, principal: str) -> str | None: ...
    def connections_of(self, who: Identity) -> int: ...
