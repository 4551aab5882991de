"""``warroom demo`` as a newcomer runs it: a throwaway home for the sandbox, and the audit log
that ``warroom audit`` finds afterwards without being told where.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from relay.trust.identity import parse_join_target
from tests.harness import read_until
from tests.tools import stop
from tui.client import RelayClient

WARROOM = [sys.executable, "-m", "tui.cli"]


def _banner(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    while not any(line.startswith("reviewer: ") for line in lines):
        line = process.stdout.readline()
        assert line, f"the demo exited early: {''.join(lines)}"
        lines.append(line.rstrip("\n"))
    return lines


async def test_demo_shell_lives_in_a_throwaway_home_and_audit_finds_the_log(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "share"), "PYTHONUNBUFFERED": "1"}
    data = tmp_path / "share" / "warroom" / "demo"
    home = data / "sandbox-home"
    home.mkdir(parents=True)
    (home / "left-over").write_text("from a previous run\n")
    process = subprocess.Popen(
        [*WARROOM, "demo", "--headless", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        lines = await asyncio.to_thread(_banner, process)
        assert lines[0].startswith("warroom demo: relay on ws://127.0.0.1:")
        assert lines[0].endswith(f", data in {data}")
        user = os.environ.get("USER", "you")
        assert lines[1] == (
            f"sandbox: your shell, as {user}, in a throwaway home ({home}, emptied at every "
            "start); it is not isolated from this machine"
        )
        assert lines[2] == "audit log: warroom audit"
        assert not (home / "left-over").exists()  # emptied

        invite = next(line for line in lines if line.startswith("lead: ")).split()[-1]
        target = parse_join_target(invite)
        lead = RelayClient(target.url)
        await lead.connect()
        await lead.auth_invite(target.invite or "")
        await lead.join("demo")
        await lead.send_input(b"echo AT:$(pwd):$HOME:END; touch made-in-demo\r")
        seen = await read_until(lead, b":END\r\n")
        assert f"AT:{home}:{home}:END".encode() in seen
        await lead.close()
    finally:
        await stop(process)
    assert (home / "made-in-demo").exists()

    # warroom audit, no --data-dir: the demo's log, and it says so
    done = await asyncio.to_thread(
        subprocess.run,
        [*WARROOM, "audit", "--session", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"warroom: reading the demo's audit log in {data / 'audit'}\n"
    assert "session.open" in done.stdout and "session.join" in done.stdout
