"""The store's contract, run against every implementation of :class:`relay.store.Store`.

Each implementation joins the ``opener`` fixture's parameters; every test
then holds for it: SQLite (one file) and PostgreSQL (a real server, a fresh
database per test, :mod:`tests.postgres`). Each call of the opener is another
relay: another SQLite connection to the same file, another pool of
PostgreSQL connections to the same database, so the racing tests race
separate connections, as relays of a cluster do. Times are small made-up
numbers: a store never reads a clock, so a test that passed ``now = 1000``
and saw wall-clock behaviour would fail here.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from relay.core.access import AccessRequest, Grant
from relay.store import (
    Conflict,
    InviteRecord,
    InviteRefused,
    LimitReached,
    SessionRecord,
    Store,
    StoreError,
    TokenRecord,
)
from relay.store.postgres import PostgresStore
from relay.store.sqlite import FILE_NAME, MIGRATIONS, SqliteStore

Opener = Callable[[], Awaitable[Store]]
T0 = 1000.0


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens a store on the same backing state each time it is called (a relay restarting,
    or another relay of the cluster)."""
    if request.param == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")

        async def open_postgres() -> Store:
            return await PostgresStore.open(dsn)

        return open_postgres

    async def open_sqlite() -> Store:
        return await SqliteStore.open(tmp_path / FILE_NAME)

    return open_sqlite


@pytest.fixture
async def store(opener: Opener) -> AsyncIterator[Store]:
    opened = await opener()
    yield opened
    await opened.close()


def grant(gid: str, user: str = "bob", expires_at: float = T0 + 60, **scope: str) -> Grant:
    return Grant(
        gid,
        user,
        "viewer",
        scope.get("session"),
        scope.get("target"),
        expires_at,
        "alice",
        "INC-1",
    )


def invite(iid: str, issued_by: str | None = "alice", max_uses: int | None = None) -> InviteRecord:
    return InviteRecord(iid, "viewer", "s1", "guest", issued_by, T0, T0 + 600, max_uses)


def token(tid: str, subject: str, invite_id: str | None = None) -> TokenRecord:
    return TokenRecord(tid, subject, invite_id, T0, T0 + 600)


async def test_grants_are_listed_until_they_expire_and_expire_once(store: Store) -> None:
    await store.add_grant(grant("g1", expires_at=T0 + 10))
    await store.add_grant(grant("g2", expires_at=T0 + 20, session="s1"))
    await store.add_grant(grant("g3", user="carol", expires_at=T0 + 30))
    assert [g.id for g in await store.active_grants(T0)] == ["g1", "g2", "g3"]
    assert [g.id for g in await store.active_grants(T0, user="bob")] == ["g1", "g2"]
    assert [g.id for g in await store.active_grants(T0 + 10)] == ["g2", "g3"]
    expired = await store.expire(T0 + 20, requests_before=0, forget_before=0)
    assert [g.id for g in expired.grants] == ["g1", "g2"]
    assert (await store.expire(T0 + 20, requests_before=0, forget_before=0)).grants == []
    assert [g.id for g in await store.active_grants(T0)] == ["g3"]


async def test_removing_grants_by_user_and_session(store: Store) -> None:
    await store.add_grant(grant("g1", session="s1"))
    await store.add_grant(grant("g2", session="s2"))
    await store.add_grant(grant("g3", target="db"))
    assert [g.id for g in await store.remove_grants("bob", "s1")] == ["g1"]
    assert sorted(g.id for g in await store.remove_grants("bob")) == ["g2", "g3"]
    assert await store.remove_grants("bob") == []
    assert await store.active_grants(T0) == []


async def test_a_grant_reads_back_exactly(store: Store) -> None:
    original = Grant("g1", "bob", "driver", "s1", "db", T0 + 0.125, "alice", "INC-4211 ünïcode")
    await store.add_grant(original)
    assert await store.active_grants(T0) == [original]


async def test_requests_one_per_user_and_role_bounded_and_taken_once(store: Store) -> None:
    first = AccessRequest("r1", "bob", "driver", "s1", "INC-1", T0)
    await store.add_request(first, limit=3)
    with pytest.raises(Conflict):
        await store.add_request(AccessRequest("r2", "bob", "driver", None, "again", T0), limit=3)
    await store.add_request(AccessRequest("r3", "bob", "viewer", None, "watch", T0 + 1), limit=3)
    await store.add_request(AccessRequest("r4", "carol", "driver", None, "x", T0 + 2), limit=3)
    with pytest.raises(LimitReached):
        await store.add_request(AccessRequest("r5", "dave", "driver", None, "x", T0), limit=3)
    assert [r.id for r in await store.pending_requests()] == ["r1", "r3", "r4"]
    assert [r.id for r in await store.pending_requests("carol")] == ["r4"]
    assert await store.take_request("r1") == first
    assert await store.take_request("r1") is None
    expired = await store.expire(T0, requests_before=T0 + 2, forget_before=0)
    assert [r.id for r in expired.requests] == ["r3"]
    assert [r.id for r in await store.pending_requests()] == ["r4"]


async def test_two_deciders_racing_take_a_request_once(opener: Opener) -> None:
    first, second = await opener(), await opener()
    try:
        await first.add_request(AccessRequest("r1", "bob", "driver", None, "x", T0), limit=10)
        taken = await asyncio.gather(first.take_request("r1"), second.take_request("r1"))
        assert sorted(r is None for r in taken) == [False, True]
    finally:
        await first.close()
        await second.close()


async def test_invite_uses_are_counted_with_the_guests_token(store: Store) -> None:
    await store.add_invite(invite("i1", max_uses=2))
    assert (await store.use_invite("i1", token("t1", "guest:a", "i1"))).uses == 1
    assert (await store.use_invite("i1", token("t2", "guest:b", "i1"))).uses == 2
    with pytest.raises(InviteRefused) as refused:
        await store.use_invite("i1", token("t3", "guest:c", "i1"))
    assert refused.value.reason == "used_up" and "used up" in str(refused.value)
    assert set(await store.tokens(["t1", "t2", "t3"])) == {"t1", "t2"}  # no token for t3
    with pytest.raises(InviteRefused) as unknown:
        await store.use_invite("nope", token("t4", "guest:d", "nope"))
    assert unknown.value.reason == "unknown"
    assert await store.invite("i1") == replace(invite("i1", max_uses=2), uses=2)


async def test_concurrent_uses_never_pass_the_limit_across_connections(opener: Opener) -> None:
    """Two relays (two connections to the same state) race 40 guests for 5 seats."""
    relays = [await opener(), await opener()]
    try:
        await relays[0].add_invite(invite("i1", max_uses=5))

        async def use(n: int) -> bool:
            try:
                await relays[n % 2].use_invite("i1", token(f"t{n}", f"guest:{n}", "i1"))
            except InviteRefused:
                return False
            return True

        admitted = await asyncio.gather(*(use(n) for n in range(40)))
        assert sum(admitted) == 5
        record = await relays[1].invite("i1")
        assert record is not None and record.uses == 5
        known = await relays[0].tokens([f"t{n}" for n in range(40)])
        assert set(known) == {f"t{n}" for n in range(40) if admitted[n]}
    finally:
        for relay in relays:
            await relay.close()


async def racing(opener: Opener, relays: int = 2) -> list[Store]:
    return [await opener() for _ in range(relays)]


async def test_the_pending_requests_bound_is_exact_when_relays_race(opener: Opener) -> None:
    """20 users ask at once through two relays; the relay-wide bound of 5 lets in 5."""
    relays = await racing(opener)
    try:

        async def ask(n: int) -> bool:
            request = AccessRequest(f"r{n}", f"user{n}", "driver", None, "x", T0 + n)
            try:
                await relays[n % 2].add_request(request, limit=5)
            except LimitReached:
                return False
            return True

        admitted = await asyncio.gather(*(ask(n) for n in range(20)))
        assert sum(admitted) == 5
        pending = await relays[1].pending_requests()
        assert sorted(r.id for r in pending) == sorted(f"r{n}" for n in range(20) if admitted[n])
    finally:
        for relay in relays:
            await relay.close()


async def test_an_expired_grant_is_reported_to_exactly_one_relay(opener: Opener) -> None:
    relays = await racing(opener)
    try:
        for n in range(12):
            await relays[0].add_grant(grant(f"g{n}", user=f"u{n}", expires_at=T0 + n))
        rounds = await asyncio.gather(*(relays[k % 2].expire(T0 + 6 + k, 0, 0) for k in range(8)))
        reported = [g.id for expired in rounds for g in expired.grants]
        assert sorted(reported) == sorted(f"g{n}" for n in range(12))
        assert len(reported) == len(set(reported))
    finally:
        for relay in relays:
            await relay.close()


async def test_a_session_id_is_opened_once_when_relays_race(opener: Opener) -> None:
    relays = await racing(opener)
    try:

        async def claim(n: int) -> str | None:
            record = SessionRecord("s1", "db", "alice", "x", f"node-{n % 2}", T0 + n)
            try:
                await relays[n % 2].add_session(record)
            except Conflict:
                return None
            return record.home + f"/{n}"

        claimed = [c for c in await asyncio.gather(*(claim(n) for n in range(10))) if c]
        assert len(claimed) == 1
        record = await relays[1].session("s1")
        assert record is not None and f"{record.home}/" in claimed[0]
    finally:
        for relay in relays:
            await relay.close()


async def test_no_guest_keeps_a_token_when_a_revocation_races_their_arrival(
    opener: Opener,
) -> None:
    """Guests arrive through one relay while a lead revokes the invite through another:
    whoever got in before the revocation is revoked with it; nobody gets in after."""
    relays = await racing(opener)
    try:
        await relays[0].add_invite(invite("i1"))

        async def arrive(n: int) -> bool:
            try:
                await relays[0].use_invite("i1", token(f"t{n}", f"guest:{n}", "i1"))
            except InviteRefused as refused:
                assert refused.reason == "revoked"
                return False
            return True

        async def revoke() -> list[str]:
            await asyncio.sleep(0)
            done = await relays[1].revoke_invite("i1", "alice", T0 + 1)
            return [t.id for t in done.tokens]

        *arrived, voided = await asyncio.gather(*(arrive(n) for n in range(20)), revoke())
        let_in = {f"t{n}" for n in range(20) if arrived[n]}
        assert set(voided) == let_in
        records = await relays[0].tokens([f"t{n}" for n in range(20)])
        assert set(records) == let_in
        assert all(record.revoked_by == "alice" for record in records.values())
    finally:
        for relay in relays:
            await relay.close()


async def test_live_invites_leave_out_revoked_used_up_and_expired(store: Store) -> None:
    await store.add_invite(invite("open"))
    await store.add_invite(invite("single", max_uses=1))
    await store.add_invite(invite("gone"))
    await store.use_invite("single", token("t1", "guest:a", "single"))
    await store.revoke_invite("gone", "alice", T0 + 1)
    assert [i.id for i in await store.live_invites(T0 + 1)] == ["open"]
    assert await store.live_invites(T0 + 600) == []


async def test_revoking_an_invite_voids_its_guests_and_reaches_nothing_twice(
    store: Store,
) -> None:
    await store.add_invite(invite("i1"))
    await store.use_invite("i1", token("t1", "guest:a", "i1"))
    await store.use_invite("i1", token("t2", "guest:b", "i1"))
    done = await store.revoke_invite("i1", "alice", T0 + 5)
    assert [i.id for i in done.invites] == ["i1"] and done.invites[0].revoked_by == "alice"
    assert sorted(t.id for t in done.tokens) == ["t1", "t2"]
    records = await store.tokens(["t1", "t2"])
    assert all(t.revoked_at == T0 + 5 and t.revoked_by == "alice" for t in records.values())
    with pytest.raises(InviteRefused) as refused:
        await store.use_invite("i1", token("t3", "guest:c", "i1"))
    assert refused.value.reason == "revoked" and "revoked by alice" in str(refused.value)
    again = await store.revoke_invite("i1", "carol", T0 + 6)
    assert again.invites == [] and again.tokens == []
    with pytest.raises(StoreError):
        await store.revoke_invite("nope", "alice", T0)


async def test_revoking_a_user_voids_their_tokens_online_or_not(store: Store) -> None:
    await store.add_token(token("a1", "alice"))
    await store.add_token(token("b1", "bob"))
    await store.add_token(token("b2", "bob"))
    done = await store.revoke_subject("bob", "alice", T0 + 1)
    assert sorted(t.id for t in done.tokens) == ["b1", "b2"] and done.invites == []
    records = await store.tokens(["a1", "b1", "b2", "unknown"])
    assert set(records) == {"a1", "b1", "b2"}
    assert records["a1"].revoked_at is None
    assert records["b1"].revoked_by == "alice" and records["b2"].revoked_at == T0 + 1


async def test_revoking_one_guest_voids_every_guest_of_that_invite_and_what_they_made(
    store: Store,
) -> None:
    await store.add_invite(invite("i1", issued_by="alice"))
    await store.add_invite(invite("i2", issued_by="alice"))
    await store.use_invite("i1", token("t1", "guest:dave", "i1"))
    await store.use_invite("i1", token("t2", "guest:erin", "i1"))
    await store.use_invite("i2", token("t3", "guest:fay", "i2"))
    # erin came in as a lead guest and invited gus in turn
    await store.add_invite(invite("i3", issued_by="guest:erin"))
    await store.use_invite("i3", token("t4", "guest:gus", "i3"))
    done = await store.revoke_subject("guest:dave", "alice", T0 + 1)
    assert sorted(i.id for i in done.invites) == ["i1", "i3"]
    assert sorted(t.id for t in done.tokens) == ["t1", "t2", "t4"]
    assert (await store.tokens(["t3"]))["t3"].revoked_at is None  # another invite's guest


async def test_revoking_a_lead_closes_the_invites_they_issued(store: Store) -> None:
    await store.add_invite(invite("i1", issued_by="alice"))
    await store.use_invite("i1", token("t1", "guest:dave", "i1"))
    await store.add_token(token("a1", "alice"))
    done = await store.revoke_subject("alice", "carol", T0 + 1)
    assert [i.id for i in done.invites] == ["i1"]
    assert sorted(t.id for t in done.tokens) == ["a1", "t1"]


async def test_session_ids_are_used_once_and_the_first_end_wins(store: Store) -> None:
    record = SessionRecord("s1", "db", "alice", "INC-1", "relay-a", T0)
    await store.add_session(record)
    with pytest.raises(Conflict):
        await store.add_session(record)
    assert await store.session("s1") == record
    ended = await store.end_session("s1", T0 + 5, "ended by the lead")
    assert ended is not None and (ended.ended_at, ended.end_reason) == (T0 + 5, "ended by the lead")
    again = await store.end_session("s1", T0 + 9, "the relay is shutting down")
    assert again == ended
    assert await store.end_session("nope", T0, "x") is None
    assert await store.session("nope") is None


async def test_a_restarting_relay_ends_only_the_sessions_it_held(store: Store) -> None:
    for sid, home in [("s1", "relay-a"), ("s2", "relay-b"), ("s3", "relay-a")]:
        await store.add_session(SessionRecord(sid, "db", "alice", "x", home, T0))
    await store.end_session("s3", T0 + 1, "ended by the lead")
    ended = await store.end_sessions_of("relay-a", T0 + 2, "the relay stopped")
    assert [s.id for s in ended] == ["s1"]
    s2 = await store.session("s2")
    assert s2 is not None and s2.ended_at is None


async def test_expired_tokens_and_invites_are_forgotten_after_the_skew(store: Store) -> None:
    await store.add_token(token("t1", "alice"))  # expires T0 + 600
    await store.add_invite(invite("i1"))  # expires T0 + 600
    await store.expire(T0 + 600, requests_before=0, forget_before=T0 + 599)
    assert set(await store.tokens(["t1"])) == {"t1"} and await store.invite("i1") is not None
    await store.expire(T0 + 700, requests_before=0, forget_before=T0 + 601)
    assert await store.tokens(["t1"]) == {} and await store.invite("i1") is None


async def test_everything_survives_a_restart(opener: Opener) -> None:
    first = await opener()
    await first.add_grant(grant("g1"))
    await first.add_request(AccessRequest("r1", "carol", "driver", None, "x", T0), limit=5)
    await first.add_invite(invite("i1", max_uses=3))
    await first.use_invite("i1", token("t1", "guest:a", "i1"))
    await first.add_token(token("b1", "bob"))
    await first.revoke_subject("bob", "alice", T0)
    await first.add_session(SessionRecord("s1", "db", "alice", "x", "relay-a", T0))
    await first.end_session("s1", T0 + 1, "ended by the lead")
    await first.close()
    second = await opener()
    try:
        assert [g.id for g in await second.active_grants(T0)] == ["g1"]
        assert [r.id for r in await second.pending_requests()] == ["r1"]
        reopened = await second.invite("i1")
        assert reopened is not None and reopened.uses == 1
        assert (await second.tokens(["b1"]))["b1"].revoked_by == "alice"
        ended = await second.session("s1")
        assert ended is not None and ended.end_reason == "ended by the lead"
    finally:
        await second.close()


# ---------------------------------------------------------------- SQLite specifics


async def test_the_sqlite_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "data" / FILE_NAME
    store = await SqliteStore.open(path)
    await store.add_token(token("t1", "alice"))
    await store.close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


async def test_a_file_from_a_newer_warroom_is_refused_not_misread(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer warroom"):
        await SqliteStore.open(path)


async def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable state database"):
        await SqliteStore.open(path)


async def test_a_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / FILE_NAME)
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.session("s1")
