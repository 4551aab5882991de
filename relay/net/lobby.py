"""Phase 3 of a conversation outside a session's own rules: the lobby.

Listing and opening sessions, joining one, reviewing recordings, and
just-in-time access (grants, revocations, requests, invites). What a session
decides is :mod:`relay.core.session`'s; relay-wide decisions are the relay's,
reached through :class:`relay.net.host.RelayHost`. :class:`Lobby` is the part of
:class:`relay.net.conversation.Conversation` that handles these messages, kept
apart by concept: the state it reads is the conversation's.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from relay.config import NAME_PATTERN
from relay.core import messages, protocol
from relay.core.access import AccessError, Grant
from relay.core.errors import ErrorCode, ProtocolError
from relay.core.roles import Role
from relay.net.archive import Scope
from relay.net.connection import ClientLink
from relay.net.host import Admission, Identity
from relay.net.live import Seat

if TYPE_CHECKING:
    from relay.net.host import RelayHost
    from relay.net.live import Room


class Lobby:
    """The lobby's messages, for :class:`Conversation`."""

    if TYPE_CHECKING:  # the conversation's state, and its handling of text
        relay: RelayHost
        link: ClientLink
        pid: str
        peer: str
        who: Identity | None
        credential: str | None
        live: Room | None  # the session joined: here, or on its home relay
        seated_as: Role | None
        cut_off: bool
        listing: asyncio.Task[None] | None

        def send_error(self, code: ErrorCode, message: str, **extra: Any) -> None: ...
        def _user(self) -> str | None: ...
        def _masked(self, text: str) -> str: ...
        def _reason(self, text: str, required: bool = False) -> str: ...

    async def _list_recordings(
        self, answer: messages.Recordings, message: protocol.ListRecordings
    ) -> None:
        """Summaries, filters and search read files: in a thread, after the checks above."""
        live = frozenset(
            s for s, session in self.relay.sessions.items() if not session.ended.is_set()
        )
        entries = await asyncio.to_thread(
            self.relay.archive.details, answer["recordings"], message, live
        )
        if message.get("text"):
            self.relay.audit.record(
                "recording.search",
                user=self._user(),
                text=self._masked(message["text"]),
                session=message.get("session"),
                matches=len(entries),
            )
        self.link.send_json({"type": "recordings", "recordings": entries})

    async def _review_rights(self) -> tuple[Role, Scope]:
        """The role and scope for recordings: standing, or the union of reviewer grants.

        Read afresh for every request, so a grant that expired or was revoked
        stops a download at its next chunk.
        """
        who = self.who
        assert who is not None
        if who.role in (Role.LEAD, Role.REVIEWER) or who.via == "invite":
            scope = Scope.everything() if who.session is None else Scope.session(who.session)
            return who.role, scope
        grants = [
            g
            for g in await self.relay.store.active_grants(self.relay.clock(), who.user)
            if g.role == "reviewer"
        ]
        if grants:
            return Role.REVIEWER, Scope(frozenset((g.session, g.target) for g in grants))
        return who.role, Scope.session(who.session) if who.session else Scope.everything()

    def _lobby(self) -> messages.Sessions:
        assert self.who is not None
        visible = [
            live.core.summary()
            for live in self.relay.sessions.values()
            if self.who.session in (None, live.session_id) and not live.ended.is_set()
        ]
        visible += [  # in a cluster: those other relays are home to
            summary
            for summary in self.relay.elsewhere
            if self.who.session in (None, summary.get("id"))
        ]
        targets: list[messages.TargetSummary] = []
        if self.who.role is Role.LEAD and self.who.session is None:
            targets = [
                {"name": t.name, "description": t.description}
                for t in self.relay.config.targets.values()
            ]
        return {"type": "sessions", "sessions": visible, "targets": targets}

    async def _open(self, message: protocol.Open) -> None:
        assert self.who is not None
        if self.who.role is not Role.LEAD or self.who.session is not None:
            self.send_error(ErrorCode.FORBIDDEN, "only a lead can open sessions", ref="open")
            return
        try:
            reason = self._reason(message["reason"], required=True)
            live = await self.relay.open_session(message["target"], self.who.user, reason)
        except ProtocolError as exc:
            self.send_error(exc.code, exc.message, ref="open")
            return
        self.link.send_json({"type": "opened", "session": live.session_id})

    async def _join(self, message: protocol.Join) -> None:
        assert self.who is not None
        if self.live is not None:
            raise ProtocolError(ErrorCode.ALREADY_JOINED, "leave the current session first")
        session_id = message["session"]
        if self.who.session not in (None, session_id):
            self.relay.audit.record(
                "auth.failed",
                user=self.who.user,
                session=session_id,
                code="wrong_session",
                peer=self.peer,
            )
            raise ProtocolError(
                ErrorCode.FORBIDDEN, f"your access is for session {self.who.session!r} only"
            )
        live = await self.relay.live_session(session_id)
        admission = await self.relay.admission(self.who, live)
        if self.cut_off or self.live is not None:
            return
        if admission is None:
            self.relay.audit.record(
                "session.join_denied", user=self.who.user, session=session_id, peer=self.peer
            )
            raise ProtocolError(
                ErrorCode.FORBIDDEN,
                f"you have no access to session {session_id!r}; ask a lead "
                "(warroom request --role viewer --reason ...)",
            )
        await self._enter(live, admission, message)

    async def _enter(self, live: Room, admission: Admission, message: protocol.Join) -> None:
        """Take a seat in the session (refused: the reason goes to this client only).

        ``self.live`` is set before the seat is taken: on another relay's
        session that takes a round trip, and a connection lost meanwhile must
        still leave the seat it was given.
        """
        assert self.who is not None
        grant = admission.driver_grant
        seat = Seat(
            self.who.user,
            admission.role,
            admission.expires_at,
            message.get("cols", 80),
            message.get("rows", 24),
            person=self.who.principal,
            invited_by=self.who.invited_by,
            key=self.credential,
            driver_by=grant.granted_by if grant is not None else None,
            driver_until=grant.expires_at if grant is not None else None,
        )
        self.live = live
        seated = False
        try:
            seated = await live.enter(self.link, seat, message.get("offset"))
            self.seated_as = seat.role
        finally:
            if not seated and self.live is live:
                self.live = None

    async def _access_message(self, message: protocol.AccessMessage) -> None:
        """Just-in-time access: grants and revocations by leads, requests by anyone."""
        who = self.who
        assert who is not None
        kind = message["type"]
        if kind not in ("access_request", "access_list") and not who.relay_wide_lead:
            raise ProtocolError(ErrorCode.FORBIDDEN, f"{kind}: only a lead can do this")
        try:
            reply = await self._access_reply(message, who)
        except AccessError as exc:
            raise ProtocolError(ErrorCode.ACCESS, str(exc)) from None
        self.link.send_json(reply)

    async def _access_reply(
        self, message: protocol.AccessMessage, who: Identity
    ) -> messages.AccessReply:
        relay = self.relay
        match message["type"]:
            case "access_grant":
                grant = await relay.grant_access(
                    who.user,
                    message["user"],
                    message["role"],
                    float(message["ttl"]),
                    message.get("session"),
                    message.get("target"),
                    self._reason(message.get("reason", "")),
                )
                return {"type": "access_granted", "grant": grant.public()}
            case "access_revoke":
                gone, revoked = await relay.revoke_access(
                    who.user,
                    message["user"],
                    message.get("session"),
                    message.get("grants_only", False),
                )
                return {
                    "type": "access_revoked",
                    "grants": [g.public() for g in gone],
                    "tokens": len(revoked.tokens),
                    "invites": [i.id for i in revoked.invites],
                }
            case "access_request":
                if who.via == "invite":
                    raise AccessError(
                        "guests have what their invite gives; ask the lead for a new one"
                    )
                request = await relay.request_access(
                    who, message["role"], self._reason(message["reason"]), message.get("session")
                )
                return {"type": "access_requested", "request": request.public()}
            case "access_decide":
                ttl = message.get("ttl")
                decided = await relay.decide_access(
                    who.user,
                    message["id"],
                    message["approve"],
                    float(ttl) if ttl is not None else None,
                    self._reason(message.get("reason", "")),
                )
                return {
                    "type": "access_decided",
                    "id": message["id"],
                    "grant": decided.public() if decided else None,
                }
            case "access_list":
                return await self._access_list(who)
            case "invite":
                return await self._invite(who, message)
            case "invite_revoke":
                revoked = await relay.revoke_invite(who.user, message["id"])
                return {
                    "type": "invite_revoked",
                    "id": message["id"],
                    "tokens": len(revoked.tokens),
                }
        raise ProtocolError(ErrorCode.BAD_FRAME, f"unhandled message type {message['type']!r}")

    async def _access_list(self, who: Identity) -> messages.AccessListing:
        store, now = self.relay.store, self.relay.clock()
        mine = None if who.relay_wide_lead else who.user
        grants: list[Grant] = await store.active_grants(now, mine)
        requests = await store.pending_requests(mine)
        listing: messages.AccessListing = {
            "type": "access",
            "grants": [g.public() for g in grants],
            "requests": [r.public() for r in requests],
        }
        if who.relay_wide_lead:
            listing["invites"] = [i.public() for i in await store.live_invites(now)]
        return listing

    async def _invite(self, who: Identity, message: protocol.Invite) -> messages.InviteMade:
        try:
            role = Role.parse(message["role"])
        except ValueError as exc:
            raise AccessError(str(exc)) from None
        session = message["session"]
        reviewing = role is Role.REVIEWER and await self.relay.archive.recorded(session)
        if not reviewing:  # a reviewer's invite is for the recording, which outlives the session
            await self.relay.check_open(session)
        ttl = float(message["ttl"])
        self.relay.policy.check_ttl(role.value, ttl, "invite")
        uses = message.get("uses")  # 1 to protocol.MAX_INVITE_USES, checked on parsing
        name = message.get("name") or role.value
        if not NAME_PATTERN.fullmatch(name):
            raise AccessError(f"invite names are like user names (a-z, 0-9, . _ -), not {name!r}")
        record, url = await self.relay.create_invite(
            role, session, ttl, name, by=who.user, uses=uses
        )
        self.relay.audit.record(
            "access.invite",
            by=who.user,
            role=role.value,
            session=session,
            ttl=ttl,
            name=name,
            invite=record.id,
            uses=uses,
        )
        return {
            "type": "invite",
            "url": url,
            "id": record.id,
            "uses": uses,
            "expires_at": record.expires_at,
        }
