"""The relay's durable state, behind one interface: :class:`Store`.

What it holds — everything that must outlive a relay process, and that
several relays would share:

* **grants** (:class:`relay.core.access.Grant`) until they expire or are revoked;
* **pending access requests** (:class:`relay.core.access.AccessRequest`);
* **invites** with their use counts and revocation (:class:`InviteRecord`);
* **tokens** the relay issued, with their revocation (:class:`TokenRecord`):
  a token is honoured only while its record says so, so a revocation
  reaches a token wherever it is, online or not;
* **the session directory** (:class:`SessionRecord`), ended sessions included,
  so that a question about an ended session gets the right answer.

What it does not hold: the config (users and roles come from ``relay.toml``
and are checked on every use), the audit log and recordings (files with
their own hash chains), live session state (output, participants).

Rules every implementation keeps, so that SQLite (``relay.store.sqlite``,
one relay) and a server database (several relays) are interchangeable:

* every method is one transaction: it is all done or none of it, and no
  caller ever holds a transaction open across an ``await``;
* time is passed in (``now``): a store never reads a clock, so every relay's
  decisions follow its own clock and tests control time;
* whatever must happen once happens once even when several relays race:
  an invite's uses are counted atomically against its limit
  (:meth:`Store.use_invite`), a pending request is taken by exactly one
  decider (:meth:`Store.take_request`), an expired grant is reported to
  exactly one relay (:meth:`Store.expire`), a session id is opened once
  (:meth:`Store.add_session` raises :class:`Conflict`);
* values are plain: strings, floats (unix seconds), ints and ``None`` — no
  row ids, no engine-specific types or errors reach the caller.

Implementations: :mod:`relay.store.sqlite` (the default, one relay) and
:mod:`relay.store.postgres` (``[cluster] database``, several relays);
:func:`open_store` picks one. The PostgreSQL database also holds the audit
log's cluster-wide copy and witness (:mod:`relay.store.pg_audit`), beside the
state, so that one database is all a cluster's state needs.

This package may import the core (:mod:`relay.core.access`: the pure record
types), the evidence formats the audit copy checks (:mod:`relay.evidence.chain`,
:mod:`relay.evidence.witness`), the standard library and its database drivers;
nothing from the network layer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import asdict, astuple, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from relay.core.access import AccessRequest, Grant
from relay.core.errors import WarroomError

__all__ = [
    "AccessRequest",
    "Conflict",
    "Expired",
    "Grant",
    "InviteRecord",
    "InviteRefused",
    "LimitReached",
    "Revocation",
    "SessionRecord",
    "Store",
    "StoreError",
    "TokenRecord",
    "columns",
    "insert",
    "open_store",
    "refusal",
    "values",
]


class StoreError(WarroomError):
    """The store cannot do what was asked; the message is for people."""


class Conflict(StoreError):
    """A record with this key exists already (a session id, a duplicate request)."""


class LimitReached(StoreError):
    """A bound on how much the store keeps was reached (pending requests relay-wide)."""


class InviteRefused(StoreError):
    """An invite cannot be used: ``reason`` is ``unknown``, ``revoked`` or ``used_up``."""

    def __init__(self, reason: str, invite: InviteRecord | None, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.invite = invite


@dataclass(frozen=True)
class InviteRecord:
    """An invite the relay signed: who made it, for what, and how much of it is left.

    ``issued_by`` is the user (or guest) whose request made it, or ``None``
    when the relay's operator made it (``warroom demo``); ``max_uses`` is
    ``None`` for an invite that any number of guests may use until it expires.
    """

    id: str
    role: str
    session: str | None
    name: str
    issued_by: str | None
    issued_at: float
    expires_at: float
    max_uses: int | None = None
    uses: int = 0
    revoked_at: float | None = None
    revoked_by: str | None = None

    def public(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TokenRecord:
    """A token the relay issued; ``invite`` is set for guests' tokens."""

    id: str
    subject: str
    invite: str | None
    issued_at: float
    expires_at: float
    revoked_at: float | None = None
    revoked_by: str | None = None


@dataclass(frozen=True)
class SessionRecord:
    """A session in the directory; ``ended_at`` is ``None`` while it is open.

    ``home`` names the relay process that holds the session's SSH connection,
    so that a relay restarting after a crash ends the sessions it held.
    """

    id: str
    target: str
    owner: str
    reason: str
    home: str
    opened_at: float
    ended_at: float | None = None
    end_reason: str | None = None


@dataclass(frozen=True)
class Revocation:
    """What one revocation reached: the tokens it made void and the invites it closed."""

    tokens: list[TokenRecord] = field(default_factory=list)
    invites: list[InviteRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Expired:
    """What :meth:`Store.expire` removed; each item is reported to one caller only."""

    grants: list[Grant] = field(default_factory=list)
    requests: list[AccessRequest] = field(default_factory=list)


Record = InviteRecord | TokenRecord | SessionRecord
"""The records stored as they are: one column per field, in the fields' order."""


def columns(kind: type[Record]) -> str:
    """The column list of ``kind``'s table, for both stores' SQL: the fields' names."""
    return ", ".join(f.name for f in fields(kind))


def insert(table: str, kind: type[Record], mark: str) -> str:
    """``INSERT INTO table (columns) VALUES (...)`` with the driver's parameter ``mark``."""
    return f"INSERT INTO {table} ({columns(kind)}) VALUES ({', '.join([mark] * len(fields(kind)))})"


def values(record: Record) -> tuple[Any, ...]:
    """What :func:`insert` takes for ``record``: its fields in order."""
    return astuple(record)


def refusal(invite: InviteRecord | None) -> InviteRefused:
    """Why an invite admitted nobody (``None``: not on record), in words for the guest;
    one wording for every store."""
    if invite is None:
        return InviteRefused(
            "unknown",
            None,
            "this invite is not on record at this relay (its state was reset?); "
            "ask the lead for a new one",
        )
    if invite.revoked_at is not None:
        return InviteRefused(
            "revoked", invite, f"this invite was revoked by {invite.revoked_by}; ask for a new one"
        )
    return InviteRefused(
        "used_up",
        invite,
        f"this invite was for {invite.max_uses} use(s) and has been used up; "
        "ask the lead for a new one",
    )


class Store(Protocol):
    """Durable relay state; see the module docstring for the rules it keeps."""

    async def close(self) -> None:
        """Release the connection(s); no method may be called afterwards."""
        ...

    async def ping(self) -> str:
        """Check that the store answers; say what it is (for ``/healthz``).

        Raises :class:`StoreError`, saying why, when it does not.
        """
        ...

    # ------------------------------------------------------------ grants

    async def add_grant(self, grant: Grant) -> None:
        """Keep a new grant (its ``id`` is fresh)."""
        ...

    async def active_grants(self, now: float, user: str | None = None) -> list[Grant]:
        """Grants not yet expired at ``now``, of ``user`` only if given, soonest to expire first."""
        ...

    async def remove_grants(self, user: str, session: str | None = None) -> list[Grant]:
        """Delete ``user``'s grants (those naming ``session`` only, if given); return them."""
        ...

    # ------------------------------------------------------------ access requests

    async def add_request(self, request: AccessRequest, limit: int) -> None:
        """Keep a pending request.

        Raises :class:`Conflict` when the user already waits for that role, and
        :class:`LimitReached` when ``limit`` requests are pending relay-wide.
        """
        ...

    async def pending_requests(self, user: str | None = None) -> list[AccessRequest]:
        """Pending requests (of ``user`` only, if given), oldest first."""
        ...

    async def take_request(self, request_id: str) -> AccessRequest | None:
        """Remove and return a pending request, or ``None`` if none (or already taken)."""
        ...

    # ------------------------------------------------------------ expiry

    async def expire(self, now: float, requests_before: float, forget_before: float) -> Expired:
        """Remove grants expired at ``now`` and requests made before ``requests_before``.

        Also forgets tokens and invites that expired before ``forget_before``
        (the relay passes ``now`` minus its clock skew: from then on their
        signature check refuses them anyway). Ended sessions are kept.
        """
        ...

    # ------------------------------------------------------------ invites

    async def add_invite(self, invite: InviteRecord) -> None:
        """Keep a new invite; it cannot be used until it is kept."""
        ...

    async def use_invite(self, invite_id: str, token: TokenRecord) -> InviteRecord:
        """Count one use of an invite and keep the guest's ``token``, atomically.

        Raises :class:`InviteRefused` (and counts nothing) when the invite is
        unknown, revoked or used ``max_uses`` times already. Expiry is not
        checked here: the invite's signed ``exp`` already was. Returns the
        invite with its new use count.
        """
        ...

    async def invite(self, invite_id: str) -> InviteRecord | None:
        """One invite, whatever its state."""
        ...

    async def live_invites(self, now: float) -> list[InviteRecord]:
        """Invites that could still be used at ``now``, newest first."""
        ...

    async def revoke_invite(self, invite_id: str, by: str, now: float) -> Revocation:
        """Close an invite and void every token guests got with it.

        Raises :class:`StoreError` for an unknown invite. Revoking twice is
        harmless: the second revocation reaches nothing new.
        """
        ...

    # ------------------------------------------------------------ tokens

    async def add_token(self, token: TokenRecord) -> None:
        """Keep a token just issued (config users' logins; guests' go via ``use_invite``)."""
        ...

    async def tokens(self, token_ids: Collection[str]) -> dict[str, TokenRecord]:
        """The records of those of ``token_ids`` the store knows, by id."""
        ...

    async def revoke_subject(self, subject: str, by: str, now: float) -> Revocation:
        """Void everything ``subject`` holds, online or not.

        That is: every unexpired token of ``subject``; for a guest, the
        invite(s) they came in with and every token any guest got with them
        (one guest revoked, all guests of that invite out, as the docs say);
        and the invites ``subject`` issued, with their guests' tokens.
        """
        ...

    # ------------------------------------------------------------ sessions

    async def add_session(self, record: SessionRecord) -> None:
        """Put an opened session in the directory; :class:`Conflict` if the id was ever used."""
        ...

    async def end_session(self, session_id: str, now: float, reason: str) -> SessionRecord | None:
        """Mark a session ended (the first end wins); return its record, ``None`` if unknown."""
        ...

    async def session(self, session_id: str) -> SessionRecord | None:
        """One session, open or ended."""
        ...

    async def end_sessions_of(self, home: str, now: float, reason: str) -> list[SessionRecord]:
        """End every session still open whose home is ``home`` (a relay restarting)."""
        ...

    # ------------------------------------------------------------ news for the other relays

    async def announce(self, news: dict[str, Any]) -> None:
        """Tell every relay sharing this store about a decision (plain JSON), after it was
        stored. One relay's own store has nobody to tell."""
        ...

    async def listen(
        self,
        heard: Callable[[dict[str, Any]], Awaitable[None]],
        ready: asyncio.Event | None = None,
    ) -> None:
        """Hand ``heard`` what :meth:`announce` tells, by every relay (this one's too), until
        cancelled; news missed while the store was unreachable are lost. ``ready`` is set
        once listening (so a relay can hear before it serves)."""
        ...

    async def node_running(self, node: str) -> bool:
        """Whether a relay runs as ``node`` now (so its open sessions may still be alive).

        Only a shared store can tell; one relay's own store answers True (the
        relay ends the sessions it held when it starts again).
        """
        ...


async def open_store(data_dir: Path, database: str | None, node: str) -> Store:
    """The store a relay's config asks for: PostgreSQL at ``database``, else SQLite in
    ``data_dir``. Raises :class:`StoreError` saying why it cannot be opened."""
    if database is not None:
        from relay.store.postgres import PostgresStore

        return await PostgresStore.open(database, node=node)
    from relay.store.sqlite import FILE_NAME, SqliteStore

    return await SqliteStore.open(data_dir / FILE_NAME)
