"""Recordings made by a real relay: replay matches the live screen, a crash leaves a proof."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from relay.cli.review import EXIT_OK, EXIT_UNSEALED
from relay.evidence.asciicast import read_header
from relay.evidence.replay import Player, Recording, screen_text
from relay.evidence.verifier import Finding, verify_file
from relay.net.live import LiveSession
from relay.trust.identity import parse_join_target
from tests.harness import read_until, running_relay
from tui.cli import main
from tui.client import RelayClient

WARROOM = [sys.executable, "-m", "tui.cli"]
INVITE = re.compile(r"^lead: warroom join (ws://\S+)$")


async def settled(
    live: LiveSession, client: RelayClient, needle: bytes | None
) -> tuple[float, str]:
    """Wait for ``needle``, then for silence; return the wall time and the relay's screen."""
    if needle is not None:
        await read_until(client, needle)
    await asyncio.sleep(0.3)
    while live.stats()["model_lag"]:
        await asyncio.sleep(0.05)
    return time.time(), screen_text(live.output.model)


async def test_dump_matches_the_screen_the_live_session_showed(tmp_path: Path) -> None:
    steps = [
        (b"echo one-$((40+2))\r", b"one-42"),
        (b"printf '\\033[31mred\\033[0m and plain\\n'\r", b"and plain"),
        (b"printf '\\033[?1049h\\033[H\\033[2Jfull screen\\033[3;5Hhere'\r", b"here"),
        (b"printf '\\033[?1049lback\\n'\r", b"back"),
    ]
    async with running_relay(tmp_path, recordings=True) as h:
        session = await h.open()
        live = h.relay.sessions[session]
        alice = await h.joined("alice", session)
        seen = [await settled(live, alice, None)]  # the prompt came in a snapshot
        for keys, needle in steps:
            await alice.send_input(keys)
            seen.append(await settled(live, alice, needle))
        await alice.send({"type": "end", "reason": "review test done"})
        await live.wait_closed()
    (path,) = (h.data_dir / "recordings").glob("*.cast")
    assert main(["verify", str(path)]) == EXIT_OK
    started = read_header(path).warroom["started_at"]  # type: ignore[index]
    recording = Recording.open(path)
    assert any("full screen" in text for _, text in seen)
    for wall, screen in seen:
        assert Player(recording, wall - started).screen_text() == screen
    marks = [m.describe() for m in recording.marks]
    assert "alice joined as lead" in marks and "session ended: review test done" in marks


def _lead_invite(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        assert line, "the demo exited before printing its invites"
        match = INVITE.match(line.strip())
        if match:
            return match.group(1)


async def test_sigkill_of_the_relay_leaves_a_verifiable_prefix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    process = subprocess.Popen(
        [*WARROOM, "demo", "--headless", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        target = parse_join_target(await asyncio.to_thread(_lead_invite, process))
        lead = RelayClient(target.url)
        await lead.connect()
        await lead.auth_invite(target.invite or "")
        await lead.join("demo")
        await lead.send_input(b"echo BEFORE-$((6*7))\r")
        await read_until(lead, b"BEFORE-42")
        await asyncio.sleep(1.5)  # the recorder flushes at least once a second
    finally:
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.wait, 30)
    (path,) = (data / "recordings").glob("*.cast")
    report = verify_file(path, None)
    assert not report.sealed and report.finding is Finding.UNSEALED
    proven = b"".join(path.read_bytes().splitlines(keepends=True)[: report.verified_prefix_lines])
    assert b"BEFORE-42" in proven
    done = subprocess.run(
        [*WARROOM, "verify", str(path), "--key", str(data / "keys" / "relay_ed25519.pub")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == EXIT_UNSEALED, done.stderr
    assert "INTERRUPTED (no seal)" in done.stderr
    assert "BEFORE-42" in Player(Recording.open(path), 1e9).screen_text()
