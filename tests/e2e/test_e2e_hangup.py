"""Closing the terminal window ends the window's process (and the demo with it).

A terminal that goes away hangs up its tty. When the process under it is not the
session's leader (``make demo``: make is, and waits for its child), the kernel's
SIGHUP goes to make only, and the window kept running on a dead tty: Textual reads
end-of-file from it again and again (most of a core) and the demo's relay and
sandbox stayed up. The window now watches its terminal and leaves when it is gone.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import sys
from pathlib import Path

from tests.e2e.test_e2e_tmux import Tmux, _free_port, wait_for
from tests.tools import require_tool

WARROOM = [sys.executable, "-m", "tui.cli"]


def processes_with(marker: str) -> list[str]:
    """The command lines of running processes that mention ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in command and int(entry.name) != os.getpid():
            found.append(f"{entry.name}: {command}")
    return found


def test_closing_the_terminal_ends_the_demo_under_a_parent_that_waits(tmp_path: Path) -> None:
    require_tool(shutil.which("tmux") is not None, "tmux is not installed")
    data = str(tmp_path / "hangup-data")
    tmux = Tmux(f"warroom-hangup-{os.getpid()}")

    def screen() -> str:
        return tmux.capture("demo")

    demo = " ".join(
        shlex.quote(part)
        for part in [*WARROOM, "demo", "--port", str(_free_port()), "--data-dir", data]
    )
    # The terminal's first process catches SIGHUP and waits for its child before it acts,
    # as make does: the kernel's SIGHUP at the hang-up goes to it alone.
    leader = f"unset COLUMNS LINES; trap 'echo hangup' HUP; {demo}; true"
    try:
        tmux.run("new-session", "-d", "-s", "e2e", "-n", "demo", "-x", "120", "-y", "40", leader)
        wait_for(lambda: "DRIVING" in screen(), "the demo's lead to drive", 90, screen)
        assert processes_with(data)
    finally:
        tmux.kill()  # the terminal goes away: its tty hangs up
    try:
        left = lambda: "\n".join(processes_with(data))  # noqa: E731
        wait_for(lambda: not processes_with(data), "the demo to end", 30, left)
    finally:
        for line in processes_with(data):  # (still running: this test failed; end them)
            with contextlib.suppress(OSError):
                os.kill(int(line.split(":")[0]), signal.SIGKILL)
