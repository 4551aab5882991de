"""The relay stops (SIGSTOP) under a lead typing in a real terminal: the TUI says so within
seconds, refuses the keys typed meanwhile in plain sight, and after the relay resumes the lead
drives again and nothing typed into the dead link ever reaches the shell.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_e2e_tmux import Tmux, wait_for
from tests.tools import require_tool

WARROOM = [sys.executable, "-m", "tui.cli"]


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    data = tmp_path / "demo"
    process = subprocess.Popen(
        [*WARROOM, "demo", "--headless", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lead = ""
        while not lead:
            line = process.stdout.readline()
            assert line, "the demo exited early"
            if line.startswith("lead: warroom join "):
                lead = line.split()[-1]
        yield process, lead, data
    finally:
        process.send_signal(signal.SIGCONT)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_stopped_relay_is_shown_and_typed_keys_are_refused_not_replayed(
    relay: tuple[subprocess.Popen[str], str, Path],
) -> None:
    require_tool(shutil.which("tmux") is not None, "tmux is not installed")
    process, invite, data = relay
    tmux = Tmux(f"warroom-dead-{os.getpid()}")
    try:
        tmux.window("lead", [*WARROOM, "join", invite], first=True)

        def screen() -> str:
            return tmux.capture("lead")

        wait_for(lambda: "DRIVING" in screen(), "the lead to drive", show=screen)
        tmux.type("lead", "echo before-$((6*7))")
        tmux.keys("lead", "Enter")
        wait_for(lambda: "before-42" in screen(), "the shell to answer", show=screen)

        process.send_signal(signal.SIGSTOP)
        wait_for(lambda: "no answer from the relay" in screen(), "the dead link", show=screen)
        assert "keys are not sent, nor kept to be sent later" in screen()  # the frame says it
        tmux.type("lead", "echo lost-$((6*7))")
        tmux.keys("lead", "Enter")
        wait_for(lambda: "keys not sent" in screen(), "the refusal", show=screen)
        time.sleep(4)  # stopped for longer than the relay's stall threshold
        process.send_signal(signal.SIGCONT)

        wait_for(lambda: "● connected" in screen(), "the link to come back", 40, show=screen)
        wait_for(lambda: "DRIVING" in screen(), "the lead to drive again", show=screen)
        tmux.type("lead", "echo after-$((6*7))")
        tmux.keys("lead", "Enter")
        wait_for(lambda: "after-42" in screen(), "the shell to answer again", show=screen)
        assert "lost-42" not in screen()
    finally:
        tmux.kill()
    process.send_signal(signal.SIGINT)  # the recording is complete once the relay stops
    process.wait(timeout=30)
    recording = "".join(p.read_text() for p in (data / "recordings").glob("*.cast"))
    assert "after-42" in recording and "lost" not in recording
