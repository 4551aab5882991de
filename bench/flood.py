"""Rows 1, 2, 4 and 5: output floods through the relay against their baselines.

* Row 1: one reader (the driving lead), recording on, ``cat`` of a 64 MB log
  file, vs a bare asyncssh PTY session on the same sshd typing the same line.
* Row 5: the same flood through a second relay process that does not record, by
  throughput and by the relay process's CPU time per byte (which the load of a
  shared machine moves less than rates: both relays' bytes cost more CPU under
  load, as their reads get smaller, but alike).
* Row 2: N readers (the lead and N-1 viewers) each receiving every byte, vs a
  bare websockets server broadcasting the same bytes (the file with the PTY's
  ``\\n`` -> ``\\r\\n``) in 16 KiB frames to N clients in this same process.
* Row 4: ten readers with and without an eleventh viewer that stops reading
  (4 KiB SO_RCVBUF, transport paused), and the relay's RSS growth meanwhile.

Runs alternate between the relay and its baseline so that drift on the machine
hits both; each row reports medians.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from bench.profiling import Profile
from bench.relay_process import VIEWER
from bench.rig import (
    Child,
    DirectShell,
    Received,
    RelaySession,
    Rig,
    RssSampler,
    cpu_seconds,
    flood_command,
    joined,
    login,
    pty_bytes,
    read_plain,
)
from bench.table import Row, median, ratio_row
from relay.net.ssh import CIPHERS

MB = 1e6
BROADCAST_MARKER = b"BCAST_42_END"


@dataclass
class Sizes:
    throughput: int = 64 * 1024 * 1024
    fanout: int = 16 * 1024 * 1024
    stall: int = 32 * 1024 * 1024
    runs: int = 3
    fanout_counts: tuple[int, ...] = (10, 50)


@dataclass
class Profiles:
    """Where to write py-spy profiles of the relay (None: no profiling)."""

    directory: Path | None = None
    written: list[Path] = field(default_factory=list)

    def around(self, pid: int, name: str) -> contextlib.AbstractContextManager[object]:
        if self.directory is None or not Profile.available():
            return contextlib.nullcontext()
        path = self.directory / f"{name}.txt"
        self.written.append(path)
        return Profile(pid, path)


def _rate(seconds: float, received: list[Received]) -> float:
    return sum(r.bytes for r in received) / seconds / MB


@dataclass
class Delivery:
    """How much of each flood the relay's readers got, and how often they were resynced."""

    whole: int
    readers: int = 0
    resyncs: int = 0
    fraction: float = 0.0

    def add(self, received: list[Received]) -> None:
        for r in received:
            self.readers += 1
            self.resyncs += r.resyncs
            self.fraction += min(1.0, r.bytes / self.whole)

    def __str__(self) -> str:
        share = 100 * self.fraction / self.readers if self.readers else 0.0
        return (
            f"{self.resyncs} snapshot resyncs over {self.readers} reader-runs, "
            f"{share:.0f}% of the stream delivered as output"
        )


async def throughput(
    rig: Rig, recording: Child, plain: Child, sizes: Sizes, profiles: Profiles
) -> list[Row]:
    """Rows 1 and 5."""
    path = rig.data_file("flood", sizes.throughput)
    command = flood_command(path)
    direct = await DirectShell.open(rig.sshd)
    # The relay prefers AES-GCM (relay/net/ssh.py), bare asyncssh ChaCha20-Poly1305: the
    # notes give the same baseline with the relay's cipher order, for the relay's own cost.
    same_cipher = await DirectShell.open(rig.sshd, encryption_algs=list(CIPHERS))
    with_rec = await RelaySession.open(rig, recording)
    without = await RelaySession.open(rig, plain)
    base: list[float] = []
    base_gcm: list[float] = []
    rec: list[float] = []
    norec: list[float] = []
    rec_cpu: list[float] = []  # MB per CPU-second of the relay process
    norec_cpu: list[float] = []
    delivery = Delivery(pty_bytes(path))
    try:
        for i in range(sizes.runs):
            seconds, count = await direct.run(command, f"D{i}")
            base.append(count / seconds / MB)
            seconds, count = await same_cipher.run(command, f"G{i}")
            base_gcm.append(count / seconds / MB)
            used = cpu_seconds(recording.pid)
            seconds, got = await with_rec.run(command, f"R{i}")
            rec_cpu.append(_rate(cpu_seconds(recording.pid) - used, got))
            rec.append(_rate(seconds, got))
            delivery.add(got)
            used = cpu_seconds(plain.pid)
            seconds, got = await without.run(command, f"N{i}")
            norec_cpu.append(_rate(cpu_seconds(plain.pid) - used, got))
            norec.append(_rate(seconds, got))
        with profiles.around(recording.pid, "row1-relay-recording"):
            await with_rec.run(command, "P")
    finally:
        await direct.close()
        await same_cipher.close()
        await with_rec.end()
        await without.end()
    size = f"{sizes.throughput / 2**20:.0f} MiB"
    return [
        ratio_row(
            "1",
            f"throughput, 1 viewer, recording ({size} cat)",
            median(rec),
            median(base),
            "MB/s",
            0.8,
            f"relay runs {_list(rec)}; asyncssh PTY runs {_list(base)} "
            f"({same_cipher.cipher}: {_list(base_gcm)}, median {median(base_gcm):.1f}, "
            f"relay/that {median(rec) / median(base_gcm):.2f}x); {delivery}",
        ),
        ratio_row(
            "5",
            "recording overhead (rec on vs off)",
            median(rec),
            median(norec),
            "MB/s",
            0.9,
            f"recording off runs {_list(norec)}",
        ),
        ratio_row(
            "5",
            "recording overhead, relay CPU per byte",
            median(rec_cpu),
            median(norec_cpu),
            "MB/cpu-s",
            0.9,
            f"MB per CPU-second of the relay process (user + system): recording on "
            f"{_list(rec_cpu)}, off {_list(norec_cpu)}",
        ),
    ]


async def _broadcast_run(url: str, clients: int, run: str) -> tuple[float, list[Received]]:
    """N bare websockets clients receive the file; seconds until the last has it all."""
    connections: list[ClientConnection] = []
    tasks: list[asyncio.Task[Received]] = []
    try:
        for i in range(clients):
            if i == clients - 1:
                start = time.perf_counter()
            ws = await connect(
                f"{url}/{clients}/{run}", proxy=None, compression=None, max_size=None
            )
            connections.append(ws)
            tasks.append(asyncio.create_task(read_plain(ws, BROADCAST_MARKER)))
        received = await asyncio.wait_for(asyncio.gather(*tasks), 180)
        return max(r.done_at for r in received) - start, list(received)
    finally:
        for ws in connections:
            ws.transport.abort()


async def fanout(rig: Rig, relay: Child, sizes: Sizes, profiles: Profiles) -> list[Row]:
    """Row 2, for each client count."""
    path = rig.data_file("fanout", sizes.fanout)
    crlf = rig.directory / "fanout.crlf"
    crlf.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    broadcaster = rig.broadcaster(crlf, BROADCAST_MARKER)
    command = flood_command(path)
    rows = []
    try:
        for count in sizes.fanout_counts:
            live = await RelaySession.open(rig, relay, viewers=count - 1)
            relay_rates: list[float] = []
            base_rates: list[float] = []
            delivery = Delivery(crlf.stat().st_size)
            try:
                for i in range(sizes.runs):
                    seconds, got = await live.run(command, f"F{count}x{i}")
                    relay_rates.append(_rate(seconds, got))
                    delivery.add(got)
                    seconds, got = await _broadcast_run(broadcaster.url, count, f"{count}-{i}")
                    base_rates.append(_rate(seconds, got))
                if count == max(sizes.fanout_counts):
                    with profiles.around(relay.pid, f"row2-relay-{count}-viewers"):
                        await live.run(command, f"P{count}")
            finally:
                await live.end()
            note = (
                f"aggregate MB/s over {count} readers (lead + {count - 1} viewers; "
                f"{sizes.fanout / 2**20:.0f} MiB each); relay runs {_list(relay_rates)}, "
                f"bare runs {_list(base_rates)}; relay: {delivery}"
            )
            rows.append(
                ratio_row(
                    "2",
                    f"fan-out, {count} viewers (aggregate)",
                    median(relay_rates),
                    median(base_rates),
                    "MB/s",
                    0.6,
                    note,
                )
            )
    finally:
        rig.stop(broadcaster)
    return rows


async def stalled_viewer(rig: Rig, relay: Child, sizes: Sizes) -> list[Row]:
    """Row 4: the others' throughput and the relay's memory with one viewer stalled.

    ``relay`` should be a fresh process: RSS is a high-water mark, so a relay that
    already carried bigger floods would hide any growth.
    """
    path = rig.data_file("flood", sizes.throughput)
    command = flood_command(path, head=sizes.stall)
    live = await RelaySession.open(rig, relay, viewers=9)
    free: list[float] = []
    stalled: list[float] = []
    free_growth: list[float] = []
    stalled_growth: list[float] = []
    backlog_mb: list[float] = []
    delivery = Delivery(pty_bytes(path, sizes.stall))
    try:
        # fill the session's output ring and warm the allocator before measuring
        await live.run(command, "W")
        for i in range(sizes.runs):
            with RssSampler(relay.pid) as rss:
                seconds, got = await live.run(command, f"A{i}")
            free.append(_rate(seconds, got))
            free_growth.append(rss.growth)
            slow = await login(relay.url, VIEWER, rig.viewer_key, rcvbuf=4096)
            await joined(slow, live.session)
            assert slow.ws is not None
            slow.ws.transport.pause_reading()
            with RssSampler(relay.pid) as rss:
                seconds, got = await live.run(command, f"B{i}")
            stalled.append(_rate(seconds, got))
            delivery.add(got)
            stalled_growth.append(rss.growth)
            backlog_mb.append(rss.peak)
            slow.ws.transport.abort()
            await asyncio.sleep(0.2)
    finally:
        await live.end()
    throughput_row = ratio_row(
        "4",
        "stalled viewer: others' throughput",
        median(stalled),
        median(free),
        "MB/s",
        0.9,
        f"10 readers, {sizes.stall / 2**20:.0f} MiB flood; with a stalled 11th viewer "
        f"{_list(stalled)}, without {_list(free)}; with the stall: {delivery}",
    )
    worst = max(stalled_growth)
    memory_row = Row(
        "4",
        "stalled viewer: relay RSS growth",
        f"{worst:.1f} MB",
        f"{max(free_growth):.1f} MB",
        "-",
        "<= 16 MB",
        "pass" if worst <= 16 else f"GAP {worst - 16:.1f} MB",
        f"peak VmRSS growth during each flood; stalled {_list(stalled_growth)}, "
        f"no stalled viewer {_list(free_growth)} (baseline column); peak RSS "
        f"{_list(backlog_mb)} MB",
    )
    return [throughput_row, memory_row]


def _list(values: list[float], fmt: Callable[[float], str] = lambda v: f"{v:.1f}") -> str:
    return "[" + ", ".join(fmt(v) for v in values) + "]"
