"""The real-sshd fixture works the way the relay's tests need it to."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import asyncssh
import pytest

from tests.postgres import find_bin_dir, run_as_user
from tests.servers import SIGNALS, family, running, start_in_a_child, survivors
from tests.sshd import SSHD_PATH, SshdServer, read_until
from tests.tools import require_tool


async def test_pty_round_trip(sshd: SshdServer) -> None:
    async with asyncssh.connect(**sshd.connect_kwargs()) as conn:
        process = await conn.create_process(
            term_type="xterm-256color", term_size=(80, 24), encoding=None
        )
        # The shell echoes "hello-$((40+2))"; only its output says "hello-42".
        process.stdin.write(b"echo hello-$((40+2))\n")
        await read_until(process.stdout, b"hello-42")
        process.stdin.write(b"echo $TERM; exit\n")
        await read_until(process.stdout, b"xterm-256color\r\n")
        await process.wait(timeout=10)


async def test_wrong_host_key_is_refused(sshd: SshdServer) -> None:
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await asyncssh.connect(**sshd.connect_kwargs(known_hosts=str(sshd.wrong_known_hosts_path)))


async def test_wrong_client_key_is_refused(sshd: SshdServer) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(**sshd.connect_kwargs(client_keys=[stranger]))


def test_host_key_matches_known_hosts(sshd: SshdServer) -> None:
    line = sshd.known_hosts_path.read_text()
    assert line.startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    assert sshd.host_key.export_public_key().decode().split()[1] in line
    assert sshd.wrong_known_hosts_path.read_text().split()[2] != line.split()[2]


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [("true", pytest.fail.Exception), ("", pytest.skip.Exception)],
)
def test_missing_tool_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("CI", ci)
    require_tool(True, "present")
    with pytest.raises(outcome, match="tmux is missing"):
        require_tool(False, "tmux is missing")


def test_a_server_that_will_not_start_says_why(tmp_path: Path) -> None:
    """The shared start loop (tests/servers.py) gives up on a dead server at once and
    puts the server's own words in the error, not a bare timeout."""
    require_tool(SSHD_PATH.exists(), f"{SSHD_PATH} is missing (apt-get install openssh-server)")
    broken = SshdServer(tmp_path, options="NoSuchOption yes\n")
    with pytest.raises(RuntimeError, match="SshdServer did not start") as caught:
        broken.start()
    assert "NoSuchOption" in str(caught.value)
    broken.stop()


LINUX_ONLY = pytest.mark.skipif(
    sys.platform != "linux", reason="the parent-death signal is Linux's"
)
KILLS = pytest.mark.parametrize("how", SIGNALS, ids=lambda s: s.name)


@LINUX_ONLY
@KILLS
def test_a_run_killed_by_a_signal_leaves_no_sshd_behind(
    tmp_path: Path, how: signal.Signals
) -> None:
    """A bench or a pytest run stopped by ``kill``, ``kill -9`` or ^C stops its sshd."""
    require_tool(SSHD_PATH.exists(), f"{SSHD_PATH} is missing (apt-get install openssh-server)")
    require_tool(os.geteuid() == 0, "a real sshd needs root here")
    setup = "from pathlib import Path\nfrom tests.sshd import SshdServer\n"
    setup += f"server = SshdServer(Path({str(tmp_path / 'sshd')!r}))"
    child, pid = start_in_a_child(setup)
    assert running(pid)
    assert survivors(child, pid, how) == set()


@LINUX_ONLY
@KILLS
def test_a_run_killed_by_a_signal_leaves_no_postgres_behind(how: signal.Signals) -> None:
    """The same for PostgreSQL, run as another user (as root): the postmaster and every
    process it started (checkpointer, writers...) are gone."""
    bin_dir = find_bin_dir()
    require_tool(bin_dir is not None, "no PostgreSQL server (apt-get install postgresql)")
    setup = "from pathlib import Path\nfrom tests.postgres import PostgresServer\n"
    setup += f"server = PostgresServer(Path({str(bin_dir)!r}), {run_as_user()!r})"
    child, pid = start_in_a_child(setup)
    directory = Path(os.readlink(f"/proc/{pid}/cwd"))  # its own temporary directory
    try:
        assert running(pid) and len(family(pid)) > 1  # the postmaster and its helpers
        assert survivors(child, pid, how) == set()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
