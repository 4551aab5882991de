"""End to end in real terminals: ``warroom demo --headless`` and two ``warroom join`` in tmux.

The lead's and a viewer's TUIs run in tmux windows of a fixed size; keys are
typed with ``tmux send-keys`` and both screens are read with ``capture-pane``.
Checks: the lead's command and its output appear in both windows; the viewer's
keys do not reach the shell; after request → grant they do.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.tools import require_tool

COLS, ROWS = 132, 40
WARROOM = [sys.executable, "-m", "tui.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Tmux:
    def __init__(self, socket_name: str) -> None:
        self.base = ["tmux", "-L", socket_name, "-f", "/dev/null"]

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [*self.base, *args], check=True, capture_output=True, text=True, timeout=10
        )
        return done.stdout

    def window(self, name: str, command: list[str], first: bool = False) -> None:
        shell = " ".join(shlex.quote(part) for part in command)
        # COLUMNS/LINES, when set, win over the window's real size (shutil.get_terminal_size).
        shell = f"unset COLUMNS LINES; {shell}; echo EXITED; sleep 60"
        if first:
            self.run(
                "new-session", "-d", "-s", "e2e", "-n", name, "-x", str(COLS), "-y", str(ROWS),
                shell,
            )  # fmt: skip
        else:
            self.run("new-window", "-t", "e2e", "-n", name, shell)

    def keys(self, window: str, *keys: str) -> None:
        self.run("send-keys", "-t", f"e2e:{window}", *keys)

    def type(self, window: str, text: str) -> None:
        self.run("send-keys", "-t", f"e2e:{window}", "-l", text)

    def capture(self, window: str) -> str:
        return self.run("capture-pane", "-p", "-t", f"e2e:{window}")

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.run("kill-server")


def wait_for(
    predicate: Callable[[], bool], what: str, timeout: float = 20.0, show: Callable[[], str] = str
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{show()}")
        time.sleep(0.2)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, str]]:
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*WARROOM, "demo", "--headless", "--port", str(port), "--data-dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    commands: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while len(commands) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            role, sep, command = line.strip().partition(": warroom join ")
            if sep and role in ("lead", "viewer", "reviewer"):
                commands[role] = command
        assert {"lead", "viewer"} <= set(commands), "the demo printed no join commands"
        yield commands
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_lead_and_viewer_in_real_terminals(demo: dict[str, str], tmp_path: Path) -> None:
    require_tool(shutil.which("tmux") is not None, "tmux is not installed")
    tmux = Tmux(f"warroom-e2e-{os.getpid()}")
    try:
        tmux.window("lead", [*WARROOM, "join", demo["lead"]], first=True)
        tmux.window("viewer", [*WARROOM, "join", demo["viewer"], "--name", "vic"])

        def both() -> str:
            return f"--- lead ---\n{tmux.capture('lead')}\n--- viewer ---\n{tmux.capture('viewer')}"

        wait_for(lambda: "DRIVING" in tmux.capture("lead"), "the lead to drive", show=both)
        wait_for(lambda: "vic" in tmux.capture("lead"), "the viewer to appear", show=both)

        # The lead types: the command and its output appear in both windows.
        tmux.type("lead", "echo lead-says-$((6*7))")
        tmux.keys("lead", "Enter")
        wait_for(lambda: "lead-says-42" in tmux.capture("lead"), "output at the lead", show=both)
        wait_for(
            lambda: "lead-says-42" in tmux.capture("viewer"), "output at the viewer", show=both
        )

        # The viewer's keys do not reach the shell. (Only keys that are not the
        # viewer's own shortcuts: letters like c, r, a open dialogs when not driving.
        # Had they reached bash, it would print "4044: command not found".)
        tmux.type("viewer", "$((4000+44))")
        tmux.keys("viewer", "Enter")
        time.sleep(1.5)
        assert "4044" not in tmux.capture("lead"), both()

        # Request → grant: now they do.
        tmux.keys("viewer", "r")
        asked = "why do you need control?"  # the dialog's own text (typed-ahead keys are dropped)
        wait_for(lambda: asked in tmux.capture("viewer"), "the dialog", show=both)
        tmux.type("viewer", "checking the e2e")
        tmux.keys("viewer", "Enter")
        wait_for(lambda: "checking the e2e" in tmux.capture("lead"), "the request", show=both)
        tmux.keys("lead", "C-]")
        tmux.keys("lead", "g")
        wait_for(lambda: "DRIVING" in tmux.capture("viewer"), "the viewer to drive", show=both)
        tmux.type("viewer", "echo viewer-says-$((5*5))")
        tmux.keys("viewer", "Enter")
        wait_for(lambda: "viewer-says-25" in tmux.capture("lead"), "the viewer's output", show=both)
        wait_for(lambda: "viewer-says-25" in tmux.capture("viewer"), "own output", show=both)
    finally:
        tmux.kill()
