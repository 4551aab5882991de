"""A hostile client, written from docs/protocol.md, against the relay over real websockets.

Each test attacks one class of weakness and checks two things: the exact
refusal the attacker gets, and that every other participant is unaffected
(their connection open, their echo still arriving).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from relay.config import RedactionConfig
from relay.evidence.audit import read_events
from tests.harness import Harness, read_until, running_relay
from tui.client import RelayClient, RelayError


def events(h: Harness, name: str) -> list[dict[str, Any]]:
    return [e for e in read_events(h.data_dir / "audit") if e["event"] == name]


async def refused(client: RelayClient, frame: str) -> RelayError:
    """Send a raw text frame; return the error it earned."""
    assert client.ws is not None
    await client.ws.send(frame)
    with pytest.raises(RelayError) as info:
        await client.expect("never")
    return info.value


async def still_echoes(driver: RelayClient, *others: RelayClient, tag: str = "OK") -> None:
    """The driver types; the driver and every other client see the shell's answer."""
    await driver.send_input(f"echo {tag}-$((40+2))\r".encode())
    for client in (driver, *others):
        await read_until(client, f"{tag}-42".encode())


def roster_where(check: Any) -> Any:
    return lambda e: isinstance(e, dict) and e.get("type") == "roster" and check(e)


# ---------------------------------------------------------------- numbers (item 3)


async def test_control_handed_on_never_outlives_its_grant(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.joined("alice", session)
    first = await harness.login("bob")
    first_id = (await first.join(session))["you"]
    second = await harness.login("bob")  # the same engineer's second window
    second_id = (await second.join(session))["you"]
    await first.send({"type": "request_control", "reason": "INC-1"})
    await lead.expect("control_request")
    await lead.send({"type": "grant", "id": first_id, "ttl": 5})
    roster = await first.wait_for(roster_where(lambda r: r["driver"] == first_id))
    assert isinstance(roster, dict)
    granted_until = roster["control_expires_at"]
    await second.send({"type": "request_control", "reason": "my other window"})
    await first.expect("control_request")
    for ttl in ("NaN", "Infinity", "-Infinity", "1e400", "-1", "0"):
        error = await refused(first, f'{{"type":"grant","id":"{second_id}","ttl":{ttl}}}')
        assert (error.code == "bad_frame" and "ttl" in error.message) or "JSON" in error.message
    await first.send({"type": "grant", "id": second_id, "ttl": 1e7})  # 115 days
    roster = await second.wait_for(roster_where(lambda r: r["driver"] == second_id))
    assert isinstance(roster, dict) and roster["control_expires_at"] <= granted_until
    await second.expect("control_expired", timeout=20)
    await second.send_input(b"echo SHOULD-NOT-RUN\r")
    with pytest.raises(RelayError) as info:
        await second.expect("never")
    assert info.value.code == "not_driver"
    await still_echoes(lead, first, second)


# ---------------------------------------------------------------- bad strings (item 6)


HOSTILE_FRAMES = [
    ('{"type":"access_request","role":"viewer","reason":"x","session":"\\ud800"}', "surrogate"),
    ('{"type":"chat","text":"\\ud800"}', "surrogate"),
    ('{"type":"chat","text":"a\\udfff"}', "surrogate"),
    ("[" * 100_000, "nested too deeply"),
    ('{"type":"hello","version":' + "7" * 5000 + "}", "more than 20 digits"),
    ('{"type":"join","session":"' + "s" * 600_000 + '"}', "longer than 128"),
    ('{"type":"resize","cols":80,"rows":24,"rows":25}', "appears twice"),
    ('{"type":"chat","text":"hi","\\ud800":1}', "unknown field"),
    ('{"type":"\\udfff"}', "unknown message type"),
]


@pytest.mark.parametrize("redaction", [True, False])
async def test_bad_strings_and_numbers_are_bad_frames_and_hurt_nobody(
    tmp_path: Path, redaction: bool
) -> None:
    async with running_relay(tmp_path, redaction=RedactionConfig(enabled=redaction)) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        other_lead = await h.login("alice")  # in the lobby: gets access requests
        attacker = await h.joined("bob", session)
        for frame, fragment in HOSTILE_FRAMES:
            error = await refused(attacker, frame)
            assert error.code == "bad_frame" and fragment in error.message, frame[:80]
        # the attacker's connection is still open and usable
        await attacker.send({"type": "chat", "text": "still here"})
        assert (await lead.expect("chat"))["text"] == "still here"
        # nothing bad was stored: every lead's access list still works
        await other_lead.send({"type": "access_list"})
        listed = await other_lead.expect("access")
        assert listed["requests"] == []
        await still_echoes(lead, attacker)
        assert events(h, "protocol.error")  # refused and audited (aggregated)


# ---------------------------------------------------------------- forged lines (item 8)

FORGERY = (
    "INC-9\n2020-01-01 00:00:00  control.grant       by=guest:lead to=bob"
    "\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil\r\n"
)


async def test_what_one_person_writes_cannot_forge_lines_or_escape_into_others_terminals(
    harness: Harness,
) -> None:
    session = await harness.open()
    lead = await harness.joined("alice", session)
    viewer = await harness.joined("bob", session)
    await viewer.send({"type": "request_control", "reason": FORGERY})
    request = await lead.expect("control_request")
    await viewer.send({"type": "chat", "text": FORGERY})
    chat = await lead.expect("chat")
    for text in (request["reason"], chat["text"]):
        assert text.startswith("INC-9 2020-01-01")
        assert not any(ch in text for ch in "\n\r\x1b\x07\x9b\u202e")
    await lead.send({"type": "deny", "id": request["id"], "reason": FORGERY})
    denied = await viewer.expect("control_denied")
    assert "\n" not in denied["reason"] and "\x1b" not in denied["reason"]

    listed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tui.cli", "audit", "--data-dir", str(harness.data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = listed.stdout.splitlines()
    assert lines and all(not line.startswith("2020-01-01") for line in lines)
    assert not any(ch in listed.stdout for ch in "\x1b\x07\x9b\u202e\r")
    assert any("INC-9 2020-01-01" in line for line in lines)


def test_audit_lines_escape_entries_an_older_relay_may_have_written() -> None:
    from relay.cli.audit import entry_line

    line = entry_line({"t": 0, "event": "x\ny", "user": "a\x1b[2Jb", "reason": FORGERY, "n": 3})
    assert "\n" not in line and "\x1b" not in line and "\u202e" not in line
    assert "\\u001b" in line and "n=3" in line
    assert json.loads(line.split("reason=", 1)[1].split(" user=")[0].replace("\\u", "\\\\u"))


# ---------------------------------------------------------------- scopes (item 4)


async def test_a_scoped_reviewer_grant_lists_and_fetches_only_what_it_covers(
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    async with running_relay(tmp_path, recordings=True) as h:
        sandbox2 = replace(h.relay.config.targets["sandbox"], name="sandbox2")
        h.relay.config.targets["sandbox2"] = sandbox2
        names: dict[str, str] = {}
        for target in ("sandbox", "sandbox2", "sandbox"):
            session = await h.open(target)
            live = h.relay.sessions[session]
            lead = await h.joined("alice", session)
            await lead.send({"type": "end", "reason": "done"})
            await live.wait_closed()
            (path,) = (h.data_dir / "recordings").glob(f"{session}-*.cast")
            names[session] = path.name
        by_target = {s: s.rsplit("-", 1)[0] for s in names}
        lead = await h.login("alice")
        bob = await h.login("bob")  # a viewer: no recordings of his own

        granted = False

        async def grant(**scope: str) -> None:
            nonlocal granted
            if granted:  # one grant at a time
                await lead.send({"type": "access_revoke", "user": "bob", "grants_only": True})
                await lead.expect("access_revoked")
            granted = True
            await lead.send(
                {"type": "access_grant", "user": "bob", "role": "reviewer", "ttl": 600, **scope}
            )
            await lead.expect("access_granted")

        async def listing(**filters: str) -> set[str]:
            await bob.send({"type": "list_recordings", **filters})
            return {r["name"] for r in (await bob.expect("recordings"))["recordings"]}

        async def fetch(name: str) -> str:
            await bob.send({"type": "fetch_recording", "name": name})
            try:
                await bob.expect("recording_chunk")
            except RelayError as exc:
                return exc.code
            return "ok"

        await grant(target="sandbox")
        covered = {names[s] for s, t in by_target.items() if t == "sandbox"}
        assert len(covered) == 2 and await listing() == covered
        other = next(s for s, t in by_target.items() if t == "sandbox2")
        assert await listing(session=other) == set()
        for session, name in names.items():
            assert await fetch(name) == ("ok" if by_target[session] == "sandbox" else "forbidden")

        one = next(s for s, t in by_target.items() if t == "sandbox")
        await grant(session=one)
        assert await listing() == {names[one]}
        with pytest.raises(RelayError) as info:
            await listing(session=other)
        assert info.value.code == "forbidden"
        for session, name in names.items():
            assert await fetch(name) == ("ok" if session == one else "forbidden")

        await lead.send({"type": "access_revoke", "user": "bob", "grants_only": True})
        await lead.expect("access_revoked")
        assert await fetch(names[one]) == "forbidden"
        assert events(h, "recording.denied")


# ---------------------------------------------------------------- impersonation (item 9)


async def test_a_guest_cannot_take_a_name_that_passes_for_someone_here(harness: Harness) -> None:
    from relay.core.roles import Role
    from relay.trust import identity

    session = await harness.open()
    await harness.joined("alice", session)
    link = await harness.relay.invite(Role.VIEWER, session, 600, "viewer", by="alice")
    target = identity.parse_join_target(link)
    for name in ("alice", "a1ice", "bob", "rita"):
        guest = RelayClient(target.url)
        harness.clients.append(guest)
        await guest.connect()
        with pytest.raises(RelayError) as info:
            await guest.auth_invite(target.invite or "", name=name)
        assert info.value.code == "auth_failed" and "could pass for" in info.value.message
    guest = RelayClient(target.url)
    harness.clients.append(guest)
    await guest.connect()
    await guest.auth_invite(target.invite or "", name="dave")
    await guest.join(session)
    roster = await guest.expect("roster")
    (me,) = [p for p in roster["participants"] if p["user"] == "guest:dave"]
    assert me["invited_by"] == "alice"  # shown next to the name


# ---------------------------------------------------------------- four-eyes (item 10)


async def test_four_eyes_is_not_met_by_a_sock_puppet_and_every_refusal_is_audited(
    tmp_path: Path,
) -> None:
    from relay.trust import identity

    async with running_relay(tmp_path, four_eyes=1) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        await lead.send_input(b"echo ALONE\r")
        with pytest.raises(RelayError) as info:
            await lead.expect("never")
        assert info.value.code == "paused"
        # the driver invites a viewer and joins with it in another window
        await lead.send({"type": "invite", "role": "viewer", "session": session, "ttl": 600})
        target = identity.parse_join_target((await lead.expect("invite"))["url"])
        puppet = RelayClient(target.url)
        h.clients.append(puppet)
        await puppet.connect()
        await puppet.auth_invite(target.invite or "", name="witness")
        await puppet.join(session)
        await lead.send_input(b"echo PUPPET\r")
        with pytest.raises(RelayError) as info:
            await lead.expect("never")
        assert info.value.code == "paused"
        # a different person counts
        bob = await h.joined("bob", session)
        await lead.wait_for(roster_where(lambda r: r["paused"] is None))
        await still_echoes(lead, bob)
        paused = [e for e in events(h, "input.denied") if e.get("code") == "paused"]
        assert paused and paused[0]["user"] == "alice"


@pytest.mark.parametrize("output", ["quiet", "flood"])
async def test_a_watcher_whose_connection_stopped_reading_is_no_pair_of_eyes(
    tmp_path: Path, output: str
) -> None:
    """Two watchers needed; one stops reading: input pauses until it reads again, while
    the other watcher gets every byte as before. In a quiet session the stalled socket
    takes all there is to send, so only its unanswered ping can tell."""
    import socket

    from relay.config import Limits
    from tests.relay.net.test_relay import collect, flood_command

    # the stalled watcher stays: not dropped as too slow, nor for its missing pongs
    limits = Limits(stall_timeout=600, ping_interval=1, ping_timeout=600)
    async with running_relay(tmp_path, four_eyes=2, limits=limits) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        carol = await h.joined("carol", session)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # fills, stays full
        sock.connect(("127.0.0.1", h.relay.port))
        sock.setblocking(False)
        bob = RelayClient(h.url, sock=sock)
        h.clients.append(bob)
        await bob.connect()
        await bob.auth_ssh_key("bob", h.user_keys["bob"])
        await bob.join(session)
        assert bob.ws is not None
        bob.ws.ping_timeout = None  # nor does bob give up on the relay's missing pongs
        await lead.wait_for(roster_where(lambda r: r["paused"] is None))
        await still_echoes(lead, carol, bob, tag="WATCHED")  # both read: keys go through

        bob.ws.transport.pause_reading()
        if output == "flood":
            await lead.send_input(flood_command(2))
            _, (carol_saw, _) = await asyncio.gather(
                collect(lead, b"FLOOD-2-END"), collect(carol, b"FLOOD-2-END")
            )
            assert len(carol_saw) > 2 * 1024 * 1024  # the reading watcher is unaffected
        live = h.relay.sessions[session]
        async with asyncio.timeout(60):  # (the roster saying so may be among the flood)
            while live.core.paused is None:
                await asyncio.sleep(0.1)
        await lead.send_input(b"echo UNWATCHED-$((3*3))\r")
        error = await refused_input(lead)
        assert error.code == "paused"

        bob.ws.transport.resume_reading()
        bob_reads = asyncio.create_task(read_until(bob, b"AGAIN-42", timeout=120))
        await lead.wait_for(roster_where(lambda r: r["paused"] is None), timeout=60)
        await lead.send_input(b"echo AGAIN-$((40+2))\r")
        after = await read_until(lead, b"AGAIN-42", timeout=30)
        await read_until(carol, b"AGAIN-42", timeout=30)
        await bob_reads  # reading again, bob sees the keys
        assert b"UNWATCHED-9" not in after  # the refused keystroke never ran
        denied = [e for e in events(h, "input.denied") if e.get("code") == "paused"]
        assert denied and denied[0]["user"] == "alice"


async def refused_input(client: RelayClient) -> RelayError:
    """The error the keystroke ``client`` just sent earned."""
    with pytest.raises(RelayError) as info:
        await client.expect("never", timeout=30)
    return info.value


async def test_the_other_eyes_are_another_leads_guest_or_a_role_the_config_names(
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    from relay.core.roles import Role
    from relay.trust import identity

    users = {"alice": Role.LEAD, "carol": Role.LEAD, "bob": Role.VIEWER}
    async with running_relay(tmp_path, four_eyes=1, users=users) as h:
        sandbox = h.relay.config.targets["sandbox"]
        h.relay.config.targets["leads-only"] = replace(
            sandbox, name="leads-only", four_eyes_roles=("lead",)
        )
        # a guest whom another lead invited is another person
        session = await h.open()
        lead = await h.joined("alice", session)
        target = identity.parse_join_target(
            await h.relay.invite(Role.VIEWER, session, 600, "friend", by="carol")
        )
        friend = RelayClient(target.url)
        h.clients.append(friend)
        await friend.connect()
        await friend.auth_invite(target.invite or "", name="friend")
        await friend.join(session)
        await lead.wait_for(roster_where(lambda r: r["paused"] is None))
        await still_echoes(lead, friend, tag="FRIEND")

        # on a target whose config names only leads as eyes, a viewer does not count
        guarded = await h.open("leads-only")
        driver = await h.joined("alice", guarded)
        bob = await h.joined("bob", guarded)
        await driver.send_input(b"echo VIEWER-ONLY-$((3*3))\r")
        assert (await refused_input(driver)).code == "paused"
        carol = await h.joined("carol", guarded)
        await driver.wait_for(roster_where(lambda r: r["paused"] is None))
        await driver.send_input(b"echo LEAD-WATCHES-$((40+2))\r")
        seen = await read_until(driver, b"LEAD-WATCHES-42")
        assert b"VIEWER-ONLY-9" not in seen
        for watcher in (bob, carol):
            await read_until(watcher, b"LEAD-WATCHES-42")
        await still_echoes(lead, friend, tag="UNTOUCHED")  # the other session is unaffected


# ---------------------------------------------------------------- raw output (item 5)


async def test_without_driver_sees_raw_not_even_the_driver_reads_a_secret(tmp_path: Path) -> None:
    """Only the current driver may read raw output, and only where policy allows: with
    ``driver_sees_raw = false`` the driver, like everyone else, reads it masked."""
    from tests.relay.masking.test_masking_live import TOKEN, _everything_until

    policy = RedactionConfig(enabled=True, driver_sees_raw=False)
    async with running_relay(tmp_path, redaction=policy) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        viewer = await h.joined("bob", session)
        await lead.send_input(
            f"printf 't=%s%s\\n' {TOKEN[:10]} {TOKEN[10:]}; echo END-$((6*7))\r".encode()
        )
        for client in (lead, viewer):
            seen = await _everything_until(client, b"END-42")
            shown = seen[seen.rindex(b"t=") :]  # after the echo of the command (pieces)
            assert TOKEN[4:].encode() not in shown and b"******" in shown
