"""A newcomer follows the README, in real terminals, over ``wss://``.

``warroom demo --headless --tls`` (as the README says, a relay serving
``wss://`` with a certificate from a CA made for the demo) prints one
``warroom join ... --ca-cert CA`` command per role; each runs in its own tmux
window. The lead
types; a viewer asks for control, is rung for, gets it, types and chats; the
lead takes control back and ends the session; the reviewer's invite opens the
recordings browser, a search finds what was typed, and the replay shows it.

The lead's window is piped raw (``tmux pipe-pane``) to check what reaches a
real terminal when a request waits: the bell, and an OSC 9 desktop
notification (``WARROOM_NOTIFY=osc9``, as in a terminal that shows them).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.test_e2e_tmux import Tmux, _free_port, wait_for
from tests.tools import require_tool

WARROOM = [sys.executable, "-m", "tui.cli"]
OSC = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


@dataclass
class Demo:
    commands: dict[str, str]  # role -> the invite URL printed after "warroom join"
    banner: str
    ca: Path
    data: Path


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    data = tmp_path / "demo"
    argv = [*WARROOM, "demo", "--headless", "--tls", "--port", str(_free_port())]
    argv += ["--data-dir", str(data)]
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    commands: dict[str, str] = {}
    banner: list[str] = []
    ca: Path | None = None
    try:
        assert process.stdout is not None
        while len(commands) < 3:
            line = process.stdout.readline()
            if not line:
                break
            banner.append(line)
            role, sep, command = line.strip().partition(": warroom join ")
            if sep and role in ("lead", "viewer", "reviewer"):
                url, *rest = command.split()
                commands[role] = url
                assert rest[:1] == ["--ca-cert"], line  # the printed command trusts the demo CA
                ca = Path(rest[1])
        assert set(commands) == {"lead", "viewer", "reviewer"} and ca, "".join(banner)
        yield Demo(commands, "".join(banner), ca, data)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_newcomer_follows_the_readme_over_wss(demo: Demo, tmp_path: Path) -> None:
    require_tool(shutil.which("tmux") is not None, "tmux is not installed")
    assert all(url.startswith("wss://") for url in demo.commands.values()), demo.banner
    tmux = Tmux(f"warroom-newcomer-{os.getpid()}")
    trust = ["--ca-cert", str(demo.ca)]
    raw = tmp_path / "lead.raw"
    try:
        lead_cmd = ["env", "WARROOM_NOTIFY=osc9", *WARROOM, "join", demo.commands["lead"], *trust]
        tmux.window("lead", lead_cmd, first=True)
        tmux.run("pipe-pane", "-o", "-t", "e2e:lead", f"cat >> {raw}")
        tmux.window("viewer", [*WARROOM, "join", demo.commands["viewer"], "--name", "vic", *trust])

        def screens() -> str:
            names = ("lead", "viewer", "reviewer")
            shown = [f"--- {w} ---\n{tmux.capture(w)}" for w in names if w in tmux.run("lsw")]
            return "\n".join(shown)

        def on(window: str, text: str, what: str, timeout: float = 30.0) -> None:
            wait_for(lambda: text in tmux.capture(window), what, timeout=timeout, show=screens)

        on("lead", "DRIVING", "the lead to drive")
        on("lead", "vic", "the viewer in the lead's people panel")
        on("viewer", "WATCHING · guest:lead drives", "the viewer's frame to say who drives")

        # The lead types; both windows show it.
        tmux.type("lead", "echo hello-$((6*7))")
        tmux.keys("lead", "Enter")
        on("lead", "hello-42", "the output at the lead")
        on("viewer", "hello-42", "the output at the viewer")

        # The viewer asks for control: the lead's terminal is rung and notified, the
        # banner stays until the lead answers.
        tmux.keys("viewer", "r")
        on("viewer", "why do you need control?", "the request dialog")
        tmux.type("viewer", "INC-1: my turn")
        tmux.keys("viewer", "Enter")
        on("lead", "asks for control: INC-1: my turn", "the banner at the lead")
        wait_for(lambda: b"\x1b]9;Control requested" in raw.read_bytes(), "OSC 9", show=screens)
        outside_osc = OSC.sub(b"", raw.read_bytes())
        assert b"\x07" in outside_osc, "no bell, only the notification's terminator"
        tmux.keys("lead", "C-]")
        tmux.keys("lead", "g")
        on("viewer", "DRIVING", "the viewer to drive")
        tmux.type("viewer", "echo from-vic-$((5*5))")
        tmux.keys("viewer", "Enter")
        on("lead", "from-vic-25", "the viewer's output at the lead")

        # Chat: the driver reaches the chat with ctrl+] c; @lead stands out at the lead.
        tmux.keys("viewer", "C-]")
        tmux.keys("viewer", "c")
        tmux.type("viewer", "@lead all yours")
        tmux.keys("viewer", "Enter")
        tmux.keys("viewer", "Escape")
        on("lead", "all yours", "the chat at the lead")

        # The lead takes control back: t asks first, y confirms.
        tmux.keys("lead", "t")
        on("lead", "Take control from guest:vic?", "the confirmation")
        tmux.keys("lead", "y")
        on("lead", "DRIVING", "the lead to drive again")

        # The lead ends the session: every window says so; the lead is told where the
        # recording went and how to replay it.
        tmux.keys("lead", "C-]")
        tmux.keys("lead", "e")
        on("lead", "End session demo for everyone?", "the end dialog")
        tmux.type("lead", "newcomer test done")
        tmux.keys("lead", "Enter")
        on("lead", "ENDED", "the end at the lead")
        on("viewer", "ENDED", "the end at the viewer")
        on("lead", "Recorded as demo-", "where the recording went")
        assert "REC" not in tmux.capture("lead").splitlines()[0]

        # The reviewer's invite opens the recordings; a search finds the typed text on
        # the relay, and Enter replays it there.
        tmux.window("reviewer", [*WARROOM, "join", demo.commands["reviewer"], *trust])
        on("reviewer", "Recordings on wss://", "the recordings browser")
        on("reviewer", "verified", "the recording, verified")
        tmux.keys("reviewer", "/")
        on("reviewer", "Enter applies the filters", "the search field")
        tmux.type("reviewer", "from-vic-25")
        tmux.keys("reviewer", "Enter")
        on("reviewer", "1 recording matching", "the search")
        tmux.keys("reviewer", "Enter")
        on("reviewer", "REPLAY", "the replay screen")
        on("reviewer", "from-vic-25", "what vic typed, replayed")
        tmux.keys("reviewer", "q")
        on("reviewer", "Recordings on wss://", "back to the browser")
        tmux.keys("reviewer", "Escape")
        on("reviewer", "EXITED", "the reviewer's window to close")
    finally:
        tmux.kill()


def test_quitting_a_replay_leaves_nothing_on_the_shell(tmp_path: Path) -> None:
    """The first replay of a large recording says it is indexing; after q, nothing of it."""
    from relay.trust.keys import SigningKey
    from tests.recordings import new_recording

    require_tool(shutil.which("tmux") is not None, "tmux is not installed")
    path = tmp_path / "big.cast"
    script = new_recording(path, SigningKey.generate())
    for second in range(400):
        line = f"line {second:05d} " + "x" * 60 + "\r\n"
        script.at(second * 0.01).out(line.encode() * 50)
    script.rec.close("done", script.now)
    raw = tmp_path / "replay.raw"
    tmux = Tmux(f"warroom-replay-{os.getpid()}")
    try:
        # The replay starts once the pane is piped, so its first bytes are captured too.
        go = tmp_path / "go"
        command = " ".join(shlex.quote(part) for part in [*WARROOM, "replay", str(path)])
        waiting = f"while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.05; done; {command}"
        tmux.window("replay", ["sh", "-c", waiting], first=True)
        tmux.run("pipe-pane", "-o", "-t", "e2e:replay", f"cat >> {raw}")
        go.touch()

        def screen() -> str:
            return tmux.capture("replay")

        wait_for(lambda: "REPLAY" in screen(), "the replay screen", timeout=60, show=screen)
        tmux.keys("replay", "q")
        wait_for(lambda: "EXITED" in screen(), "the replay to quit", show=screen)
        assert b"indexing big.cast" in raw.read_bytes(), "no progress was shown at all"
        assert "indexing" not in screen(), screen()
    finally:
        tmux.kill()
