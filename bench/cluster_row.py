"""Row 9: one session, its viewers spread over 4 relays of a cluster vs all on one relay.

Four ``warroom relay`` processes (:mod:`tests.cluster`) share a private
PostgreSQL and Redis (:mod:`tests.postgres`, :mod:`tests.redis`) and the
rig's sshd. The lead opens the session on relay 1, its *home*; every other
relay serves its viewers as an *edge*, from the session's Redis stream.
In one run, on the same four relays:

* **one relay**: N viewers all on the home (the baseline);
* **spread**: N viewers a quarter on each relay (three quarters on edges).

Each layout is measured by

* a flood (``cat`` of a log file, the lead typing): aggregate throughput, the
  bytes every viewer got divided by the time until the last one saw the end;
* keystroke echo: the lead types one letter at a time in ``cat > /dev/null``
  and the time until a watching viewer sees the echo is taken for a viewer on
  the home and (spread) one on an edge, for the same keystrokes; 2 ms apart
  (as row 3), then (spread) at a typist's pace, with the share of the two
  cores the relays, Redis and the clients used meanwhile;
* loss: each viewer checks the byte offsets of its output frames; a viewer
  that never got a snapshot (never fell behind) must have every byte once —
  the bytes missing or doubled are counted (target 0);
* cost: the CPU time (``/proc``) each relay process spent during the flood,
  per MB of the session's stream, once more with no viewer at all (what the
  session itself costs its home), so that the cost of one viewer on the home
  and of one on an edge can be told apart.

Two cores run everything here (four relays, PostgreSQL, Redis, sshd and all
the viewers' client in one process), so the spread layout cannot be faster
than one relay: it does the same work plus Redis. The row reports that
honestly and projects from the measured costs what N machines would give.
"""

from __future__ import annotations

import asyncio
import os
import string
import struct
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncssh
from websockets.asyncio.client import ClientConnection

from bench.rig import (
    OUTPUT,
    SNAPSHOT,
    Rig,
    Scanner,
    cpu_seconds,
    flood_command,
    joined,
    marker,
    pty_bytes,
)
from bench.table import Row, percentile
from tests.cluster import Cluster, prepare
from tests.postgres import PostgresServer, find_bin_dir, run_as_user
from tests.redis import RedisServer
from tui.client import RelayClient

T = TypeVar("T")
MB = 1e6
RELAYS = 4
LEAD = "alice"
VIEWER = "bob"
TARGET = "sshd"
LETTERS = string.ascii_lowercase
PAUSE = 0.002  # between keystrokes, as in row 3
# ...and at a typist's pace (20 keys a second, twice a fast typist's): with 200 viewers,
# keys 2 ms apart keep two cores busy writing the echoes (each relay writes each echo
# to its 50 viewers), so that phase measures queueing for the CPU as much as the path.
TYPING = 0.05
# Room for the viewers (one user, bob, signs in 200 times), and pings answered late:
# every viewer's client shares this one process, which answers a ping behind the
# output it has not read yet.
LIMITS = """
[limits]
clients_per_session = 1024
connections_per_user = 1024
ping_timeout = "2m"
"""


STARTED = time.perf_counter()
JOIN_TIMEOUT = 60.0  # seconds for one viewer to be signed in and get its first snapshot
ECHO_TIMEOUT = 30.0  # seconds for a keystroke's echo to reach everyone watching
CLOSE_TIMEOUT = 120.0  # seconds for all of a layout's clients to close


def _log(message: str) -> None:
    elapsed = time.perf_counter() - STARTED
    print(f"bench: row 9: [{elapsed:7.1f} s] {message}", file=sys.stderr, flush=True)


class Stuck(RuntimeError):
    """A step of the row did not finish in its time: the row reports it, never hangs."""


async def _bounded(step: Awaitable[T], seconds: float, what: str) -> T:
    """``step``, or :class:`Stuck` saying what did not happen after ``seconds``."""
    try:
        return await asyncio.wait_for(step, seconds)
    except TimeoutError:
        raise Stuck(f"{what}: nothing after {seconds:g} s") from None


@dataclass
class Watch:
    """What one viewer got during a flood: bytes, snapshots, and offsets out of order."""

    bytes: int = 0
    snapshots: int = 0
    lost: int = 0  # bytes skipped over without a snapshot
    doubled: int = 0  # bytes received twice
    done_at: float = 0.0


async def watch(ws: ClientConnection, needle: bytes) -> Watch:
    """Read frames until ``needle`` has been output; check every offset follows the last."""
    seen = Watch()
    scanner = Scanner(needle)
    expected: int | None = None
    while True:
        frame = await ws.recv()
        if isinstance(frame, str):
            continue
        if frame[0] == SNAPSHOT:
            seen.snapshots += 1
            expected = None  # the snapshot moves the offset; the next frame says where
            continue
        if frame[0] != OUTPUT:
            continue
        (offset,) = struct.unpack_from(">Q", frame, 1)
        size = len(frame) - 9
        if expected is not None:
            if offset > expected:
                seen.lost += offset - expected
            elif offset < expected:
                seen.doubled += min(size, expected - offset)
        expected = offset + size
        seen.bytes += size
        if scanner.feed(frame, 9):
            seen.done_at = time.perf_counter()
            return seen


@dataclass
class Flood:
    """One flood's outcome in one layout."""

    seconds: float
    watches: list[Watch]
    cpu: dict[str, float]  # relay node -> CPU seconds spent during the flood
    stream: int  # bytes of the session's stream the flood made

    @property
    def aggregate(self) -> float:
        return sum(w.bytes for w in self.watches) / self.seconds / MB

    @property
    def behind(self) -> int:
        return sum(1 for w in self.watches if w.snapshots)

    @property
    def lost(self) -> int:
        return sum(w.lost + w.doubled for w in self.watches if not w.snapshots)


@dataclass
class Layout:
    """The lead and the viewers of one layout, by relay."""

    lead: RelayClient
    session: str
    viewers: dict[int, list[RelayClient]] = field(default_factory=dict)

    @property
    def everyone(self) -> list[RelayClient]:
        return [v for group in self.viewers.values() for v in group]

    async def close(self) -> None:
        """Close every viewer at once, all of them read meanwhile.

        A websocket's closing handshake waits for the relay's close frame, which
        comes after whatever the relay sent before it: a client nobody reads
        would wait its close timeout (10 s) for it, once per viewer. And every
        viewer that leaves sends the others a roster, which they must read too.
        """
        clients = self.everyone
        reading = await _drain_idle(clients)
        try:
            await _bounded(
                asyncio.gather(*(c.close() for c in clients)),
                CLOSE_TIMEOUT,
                f"closing {len(clients)} viewers",
            )
        finally:
            await _stop(reading)
        self.viewers.clear()


def _ws(client: RelayClient) -> ClientConnection:
    assert client.ws is not None
    return client.ws


async def _login(url: str, user: str, key: asyncssh.SSHKey) -> RelayClient:
    """Signed in, without keepalive pings: a viewer's pong would wait behind the output
    this one client process has not read yet, and the link would be given up."""
    client = RelayClient(url, ping_interval=None)
    await client.connect()
    await client.auth_ssh_key(user, key)
    return client


async def _add_viewers(cluster: Cluster, layout: Layout, spread: dict[int, int]) -> None:
    """Sign viewers in and join them, while those already in keep reading: every join
    sends everyone a roster, and a client that reads nothing for the minutes 200 joins
    take stops answering the relay's pings (websockets stops reading a full queue)."""
    key = cluster.user_keys[VIEWER]
    _log(f"joining viewers {spread}")
    reading = await _drain_idle([layout.lead, *layout.everyone])
    try:
        for number, count in spread.items():
            group = layout.viewers.setdefault(number, [])
            for _ in range(count):
                client = await _bounded(
                    _login(cluster[number].url, VIEWER, key),
                    JOIN_TIMEOUT,
                    f"viewer {len(group) + 1} signing in on relay {number}",
                )
                group.append(
                    await _bounded(
                        joined(client, layout.session),
                        JOIN_TIMEOUT,
                        f"viewer {len(group) + 1} joining on relay {number} (its snapshot)",
                    )
                )
                reading += await _drain_idle([client])
    finally:
        await _stop(reading)
    _log("viewers joined")


def paced_command(rounds: int = 200) -> str:
    """About 3.3 MB in 16 KiB bursts 10 ms apart: a busy session every viewer can follow."""
    burst = "seq -f '%062g' 1 256"
    return f"stty -echo; for i in $(seq 1 {rounds}); do {burst}; sleep 0.01; done; stty echo"


async def _flood(
    cluster: Cluster, layout: Layout, command: str, tag: str, timeout: float = 600
) -> Flood:
    echo, needle = marker(tag)
    readers = [asyncio.create_task(watch(_ws(c), needle)) for c in [layout.lead, *layout.everyone]]
    await asyncio.sleep(0)
    pids = _pids(cluster)
    before = {node: cpu_seconds(pid) for node, pid in pids.items()}
    start = time.perf_counter()
    await layout.lead.send_input(f"{command}; {echo}\r".encode())
    try:
        watches = await _bounded(
            asyncio.gather(*readers), timeout, f"flood {tag} reaching all {len(readers)} clients"
        )
    finally:
        for task in readers:
            task.cancel()
    seconds = max(w.done_at for w in watches) - start
    _log(f"flood {tag}: {seconds:.1f} s, {sum(1 for w in watches if w.snapshots)} resynced")
    cpu = {node: cpu_seconds(pid) - before[node] for node, pid in pids.items()}
    return Flood(seconds, list(watches[1:]), cpu, watches[0].bytes)


def _pids(cluster: Cluster) -> dict[str, int]:
    found = {}
    for relay in cluster.relays:
        assert relay.process is not None
        found[relay.node] = relay.process.pid
    return found


@dataclass
class Echo:
    """One echo phase: milliseconds to each watcher per keystroke, and the CPU it took."""

    samples: list[list[float]]
    seconds: float  # wall-clock time of the phase
    cpu: dict[str, float]  # process -> CPU seconds during the phase

    def busy(self, cores: int) -> float:
        """The share of ``cores`` the measured processes used during the phase."""
        return sum(self.cpu.values()) / (self.seconds * cores) if self.seconds else 0.0

    def per_key(self, name: str) -> float:
        """CPU ms ``name`` spent per measured keystroke (Enter, every 50th, is typed
        and its CPU counted, but not timed: its echo is a line feed)."""
        return self.cpu[name] * 1000 / len(self.samples[0]) if self.samples[0] else 0.0


async def _echo(
    layout: Layout,
    watchers: list[RelayClient],
    keystrokes: int,
    pids: dict[str, int],
    pause: float = PAUSE,
) -> Echo:
    """Milliseconds from the lead's keystroke to its echo at each watcher, keys ``pause``
    seconds apart; and the CPU ``pids`` (the relays, Redis, this process) spent meanwhile.

    The other viewers are not read meanwhile. The relays write every echo to
    them all the same (a few KB in all: their socket buffers take it, so they
    are not slow readers to the relay); but read in this one process, up to
    199 of their frames would be handled between an echo's arrival and the
    watcher's turn, and the row would measure this process instead of the
    relays (~25-35 ms at p50 for a viewer on the home, against row 3's 0.7).
    """
    lead = layout.lead
    _log(f"keystroke echo, {len(watchers)} watcher(s), {pause * 1000:g} ms apart")
    samples: list[list[float]] = [[] for _ in watchers]
    await lead.send_input(b"stty echo; cat > /dev/null\r")
    await asyncio.sleep(0.5)

    async def seen(client: RelayClient, needle: bytes) -> float:
        scanner = Scanner(needle)
        ws = _ws(client)
        while True:
            frame = await ws.recv()
            if isinstance(frame, bytes) and frame[0] == OUTPUT and scanner.feed(frame, 9):
                return time.perf_counter()

    everyone = [lead, *watchers]
    await lead.send_input(b"z")  # what the command printed before cat started goes by
    await _bounded(
        asyncio.gather(*(seen(c, b"z") for c in everyone)),
        ECHO_TIMEOUT,
        "the first keystroke's echo reaching the lead and its watchers",
    )
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    began = time.perf_counter()
    for i in range(keystrokes):
        key = b"\r" if (i + 1) % 50 == 0 else LETTERS[i % 26].encode()
        needle = b"\n" if key == b"\r" else key
        waits = [asyncio.create_task(seen(c, needle)) for c in everyone]
        await asyncio.sleep(0)
        start = time.perf_counter()
        await lead.send_input(key)
        ends = await _bounded(
            asyncio.gather(*waits), ECHO_TIMEOUT, f"the echo of keystroke {i + 1}"
        )
        if key != b"\r":
            for n, end in enumerate(ends[1:]):
                samples[n].append((end - start) * 1000)
        await asyncio.sleep(pause)
    seconds = time.perf_counter() - began
    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    echo, needle = marker("E")
    await lead.send_input(b"\x03")  # ^C flushes the tty's input queue: wait for the shell
    await asyncio.sleep(0.3)
    await lead.send_input(f"{echo}\r".encode())
    await _bounded(
        asyncio.gather(*(seen(c, needle) for c in everyone)),
        ECHO_TIMEOUT,
        "the shell's answer after the keystrokes",
    )
    return Echo(samples, seconds, cpu)


async def _drain_idle(clients: list[RelayClient]) -> list[asyncio.Task[None]]:
    """Read (and drop) what ``clients`` get until the tasks are stopped (:func:`_stop`)."""

    async def drain(ws: ClientConnection) -> None:
        while True:
            await ws.recv()

    return [asyncio.create_task(drain(_ws(c))) for c in clients]


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class Costs:
    """CPU milliseconds per MB of the session's stream."""

    session: float  # the home with no viewer: the session itself
    home_viewer: float  # one more viewer on the home
    edge_viewer: float  # an edge's CPU over its viewers, all in, at this spread
    edge_follow: float  # what one edge pays to follow the stream, its viewers aside
    home_publish: float  # what the home pays to put the stream in Redis (spread layout)


def _costs(
    alone: Flood, single: Flood, spread: Flood, viewers: int, spread_of: dict[int, int]
) -> Costs:
    home = "relay-1"
    per_mb = 1000 / (alone.stream / MB)
    session = alone.cpu[home] * per_mb
    home_viewer = (single.cpu[home] * 1000 / (single.stream / MB) - session) / viewers
    edges = [f"relay-{n}" for n in spread_of if n != 1]
    edge_viewers = sum(c for n, c in spread_of.items() if n != 1)
    spread_mb = spread.stream / MB
    edge_cpu = sum(spread.cpu[node] for node in edges) * 1000 / spread_mb
    edge_viewer = edge_cpu / edge_viewers if edge_viewers else float("nan")
    # the same fan-out code serves a viewer on an edge: the rest is following the stream
    follow = (edge_cpu - edge_viewers * home_viewer) / len(edges) if edges else 0.0
    publish = spread.cpu[home] * 1000 / spread_mb - session - spread_of.get(1, 0) * home_viewer
    return Costs(session, home_viewer, edge_viewer, follow, publish)


def projection(costs: Costs, viewers: int, machines: int, source: float) -> float:
    """Aggregate MB/s for ``viewers`` spread evenly over ``machines`` one-core relays.

    Each relay can spend one CPU-second per second. Per MB of the stream the
    home spends the session's cost, the publishing and its viewers'; each edge
    spends what following the stream costs it plus its viewers' (at the home's
    per-viewer cost: the same code serves them). The stream runs as fast as the
    busiest relay allows, and never faster than the target's PTY (``source``,
    MB/s); every viewer gets all of it.
    """
    per = viewers / machines
    home_ms = costs.session + (costs.home_publish if machines > 1 else 0.0)
    home_ms += per * costs.home_viewer
    edge_ms = costs.edge_follow + per * costs.home_viewer if machines > 1 else 0.0
    busiest = max(home_ms, edge_ms)
    rate = min(source, 1000 / busiest) if busiest > 0 else source
    return rate * viewers


async def cluster_row(rig: Rig, viewers: int, size: int, keystrokes: int) -> list[Row]:
    """Row 9 in one run: the single layout, then the spread one, on the same relays."""
    path = rig.data_file("cluster-flood", size)
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("row 9 needs a PostgreSQL server (apt-get install postgresql)")
    with (
        tempfile.TemporaryDirectory(prefix="warroom-row9-") as tmp,
        PostgresServer(bin_dir, run_as_user()) as postgres,
    ):
        redis = RedisServer(Path(tmp) / "redis")
        redis.start()
        try:
            dsn = postgres.dsn(postgres.create_database())
            cluster = prepare(
                Path(tmp) / "relays",
                RELAYS,
                database=dsn,
                sshd=rig.sshd,
                redis=redis.url(1),
                extra=LIMITS,
            )
            try:
                await asyncio.gather(*(relay.start() for relay in cluster.relays))
                assert redis.pid is not None
                return await _measure(cluster, redis.pid, path, viewers, keystrokes)
            finally:
                await cluster.close_clients()
                await asyncio.gather(*(relay.stop() for relay in cluster.relays))
        finally:
            redis.stop()


async def _measure(
    cluster: Cluster, redis: int, path: Path, viewers: int, keystrokes: int
) -> list[Row]:
    lead = await _login(cluster[1].url, LEAD, cluster.user_keys[LEAD])
    session = await lead.open(TARGET, "bench row 9")
    await joined(lead, session)
    layout = Layout(lead, session)
    whole = pty_bytes(path)

    cat = flood_command(path)
    await _flood(cluster, layout, cat, "W")  # warm-up: caches, the first snapshot
    alone = await _flood(cluster, layout, cat, "A")  # the session with no viewer

    single_of = {1: viewers}
    await _add_viewers(cluster, layout, single_of)
    single = await _flood(cluster, layout, cat, "S")
    single_paced = await _flood(cluster, layout, paced_command(), "SP")
    pids = {**_pids(cluster), "redis": redis, "clients": os.getpid()}
    single_echo = await _echo(layout, [layout.viewers[1][0]], keystrokes, pids)
    await layout.close()

    spread_of = {n: viewers // RELAYS + (1 if n <= viewers % RELAYS else 0) for n in range(1, 5)}
    await _add_viewers(cluster, layout, spread_of)
    spread = await _flood(cluster, layout, cat, "P")
    spread_paced = await _flood(cluster, layout, paced_command(), "PP")
    watchers = [layout.viewers[1][0], layout.viewers[2][0]]  # on the home, on an edge
    spread_echo = await _echo(layout, watchers, keystrokes, pids)
    typed = await _echo(layout, watchers, keystrokes // 2, pids, TYPING)
    await layout.close()
    await lead.send({"type": "end", "reason": "bench done"})

    costs = _costs(alone, single, spread, viewers, spread_of)
    return _rows(
        viewers,
        whole,
        (single, spread),
        (single_paced, spread_paced),
        (single_echo, spread_echo, typed),
        costs,
    )


def _rows(
    viewers: int,
    whole: int,
    floods: tuple[Flood, Flood],
    paced: tuple[Flood, Flood],
    echoes: tuple[Echo, Echo, Echo],
    costs: Costs,
) -> list[Row]:
    single, spread = floods
    single_echo, spread_echo, typed = echoes
    (alone_echo,) = single_echo.samples
    home_echo, edge_echo = spread_echo.samples
    ratio = spread.aggregate / single.aggregate if single.aggregate else float("nan")
    rows = [
        Row(
            "9",
            f"aggregate, {viewers} viewers over {RELAYS} relays",
            f"{spread.aggregate:.1f} MB/s",
            f"{single.aggregate:.1f} MB/s",
            f"{ratio:.2f}x",
            "report",
            "-",
            f"one relay: {single.seconds:.1f} s, {single.behind} viewers resynced; spread: "
            f"{spread.seconds:.1f} s, {spread.behind} resynced; stream {whole / MB:.1f} MB",
        )
    ]
    lags = [e - h for e, h in zip(edge_echo, home_echo, strict=True)]  # the same keystrokes
    for q in (50, 99):
        edge, home = percentile(edge_echo, q), percentile(home_echo, q)
        target = "<= home + 2 ms" if q == 50 else "report"
        verdict = (
            ("pass" if edge <= home + 2.0 else f"GAP {edge - home - 2.0:.2f} ms")
            if q == 50
            else "-"
        )
        rows.append(
            Row(
                "9",
                f"echo p{q}, viewer on an edge vs on the home",
                f"{edge:.2f} ms",
                f"{home:.2f} ms",
                f"{edge - home:+.2f} ms",
                target,
                verdict,
                f"{len(edge_echo)} keystrokes; the edge's lag behind the home per keystroke "
                f"(paired): p50 {percentile(lags, 50):+.2f} ms, "
                f"p90 {percentile(lags, 90):+.2f} ms; "
                f"one relay alone: home viewer p50 {percentile(alone_echo, 50):.2f} ms, "
                f"p99 {percentile(alone_echo, 99):.2f} ms; {_busy(spread_echo)}"
                if q == 50
                else "",
            )
        )
    home_typed, edge_typed = typed.samples
    typed_lags = [e - h for e, h in zip(edge_typed, home_typed, strict=True)]
    edge, home = percentile(edge_typed, 50), percentile(home_typed, 50)
    rows.append(
        Row(
            "9",
            f"echo p50 at {1 / TYPING:g} keys/s, edge vs home",
            f"{edge:.2f} ms",
            f"{home:.2f} ms",
            f"{edge - home:+.2f} ms",
            "report",
            "-",
            f"{len(edge_typed)} keystrokes {TYPING * 1000:g} ms apart; p99 edge "
            f"{percentile(edge_typed, 99):.2f} ms, home {percentile(home_typed, 99):.2f} ms; "
            f"paired lag p50 {percentile(typed_lags, 50):+.2f} ms, "
            f"p90 {percentile(typed_lags, 90):+.2f} ms; {_busy(typed)}",
        )
    )
    runs = [*floods, *paced]
    lost = sum(f.lost for f in runs)
    steady = sum(1 for f in runs for w in f.watches if not w.snapshots)
    total = sum(len(f.watches) for f in runs)
    rows.append(
        Row(
            "9",
            "bytes lost by viewers not behind",
            f"{lost}",
            "0",
            "-",
            "0",
            "pass" if lost == 0 else "FAIL",
            f"{steady} of {total} viewer-runs never resynced (checked by offset); paced "
            f"output (~3.3 MB in 16 KiB bursts every 10 ms): {paced[0].behind} resynced on "
            f"one relay, {paced[1].behind} spread",
        )
    )
    rows.append(
        Row(
            "9",
            "CPU per MB per viewer, edge vs home",
            f"{costs.edge_viewer:.2f} ms",
            f"{costs.home_viewer:.2f} ms",
            f"{costs.edge_viewer / costs.home_viewer:.2f}x" if costs.home_viewer > 0 else "-",
            "report",
            "-",
            f"the session alone costs its home {costs.session:.1f} ms/MB; putting it in Redis "
            f"{costs.home_publish:.1f} ms/MB more; following it costs an edge "
            f"{costs.edge_follow:.1f} ms/MB besides its viewers; projected aggregate on "
            "one-core machines: "
            + ", ".join(f"{n} → {projection(costs, viewers, n, 50.0):.0f} MB/s" for n in (1, 4, 8)),
        )
    )
    return rows


def _busy(echo: Echo) -> str:
    """What the phase cost: the cores' share used, and CPU ms per keystroke by process."""
    cores = os.cpu_count() or 1
    each = ", ".join(f"{name} {echo.per_key(name):.2f}" for name in echo.cpu)
    return (
        f"meanwhile the relays, Redis and the clients used {echo.busy(cores):.0%} of "
        f"{cores} cores; CPU ms per keystroke: {each}"
    )
