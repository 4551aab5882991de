"""Secret masking in a live session: viewers, snapshots, recording, audit and chat."""

from __future__ import annotations

import asyncio
from pathlib import Path

from relay.audit import read_events
from relay.chain import verify_file
from relay.protocol import Snapshot
from tests.harness import Harness, read_until, running_relay

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # a well-formed, fake GitHub token
PASSWORD = "hunter2-correct-horse"


def recording_text(h: Harness) -> str:
    return "".join(p.read_text() for p in (h.data_dir / "recordings").glob("*.cast"))


def audit_text(h: Harness) -> str:
    return "".join(p.read_text() for p in (h.data_dir / "audit").glob("*.log"))


async def test_viewers_and_the_recording_see_stars_the_driver_sees_the_secret(
    tmp_path: Path,
) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        viewer = await h.joined("bob", session)
        # split so that the token only exists in the shell's output, coloured in the middle
        command = f"printf 'token=%s\\033[31m%s\\033[0m END-%s\\n' {TOKEN[:10]} {TOKEN[10:]} 42\r"
        await lead.send_input(command.encode())
        raw = await read_until(lead, b"END-42")
        masked = await read_until(viewer, b"END-42")
        # what the shell printed, after the echo of the command line (pieces, no secret)
        raw_out = raw[raw.rindex(b"token=") :]
        masked_out = masked[masked.rindex(b"token=") :]
        assert TOKEN.encode() in raw_out.replace(b"\x1b[31m", b"")  # the driver sees it
        assert TOKEN[4:10].encode() not in masked_out and TOKEN[10:].encode() not in masked_out
        assert b"******" in masked_out and b"\x1b[31m" in masked_out  # colours kept

        late = await h.joined("carol", session)  # a late joiner's snapshot is masked too
        snapshot = await late.wait_for(lambda e: isinstance(e, Snapshot))
        assert isinstance(snapshot, Snapshot) and TOKEN[10:].encode() not in snapshot.data

        await lead.send_input(f"# pasted: {TOKEN}\r".encode())  # a secret in the input itself
        await read_until(viewer, b"# pasted")
        await lead.send({"type": "chat", "text": f"use {TOKEN} for the API"})
        chat = await viewer.expect("chat")
        assert TOKEN not in chat["text"] and "ghp_" in chat["text"]

        await lead.send({"type": "end", "reason": "done"})
        await viewer.expect("ended")
        await asyncio.sleep(0.3)
        text = recording_text(h)
        assert TOKEN[10:] not in text.replace(f"{TOKEN[10:]} 42", "")  # but in the typed command
        assert TOKEN not in text  # neither in output nor in the recorded (pasted) input
        assert '"s"' in text
        report = verify_file(next((h.data_dir / "recordings").glob("*.cast")), None)
        assert report.sealed
        masked_events = [
            e for e in read_events(h.data_dir / "audit") if e["event"] == "secret.masked"
        ]
        assert "github-token" in {e["kind"] for e in masked_events}
        assert TOKEN not in audit_text(h)


async def test_a_password_typed_at_a_sudo_prompt_is_never_recorded_or_shown(
    tmp_path: Path,
) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        viewer = await h.joined("bob", session)
        # bash's own silent read, with sudo's exact prompt (the sandbox runs as this user,
        # for whom sudo would not ask): the PTY turns echo off just as sudo does
        await lead.send_input(
            b"read -s -p '[sudo] password for alice: ' pw; echo; echo LEN-${#pw}\r"
        )
        await read_until(lead, b"password for alice: ")
        await asyncio.sleep(0.2)
        for char in PASSWORD:  # typed key by key, as a person would
            await lead.send_input(char.encode())
        await lead.send_input(b"\r")
        seen_by_viewer = await read_until(viewer, f"LEN-{len(PASSWORD)}".encode())
        await lead.send_input(b"echo after-$((1+1))\r")
        await read_until(viewer, b"after-2")
        await lead.send({"type": "end", "reason": "done"})
        await viewer.expect("ended")
        await asyncio.sleep(0.3)

        assert PASSWORD.encode() not in seen_by_viewer
        text = recording_text(h)
        assert "secret-input" in text
        for fragment in (PASSWORD, PASSWORD[:4], "hunter"):
            assert fragment not in text
        assert '"i", "echo after' in text.replace("\\r", "")  # later input is recorded again
        assert PASSWORD not in audit_text(h) and "hunter" not in audit_text(h)
