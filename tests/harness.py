"""A real relay on loopback, with real SSH targets, for integration tests."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from relay.cli.sandbox import SandboxTarget
from relay.config import (
    ClusterConfig,
    Limits,
    RedactionConfig,
    RelayConfig,
    TargetConfig,
    UserConfig,
)
from relay.core.roles import Role
from relay.evidence.audit import AuditLog
from relay.evidence.recording import recorder_factory
from relay.net.server import Relay
from relay.storage.config import StorageConfig
from relay.storage.service import ObjectStorage
from relay.store import open_store
from relay.trust.keys import SigningKey
from tui.client import RelayClient

USERS = {"alice": Role.LEAD, "bob": Role.VIEWER, "carol": Role.VIEWER, "rita": Role.REVIEWER}


@dataclass(frozen=True)
class Targets:
    """Which target a test opens its session on, and the extra targets that needs."""

    name: str
    extra: dict[str, TargetConfig]


@dataclass
class Harness:
    relay: Relay
    data_dir: Path
    user_keys: dict[str, asyncssh.SSHKey]
    clients: list[RelayClient] = field(default_factory=list)
    ca_cert: Path | None = None  # with a TLS relay: the CA its clients trust
    storage: ObjectStorage | None = None  # with object storage: the relay's bucket

    @property
    def url(self) -> str:
        return self.relay.url

    async def client(self) -> RelayClient:
        # no keepalive pings: tests read output on their own schedule, and a client whose
        # pong waits behind output the test has not read yet gives up on the relay
        # (seen under load as "keepalive ping timeout" in a flood test's idle witness)
        client = RelayClient(self.url, ca_cert=self.ca_cert, ping_interval=None)
        await client.connect()
        self.clients.append(client)
        return client

    async def login(self, user: str) -> RelayClient:
        client = await self.client()
        await client.auth_ssh_key(user, self.user_keys[user])
        return client

    async def open(self, target: str = "sandbox", owner: str = "alice") -> str:
        live = await self.relay.open_session(target, owner, "integration test")
        return live.session_id

    async def joined(
        self, user: str, session: str, offset: int | None = None, cols: int = 80, rows: int = 24
    ) -> RelayClient:
        client = await self.login(user)
        await client.join(session, offset, cols, rows)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()


def user_config(name: str, key: asyncssh.SSHKey, role: Role) -> UserConfig:
    line = key.export_public_key("openssh").decode().strip()
    return UserConfig(name=name, keys=(line,), roles=frozenset({role}))


@asynccontextmanager
async def running_relay(
    tmp: Path,
    targets: dict[str, TargetConfig] | None = None,
    limits: Limits | None = None,
    shell: list[str] | None = None,
    four_eyes: int = 0,
    four_eyes_action: str = "pause",
    token_ttl: float = 8 * 3600.0,
    recordings: bool = False,
    tls: tuple[Path, Path, Path] | None = None,
    redaction: RedactionConfig | None = None,
    users: dict[str, Role] | None = None,
    user_keys: dict[str, asyncssh.SSHKey] | None = None,
    name: str = "warroom",
    storage: StorageConfig | None = None,
    cluster: ClusterConfig | None = None,
    signing: SigningKey | None = None,
) -> AsyncIterator[Harness]:
    """A relay with a sandbox target (plus ``targets``) and four users with SSH keys.

    With ``recordings`` every session is recorded under ``<data>/recordings``.
    With ``tls`` (certificate, key, and the CA clients trust) it serves ``wss://``.
    ``users`` replaces the four users and their roles; ``user_keys`` reuses
    keys (a test restarting the relay on the same ``tmp`` passes the first
    run's ``h.user_keys``, so its users sign in with the same keys).
    ``cluster`` with a database makes it one relay of a cluster, wired as
    ``warroom relay`` does (state, audit copy and witness in the database);
    relays of one cluster share ``signing`` (a key set) and ``name``. With
    ``storage`` recordings and the audit log also go to that bucket.
    """
    relay_key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp / "relay_client_key"
    relay_key.write_private_key(str(key_path))
    sandbox = SandboxTarget(
        relay_key,
        shell=shell or ["/bin/bash", "--norc", "--noprofile", "-i"],
        env={"PS1": "$ ", "TERM": "xterm-256color"},
    )
    await sandbox.start()
    known_hosts = tmp / "sandbox_known_hosts"
    sandbox.write_known_hosts(known_hosts)
    all_targets = {
        "sandbox": TargetConfig(
            name="sandbox",
            host="127.0.0.1",
            port=sandbox.port,
            user="demo",
            key=key_path,
            known_hosts=known_hosts,
            four_eyes=four_eyes,
            four_eyes_action=four_eyes_action,
        ),
        **(targets or {}),
    }
    roles = USERS if users is None else users
    keys = dict(user_keys or {})
    for user in roles:
        keys.setdefault(user, asyncssh.generate_private_key("ssh-ed25519"))
    config = RelayConfig(
        listen_host="127.0.0.1",
        listen_port=0,
        name=name,
        data_dir=tmp / "data",
        limits=limits or Limits(),
        token_ttl=token_ttl,
        tls_cert=tls[0] if tls else None,
        tls_key=tls[1] if tls else None,
        redaction=redaction or RedactionConfig(),
        targets=all_targets,
        users={user: user_config(user, keys[user], role) for user, role in roles.items()},
        cluster=cluster or ClusterConfig(),
    )
    signing = signing or SigningKey.load_or_create(config.data_dir / "keys")
    bucket = ObjectStorage.open(storage, config.node, config.data_dir) if storage else None
    if bucket is not None:
        bucket.start()
    store = copy = None
    if config.cluster.database is not None:
        from relay.cluster.settings import agree_settings
        from relay.cluster.signing import agree
        from relay.store.pg_audit import PostgresAudit
        from relay.store.postgres import PostgresStore

        try:  # first, as `warroom relay` does: it migrates the database the copy writes to
            store = await open_store(config.data_dir, config.cluster.database, config.node)
            assert isinstance(store, PostgresStore)
            await agree(store, signing, config.node, config.data_dir / "keys")  # as it does too
            await agree_settings(store, config)  # and its [redaction], [limits] output_buffer
        except BaseException:
            if store is not None:
                await store.close()
            await sandbox.close()
            raise
        copy = PostgresAudit(config.cluster.database, config.node, signing.public.text())
    audit = AuditLog(
        config.data_dir / "audit",
        signing,
        witness=copy,
        copy=copy,
        replicate=bucket.uploader.audit if bucket is not None else None,
    )
    recorder = (
        recorder_factory(
            config.data_dir / "recordings",
            signing,
            audit=audit,
            replicate=bucket.uploader.recording if bucket is not None else None,
        )
        if recordings
        else None
    )
    relay = Relay(config, signing, audit, recorder, store=store, storage=bucket)
    if copy is not None:
        relay.watch_dependency("audit_copy", copy.check)
    try:
        await relay.start()
    except BaseException:
        audit.close("the relay did not start")
        if bucket is not None:
            await asyncio.to_thread(bucket.close, 30.0)
        if copy is not None:
            await asyncio.to_thread(copy.close)
        if store is not None:
            await store.close()
        await sandbox.close()
        raise
    harness = Harness(relay, config.data_dir, keys, ca_cert=tls[2] if tls else None, storage=bucket)
    try:
        yield harness
    finally:
        await harness.close()
        await relay.close()
        audit.close("test finished")
        if bucket is not None:
            await asyncio.to_thread(bucket.close, 30.0)
        if copy is not None:
            await asyncio.to_thread(copy.close)
        if store is not None:
            await store.close()
        await sandbox.close()


def sshd_target(server: object, *, known_hosts: Path | None = None) -> TargetConfig:
    """A target config for the real sshd fixture."""
    from tests.sshd import SshdServer

    assert isinstance(server, SshdServer)
    return TargetConfig(
        name="sshd",
        host=server.host,
        port=server.port,
        user=server.user,
        key=server.client_key_path,
        known_hosts=known_hosts or server.known_hosts_path,
    )


async def read_until(client: RelayClient, needle: bytes, timeout: float = 10.0) -> bytes:
    """Collect output frames until ``needle`` appears; return everything collected."""
    from relay.core.protocol import OutputChunk

    seen = bytearray()
    async with asyncio.timeout(timeout):
        while needle not in seen:
            event = await client.recv()
            if isinstance(event, OutputChunk):
                seen += event.data
    return bytes(seen)


def sink_shell(sink: Path) -> list[str]:
    """A target shell that only records: ``cat`` on a raw PTY (no echo, no signals from
    ^C or ^D) writing every byte it receives to a file of its own in ``sink``.

    What is in those files is exactly what reached the shell, the oracle for
    "input never reaches the target"; the session prints nothing.
    """
    return ["/bin/sh", "-c", f"stty raw -echo && exec cat > {shlex.quote(str(sink))}/in.$$"]


def sunk(sink: Path) -> bytes:
    """Everything the shells of :func:`sink_shell` received so far."""
    return b"".join(path.read_bytes() for path in sorted(sink.glob("in.*")))


async def until_sunk(sink: Path, marker: bytes, timeout: float = 30.0) -> bytes:
    """Wait until ``marker`` reached a sink shell; everything typed before it has too."""
    async with asyncio.timeout(timeout):
        while marker not in (received := sunk(sink)):
            await asyncio.sleep(0.02)
    return received
