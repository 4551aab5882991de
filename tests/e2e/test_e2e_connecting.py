"""A newcomer types at once after ``warroom demo``, in a real terminal (tmux).

The demo takes seconds to start its relay and sandbox; what is typed meanwhile
waits in the terminal (echoed by it, Enter turned into a line feed) and reaches
the window while it is still joining. As with ssh, those keys are kept and
sent once the window has joined and drives (the demo's lead drives on join):
the command runs once, and typing after it works as usual.

Nothing here waits for the window before typing: the keys are sent to the
pane the moment the demo is let start (it waits for a file until then).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from tests.e2e.test_e2e_tmux import Tmux, _free_port, wait_for
from tests.tools import require_tool

WARROOM = [sys.executable, "-m", "tui.cli"]


def test_a_command_typed_while_the_demo_starts_runs_once_it_has_joined(tmp_path: Path) -> None:
    require_tool(shutil.which("tmux") is not None, "tmux is not installed")
    go = tmp_path / "go"
    demo = [*WARROOM, "demo", "--port", str(_free_port()), "--data-dir", str(tmp_path / "d")]
    command = " ".join(shlex.quote(part) for part in demo)
    waiting = f"while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.05; done; {command}"
    tmux = Tmux(f"warroom-connecting-{os.getpid()}")

    def screen() -> str:
        return tmux.capture("demo")

    try:
        tmux.window("demo", ["sh", "-c", waiting], first=True)
        go.touch()  # the demo starts; the newcomer types at once, not waiting for the window
        tmux.type("demo", "echo SMOKE-$((6*7))-OK")
        tmux.keys("demo", "Enter")

        wait_for(lambda: "SMOKE-42-OK" in screen(), "the typed-ahead command", 90, screen)
        wait_for(lambda: "DRIVING" in screen(), "the lead to drive", show=screen)
        tmux.type("demo", "echo late-$((6*7))")
        tmux.keys("demo", "Enter")
        wait_for(lambda: "late-42" in screen(), "the shell to answer", show=screen)
        assert screen().count("SMOKE-42-OK") == 1, screen()
        tmux.keys("demo", "C-]")
        tmux.keys("demo", "d")  # the chord leaves at once; the demo then stops
        wait_for(lambda: "EXITED" in screen(), "the demo to stop", timeout=60, show=screen)
    finally:
        tmux.kill()
