"""Secret masking in a live session: viewers, snapshots, recording, audit and chat."""

from __future__ import annotations

import asyncio
from pathlib import Path

from relay.core.protocol import OutputChunk, Snapshot
from relay.evidence.audit import read_events
from relay.evidence.verifier import verify_file
from tests.harness import Harness, read_until, running_relay
from tui.client import RelayClient

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
        assert '"s"' in text and "END-42" in text  # markers, and the output itself
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
            b"read -s -p $'[sudo] password for alice\\x3a ' pw; echo; echo LEN-${#pw}\r"
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


async def _everything_until(client: RelayClient, marker: bytes) -> bytes:
    """Every byte a client's socket delivers (output and snapshots) up to ``marker``."""
    seen = bytearray()
    async with asyncio.timeout(15):
        while marker not in seen:
            event = await client.recv()
            if isinstance(event, OutputChunk | Snapshot):
                seen += event.data
    return bytes(seen)


async def _now_driving(client: RelayClient, pid: str | None) -> None:
    await client.wait_for(lambda e: isinstance(e, dict) and e.get("driver") == pid)


async def test_only_the_current_driver_reads_raw_output_across_every_change(
    tmp_path: Path,
) -> None:
    """After a hand-off, a take-back, a release and an expiry, a secret the new driver
    prints reaches the former driver masked (and the new one raw)."""
    async with running_relay(tmp_path) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        viewer = await h.login("bob")
        bob = (await viewer.join(session))["you"]
        alice = next(p["id"] for p in (await viewer.expect("roster"))["participants"])
        step = 0

        async def secret_reaches(new: RelayClient, former: RelayClient) -> None:
            nonlocal step
            step += 1
            marker = f"END-{step}-$((6*7))"  # the shell computes it: not in the echo
            await new.send_input(
                f"printf 't=%s%s\\n' {TOKEN[:10]} {TOKEN[10:]}; echo {marker}\r".encode()
            )
            expected = f"END-{step}-42".encode()
            raw = await _everything_until(new, expected)
            masked = await _everything_until(former, expected)
            assert TOKEN.encode() in raw  # the driver reads what they printed
            shown = masked[masked.rindex(b"t=") :]  # after the echo of the command (pieces)
            assert TOKEN[4:].encode() not in shown and b"******" in shown

        async def hand_to_bob(ttl: float | None = None) -> None:
            await viewer.send({"type": "request_control", "reason": "INC-1"})
            await lead.expect("control_request")
            grant: dict[str, object] = {"type": "grant", "id": bob}
            if ttl is not None:
                grant["ttl"] = ttl
            await lead.send(grant)
            await _now_driving(viewer, bob)
            await _now_driving(lead, bob)  # past any roster of before, kept by expect()

        await hand_to_bob()  # hand-off: alice is the former driver
        await secret_reaches(viewer, lead)
        await lead.send({"type": "take"})  # take-back: bob is
        await _now_driving(lead, alice)
        await secret_reaches(lead, viewer)
        await hand_to_bob()
        await viewer.send({"type": "release"})  # release: bob is
        await _now_driving(lead, alice)
        await secret_reaches(lead, viewer)
        await hand_to_bob(ttl=1.0)
        await viewer.expect("control_expired")  # expiry: bob is
        await _now_driving(lead, alice)
        await secret_reaches(lead, viewer)


async def test_a_control_character_inside_a_token_in_chat_does_not_hide_it(
    tmp_path: Path,
) -> None:
    """Chat is normalised before it is masked: the ``\\x01`` the core would drop hides nothing."""
    async with running_relay(tmp_path, recordings=True) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        viewer = await h.joined("bob", session)
        await lead.send({"type": "chat", "text": f"use {TOKEN[:12]}\x01{TOKEN[12:]} now"})
        chat = await viewer.expect("chat")
        assert chat["text"].startswith("use ghp_*") and chat["text"].endswith(" now")
        assert TOKEN[12:] not in chat["text"] and TOKEN[4:12] not in chat["text"]
        await lead.send({"type": "end", "reason": "done"})
        await viewer.expect("ended")
        await asyncio.sleep(0.3)
        assert TOKEN[12:] not in recording_text(h)


async def _type_slowly(client: RelayClient, text: str) -> None:
    for char in text:  # key by key, as a person types
        await client.send_input(char.encode())
        await asyncio.sleep(0.03)


async def test_input_the_target_does_not_echo_is_never_recorded_with_a_job_printing(
    tmp_path: Path,
) -> None:
    """``read -s`` at a prompt no list knows, while a background job prints lines."""
    async with running_relay(tmp_path, recordings=True) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        viewer = await h.joined("bob", session)
        await lead.send_input(
            b"(for i in $(seq 1 30); do echo tick-$i-hunter; sleep 0.1; done) &\r"
        )
        await read_until(lead, b"tick-2-")
        await lead.send_input(b"read -s -p $'Frobnicator seed\\x3e ' pw; echo; echo LEN-${#pw}\r")
        await read_until(lead, b"seed> ")
        await _type_slowly(lead, PASSWORD)
        await lead.send_input(b"\r")
        await read_until(viewer, f"LEN-{len(PASSWORD)}".encode())
        await read_until(viewer, b"tick-30-")
        await lead.send_input(b"echo after-$((1+1))\r")
        await read_until(viewer, b"after-2")
        await lead.send({"type": "end", "reason": "done"})
        await viewer.expect("ended")
        await asyncio.sleep(0.3)
        text = recording_text(h)
        assert "secret-input" in text and f"LEN-{len(PASSWORD)}" in text  # output is recorded
        for fragment in (PASSWORD, "r2-cor", "correct-h", "-horse"):
            assert fragment not in text
        assert '"i", "echo after' in text.replace("\\r", "")  # later typing is recorded again


async def test_an_echoing_secret_prompt_is_masked_for_viewers_and_never_recorded(
    tmp_path: Path,
) -> None:
    """``read -p 'AWS Secret Access Key [None]: '`` echoes what is typed."""
    async with running_relay(tmp_path, recordings=True) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        viewer = await h.joined("bob", session)
        # \x3a: the colon is in what read prints, not in the command's echo, so the wait
        # below is for the prompt itself (keys typed ahead of it are echoed by the tty)
        await lead.send_input(b"read -p $'AWS Secret Access Key [None]\\x3a ' k; echo LEN-${#k}\r")
        await read_until(lead, b"[None]: ")
        await _type_slowly(lead, PASSWORD)
        await lead.send_input(b"\r")
        seen = await read_until(viewer, f"LEN-{len(PASSWORD)}".encode())
        raw = await read_until(lead, f"LEN-{len(PASSWORD)}".encode())
        assert PASSWORD.encode() in raw.replace(b"\r", b"")  # the driver sees the echo
        shown = seen[seen.index(b"[None]: ") :]
        assert PASSWORD[:4].encode() not in shown and b"*" * 4 in shown
        await lead.send({"type": "end", "reason": "done"})
        await viewer.expect("ended")
        await asyncio.sleep(0.3)
        text = recording_text(h)
        assert "secret-input" in text and PASSWORD[:4] not in text
        assert f"LEN-{len(PASSWORD)}" in text and "[None]: " in text  # the output is there


async def test_a_prompt_and_the_echo_in_one_chunk_are_masked_and_not_recorded(
    tmp_path: Path,
) -> None:
    """The secret was on its way before the prompt showed: the program prints the prompt
    and the line it read in one write (as readline does for input typed ahead), so the
    prompt is not at the end of any chunk of output."""
    async with running_relay(tmp_path, recordings=True) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        viewer = await h.joined("bob", session)
        await lead.send_input(
            b"stty -echo; echo READY-$((6*7)); read -r k; stty echo;"
            b" printf 'Enter recovery code\\x3a %s\\n' \"$k\"; echo LEN-${#k}\r"
        )
        await read_until(lead, b"READY-42")
        await lead.send_input(PASSWORD.encode() + b"\r")  # the tty does not echo it
        seen = await read_until(viewer, f"LEN-{len(PASSWORD)}".encode())
        raw = await read_until(lead, f"LEN-{len(PASSWORD)}".encode())
        assert f"Enter recovery code: {PASSWORD}".encode() in raw  # as the driver sees it
        # (no masking pattern knows "recovery code:": only the input guard masks this echo)
        shown = seen[seen.index(b"recovery code: ") :]
        assert PASSWORD[:4].encode() not in shown and b"*" * len(PASSWORD) in shown
        await lead.send({"type": "end", "reason": "done"})
        await viewer.expect("ended")
        await asyncio.sleep(0.3)
        text = recording_text(h)
        assert "secret-input" in text
        for fragment in (PASSWORD, PASSWORD[:4], "r2-cor"):
            assert fragment not in text
        assert "Enter recovery code: " in text and f"LEN-{len(PASSWORD)}" in text
