"""Just-in-time access, four-eyes and the kill switch against the live relay."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from relay.core.protocol import OutputChunk
from relay.evidence.audit import read_events
from tests.harness import Harness, read_until, running_relay
from tui.client import Event, RelayClient, RelayError

WARROOM = [sys.executable, "-m", "tui.cli"]


def events(h: Harness, name: str) -> list[dict[str, Any]]:
    return [e for e in read_events(h.data_dir / "audit") if e["event"] == name]


def roster_where(check: Callable[[dict[str, Any]], bool]) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, dict) and e.get("type") == "roster" and check(e)


async def test_driver_grant_hands_control_and_expires_within_a_second(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.login("alice")
    alice_id = (await lead.join(session))["you"]
    bob = await harness.login("bob")
    bob_id = (await bob.join(session))["you"]

    await lead.send(
        {
            "type": "access_grant",
            "user": "bob",
            "role": "driver",
            "ttl": 1.5,
            "session": session,
            "reason": "INC-4211",
        }
    )
    grant = (await lead.expect("access_granted"))["grant"]
    assert grant["role"] == "driver" and grant["user"] == "bob"
    await bob.wait_for(roster_where(lambda r: r["driver"] == bob_id))
    await bob.send_input(b"echo JIT-$((2+2))\r")
    await read_until(lead, b"JIT-4")

    expired = await bob.expect("control_expired", timeout=3)
    assert "ended" in expired["message"]
    started = time.monotonic()
    await bob.wait_for(roster_where(lambda r: r["driver"] == alice_id), timeout=3)
    assert time.monotonic() - started < 1.5
    await bob.send_input(b"echo TOO-LATE\r")
    with pytest.raises(RelayError, match="not_driver"):
        await bob.expect("never")
    assert events(harness, "control.expired")[0]["user"] == "bob"
    assert events(harness, "access.grant")[0]["reason"] == "INC-4211"


async def test_grant_over_the_maximum_ttl_is_refused(harness: Harness) -> None:
    lead = await harness.login("alice")
    await lead.send({"type": "access_grant", "user": "bob", "role": "driver", "ttl": 86400})
    with pytest.raises(RelayError) as info:
        await lead.expect("access_granted")
    assert info.value.code == "access" and "at most 1 h" in info.value.message


async def test_viewers_cannot_grant(harness: Harness) -> None:
    bob = await harness.login("bob")
    await bob.send({"type": "access_grant", "user": "bob", "role": "driver", "ttl": 60})
    with pytest.raises(RelayError, match="forbidden"):
        await bob.expect("access_granted")


async def test_temporary_viewer_grant_admits_and_revoke_removes(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.joined("alice", session)
    rita = await harness.login("rita")  # a reviewer: watches as a reviewer by default
    await lead.send(
        {"type": "access_grant", "user": "rita", "role": "viewer", "ttl": 600, "session": session}
    )
    await lead.expect("access_granted")
    assert (await rita.expect("access_granted"))["grant"]["role"] == "viewer"
    welcome = await rita.join(session)
    assert welcome["role"] == "viewer"
    await lead.send({"type": "access_revoke", "user": "rita", "session": session})
    assert len((await lead.expect("access_revoked"))["grants"]) == 1
    with pytest.raises(RelayError) as info:
        await rita.expect("never")
    assert "revoked by alice" in info.value.message
    assert events(harness, "access.revoke")[0]["user"] == "rita"


async def test_revoke_of_a_driver_grant_drops_control_at_once(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.login("alice")
    alice_id = (await lead.join(session))["you"]
    bob = await harness.login("bob")
    bob_id = (await bob.join(session))["you"]
    await lead.send(
        {"type": "access_grant", "user": "bob", "role": "driver", "ttl": 600, "session": session}
    )
    await bob.wait_for(roster_where(lambda r: r["driver"] == bob_id))
    await lead.send({"type": "access_revoke", "user": "bob"})
    await bob.wait_for(roster_where(lambda r: r["driver"] == alice_id))
    assert events(harness, "control.revoked")[0]["user"] == "bob"


async def test_access_request_approved_with_ttl(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.login("alice")  # in the lobby: leads hear requests anywhere
    bob = await harness.login("bob")
    bob_id = (await bob.join(session))["you"]
    reason = "INC-4211: checking slow queries"
    await bob.send(
        {"type": "access_request", "role": "driver", "reason": reason, "session": session}
    )
    request = (await bob.expect("access_requested"))["request"]
    notice = await lead.expect("access_request")
    assert notice["request"]["reason"] == reason and notice["request"]["user"] == "bob"
    await lead.send({"type": "access_decide", "id": request["id"], "approve": True, "ttl": 300})
    decision = await bob.expect("access_decision")
    assert decision["approved"] and decision["by"] == "alice"
    assert decision["grant"]["expires_at"] == pytest.approx(time.time() + 300, abs=5)
    await bob.wait_for(roster_where(lambda r: r["driver"] == bob_id))
    assert events(harness, "access.request")[0]["reason"] == reason
    approved = events(harness, "access.approve")[0]
    assert approved["request_reason"] == reason and approved["by"] == "alice"


async def test_access_request_denied(harness: Harness) -> None:
    lead = await harness.login("alice")
    bob = await harness.login("bob")
    await bob.send({"type": "access_request", "role": "driver", "reason": "curious"})
    request = (await bob.expect("access_requested"))["request"]
    await lead.expect("access_request")
    await lead.send(
        {"type": "access_decide", "id": request["id"], "approve": False, "reason": "no incident"}
    )
    decision = await bob.expect("access_decision")
    assert not decision["approved"] and decision["reason"] == "no incident"
    assert events(harness, "access.deny")[0]["reason"] == "no incident"
    await bob.send({"type": "access_request", "role": "driver", "reason": "  "})
    with pytest.raises(RelayError, match="say why"):
        await bob.expect("access_requested")


async def test_four_eyes_pauses_input_while_nobody_watches(tmp_path: Path) -> None:
    async with running_relay(tmp_path, four_eyes=1) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        roster = await lead.expect("roster")
        assert roster["paused"] and "four-eyes" in roster["paused"]
        await lead.send_input(b"echo ALONE\r")
        with pytest.raises(RelayError) as info:
            await lead.expect("never")
        assert info.value.code == "paused"

        viewer = await h.joined("bob", session)
        await lead.wait_for(roster_where(lambda r: r["paused"] is None))
        await lead.send_input(b"echo WATCHED-$((3+4))\r")
        seen = await read_until(viewer, b"WATCHED-7")
        assert b"ALONE" not in seen

        await viewer.close()
        paused = await lead.wait_for(roster_where(lambda r: r["paused"] is not None))
        assert isinstance(paused, dict)
        assert [e["event"] for e in read_events(h.data_dir / "audit")].count("session.paused") == 2
        assert events(h, "session.resumed")


async def test_four_eyes_end_action_ends_the_session(tmp_path: Path) -> None:
    async with running_relay(tmp_path, four_eyes=1, four_eyes_action="end") as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        viewer = await h.joined("bob", session)
        await viewer.close()
        ended = await lead.expect("ended")
        assert "four-eyes" in ended["reason"]


async def test_kill_switch_closes_the_channel_and_seals_the_recording(tmp_path: Path) -> None:
    from relay.evidence.verifier import verify_file

    async with running_relay(tmp_path, recordings=True) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        viewers = [await h.joined("bob", session), await h.joined("carol", session)]
        await lead.send_input(b"echo $$ > " + str(tmp_path / "shell.pid").encode() + b"\r")
        await asyncio.sleep(0.5)
        pid = int((tmp_path / "shell.pid").read_text())
        await lead.send({"type": "end", "reason": "kill switch"})
        for client in [lead, *viewers]:
            assert (await client.expect("ended"))["reason"] == "kill switch"
        live = h.relay.sessions.get(session)
        if live is not None:
            await asyncio.wait_for(live.wait_closed(), 10)
        for _ in range(50):  # the sandbox hangs up the shell when the channel closes
            if not Path(f"/proc/{pid}").exists():
                break
            await asyncio.sleep(0.1)
        assert not Path(f"/proc/{pid}").exists()
        recording = next((h.data_dir / "recordings").glob("*.cast"))
        report = verify_file(recording, h.relay.signing_key.public)
        assert report.ok and report.sealed
        assert events(h, "session.close")[0]["reason"] == "kill switch"


async def test_invite_message_makes_a_working_link(harness: Harness) -> None:
    from relay.trust.identity import parse_join_target

    session = await harness.open()
    lead = await harness.login("alice")
    await lead.send({"type": "invite", "role": "viewer", "session": session, "ttl": 600})
    url = (await lead.expect("invite"))["url"]
    target = parse_join_target(url)
    guest = RelayClient(target.url)
    await guest.connect()
    harness.clients.append(guest)
    assert (await guest.auth_invite(target.invite or ""))["session"] == session
    assert events(harness, "access.invite")[0]["by"] == "alice"


async def test_audit_cli_lists_filters_and_verifies(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.joined("alice", session)
    bob = await harness.joined("bob", session)
    await bob.send_input(b"whoami\r")
    with pytest.raises(RelayError):
        await bob.expect("never")
    await lead.send_input(b"echo x\r")
    await lead.wait_for(lambda e: isinstance(e, OutputChunk))
    data_dir = str(harness.data_dir)

    def audit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*WARROOM, "audit", "--data-dir", data_dir, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    listed = await asyncio.to_thread(audit, "--user", "bob", "--json")
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {e["event"] for e in lines} >= {"auth.ok", "session.join", "input.denied"}
    assert all("bob" in (e.get("user"), e.get("by")) for e in lines)
    assert (await asyncio.to_thread(audit, "--session", "nope")).stdout == ""
    assert (await asyncio.to_thread(audit, "--since", "1h")).stdout.count("\n") >= 4

    await asyncio.sleep(1.2)  # let a signed checkpoint cover what was written so far
    key = harness.relay.signing_key.public.text()
    intact = await asyncio.to_thread(audit, "--verify", "--key", key)
    assert intact.returncode == 0, intact.stdout  # the newest file is open, not damaged
    copy = harness.data_dir.parent / "audit-copy"
    shutil.copytree(harness.data_dir / "audit", copy / "audit")
    data_dir = str(copy)
    log = next((copy / "audit").glob("*.log"))
    text = log.read_text()
    assert '"bob"' in text
    log.write_text(text.replace('"bob"', '"eve"', 1))
    broken = await asyncio.to_thread(audit, "--verify", "--key", key)
    assert broken.returncode == 1 and "line" in broken.stdout.lower()


async def test_access_verbs_from_the_command_line(harness: Harness) -> None:
    session = await harness.open()
    alice_token = (await harness.login("alice")).identity["token"]
    bob_token = (await harness.login("bob")).identity["token"]

    def warroom(token: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "WARROOM_TOKEN": token}
        return subprocess.run(
            [*WARROOM, *args, "--relay", harness.url],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=env,
        )

    done = await asyncio.to_thread(
        warroom,
        alice_token,
        "grant",
        "bob",
        "--role",
        "driver",
        "--ttl",
        "5m",
        "--session",
        session,
        "--reason",
        "INC-1",
    )
    assert done.returncode == 0 and "granted driver to bob" in done.stdout, done.stderr
    done = await asyncio.to_thread(warroom, alice_token, "revoke", "bob", "--session", session)
    assert done.returncode == 0 and "revoked 1 grant(s) of bob" in done.stdout, done.stderr
    done = await asyncio.to_thread(
        warroom, alice_token, "invite", "--role", "viewer", "--session", session, "--ttl", "10m"
    )
    assert done.returncode == 0 and done.stdout.startswith("warroom join ws://")
    done = await asyncio.to_thread(
        warroom, bob_token, "grant", "bob", "--role", "driver", "--ttl", "5m"
    )
    assert done.returncode == 2 and "only a lead" in done.stderr
    done = await asyncio.to_thread(
        warroom, bob_token, "request", "--role", "driver", "--reason", "INC-2", "--no-wait"
    )
    assert done.returncode == 0 and "asked the leads for driver" in done.stderr
    assert events(harness, "access.request")[0]["reason"] == "INC-2"
