"""A private PostgreSQL server on 127.0.0.1 for tests: the cluster's shared state.

The relay's PostgreSQL code must be tested against the server it will meet in
production, so these fixtures start a genuine ``postgres`` from the Debian
packages (``/usr/lib/postgresql/<version>/bin``), in a throwaway directory:
``initdb`` with trust authentication for local and loopback connections only
(``listen_addresses`` is ``127.0.0.1``; the unix socket sits in the same
directory), on a free port, with durability turned off (``fsync``,
``synchronous_commit``, ``full_page_writes``) because a test database is
never worth a disk flush.

PostgreSQL refuses to run as root. When the tests run as root (CI does, for
sshd), the server runs as the ``postgres`` system user that the Debian
package creates; the directory is made in ``/tmp`` and given to that user,
because pytest's own temporary directories are private to root.

:func:`postgres_server` starts one server for the whole test session;
:func:`postgres_dsn` gives each test a database of its own (``CREATE
DATABASE`` copies an empty template in a few milliseconds), so tests never
see each other's rows. A missing server is a skip with the reason, and a
failure under ``CI=true`` (:func:`tests.tools.require_tool`).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg
import pytest

from tests.servers import ServerProcess, die_with_parent
from tests.tools import require_tool

BIN_ROOT = Path("/usr/lib/postgresql")
RUN_AS_ROOT_USER = "postgres"  # the Debian package's system user
DB_USER = "warroom"
START_TIMEOUT = 60.0  # initdb plus a first start, on two cores shared with other tests

PG_HBA = """\
# Test cluster only: trust, and only on the unix socket and loopback.
local all all trust
host all all 127.0.0.1/32 trust
"""


def find_bin_dir(root: Path = BIN_ROOT) -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has a server in it."""
    found = []
    for candidate in root.glob("*/bin"):
        version = candidate.parent.name
        if version.isdigit() and (candidate / "postgres").exists():
            found.append((int(version), candidate))
    return max(found)[1] if found else None


class PostgresServer(ServerProcess):
    """One ``postgres`` process and its data directory.

    ``stop()`` is a fast shutdown (SIGINT: clients are disconnected, the data stays).

    ``with PostgresServer() as server: psycopg.connect(server.dsn("postgres"))``.
    ``stop()`` and ``start()`` again keep the data and the port, so a test can
    take the database away from a running relay and bring it back.
    """

    stop_signal = signal.SIGINT
    stop_timeout = 15.0

    def __init__(self, bin_dir: Path, run_as: str | None = None) -> None:
        super().__init__()
        self.bin_dir = bin_dir
        self.run_as = run_as
        self.directory = Path(tempfile.mkdtemp(prefix="warroom-pg-"))
        self.data = self.directory / "data"
        self.log_path = self.directory / "postgres.log"
        self._names = itertools.count(1)
        self._user = pwd.getpwnam(run_as) if run_as else None
        if self._user is not None:
            os.chown(self.directory, self._user.pw_uid, self._user.pw_gid)

    @property
    def version(self) -> int:
        return int(self.bin_dir.parent.name)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{DB_USER}@{self.host}:{self.port}/{database}"

    def start(self) -> None:
        """Create the cluster on first use, then run postgres until it accepts connections."""
        if not self.data.exists():
            self._initdb()
        self._launch_on_a_free_port(keep=self.port)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    # ------------------------------------------------------------ databases

    def create_database(self) -> str:
        """A new, empty database; its name."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 STRATEGY file_copy')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # ------------------------------------------------------------ plumbing

    def _run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            cwd=self.directory,
            user=self._user.pw_uid if self._user else None,
            group=self._user.pw_gid if self._user else None,
            extra_groups=[] if self._user else None,
            timeout=START_TIMEOUT,
            check=False,
        )

    def _initdb(self) -> None:
        done = self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            DB_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace").strip()
            raise RuntimeError(f"initdb failed: {output}")
        (self.data / "pg_hba.conf").write_text(PG_HBA)

    def _launch(self) -> None:
        settings = {
            "port": str(self.port),
            "listen_addresses": self.host,
            "unix_socket_directories": str(self.directory),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "logging_collector": "off",
        }
        command = [str(self.bin_dir / "postgres"), "-D", str(self.data)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                user=self._user.pw_uid if self._user else None,
                group=self._user.pw_gid if self._user else None,
                extra_groups=[] if self._user else None,
                start_new_session=True,  # a ^C in the terminal stops pytest, not postgres first
                preexec_fn=die_with_parent(self.stop_signal),  # a killed run stops it too
            )
        self._wait_until_it_answers(self._accepts, START_TIMEOUT)

    def _accepts(self) -> bool:
        try:
            with psycopg.connect(self.dsn(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False


def run_as_user() -> str | None:
    """Who runs the server: ourselves, or (as root, which postgres refuses) ``postgres``."""
    return RUN_AS_ROOT_USER if os.geteuid() == 0 else None


def server_or_skip() -> PostgresServer:
    """A started server, or a skip (a failure under CI) saying what is missing."""
    bin_dir = find_bin_dir()
    require_tool(
        bin_dir is not None,
        f"no PostgreSQL server under {BIN_ROOT}/*/bin (apt-get install postgresql)",
    )
    assert bin_dir is not None
    user = run_as_user()
    if user is not None:
        try:
            pwd.getpwnam(user)
            known = True
        except KeyError:
            known = False
        require_tool(
            known,
            f"postgres refuses to run as root and there is no {user!r} system user to run it "
            "as (apt-get install postgresql creates it)",
        )
    server = PostgresServer(bin_dir, user)
    return server.__enter__()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole test session."""
    server = server_or_skip()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """A connection string to a fresh, empty database of this test's own."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.dsn(name)
    finally:
        postgres_server.drop_database(name)
