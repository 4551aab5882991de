"""Reviewers list and fetch recordings from a real relay; every fetch and refusal is audited."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import pytest

from relay.core.roles import Role
from relay.evidence.audit import read_events
from tests.harness import Harness, read_until, running_relay
from tui.cli import main
from tui.client import RelayClient, RelayError
from tui.fetch import download, list_recordings


async def recorded_session(h: Harness) -> tuple[str, Path]:
    session = await h.open()
    live = h.relay.sessions[session]
    alice = await h.joined("alice", session)
    await alice.send_input(b"echo ARCHIVED-$((6*7))\r")
    await read_until(alice, b"ARCHIVED-42")
    await alice.send({"type": "end", "reason": "done"})
    await live.wait_closed()
    (path,) = (h.data_dir / "recordings").glob(f"{session}-*.cast")
    return session, path


def audit_events(h: Harness, kind: str) -> list[dict[str, object]]:
    h.relay.audit.tick()
    return [e for e in read_events(h.data_dir / "audit") if e["event"] == kind]


async def test_a_reviewer_lists_and_fetches_byte_for_byte(tmp_path: Path) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        session, path = await recorded_session(h)
        rita = await h.login("rita")
        (entry,) = await list_recordings(rita, session)
        assert entry["name"] == path.name and entry["sealed"] and entry["owner"] == "alice"
        assert entry["size"] == path.stat().st_size
        fetched = await download(rita, path.name, tmp_path / "got" / path.name)
        assert fetched.read_bytes() == path.read_bytes()
        (audited,) = audit_events(h, "recording.fetch")
        assert audited["user"] == "rita" and audited["recording"] == path.name
        assert audited["session"] == session


async def test_chunks_resume_and_are_audited_once_per_download(tmp_path: Path) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        _, path = await recorded_session(h)
        with path.open("ab") as handle:  # make it span several chunks
            handle.write(b"# padding\n" * 60_000)
        alice = await h.login("alice")  # leads may fetch too
        await alice.send({"type": "fetch_recording", "name": path.name, "offset": 0})
        first = await alice.expect("recording_chunk")
        assert not first["eof"] and first["size"] == path.stat().st_size
        got = base64.b64decode(first["data"])
        await download(alice, path.name, tmp_path / "whole.cast")
        assert (tmp_path / "whole.cast").read_bytes() == path.read_bytes()
        assert path.read_bytes().startswith(got)
        assert len(audit_events(h, "recording.fetch")) == 2  # two downloads, many chunks


@pytest.mark.parametrize(
    "name", ["../audit/x.cast", "/etc/passwd", "sub/dir.cast", "outside.cast", "nope.txt"]
)
async def test_a_path_outside_the_recordings_is_refused(tmp_path: Path, name: str) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        await recorded_session(h)
        (h.data_dir / "recordings" / "outside.cast").symlink_to(h.data_dir / "keys" / "x.cast")
        (h.data_dir / "keys" / "x.cast").write_text("secret\n")
        rita = await h.login("rita")
        await rita.send({"type": "fetch_recording", "name": name})
        with pytest.raises(RelayError) as refused:
            await rita.expect("recording_chunk")
        assert refused.value.code == "forbidden"
        (denied,) = audit_events(h, "recording.denied")
        assert denied["user"] == "rita"


async def test_viewers_and_other_sessions_are_refused(tmp_path: Path) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        session, path = await recorded_session(h)
        bob = await h.login("bob")
        await bob.send({"type": "list_recordings"})
        with pytest.raises(RelayError) as refused:
            await bob.expect("recordings")
        assert refused.value.code == "forbidden"
        other = await h.open()
        invite = await h.relay.invite(Role.REVIEWER, other, 600, "guest")
        guest = RelayClient(h.url)
        await guest.connect()
        h.clients.append(guest)
        await guest.auth_invite(invite.rsplit("/", 1)[1])
        # The same recordings either way (by name: the other session is live, so its
        # recording's size and duration grow between the two listings).
        everything = [e["name"] for e in await list_recordings(guest, None)]
        assert everything == [e["name"] for e in await list_recordings(guest, other)]
        assert everything
        assert all(e["session"] == other for e in await list_recordings(guest, None))
        await guest.send({"type": "fetch_recording", "name": path.name})
        with pytest.raises(RelayError, match="only"):
            await guest.expect("recording_chunk")
        await guest.send({"type": "fetch_recording", "name": "missing.cast"})
        with pytest.raises(RelayError) as missing:
            await guest.expect("recording_chunk")
        assert missing.value.code == "no_such_recording"
        assert session != other


async def test_warroom_replay_fetches_from_the_relay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        session, path = await recorded_session(h)
        key_file = tmp_path / "rita_key"
        h.user_keys["rita"].write_private_key(str(key_file))
        os.chmod(key_file, 0o600)
        argv = ["replay", h.url, session, "--user", "rita", "--ssh-key", str(key_file)]
        argv += ["--save-to", str(tmp_path / "fetched"), "--at", "1000", "--dump"]
        assert await asyncio.to_thread(main, argv) == 0
        assert "ARCHIVED-42" in capsys.readouterr().out
        assert (tmp_path / "fetched" / path.name).read_bytes() == path.read_bytes()


async def test_a_just_in_time_reviewer_grant_opens_the_recordings(tmp_path: Path) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        session, _path = await recorded_session(h)
        lead = await h.login("alice")
        await lead.send(
            {
                "type": "access_grant",
                "user": "bob",
                "role": "reviewer",
                "ttl": 600,
                "session": session,
                "reason": "post-incident review",
            }
        )
        await lead.expect("access_granted")
        bob = await h.login("bob")  # a viewer, reviewing for the next ten minutes
        listed = await list_recordings(bob, None)
        assert listed and all(e["session"] == session for e in listed)
