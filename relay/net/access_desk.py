"""The relay's access desk: credentials on every use, and relay-wide access.

A credential is a claim, checked on every use: each authentication and each
message re-checks the user and role against the current config and the
token against the store, and :meth:`AccessDesk.enforce` re-checks every open
connection after a revocation, after a config reload (SIGHUP) and every
half second — so a revocation made by another relay sharing the store
reaches this relay's connections too.

Grants, revocations, access requests and their decisions are kept in the
store and carried out here on the live sessions they affect (control
handed over or dropped, participants removed) and on the connections of
those concerned. The rules themselves are :mod:`relay.core.access`'s and the
session's. :class:`AccessDesk` is the part of :class:`relay.net.server.Relay`
that does this, kept apart by concept: the state it reads is the relay's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from relay.config import RelayConfig
from relay.core import messages
from relay.core.access import AccessError, AccessPolicy, AccessRequest, Grant, admission
from relay.core.errors import ErrorCode, ProtocolError
from relay.core.names import confusable
from relay.core.ratelimit import DenialAudit
from relay.core.roles import Role
from relay.net.conversation import Conversation
from relay.net.host import GUEST_PREFIX, Admission, Identity
from relay.net.live import LiveSession, Room
from relay.store import (
    Conflict,
    LimitReached,
    Revocation,
    Store,
    StoreError,
    TokenRecord,
)
from relay.trust import identity

if TYPE_CHECKING:
    from relay.net.conversation import Conversation


log = logging.getLogger(__name__)

MAX_PENDING_REQUESTS = 100  # relay-wide: each is pushed to every lead


REQUEST_TTL = 3600.0  # an unanswered access request lapses after an hour


class AccessDesk:
    """Relay-wide access, for :class:`Relay`."""

    if TYPE_CHECKING:  # the relay's state, and how it finds a session
        config: RelayConfig
        audit: DenialAudit
        clock: Callable[[], float]
        policy: AccessPolicy
        sessions: dict[str, LiveSession]
        conversations: set[Conversation]

        @property
        def store(self) -> Store: ...
        async def live_session(self, session_id: str) -> Room: ...

    def standing(self, who: Identity) -> identity.AuthError | None:
        """What the current config says about ``who``: ``None`` while they still stand.

        A config user must still be in the config with the role their token
        claims; a guest's invite must come from someone who is still a lead
        (or from the relay's operator, or from a guest, whose own invite the
        store revokes along with what they made).
        """
        if who.via == "invite":
            issuer = who.invited_by
            if issuer is None or issuer.startswith(GUEST_PREFIX):
                return None
            user = self.config.users.get(issuer)
            if user is not None and Role.LEAD in user.roles:
                return None
            return identity.AuthError(
                "revoked",
                f"your invite was made by {issuer}, who is no longer a lead on this relay; "
                "ask a lead for a new one",
                who.user,
            )
        user = self.config.users.get(who.user)
        if user is None:
            return identity.AuthError(
                "unknown_user", f"the user {who.user!r} is no longer on this relay", who.user
            )
        if who.role not in user.roles:
            held = ", ".join(sorted(r.value for r in user.roles))
            return identity.AuthError(
                "role_changed",
                f"{who.user} no longer holds the {who.role.value} role on this relay "
                f"(now: {held}); sign in again with `warroom login`",
                who.user,
            )
        return None

    async def recheck(self, who: Identity) -> identity.AuthError | None:
        """``standing`` plus the token's record in the store: revoked, or unknown."""
        problem = self.standing(who)
        if problem is not None:
            return problem
        records = await self.store.tokens([who.token_id])
        return token_problem(records.get(who.token_id), who)

    async def enforce(self) -> None:
        """Re-check every authenticated connection; end, audited, those that no longer stand."""
        checked = [c for c in self.conversations if c.who is not None and not c.cut_off]
        records = await self.store.tokens([c.who.token_id for c in checked if c.who])
        for conversation in checked:
            who = conversation.who
            if who is None or conversation.cut_off:
                continue
            problem = self.standing(who) or token_problem(records.get(who.token_id), who)
            if problem is not None:
                conversation.cut(problem)

    async def admission(self, who: Identity, live: Room) -> Admission | None:
        """The role ``who`` joins ``live`` with: standing role or a live grant, if any."""
        now = self.clock()
        if who.expires_at <= now:
            return None
        base = who.role if who.session in (None, live.session_id) else None
        if who.via == "invite":  # guests have exactly what their invite says
            return Admission(who.role, who.expires_at, None) if base else None
        grants = await self.store.active_grants(now, who.user)
        role, until, driver = admission(grants, base, live.session_id, live.target, now)
        if role is None:
            return None
        expires = who.expires_at if until is None else min(until, who.expires_at)
        return Admission(role, expires, driver)

    async def grant_access(
        self,
        by: str,
        user: str,
        role: str,
        ttl: float,
        session: str | None,
        target: str | None,
        reason: str,
    ) -> Grant:
        """Keep a just-in-time grant and apply it where ``user`` already is.

        A reviewer grant may name a session that has ended: reviewing its
        recording is the point.
        """
        await self._check_scope(None if role == "reviewer" else session, target)
        if user not in self.config.users:
            raise AccessError(
                f"no user {user!r} on this relay (guests have what their invite gives)"
            )
        now = self.clock()
        grant = self.policy.grant(
            user, role, ttl, by, now, session=session, target=target, reason=reason
        )
        await self.store.add_grant(grant)
        self.audit.record("access.grant", **grant_fields(grant))
        await self._tell({"e": "grant", "grant": grant.public()})
        return grant

    async def revoke_access(
        self, by: str, user: str, session: str | None, grants_only: bool = False
    ) -> tuple[list[Grant], Revocation]:
        """Remove grants; whoever they admitted loses control or leaves, at once.

        Without a session (and without ``grants_only``) this is a full
        revocation, online or not: every token of ``user`` is void; a guest's
        invite closes, with every guest who came in with it; invites ``user``
        made close too. Their connections end now, here and (through the
        store) on every relay. A guest holds nothing but an invite, so
        revoking a guest is always full.
        """
        full = (session is None and not grants_only) or user.startswith(GUEST_PREFIX)
        if user == by and full:
            raise AccessError("you cannot revoke yourself; another lead can")
        now = self.clock()
        gone = await self.store.remove_grants(user, session)
        for grant in gone:
            self.audit.record("access.revoke", by=by, **grant_fields(grant))
        revocation = Revocation()
        if full:
            revocation = await self.store.revoke_subject(user, by, now)
            self._audit_revocation(by, user, revocation)
        if not gone and not revocation.tokens and not revocation.invites:
            # a typo must not look like a revocation
            if user in self.config.users:
                held = (
                    f"grants on {session}"
                    if session
                    else "grants"
                    if grants_only
                    else "grants and no valid tokens"
                )
                raise AccessError(f"{user} holds no {held}")
            raise AccessError(
                f"no user {user!r} on this relay, and no guest of that name holds anything"
            )
        await self._tell({"e": "revoke", "user": user, "by": by, "grants": [g.id for g in gone]})
        await self.enforce()
        return gone, revocation

    async def revoke_invite(self, by: str, invite_id: str) -> Revocation:
        """Close an invite, used or not: it admits nobody again, and its guests leave."""
        try:
            revocation = await self.store.revoke_invite(invite_id, by, self.clock())
        except StoreError as exc:
            raise AccessError(str(exc)) from None
        self._audit_revocation(by, None, revocation)
        await self.enforce()
        return revocation

    def _audit_revocation(self, by: str, user: str | None, revocation: Revocation) -> None:
        for invite in revocation.invites:
            guests = sum(t.invite == invite.id for t in revocation.tokens)
            self.audit.record(
                "access.invite_revoke",
                by=by,
                user=user,
                invite=invite.id,
                session=invite.session,
                uses=invite.uses,
                guests_out=guests,
            )
        if revocation.tokens:
            self.audit.record(
                "access.token_revoke",
                by=by,
                user=user,
                tokens=len(revocation.tokens),
                subjects=", ".join(sorted({t.subject for t in revocation.tokens}))[:500],
            )

    async def _reconsider(self, conversation: Conversation, reason: str) -> None:
        """After a revocation: a participant whose role came from the revoked grant leaves
        (they may rejoin with what they still hold).

        Decided by the relay holding the connection (it has the credential),
        carried out by the session's home. Control that rested on the grant
        was already dropped there (``Session.revoke_grant``).
        """
        room, who, role = conversation.live, conversation.who, conversation.seated_as
        if room is None or who is None or role is None:
            return
        admitted = await self.admission(who, room)
        if conversation.live is room and (admitted is None or admitted.role is not role):
            room.remove(conversation.pid, reason)

    # ------------------------------------------------------------ every relay carries it out

    async def _tell(self, news: dict[str, Any]) -> None:
        """Carry out a stored decision here, then tell the other relays sharing the store
        (:meth:`relay.store.Store.announce`), which carry it out on theirs (:meth:`heard`).

        Each relay acts on what it holds: the sessions it is home to (control,
        time limits), and its own connections (notices; who must leave).
        """
        await self._carry_out(news)
        try:
            await self.store.announce({**news, "relay": self.config.name, "node": self.config.node})
        except StoreError as exc:  # stored and done here; other relays see it at the next join
            log.warning("could not tell the other relays about %s: %s", news.get("e"), exc)

    async def heard(self, news: dict[str, Any]) -> None:
        """A decision another relay of the cluster stored and told (:meth:`_tell`)."""
        if news.get("relay") == self.config.name and news.get("node") != self.config.node:
            await self._carry_out(news)

    async def _carry_out(self, news: dict[str, Any]) -> None:
        now = self.clock()
        match news.get("e"):
            case "grant":
                grant = Grant.from_public(news["grant"])
                for live in self._covered(grant):
                    for p in [q for q in live.core.participants.values() if q.user == grant.user]:
                        live.core.extend(p.pid, grant.expires_at)
                    if grant.role == "driver":
                        ttl = grant.expires_at - now
                        live.apply(live.core.assign_control(grant.user, grant.granted_by, now, ttl))
                self.notify(grant.user, {"type": "access_granted", "grant": grant.public()})
            case "revoke":
                user, by = str(news["user"]), str(news["by"])
                reason = f"access revoked by {by}"
                for live in list(self.sessions.values()):
                    live.apply(live.core.revoke_grant(user, reason, now))
                for conversation in [c for c in self.conversations if c.who and c.who.user == user]:
                    await self._reconsider(conversation, reason)
                grants = [str(g) for g in news.get("grants", [])]
                self.notify(user, {"type": "access_revoked", "by": by, "grants": grants})
            case "request":
                notice: messages.AccessRequestNotice = {
                    "type": "access_request",
                    "request": AccessRequest.from_public(news["request"]).public(),
                }
                self._to_leads(notice)
            case "decided":
                closed: messages.AccessRequestClosed = {
                    "type": "access_request_closed",
                    "id": str(news["id"]),
                    "approved": bool(news["approved"]),
                    "by": str(news["by"]),
                }
                self._to_leads(closed)
                given = Grant.from_public(news["grant"]) if news.get("grant") else None
                decision: messages.AccessDecision = {
                    "type": "access_decision",
                    "id": closed["id"],
                    "approved": closed["approved"],
                    "by": closed["by"],
                    "reason": str(news["reason"]),
                    "grant": given.public() if given is not None else None,
                }
                self.notify(str(news["user"]), decision)
            case "expired":
                grant = Grant.from_public(news["grant"])
                self.notify(grant.user, {"type": "access_expired", "grant": grant.public()})

    def _to_leads(self, message: messages.RelayMessage) -> None:
        for conversation in self.conversations:
            if conversation.who is not None and conversation.who.relay_wide_lead:
                conversation.link.send_json(message)

    async def check_open(self, session_id: str) -> None:
        """That ``session_id`` is open, here or on another relay of the cluster; else the
        refusal a join would get (ended, unknown).

        Grants, requests and invites may name a session held by another relay,
        with or without Redis: the decision reaches its home (:meth:`_tell`).
        """
        record = await self.store.session(session_id)
        if record is None or record.home == self.config.node or record.ended_at is not None:
            await self.live_session(session_id)

    async def request_access(
        self, who: Identity, role: str, reason: str, session: str | None
    ) -> AccessRequest:
        if session is not None:
            await self.check_open(session)
        request = self.policy.request(who.user, role, reason, self.clock(), session)
        try:
            await self.store.add_request(request, MAX_PENDING_REQUESTS)
        except Conflict:
            raise AccessError(
                f"you already asked for {request.role}; wait for a lead to answer"
            ) from None
        except LimitReached:
            raise AccessError("too many access requests are waiting; try again later") from None
        self.audit.record(
            "access.request",
            user=who.user,
            role=request.role,
            session=session,
            reason=reason,
            request=request.id,
        )
        await self._tell({"e": "request", "request": request.public()})
        return request

    async def decide_access(
        self, by: str, request_id: str, approve: bool, ttl: float | None, reason: str
    ) -> Grant | None:
        request = await self.store.take_request(request_id)
        if request is None:
            raise AccessError(f"no pending access request {request_id!r}")
        grant = None
        if approve:
            ttl = ttl or self.policy.default_ttl(request.role)
            grant = await self.grant_access(
                by, request.user, request.role, ttl, request.session, None, request.reason
            )
        self.audit.record(
            "access.approve" if approve else "access.deny",
            by=by,
            user=request.user,
            role=request.role,
            session=request.session,
            request=request.id,
            request_reason=request.reason,
            reason=reason,
            ttl=ttl,
        )
        public = grant.public() if grant else None
        await self._tell(
            {"e": "decided", "id": request.id, "approved": approve, "by": by, "reason": reason}
            | {"user": request.user, "grant": public}
        )
        return grant

    def name_taken(self, name: str, principal: str) -> str | None:
        """A name ``name`` could pass for: a user of this relay, the owner of an open
        session, or someone connected who is another person (``principal``)."""
        taken = [*self.config.users, *(live.core.owner for live in self.sessions.values())]
        taken += [
            c.who.user
            for c in self.conversations
            if c.who is not None and c.who.principal != principal
        ]
        return next((other for other in taken if confusable(name, other)), None)

    def connections_of(self, who: Identity) -> int:
        """Authenticated connections of the same engineer (of the same invite, for guests)."""
        key = who.principal
        return sum(1 for c in self.conversations if c.who is not None and c.who.principal == key)

    def notify(self, user: str, message: messages.RelayMessage) -> None:
        """Tell every connection of ``user`` (a grant, a revocation, a decision)."""
        for conversation in self.conversations:
            if conversation.who is not None and conversation.who.user == user:
                conversation.link.send_json(message)

    async def _check_scope(self, session: str | None, target: str | None) -> None:
        if session is not None:
            await self.check_open(session)
        if target is not None and target not in self.config.targets:
            raise ProtocolError(ErrorCode.NO_SUCH_TARGET, f"no target named {target!r}")

    def _covered(self, grant: Grant) -> list[LiveSession]:
        return [
            live
            for live in self.sessions.values()
            if grant.covers(live.session_id, live.core.target)
        ]


def token_problem(record: TokenRecord | None, who: Identity) -> identity.AuthError | None:
    """Why the store no longer honours ``who``'s token, if it does not."""
    if record is None:
        return identity.AuthError(
            "unknown_credential",
            "your token is not on record at this relay (its state was reset); sign in again",
            who.user,
        )
    if record.revoked_at is None:
        return None
    again = (
        "ask a lead for a new invite"
        if who.via == "invite"
        else "sign in again with `warroom login` if you still may"
    )
    return identity.AuthError(
        "revoked", f"your access was revoked by {record.revoked_by}; {again}", who.user
    )


def grant_fields(grant: Grant) -> dict[str, str | float | None]:
    return {
        "grant": grant.id,
        "user": grant.user,
        "role": grant.role,
        "session": grant.session,
        "target": grant.target,
        "expires_at": grant.expires_at,
        "granted_by": grant.granted_by,
        "reason": grant.reason,
    }
