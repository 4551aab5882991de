"""A real OpenSSH sshd on 127.0.0.1 for tests: the relay's "production host".

The relay must work against the sshd that production runs, not only against our own
asyncssh sandbox, so integration tests drive a genuine ``/usr/sbin/sshd`` started from
a throwaway directory: its own host key, its own ``authorized_keys`` holding one
generated client key, no PAM, and quiet logins so that tests can read output exactly.

It logs in as the current user, which must be root here: sshd allocates the PTY as
root because this machine's devpts lacks ``gid=5``. The session fixture :func:`sshd`
skips (fails under ``CI=true``) when sshd is missing or we are not root.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from tests.servers import ServerProcess, die_with_parent
from tests.tools import require_tool

SSHD_PATH = Path("/usr/sbin/sshd")
#: sshd refuses to start without its privilege separation directory.
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT = 10.0

SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
AuthorizedKeysFile {authorized_keys}
PidFile {pid_file}
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
PrintMotd no
PrintLastLog no
Banner none
UseDNS no
X11Forwarding no
AllowAgentForwarding no
AcceptEnv LANG LC_*
LogLevel ERROR
"""


class SshdServer(ServerProcess):
    """One sshd process and the keys and files that go with it, under *directory*.

    ``with SshdServer(tmp_path) as server: asyncssh.connect(**server.connect_kwargs())``.
    """

    def __init__(self, directory: Path, *, sshd_path: Path = SSHD_PATH, options: str = "") -> None:
        super().__init__()
        self.directory = directory
        self.sshd_path = sshd_path
        self.options = options  # more sshd_config lines (e.g. ``Ciphers ...``)
        self.user = getpass.getuser()
        self.host_key_path = directory / "ssh_host_ed25519_key"
        self.host_public_key_path = directory / "ssh_host_ed25519_key.pub"
        self.client_key_path = directory / "id_ed25519"
        self.client_public_key_path = directory / "id_ed25519.pub"
        self.authorized_keys_path = directory / "authorized_keys"
        self.known_hosts_path = directory / "known_hosts"
        self.wrong_known_hosts_path = directory / "known_hosts.wrong"
        self.config_path = directory / "sshd_config"
        self.log_path = directory / "sshd.log"

    def start(self) -> None:
        """Generate keys, write the config and run sshd until it answers with a banner."""
        self.directory.mkdir(parents=True, exist_ok=True)
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        self._write_keys()
        self._launch_on_a_free_port()  # stop() ends the listener; open sessions live on

    def _prepare_port(self) -> None:
        self._write_port_files()

    @property
    def host_key(self) -> asyncssh.SSHKey:
        """The server's public host key."""
        return asyncssh.read_public_key(self.host_public_key_path)

    def connect_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``asyncssh.connect`` that log in with the client key.

        The agent and ``~/.ssh/config`` are disabled: a key from the developer's agent
        could otherwise log in where a test expects the client key to be refused.
        """
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.user,
            "client_keys": [str(self.client_key_path)],
            "known_hosts": str(self.known_hosts_path),
            "agent_path": None,
            "config": None,
        }
        kwargs.update(overrides)
        return kwargs

    def _write_keys(self) -> None:
        """Host key, client key, authorized_keys, and the wrong host key for refusal tests."""
        for private, public in (
            (self.host_key_path, self.host_public_key_path),
            (self.client_key_path, self.client_public_key_path),
        ):
            key = asyncssh.generate_private_key("ssh-ed25519")
            key.write_private_key(private)
            private.chmod(0o600)
            key.write_public_key(public)
        self.authorized_keys_path.write_bytes(self.client_public_key_path.read_bytes())

    def _write_port_files(self) -> None:
        """Files that name the port: known_hosts (right and wrong) and the sshd config."""
        pattern = f"[{self.host}]:{self.port}"
        self.known_hosts_path.write_text(f"{pattern} {_key_text(self.host_key)}\n")
        wrong = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
        self.wrong_known_hosts_path.write_text(f"{pattern} {_key_text(wrong)}\n")
        self.config_path.write_text(
            SSHD_CONFIG.format(
                port=self.port,
                host_key=self.host_key_path,
                authorized_keys=self.authorized_keys_path,
                pid_file=self.directory / "sshd.pid",
            )
            + self.options
        )

    def _launch(self) -> None:
        """Run ``sshd -D -e -f config``; raise RuntimeError with its log if it won't serve."""
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [str(self.sshd_path), "-D", "-e", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(self.stop_signal),  # a killed run stops it too
            )
        self._wait_until_it_answers(lambda: _answers_banner(self.host, self.port), START_TIMEOUT)


async def read_until(
    stream: asyncssh.SSHReader[bytes], marker: bytes, timeout: float = 10.0
) -> bytes:
    """Read *stream* until *marker* has arrived and return all that was read.

    Terminal output arrives in arbitrary pieces, so tests wait for a marker rather
    than for a number of reads; the tail in the error shows what came instead.
    """
    received = b""
    try:
        async with asyncio.timeout(timeout):
            while marker not in received:
                chunk = await stream.read(65536)
                if not chunk:
                    raise EOFError(f"EOF before {marker!r}; got ...{received[-300:]!r}")
                received += chunk
    except TimeoutError:
        raise TimeoutError(f"no {marker!r} in {timeout}s; got ...{received[-300:]!r}") from None
    return received


def _answers_banner(host: str, port: int) -> bool:
    """True once something on host:port speaks SSH (not merely accepts connections)."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            return sock.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False


def _key_text(key: asyncssh.SSHKey) -> str:
    """``algorithm base64`` of a public key, without its comment."""
    algorithm, data = key.export_public_key("openssh").decode().split()[:2]
    return f"{algorithm} {data}"


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdServer]:
    """A running sshd for the whole test session; skipped (failed in CI) where impossible."""
    require_tool(SSHD_PATH.exists(), f"{SSHD_PATH} is missing (apt-get install openssh-server)")
    require_tool(os.geteuid() == 0, "a real sshd needs root here to allocate PTYs")
    with SshdServer(tmp_path_factory.mktemp("sshd")) as server:
        yield server
