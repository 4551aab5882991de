"""The bench rig: a real sshd, relays and baselines in their own processes, and clients.

Everything a benchmark row needs to drive the relay the way engineers do —
over websockets, authenticated with SSH keys, against a genuine OpenSSH sshd —
and to drive the baselines the same way: a bare asyncssh PTY session on the
same sshd, and a bare websockets broadcast server.

Clients read output with :class:`Scanner`, which counts bytes and finds an
end marker without copying frames, so the relay and its baselines pay the same
client-side cost per byte.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
from websockets.asyncio.client import ClientConnection

from bench.relay_process import LEAD, TARGET, VIEWER
from tests.sshd import SshdServer
from tui.client import RelayClient

OUTPUT = ord("o")
SNAPSHOT = ord("s")
HEADER = 9  # b"o" + u64 offset
START_TIMEOUT = 20.0
WORDS = ["GET", "POST", "/api/v1/items", "200", "404", "upstream", "latency_ms", "cache", "miss"]


def marker(tag: str) -> tuple[str, bytes]:
    """A shell command fragment and the bytes it prints.

    The command says ``$((6*7))`` and the output says ``42``, so the echo of
    the typed command never matches.
    """
    return f"echo {tag}_$((6*7))_END", f"{tag}_42_END".encode()


def write_log_file(path: Path, size: int, seed: int = 1) -> None:
    """``size`` bytes of printable log lines (no control characters, no marker)."""
    rng = random.Random(seed)
    lines = []
    total = 0
    while total < 1 << 20:
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16)))
        line = f"{rng.randint(0, 9_999_999):07d} {words}\n"
        lines.append(line)
        total += len(line)
    block = "".join(lines).encode()
    with path.open("wb") as out:
        written = 0
        while written < size:
            piece = block[: size - written]
            out.write(piece)
            written += len(piece)


def pty_bytes(path: Path, head: int | None = None) -> int:
    """How many bytes ``cat`` of ``path`` prints through a PTY (``\n`` becomes ``\r\n``)."""
    data = path.read_bytes()[:head]
    return len(data) + data.count(b"\n")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far (``/proc/<pid>/stat``), in seconds.

    On a machine shared with other work, wall-clock rates swing with the load;
    CPU per byte swings less (it still grows under load: smaller reads, colder
    caches), so comparing two processes by it in the same run is steadier.
    """
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state is fields[0]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no VmRSS for {pid}")


class RssSampler:
    """Polls a process's RSS from a thread (the event loop is busy during a flood)."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.before = rss_mb(pid)
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb(self.pid))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_mb(self.pid))

    @property
    def growth(self) -> float:
        return self.peak - self.before


class Scanner:
    """Counts output bytes and watches for an end marker split anywhere."""

    def __init__(self, needle: bytes) -> None:
        self.needle = needle
        self.total = 0
        self._tail = b""

    def feed(self, data: bytes, start: int = 0) -> bool:
        """Account for ``data[start:]``; True once the marker has gone by."""
        self.total += len(data) - start
        keep = len(self.needle) - 1
        if self._tail and self.needle in self._tail + data[start : start + keep]:
            return True
        if data.find(self.needle, start) >= 0:
            return True
        if len(data) - start >= keep:
            self._tail = data[len(data) - keep :]
        else:
            self._tail = (self._tail + data[start:])[-keep:]
        return False


@dataclass
class Received:
    """What one client got in one run."""

    bytes: int
    resyncs: int
    done_at: float


async def read_relay_output(ws: ClientConnection, needle: bytes) -> Received:
    """Read relay frames until ``needle`` has been output; count bytes and resyncs."""
    scanner = Scanner(needle)
    resyncs = 0
    while True:
        frame = await ws.recv()
        if isinstance(frame, str):
            continue
        if frame[0] == SNAPSHOT:
            resyncs += 1
            continue
        if frame[0] == OUTPUT and scanner.feed(frame, HEADER):
            return Received(scanner.total, resyncs, time.perf_counter())


async def read_plain(ws: ClientConnection, needle: bytes) -> Received:
    """Read bare websockets frames until ``needle``; the baseline's twin of the above."""
    scanner = Scanner(needle)
    while True:
        frame = await ws.recv()
        if isinstance(frame, bytes) and scanner.feed(frame):
            return Received(scanner.total, 0, time.perf_counter())


async def drain(ws: ClientConnection) -> None:
    """Keep reading (a viewer that watches but whose numbers are not counted)."""
    while True:
        await ws.recv()


class PtySink(asyncssh.SSHClientSession[bytes]):
    """A bare asyncssh PTY session: counts bytes and resolves a future on a marker."""

    def __init__(self) -> None:
        self._scanner: Scanner | None = None
        self._done: asyncio.Future[float] | None = None

    def expect(self, needle: bytes) -> asyncio.Future[float]:
        """A future set to ``perf_counter()`` when ``needle`` arrives after now."""
        self._scanner = Scanner(needle)
        self._done = asyncio.get_running_loop().create_future()
        return self._done

    @property
    def total(self) -> int:
        return self._scanner.total if self._scanner else 0

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self._scanner is None or self._done is None or self._done.done():
            return
        if self._scanner.feed(data):
            self._done.set_result(time.perf_counter())


@dataclass
class DirectShell:
    """A shell on the sshd through asyncssh alone: the baseline for rows 1 and 3."""

    conn: asyncssh.SSHClientConnection
    channel: asyncssh.SSHClientChannel[bytes]
    sink: PtySink

    @classmethod
    async def open(cls, sshd: SshdServer, **options: Any) -> DirectShell:
        """``options`` go to ``asyncssh.connect`` (``encryption_algs``: the relay's order)."""
        conn = await asyncssh.connect(**sshd.connect_kwargs(**options))
        channel, sink = await conn.create_session(
            PtySink, term_type="xterm-256color", term_size=(80, 24), encoding=None
        )
        assert isinstance(sink, PtySink)
        shell = cls(conn, channel, sink)
        await shell.run("true", "ready", timeout=10)
        return shell

    async def run(self, command: str, tag: str, timeout: float = 120) -> tuple[float, int]:
        """Type ``command; echo <marker>``; return (seconds, bytes) until the marker."""
        echo, needle = marker(tag)
        done = self.sink.expect(needle)
        start = time.perf_counter()
        self.channel.write(f"{command}; {echo}\r".encode())
        end = await asyncio.wait_for(done, timeout)
        return end - start, self.sink.total

    @property
    def cipher(self) -> str:
        return str(self.conn.get_extra_info("recv_cipher"))

    async def close(self) -> None:
        self.conn.close()
        await self.conn.wait_closed()


class Child:
    """A ``python -m module`` child that prints ``READY <url> <pid>`` and stops on stdin EOF."""

    def __init__(self, module: str, *args: str, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=cwd,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode().split()
        if len(line) != 3 or line[0] != "READY":
            self.close()
            raise RuntimeError(f"{module} did not start (exit {self.process.poll()})")
        self.url = line[1]
        self.pid = int(line[2])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Rig:
    """The sshd, the user keys and the data files shared by every row."""

    directory: Path
    sshd: SshdServer
    lead_key: asyncssh.SSHKey
    viewer_key: asyncssh.SSHKey
    files: dict[str, Path] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)

    @classmethod
    def start(cls, directory: Path) -> Rig:
        sshd = SshdServer(directory / "sshd")
        sshd.start()
        rig = cls(
            directory,
            sshd,
            asyncssh.generate_private_key("ssh-ed25519"),
            asyncssh.generate_private_key("ssh-ed25519"),
        )
        rig.lead_key.write_public_key(directory / "lead.pub")
        rig.viewer_key.write_public_key(directory / "viewer.pub")
        return rig

    def data_file(self, name: str, size: int) -> Path:
        if name not in self.files:
            path = self.directory / f"{name}.log"
            write_log_file(path, size)
            self.files[name] = path
        return self.files[name]

    def relay(self, name: str, record: bool) -> Child:
        """A relay process on this sshd, recording or not, with its own data directory."""
        args = [
            "--data-dir",
            str(self.directory / name),
            "--sshd-host",
            self.sshd.host,
            "--sshd-port",
            str(self.sshd.port),
            "--sshd-user",
            self.sshd.user,
            "--sshd-key",
            str(self.sshd.client_key_path),
            "--known-hosts",
            str(self.sshd.known_hosts_path),
            "--lead-key",
            str(self.directory / "lead.pub"),
            "--viewer-key",
            str(self.directory / "viewer.pub"),
        ]
        child = Child("bench.relay_process", *args, *(["--record"] if record else []), cwd=_root())
        self.children.append(child)
        return child

    def broadcaster(self, path: Path, needle: bytes) -> Child:
        child = Child("bench.broadcast_process", str(path), needle.decode(), cwd=_root())
        self.children.append(child)
        return child

    def stop(self, child: Child) -> None:
        child.close()
        self.children.remove(child)

    def close(self) -> None:
        for child in self.children:
            child.close()
        self.children.clear()
        self.sshd.stop()


def _root() -> Path:
    return Path(__file__).resolve().parent.parent


# ------------------------------------------------------------ relay clients


async def login(
    url: str, user: str, key: asyncssh.SSHKey, rcvbuf: int | None = None
) -> RelayClient:
    """Connect and authenticate; ``rcvbuf`` shrinks the socket's receive buffer first."""
    sock = None
    if rcvbuf is not None:
        host, port = url.removeprefix("ws://").rsplit(":", 1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect((host, int(port)))
        sock.setblocking(False)
    client = RelayClient(url, sock=sock)
    await client.connect()
    await client.auth_ssh_key(user, key)
    return client


async def joined(client: RelayClient, session: str) -> RelayClient:
    """Join and wait for the first snapshot, so a run counts only its own output."""
    await client.join(session)
    for event in client.pending:
        if not isinstance(event, dict):
            client.pending.clear()
            return client
    assert client.ws is not None
    while True:
        frame = await client.ws.recv()
        if isinstance(frame, bytes) and frame[0] == SNAPSHOT:
            client.pending.clear()
            return client


@dataclass
class RelaySession:
    """A session on a relay process: its driving lead and its viewers."""

    session: str
    lead: RelayClient
    viewers: list[RelayClient] = field(default_factory=list)

    @classmethod
    async def open(cls, rig: Rig, relay: Child, viewers: int = 0) -> RelaySession:
        lead = await login(relay.url, LEAD, rig.lead_key)
        session = await lead.open(TARGET, "bench")
        await joined(lead, session)
        live = cls(session, lead)
        await live.add_viewers(rig, relay, viewers)
        await live.run("true", "ready", readers=[lead])
        return live

    async def add_viewers(self, rig: Rig, relay: Child, count: int) -> list[RelayClient]:
        new = []
        for _ in range(count):
            client = await login(relay.url, VIEWER, rig.viewer_key)
            new.append(await joined(client, self.session))
        self.viewers += new
        return new

    @property
    def everyone(self) -> list[RelayClient]:
        return [self.lead, *self.viewers]

    async def run(
        self,
        command: str,
        tag: str,
        readers: list[RelayClient] | None = None,
        timeout: float = 180,
    ) -> tuple[float, list[Received]]:
        """The lead types ``command; echo <marker>``; every reader reads to the marker.

        Returns the seconds until the last reader saw the marker, and what each got.
        """
        echo, needle = marker(tag)
        readers = self.everyone if readers is None else readers
        tasks = [asyncio.create_task(read_relay_output(_ws(c), needle)) for c in readers]
        await asyncio.sleep(0)
        start = time.perf_counter()
        await self.lead.send_input(f"{command}; {echo}\r".encode())
        received = await asyncio.wait_for(asyncio.gather(*tasks), timeout)
        return max(r.done_at for r in received) - start, list(received)

    async def end(self) -> None:
        await self.lead.send({"type": "end", "reason": "bench done"})
        for client in self.everyone:
            await client.close()


def _ws(client: RelayClient) -> ClientConnection:
    assert client.ws is not None
    return client.ws


def flood_command(path: Path, head: int | None = None) -> str:
    """``cat`` (or ``head -c``) of ``path`` with the terminal's echo off for its duration."""
    source = f"head -c {head} {path}" if head else f"cat {path}"
    return f"stty -echo; {source}; stty echo"


def env_summary() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
