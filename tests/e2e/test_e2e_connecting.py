"""A newcomer types at once after ``warroom demo``, in a real terminal (tmux).

The demo takes seconds to start its relay and sandbox; what is typed meanwhile
waits in the terminal and reaches the window while it is still joining. The
link refuses keys until it is live (never keeps them to send late), so the
window must say so: the frame says CONNECTING and that keys are not sent, a
hint says the keys were dropped, and once joined the window says that what
was typed before was not sent. Then typing works, and the early keys never
reached the shell.

The frame says CONNECTING only until the join completes (a fraction of a
second here), too short to catch with ``capture-pane``: the window's raw
output is piped (``tmux pipe-pane``) from its first byte and searched instead.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from pathlib import Path

from tests.e2e.test_e2e_tmux import Tmux, _free_port, wait_for
from tests.tools import require_tool

WARROOM = [sys.executable, "-m", "tui.cli"]
CSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]")  # colours and cursor moves split the words


def test_keys_typed_while_the_demo_starts_are_refused_in_plain_sight(tmp_path: Path) -> None:
    require_tool(shutil.which("tmux") is not None, "tmux is not installed")
    go, raw = tmp_path / "go", tmp_path / "demo.raw"
    demo = [*WARROOM, "demo", "--port", str(_free_port()), "--data-dir", str(tmp_path / "d")]
    command = " ".join(shlex.quote(part) for part in demo)
    waiting = f"while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.05; done; {command}"
    tmux = Tmux(f"warroom-connecting-{os.getpid()}")

    def screen() -> str:
        return tmux.capture("demo")

    try:
        tmux.window("demo", ["sh", "-c", waiting], first=True)
        tmux.run("pipe-pane", "-o", "-t", "e2e:demo", f"cat >> {shlex.quote(str(raw))}")
        go.touch()
        tmux.type("demo", "echo early-$((6*7))")  # at once: the demo is still starting
        tmux.keys("demo", "Enter")

        wait_for(lambda: "DRIVING" in screen(), "the lead to drive", timeout=60, show=screen)
        wait_for(
            lambda: "What you typed before was not sent" in screen(),
            "the window to say the early keys were not sent",
            show=screen,
        )
        shown = CSI.sub(b"", raw.read_bytes())
        assert b"CONNECTING \xc2\xb7 keys are not sent" in shown, "the frame never said so"
        assert b"keys not sent: the session is not joined yet" in shown, "no hint while joining"

        tmux.type("demo", "echo late-$((6*7))")
        tmux.keys("demo", "Enter")
        wait_for(lambda: "late-42" in screen(), "the shell to answer", show=screen)
        assert "early-42" not in screen()
        tmux.keys("demo", "C-]")
        tmux.keys("demo", "d")  # the chord leaves at once; the demo then stops
        wait_for(lambda: "EXITED" in screen(), "the demo to stop", timeout=60, show=screen)
    finally:
        tmux.kill()
