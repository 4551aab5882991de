"""Several real ``warroom relay`` processes forming one cluster, for tests and the bench.

Each relay is a subprocess started from a ``relay.toml`` written here, exactly
as an operator runs it, so that killing one is real: :meth:`RelayProcess.kill`
sends SIGKILL and the relay gets no chance to close anything. The relays share

* one PostgreSQL database (``[cluster] database``; :mod:`tests.postgres`),
* one S3 bucket (``[storage] s3``; moto's server, :mod:`tests.s3`),
* one Redis (``[cluster] redis``, :mod:`tests.redis`) when given one,
* one target, a real OpenSSH sshd (:mod:`tests.sshd`),
* ``relay.name``, the users and their SSH keys, and — put in each relay's
  ``<data-dir>/keys`` before it starts, as a deployment does — one signing key.

Each has its own node id (``relay-1``, ``relay-2``...), port, data dir and
log (``relay.log``, stdout and stderr both, so a failing test can show what
the relay said).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from relay.core.roles import Role
from relay.storage.config import StorageConfig
from relay.trust.keys import KEY_FILE, PUBLIC_KEY_FILE, SigningKey
from tests.servers import die_with_parent, free_port
from tests.sshd import SshdServer
from tui.client import RelayClient

WARROOM = [sys.executable, "-m", "tui.cli"]
CLUSTER_NAME = "prod-relay"
USERS = {
    "alice": Role.LEAD,
    "lena": Role.LEAD,
    "bob": Role.VIEWER,
    "carol": Role.VIEWER,
    "dave": Role.VIEWER,
    "rita": Role.REVIEWER,
}
START_TIMEOUT = 60.0  # a relay's start: Python imports, migrations, on two busy cores
STOP_TIMEOUT = 40.0  # a relay's SIGTERM: it waits up to 30 s for its last uploads
BANNER = "warroom relay listening on "


@dataclass
class RelayProcess:
    """One ``warroom relay`` of the cluster; :meth:`start` it, :meth:`kill` or :meth:`stop` it."""

    node: str
    directory: Path
    config_path: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    started: int = 0  # how many times it started

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def log_path(self) -> Path:
        return self.directory / "relay.log"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def start(self) -> None:
        """Run the relay until its banner says it listens; ``RuntimeError`` with its log
        if it exits instead (its exit status and last words are in the message)."""
        self.started += 1
        with self.log_path.open("ab") as log:
            log.write(f"---- start {self.started}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [*WARROOM, "relay", "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,  # a ^C in the terminal stops pytest, not the relays first
                preexec_fn=die_with_parent(signal.SIGTERM),  # a killed run stops them too
            )
        marker = f"---- start {self.started}\n"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log()
            this_run = text[text.rfind(marker) :]
            if BANNER in this_run:
                return
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"relay {self.node} exited with status {self.process.returncode} before "
                    f"serving: {this_run.removeprefix(marker).strip()[-3000:]}"
                )
            await asyncio.sleep(0.1)
        self.kill()
        raise RuntimeError(f"relay {self.node} did not serve within {START_TIMEOUT:g} s")

    async def exit_status(self) -> tuple[int, str]:
        """Run the relay to its end (one that refuses to start); its status and this run's log."""
        self.started += 1
        marker = f"---- start {self.started}\n"
        with self.log_path.open("ab") as log:
            log.write(marker.encode())
            log.flush()
            done = await asyncio.to_thread(
                subprocess.run,
                [*WARROOM, "relay", "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                timeout=START_TIMEOUT,
                check=False,
            )
        text = self.log()
        return done.returncode, text[text.rfind(marker) + len(marker) :]

    def kill(self) -> None:
        """SIGKILL: the relay dies as a lost machine would, closing nothing."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    async def stop(self) -> int | None:
        """SIGTERM and wait for the relay to finish (killed if it outstays STOP_TIMEOUT)."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode


@dataclass
class Cluster:
    """The relays, the users' SSH keys, and helpers to sign in through any relay."""

    relays: list[RelayProcess]
    user_keys: dict[str, asyncssh.SSHKey]
    signing: SigningKey
    clients: list[RelayClient] = field(default_factory=list)

    def __getitem__(self, number: int) -> RelayProcess:
        """Relay ``number``, counting from 1 as the node names do."""
        return self.relays[number - 1]

    async def client(self, number: int) -> RelayClient:
        client = RelayClient(self[number].url, ping_interval=None)
        await client.connect()
        self.clients.append(client)
        return client

    async def login(self, number: int, user: str) -> RelayClient:
        client = await self.client(number)
        await client.auth_ssh_key(user, self.user_keys[user])
        return client

    async def joined(
        self, number: int, user: str, session: str, offset: int | None = None
    ) -> RelayClient:
        client = await self.login(number, user)
        await client.join(session, offset)
        return client

    async def close_clients(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):  # a killed relay's client: nothing to close
                await client.close()
        self.clients.clear()


def install_key(signing: SigningKey, keys_dir: Path) -> None:
    """Put ``signing`` in ``keys_dir`` as an operator deploying a relay would (mode 0600)."""
    from cryptography.hazmat.primitives import serialization

    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = signing.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = keys_dir / KEY_FILE
    path.write_bytes(pem)
    path.chmod(0o600)
    (keys_dir / PUBLIC_KEY_FILE).write_text(signing.public.text() + "\n")


def copy_keys(source: Path, destination: Path) -> None:
    """What the cluster's error message tells an operator to do: copy keys/ over."""
    destination.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in (KEY_FILE, PUBLIC_KEY_FILE):
        shutil.copy2(source / name, destination / name)


def relay_toml(
    *,
    port: int,
    node: str,
    database: str,
    sshd: SshdServer,
    user_keys: dict[str, asyncssh.SSHKey],
    storage: StorageConfig | None = None,
    redis: str | None = None,
    extra: str = "",
) -> str:
    """The config of one relay of the cluster."""
    lines = [
        "[relay]",
        f'listen = "127.0.0.1:{port}"',
        f'name = "{CLUSTER_NAME}"',
        'data_dir = "data"',
        "",
        "[cluster]",
        f'database = "{database}"',
        f'node = "{node}"',
    ]
    if redis is not None:
        lines.append(f'redis = "{redis}"')
    lines += ["", "[audit]", 'witness = "none"', ""]
    if storage is not None:
        s3 = storage.s3
        lines += [
            "[storage]",
            f's3 = {{ endpoint = "{s3.endpoint}", bucket = "{s3.bucket}", '
            f'prefix = "{s3.prefix}" }}',
            f"interval = {storage.interval}",
            f"max_lag = {storage.max_lag}",
            "",
        ]
    lines += [
        "[targets.sshd]",
        f'host = "{sshd.host}"',
        f"port = {sshd.port}",
        f'user = "{sshd.user}"',
        f'key = "{sshd.client_key_path}"',
        f'known_hosts = "{sshd.known_hosts_path}"',
        "",
    ]
    for user, role in USERS.items():
        key = user_keys[user].export_public_key("openssh").decode().strip()
        lines += [f"[users.{user}]", f'keys = ["{key}"]', f'roles = ["{role}"]', ""]
    return "\n".join(lines) + extra


def prepare(
    tmp: Path,
    count: int,
    *,
    database: str,
    sshd: SshdServer,
    storage: StorageConfig | None = None,
    redis: str | None = None,
    signing: SigningKey | None = None,
    keys: Sequence[bool] | None = None,
    extra: str = "",
) -> Cluster:
    """Write ``count`` relays' configs under ``tmp`` (nothing runs yet).

    ``keys[i]`` False leaves relay i+1 without a key (it must get the cluster's
    some other way); by default every relay gets ``signing``.
    """
    signing = signing or SigningKey.generate()
    user_keys = {user: asyncssh.generate_private_key("ssh-ed25519") for user in USERS}
    relays = []
    for index in range(count):
        node = f"relay-{index + 1}"
        directory = tmp / node
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port("127.0.0.1")
        config = directory / "relay.toml"
        config.write_text(
            relay_toml(
                port=port,
                node=node,
                database=database,
                sshd=sshd,
                user_keys=user_keys,
                storage=storage,
                redis=redis,
                extra=extra,
            )
        )
        relay = RelayProcess(node, directory, config, port)
        if keys is None or keys[index]:
            install_key(signing, relay.keys_dir)
        relays.append(relay)
    return Cluster(relays, user_keys, signing)


@asynccontextmanager
async def running_cluster(
    tmp: Path,
    count: int,
    *,
    database: str,
    sshd: SshdServer,
    storage: StorageConfig | None = None,
    redis: str | None = None,
    extra: str = "",
) -> AsyncIterator[Cluster]:
    """``count`` relays started together (as a deployment starts them), stopped at the end.

    A relay a test killed stays dead; the others get SIGTERM. On failure each
    relay's log is attached to the exception, so the report says what the relays said.
    """
    cluster = prepare(
        tmp, count, database=database, sshd=sshd, storage=storage, redis=redis, extra=extra
    )
    try:
        await asyncio.gather(*(relay.start() for relay in cluster.relays))
        yield cluster
    except BaseException as exc:
        for relay in cluster.relays:
            exc.add_note(f"--- {relay.node} ({relay.log_path}):\n{relay.log()[-4000:]}")
        raise
    finally:
        await cluster.close_clients()
        await asyncio.gather(*(relay.stop() for relay in cluster.relays))
        for relay in cluster.relays:  # a port still held here would fail the next test
            relay.kill()
