"""Access decided on any relay takes effect at once wherever the session and its
participants are: three real relays (``warroom relay`` processes, :mod:`tests.cluster`)
on one PostgreSQL, one Redis and one sshd.

The session is always homed on relay 1; decisions are made through relay 2 by a lead
who is not in the session; the participants concerned are on relay 3 (an edge) and
on relay 1 (the home). Every wait is for a condition, never for a time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import running_cluster
from tests.harness import read_until
from tests.sshd import SshdServer
from tui.client import RelayClient, RelayError


def roster(check: Callable[[dict[str, Any]], bool]) -> Callable[[object], bool]:
    return lambda e: isinstance(e, dict) and e.get("type") == "roster" and check(e)


def message(kind: str) -> Callable[[object], bool]:
    return lambda e: isinstance(e, dict) and e.get("type") == kind


async def each(client: RelayClient, *kinds: str) -> dict[str, dict[str, Any]]:
    """The first message of each of ``kinds``, in whatever order they come (they are
    sent by different relays)."""
    got: dict[str, dict[str, Any]] = {}
    while len(got) < len(kinds):
        event = await client.wait_for(lambda e: isinstance(e, dict) and e.get("type") in kinds, 30)
        assert isinstance(event, dict)
        got.setdefault(event["type"], event)
    return got


async def cut_off(client: RelayClient) -> RelayError:
    with pytest.raises(RelayError) as info:
        await client.expect("never", timeout=30)
    return info.value


async def test_a_driver_grant_and_its_revocation_on_relay_2_reach_the_session_at_once(
    tmp_path: Path, postgres_dsn: str, redis_url: str, sshd: SshdServer
) -> None:
    async with running_cluster(
        tmp_path, 3, database=postgres_dsn, sshd=sshd, redis=redis_url
    ) as cluster:
        alice = await cluster.login(1, "alice")
        session = await alice.open("sshd", "INC-21: grants across relays")
        alice_id = (await alice.join(session))["you"]
        bob = await cluster.login(3, "bob")  # a viewer on an edge
        bob_id = (await bob.join(session))["you"]
        carol = await cluster.joined(1, "carol", session)  # a viewer on the home
        lena = await cluster.login(2, "lena")  # a lead on a third relay, not in the session

        await lena.send(
            {
                "type": "access_grant",
                "user": "bob",
                "role": "driver",
                "ttl": 600,
                "session": session,
                "reason": "INC-21: bob restarts the worker",
            }
        )
        grant = (await lena.expect("access_granted"))["grant"]
        assert (await bob.expect("access_granted"))["grant"]["id"] == grant["id"]
        for client in (alice, bob, carol):  # control is bob's now, everywhere
            await client.wait_for(roster(lambda r: r["driver"] == bob_id), timeout=30)
        await bob.send_input(b"echo GRANTED-$((40+2))\r")
        for client in (alice, carol):
            await read_until(client, b"GRANTED-42")

        await lena.send({"type": "access_revoke", "user": "bob", "session": session})
        assert [g["id"] for g in (await lena.expect("access_revoked"))["grants"]] == [grant["id"]]
        told = await each(bob, "control_expired", "access_revoked")  # by relays 1 and 3
        assert told["control_expired"] == {
            "type": "control_expired",
            "message": "access revoked by lena",
        }
        assert told["access_revoked"] == {
            "type": "access_revoked",
            "by": "lena",
            "grants": [grant["id"]],
        }
        for client in (alice, carol):  # back to the owner
            await client.wait_for(roster(lambda r: r["driver"] == alice_id), timeout=30)
        await bob.send_input(b"echo NOPE\r")  # a viewer again: refused at the home
        with pytest.raises(RelayError) as refused:
            await bob.expect("never")
        assert refused.value.code == "not_driver"
        await alice.send_input(b"echo STILL-$((40+2))\r")  # bob stays, as a viewer
        for client in (alice, bob, carol):
            await read_until(client, b"STILL-42")


async def test_a_participant_admitted_by_a_grant_leaves_when_relay_2_revokes_it(
    tmp_path: Path, postgres_dsn: str, redis_url: str, sshd: SshdServer
) -> None:
    """rita (a reviewer) watches through a viewer grant, on relay 3 and on relay 1; the
    grant is revoked through relay 2: both of her connections leave, nobody else."""
    async with running_cluster(
        tmp_path, 3, database=postgres_dsn, sshd=sshd, redis=redis_url
    ) as cluster:
        alice = await cluster.login(1, "alice")
        session = await alice.open("sshd", "INC-22: a guest viewer")
        await alice.join(session)
        bob = await cluster.joined(3, "bob", session)
        lena = await cluster.login(2, "lena")
        await lena.send(
            {
                "type": "access_grant",
                "user": "rita",
                "role": "viewer",
                "ttl": 600,
                "session": session,
                "reason": "INC-22: rita watches",
            }
        )
        await lena.expect("access_granted")
        rita_edge = await cluster.login(3, "rita")
        assert (await rita_edge.join(session))["role"] == "viewer"
        rita_home = await cluster.login(1, "rita")
        assert (await rita_home.join(session))["role"] == "viewer"

        await lena.send({"type": "access_revoke", "user": "rita", "session": session})
        await lena.expect("access_revoked")
        for client in (rita_edge, rita_home):
            gone = await cut_off(client)
            assert (gone.code, gone.message) == ("closed", "auth_failed: access revoked by lena")
        await alice.wait_for(
            roster(lambda r: {p["user"] for p in r["participants"]} == {"alice", "bob"}), 30
        )
        await alice.send_input(b"echo AFTER-$((40+2))\r")  # the others go on
        for client in (alice, bob):
            await read_until(client, b"AFTER-42")
        again = await cluster.login(3, "rita")  # with what she still holds: her own role
        assert (await again.join(session))["role"] == "reviewer"


async def test_requests_decisions_and_expiry_reach_people_on_every_relay(
    tmp_path: Path, postgres_dsn: str, redis_url: str, sshd: SshdServer
) -> None:
    """rita asks on relay 3; leads on relays 1 and 2 see the request; lena approves on
    relay 2; rita hears it on relay 3 and alice sees the request closed on relay 1. A
    short driver grant made on relay 2 ends at the home, and its expiry is told to the
    grantee wherever they are."""
    async with running_cluster(
        tmp_path, 3, database=postgres_dsn, sshd=sshd, redis=redis_url
    ) as cluster:
        alice = await cluster.login(1, "alice")
        session = await alice.open("sshd", "INC-23: requests")
        alice_id = (await alice.join(session))["you"]
        lena = await cluster.login(2, "lena")
        rita = await cluster.login(3, "rita")

        await rita.send(
            {"type": "access_request", "role": "viewer", "reason": "INC-23", "session": session}
        )
        request = (await rita.expect("access_requested"))["request"]
        for lead in (alice, lena):
            seen = await lead.wait_for(message("access_request"), timeout=30)
            assert isinstance(seen, dict) and seen["request"] == request

        await lena.send(
            {"type": "access_decide", "id": request["id"], "approve": True, "reason": "ok"}
        )
        await lena.expect("access_decided")
        decision = await rita.wait_for(message("access_decision"), timeout=30)
        assert isinstance(decision, dict)
        assert (decision["approved"], decision["by"], decision["reason"]) == (True, "lena", "ok")
        closed = await alice.wait_for(message("access_request_closed"), timeout=30)
        assert closed == {
            "type": "access_request_closed",
            "id": request["id"],
            "approved": True,
            "by": "lena",
        }
        assert (await rita.join(session))["role"] == "viewer"

        bob = await cluster.login(3, "bob")
        bob_id = (await bob.join(session))["you"]
        await lena.send(
            {
                "type": "access_grant",
                "user": "bob",
                "role": "driver",
                "ttl": 3,
                "session": session,
                "reason": "INC-23: a quick look",
            }
        )
        grant = (await lena.expect("access_granted"))["grant"]
        await bob.wait_for(roster(lambda r: r["driver"] == bob_id), timeout=30)
        told = await each(bob, "control_expired", "access_expired")  # the home; any relay
        assert told["access_expired"]["grant"]["id"] == grant["id"]
        await alice.wait_for(roster(lambda r: r["driver"] == alice_id), timeout=30)

        # a lead on an edge hands control, for 2 s, to a viewer on another edge
        lead_on_edge = await cluster.login(2, "lena")
        await lead_on_edge.join(session)
        await bob.send({"type": "request_control", "reason": "INC-23: once more"})
        asked = await lead_on_edge.wait_for(message("control_request"), timeout=30)
        assert isinstance(asked, dict) and asked["id"] == bob_id
        await lead_on_edge.send({"type": "grant", "id": bob_id, "ttl": 2})
        await bob.wait_for(roster(lambda r: r["driver"] == bob_id), timeout=30)
        await bob.wait_for(message("control_expired"), timeout=30)  # the time limit, at home
        await alice.wait_for(roster(lambda r: r["driver"] == alice_id), timeout=30)
