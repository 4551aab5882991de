"""A private Redis server on 127.0.0.1 for tests: the cluster's live traffic.

The relays of a cluster carry live output, the driver's input and control
messages through Redis (``[cluster] redis``), so the tests start a genuine
``redis-server`` from the Debian package, as :mod:`tests.sshd` does for sshd:
on a free loopback port, in a throwaway directory, with persistence off (no
RDB snapshots, no append-only file: a test's streams are never worth a disk
write) and nothing but loopback listening.

:func:`redis_server` starts one server for the whole test session;
:func:`redis_url` gives each test a logical database of its own, emptied
first, as ``redis://127.0.0.1:PORT/N``. Keys (streams among them) are per
database; pub/sub channels are not (Redis shares them across databases), so
code under test must name its channels after something unique, a session id
for instance. A test that stops the server (Redis unreachable) takes
:func:`own_redis`, a server of its own. A missing ``redis-server`` is a skip
with the reason, and a failure under ``CI=true`` (:func:`tests.tools.require_tool`).

Readiness and emptying speak RESP over a plain socket: the fixture needs no
client library of its own.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ServerProcess, die_with_parent
from tests.tools import require_tool

SERVER_NAME = "redis-server"
START_TIMEOUT = 30.0  # a first start on two cores shared with other tests
DATABASES = 1024  # logical databases: one per test of a session, reused round-robin

REDIS_CONF = """\
bind {host}
port {port}
protected-mode yes
daemonize no
dir {directory}
save ""
appendonly no
databases {databases}
logfile ""
loglevel warning
"""


def commands(host: str, port: int, *calls: tuple[str, ...], timeout: float = 2.0) -> list[bytes]:
    """Send ``calls`` on one connection (RESP arrays of bulk strings); return each
    simple reply line (``+OK``, ``+PONG``, ``-ERR ...``). One connection, because a
    ``SELECT`` lasts as long as its connection."""
    parts = []
    for call in calls:
        parts.append(f"*{len(call)}\r\n".encode())
        for arg in call:
            data = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    replies = b""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"".join(parts))
        while replies.count(b"\r\n") < len(calls):
            chunk = sock.recv(4096)
            if not chunk:
                break
            replies += chunk
    return replies.split(b"\r\n")[: len(calls)]


class RedisServer(ServerProcess):
    """One ``redis-server`` process in its own directory.

    ``with RedisServer(path) as server: server.url(3)``. :meth:`stop` makes
    every connection fail (refused); :meth:`start` again keeps the port, so a
    relay's clients find it where they left it (its data is gone: nothing is
    persisted).
    """

    def __init__(self, directory: Path, executable: str = SERVER_NAME) -> None:
        super().__init__()
        self.directory = directory
        self.executable = executable
        self.config_path = directory / "redis.conf"
        self.log_path = directory / "redis.log"
        self._databases = itertools.cycle(range(1, DATABASES))

    def url(self, database: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{database}"

    def start(self, port: int | None = None) -> None:
        """Start on ``port`` (a restart after :meth:`stop`), or on a free one."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._launch_on_a_free_port(keep=port or self.port or None)

    def fresh_database(self) -> int:
        """A logical database number for one test, emptied first."""
        number = next(self._databases)
        replies = commands(self.host, self.port, ("SELECT", str(number)), ("FLUSHDB",))
        if replies != [b"+OK", b"+OK"]:
            raise RuntimeError(f"redis: emptying database {number} answered {replies!r}")
        return number

    def _prepare_port(self) -> None:
        self.config_path.write_text(
            REDIS_CONF.format(
                host=self.host, port=self.port, directory=self.directory, databases=DATABASES
            )
        )

    def _launch(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.executable, str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,  # a ^C in the terminal stops pytest, not redis first
                preexec_fn=die_with_parent(self.stop_signal),  # a killed run stops it too
            )
        self._wait_until_it_answers(self._answers, START_TIMEOUT)

    def _answers(self) -> bool:
        try:
            return commands(self.host, self.port, ("PING",), timeout=1.0) == [b"+PONG"]
        except OSError:
            return False


def server_or_skip(directory: Path) -> RedisServer:
    """A started server, or a skip (a failure under CI) saying what is missing."""
    executable = shutil.which(SERVER_NAME)
    require_tool(executable is not None, f"{SERVER_NAME} not found (apt-get install redis-server)")
    assert executable is not None
    server = RedisServer(directory, executable)
    server.start()
    return server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis server for the whole test session (each test takes its own database)."""
    directory = Path(tempfile.mkdtemp(prefix="warroom-redis-"))
    try:
        server = server_or_skip(directory)
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:PORT/N``: a logical database of this test's own, empty."""
    return redis_server.url(redis_server.fresh_database())


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test's own, which it may stop and start again."""
    server = server_or_skip(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()
