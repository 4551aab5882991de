"""Masking against real programs in a real PTY, on the sandbox and through a real sshd.

What the viewer's terminal shows is computed by feeding every byte the viewer
received (snapshots and output) into a terminal model, so the checks are on
the rendered screen, as a person watching would see it, and on the recording.
"""

from __future__ import annotations

import asyncio
import random
import shutil
from pathlib import Path

import pytest

from relay.core.protocol import OutputChunk, Snapshot
from relay.terminal import TerminalModel
from tests.harness import Harness, Targets, read_until, running_relay
from tests.tools import require_tool
from tui.client import RelayClient

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
KEY_LINES = ["".join(random.Random(70 + i).choice(B64) for _ in range(64)) for i in range(20)]
KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(KEY_LINES) + "\n-----END RSA PRIVATE KEY-----\n"
)
TOKEN = "ghp_" + "".join(random.Random(5).choice(B64[:62]) for _ in range(36))
PASSWORD = "correct-horse-battery-staple-42"


class Viewer:
    """Everything a viewer received, and the screen it makes."""

    def __init__(self, client: RelayClient) -> None:
        self.client = client
        self.model = TerminalModel(80, 24)
        self.data = bytearray()

    async def until(self, marker: bytes, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while marker not in self.data[-8192:]:
                event = await self.client.recv()
                if isinstance(event, Snapshot):
                    self.model = TerminalModel(event.cols, event.rows)
                    self.model.feed(event.data)
                    self.data += event.data
                elif isinstance(event, OutputChunk):
                    self.model.feed(event.data)
                    self.data += event.data

    async def quiet(self, seconds: float = 1.0) -> None:
        """Read until nothing has come for ``seconds`` (the echo of the last keys)."""
        marker = b"\x00never\x00"
        while True:
            size = len(self.data)
            try:
                await self.until(marker, timeout=seconds)
            except TimeoutError:
                if len(self.data) == size:
                    return

    def screen(self) -> str:
        return "".join(self.model.display()) + self.model.title


def recording(h: Harness) -> str:
    return "".join(p.read_text() for p in (h.data_dir / "recordings").glob("*.cast"))


async def end(h: Harness, lead: RelayClient, viewer: Viewer) -> str:
    await lead.send({"type": "end", "reason": "done"})
    await viewer.client.expect("ended")
    await asyncio.sleep(0.3)
    return recording(h)


def assert_no_key(text: str) -> None:
    for line in KEY_LINES:
        assert line[:16] not in text and line[-16:] not in text, line


async def session(h: Harness, target: Targets) -> tuple[RelayClient, Viewer]:
    name = await h.open(target.name)
    lead = await h.joined("alice", name)
    viewer = Viewer(await h.joined("bob", name))
    await lead.send_input(b"export TERM=xterm-256color PS1='$ '; echo READY-$((1+1))\r")
    await read_until(lead, b"READY-2")
    await viewer.until(b"READY-2")
    return lead, viewer


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "id.pem"
    path.write_text(KEY)
    return path


@pytest.mark.parametrize("program", ["cat -n", "less -N", "nano", "grep -n ."])
async def test_a_key_file_in_a_program(
    tmp_path: Path, on_target: Targets, key_file: Path, program: str
) -> None:
    tool = program.split()[0]
    require_tool(shutil.which(tool) is not None, f"{tool} is not installed")
    async with running_relay(tmp_path, targets=on_target.extra, recordings=True) as h:
        lead, viewer = await session(h, on_target)
        await lead.send_input(f"{program} {key_file}; echo DONE-$((6*7))\r".encode())
        if tool in ("less", "nano"):
            await viewer.until(b"-----BEGIN")
            await asyncio.sleep(1.0)  # the whole first screen is drawn
            shown = viewer.screen()
            assert "BEGIN RSA PRIVATE KEY" in shown and "****" in shown
            assert_no_key(shown)
            await lead.send_input(b"q" if tool == "less" else b"\x18")
        await viewer.until(b"DONE-42")
        assert_no_key(viewer.screen())
        assert_no_key(viewer.data.decode("utf-8", "replace"))
        text = await end(h, lead, viewer)
        assert "DONE-42" in text
        assert_no_key(text)


async def test_a_token_in_the_window_title(tmp_path: Path, on_target: Targets) -> None:
    """bash's DEBUG trap writes each command into the title, an export with it."""
    async with running_relay(tmp_path, targets=on_target.extra, recordings=True) as h:
        lead, viewer = await session(h, on_target)
        trap = 'trap \'printf "\\033]0;%s\\007" "$BASH_COMMAND"\' DEBUG\r'
        await lead.send_input(trap.encode())
        head, tail = TOKEN[:10], TOKEN[10:]
        await lead.send_input(f"T={tail}; export GITHUB_TOKEN={head}$T; echo T-OK\r".encode())
        await viewer.until(b"T-OK\r\n")
        await lead.send_input(b"true; echo AFTER-1\r")
        await viewer.until(b"AFTER-1")
        assert TOKEN not in viewer.data.decode("utf-8", "replace")
        assert tail[:12] not in viewer.model.title
        late = await h.joined("carol", next(iter(h.relay.sessions)))
        snapshot = await late.wait_for(lambda e: isinstance(e, Snapshot))
        assert isinstance(snapshot, Snapshot) and TOKEN.encode() not in snapshot.data
        text = await end(h, lead, viewer)
        assert "T-OK" in text and TOKEN not in text


async def test_a_password_typed_across_the_right_edge(tmp_path: Path, on_target: Targets) -> None:
    """bash wraps at column 80 with `` \\r``; the rest of the token is on the next row."""
    async with running_relay(tmp_path, targets=on_target.extra, recordings=True) as h:
        lead, viewer = await session(h, on_target)
        line = "export PADDING=" + "x" * 50 + f" PGPASSWORD={PASSWORD}"
        for ch in line:  # typed key by key
            await lead.send_input(ch.encode())
            await asyncio.sleep(0.01)
        await viewer.until(b"PGPASSWORD=")
        await viewer.quiet()  # the echo of the last keys, and the idle flush
        shown = "".join(row.rstrip() for row in viewer.model.display())
        assert "PGPASSWORD=" in shown
        for fragment in ("battery", "staple", "horse", "rse-ba"):
            assert fragment not in shown, shown
        await lead.send_input(b"\x15echo W-OK\r")  # ctrl-u: forget the line
        await viewer.until(b"W-OK\r\n")
        text = await end(h, lead, viewer)
        assert "battery-staple" not in text


async def test_read_s_with_a_background_job_printing(tmp_path: Path, on_target: Targets) -> None:
    async with running_relay(tmp_path, targets=on_target.extra, recordings=True) as h:
        lead, viewer = await session(h, on_target)
        await lead.send_input(b"(for i in $(seq 1 20); do echo bg-$i; sleep 0.1; done) &\r")
        await viewer.until(b"bg-2\r\n")
        await lead.send_input(b"read -s -p $'Enter recovery code\\x3a ' c; echo; echo LEN-${#c}\r")
        await viewer.until(b"recovery code: ")
        for ch in PASSWORD:
            await lead.send_input(ch.encode())
            await asyncio.sleep(0.02)
        await lead.send_input(b"\r")
        await viewer.until(f"LEN-{len(PASSWORD)}".encode())
        await viewer.until(b"bg-20\r\n")
        text = await end(h, lead, viewer)
        assert "secret-input" in text and f"LEN-{len(PASSWORD)}" in text
        for fragment in (PASSWORD, "horse", "battery", "staple"):
            assert fragment not in text
