"""The demo's SSH target: a real shell on a real PTY, behind one authorized key."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from relay.cli.sandbox import SandboxTarget
from tests.sshd import read_until

WAIT_FOR_WINCH = (
    "import os, signal; signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGWINCH]);"
    ' print("waiting-" "for-winch", flush=True); signal.sigwait([signal.SIGWINCH]);'
    ' size = os.get_terminal_size(0); print(f"winch {size.columns}x{size.lines}")'
)
PTY = {"term_type": "xterm-256color", "term_size": (80, 24), "encoding": None}


@pytest.fixture
def client_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
async def target(client_key: asyncssh.SSHKey) -> AsyncIterator[SandboxTarget]:
    sandbox = SandboxTarget(client_key, shell=["/bin/sh"])
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.close()


def connect(target: SandboxTarget, key: asyncssh.SSHKey, tmp_path: Path) -> Any:
    """asyncssh.connect to the sandbox, verifying its host key like the relay does."""
    known_hosts = tmp_path / "known_hosts"
    target.write_known_hosts(known_hosts)
    return asyncssh.connect(
        target.host,
        target.port,
        username="demo",
        client_keys=[key],
        known_hosts=str(known_hosts),
        agent_path=None,
        config=None,
    )


async def test_pty_round_trip(
    target: SandboxTarget, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    async with connect(target, client_key, tmp_path) as conn:
        process = await conn.create_process(**PTY)
        process.stdin.write(b"echo hello-$((40+2)) $TERM\n")
        await read_until(process.stdout, b"hello-42 xterm-256color\r\n")


async def test_window_size_follows_the_client(
    target: SandboxTarget, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    async with connect(target, client_key, tmp_path) as conn:
        process = await conn.create_process(**PTY)
        process.stdin.write(b"stty size\n")
        await read_until(process.stdout, b"24 80\r\n")
        # A foreground program (think vim) must get SIGWINCH and see the new size.
        process.stdin.write(f"{sys.executable} -c '{WAIT_FOR_WINCH}'\n".encode())
        await read_until(process.stdout, b"waiting-for-winch")
        process.change_terminal_size(132, 43)
        await read_until(process.stdout, b"winch 132x43")
        process.stdin.write(b"stty size\n")
        await read_until(process.stdout, b"43 132\r\n")


async def test_exit_status_reaches_the_client(
    target: SandboxTarget, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    async with connect(target, client_key, tmp_path) as conn:
        process = await conn.create_process(**PTY)
        process.stdin.write(b"exit 3\n")
        result = await process.wait(timeout=10)
        assert result.exit_status == 3


async def test_unknown_client_key_is_refused(target: SandboxTarget, tmp_path: Path) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(target, stranger, tmp_path):
            pass


async def test_wrong_host_key_is_refused(
    target: SandboxTarget, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    other = SandboxTarget(client_key)
    await other.start()
    other.write_known_hosts(tmp_path / "other")
    await other.close()
    line = (tmp_path / "other").read_text().split(" ", 1)[1]
    (tmp_path / "known_hosts.wrong").write_text(f"[127.0.0.1]:{target.port} {line}")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await asyncssh.connect(
            target.host,
            target.port,
            client_keys=[client_key],
            known_hosts=str(tmp_path / "known_hosts.wrong"),
            agent_path=None,
            config=None,
        )


async def test_disconnect_ends_the_shell(
    target: SandboxTarget, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    async with connect(target, client_key, tmp_path) as conn:
        process = await conn.create_process(**PTY)
        pid = await shell_pid(process)
    # Gone means reaped too: a zombie would still answer kill(pid, 0).
    async with asyncio.timeout(10):
        while _exists(pid):
            await asyncio.sleep(0.05)


async def test_bulk_output_arrives_intact(
    target: SandboxTarget, client_key: asyncssh.SSHKey, tmp_path: Path
) -> None:
    data = os.urandom(4 * 1024 * 1024)
    path = tmp_path / "blob"
    path.write_bytes(data)
    async with connect(target, client_key, tmp_path) as conn:
        # Raw mode: no \n -> \r\n translation, so the bytes arrive exactly as written.
        process = await conn.create_process(f"stty raw -echo; cat {path}", **PTY)
        received = await asyncio.wait_for(process.stdout.read(), 30)
        result = await process.wait(timeout=10)
    assert result.exit_status == 0
    assert len(received) == len(data)
    assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()


async def test_close_ends_active_sessions(client_key: asyncssh.SSHKey, tmp_path: Path) -> None:
    sandbox = SandboxTarget(client_key, shell=["/bin/sh"])
    await sandbox.start()
    conn = await connect(sandbox, client_key, tmp_path)
    process = await conn.create_process(**PTY)
    pid = await shell_pid(process)
    await asyncio.wait_for(sandbox.close(), 10)
    assert not _exists(pid)
    await asyncio.wait_for(conn.wait_closed(), 10)


async def test_missing_shell_exits_127(client_key: asyncssh.SSHKey, tmp_path: Path) -> None:
    async with SandboxTarget(client_key, shell=["/nonexistent/shell"]) as sandbox:
        conn = await connect(sandbox, client_key, tmp_path)
        async with conn:
            result = await conn.run(term_type="xterm", encoding=None, timeout=10)
    assert result.exit_status == 127
    assert isinstance(result.stdout, bytes)
    assert b"cannot start /nonexistent/shell" in result.stdout


def test_port_needs_start(client_key: asyncssh.SSHKey) -> None:
    sandbox = SandboxTarget(client_key.export_public_key().decode())
    with pytest.raises(RuntimeError, match="not started"):
        _ = sandbox.port


async def test_known_hosts_line(client_key: asyncssh.SSHKey, tmp_path: Path) -> None:
    async with SandboxTarget(client_key) as sandbox:
        sandbox.write_known_hosts(tmp_path / "known_hosts")
        line = (tmp_path / "known_hosts").read_text()
    assert line == sandbox.host_key_line + "\n"
    pattern, algorithm, data = line.split()
    assert (pattern, algorithm) == (f"[127.0.0.1]:{sandbox.port}", "ssh-ed25519")
    assert sandbox.host_key.export_public_key().decode().split()[1] == data


async def shell_pid(process: asyncssh.SSHClientProcess[bytes]) -> int:
    """The pid of the shell behind *process*, asked of the shell itself."""
    process.stdin.write(b"echo pid-$(($$ + 0))-end\n")  # the echoed line has no digits
    output = await read_until(process.stdout, b"-end\r\n")
    match = re.search(rb"pid-(\d+)-end", output)
    while match is None:
        output += await read_until(process.stdout, b"-end\r\n")
        match = re.search(rb"pid-(\d+)-end", output)
    return int(match.group(1))


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
