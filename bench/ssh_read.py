"""What reading a flood from the target costs the relay's SSH side, in CPU ms per MB.

The relay's :class:`relay.net.ssh.TargetShell` reads ``cat`` of log lines
from a real OpenSSH sshd on loopback, while its output callback burns
``--work`` ns of CPU per byte, standing in for the rest of the relay (masking,
recording, the terminal model, websockets: ~20 ns/byte in row 1). The relay
is then the slower side, as in a flood, so asyncio reads the socket 256 KiB
at a time. Each run is timed with the reading thread's CPU time; the table
gives the CPU per MB with the simulated work taken out, for asyncssh fed
whole socket reads and fed pieces of several sizes (``READ_PIECE``), runs
alternating. Needs root (sshd allocates PTYs as root here).

Run: ``python bench/ssh_read.py [--mb N] [--work NS] [--runs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.rig import write_log_file
from relay.net import ssh
from relay.net.ssh import TargetAddress, TargetShell
from tests.sshd import SshdServer

WHOLE = 1 << 40  # a piece larger than any read: asyncssh gets each read whole
PIECES = (WHOLE, 16 * 1024, 64 * 1024)


async def _run(server: SshdServer, flood: Path, piece: int, work_ns: float) -> float:
    """CPU ms per MB of one flood, without the simulated work."""
    ssh.READ_PIECE = piece
    loop = asyncio.get_running_loop()
    batch: list[bytes] = []
    received = 0
    done = asyncio.Event()

    def work() -> None:  # the relay's per-byte work, once per event-loop turn
        size = sum(map(len, batch))
        batch.clear()
        end = time.thread_time() + size * work_ns * 1e-9
        while time.thread_time() < end:
            pass

    def output(data: bytes) -> None:
        nonlocal received
        if not batch:
            loop.call_soon(work)
        batch.append(data)
        received += len(data)
        if b"SSH_42_END" in data[-64:]:
            done.set()

    address = TargetAddress(
        "sshd",
        server.host,
        server.port,
        server.user,
        server.client_key_path,
        server.known_hosts_path,
    )
    shell = await TargetShell.open(address, 80, 24, output, lambda status: done.set())
    try:
        await asyncio.sleep(0.5)  # the prompt
        received = 0
        started = time.thread_time()
        shell.write(f"stty -echo; cat {flood}; echo SSH_$((6*7))_END\r".encode())
        async with asyncio.timeout(300):
            await done.wait()
        cpu = time.thread_time() - started
    finally:
        await shell.close()
    return (cpu - received * work_ns * 1e-9) / (received / 1e6) * 1e3


async def _main(server: SshdServer, flood: Path, work_ns: float, runs: int) -> None:
    results: dict[int, list[float]] = {piece: [] for piece in PIECES}
    for _ in range(runs):
        for piece in PIECES:
            results[piece].append(await _run(server, flood, piece, work_ns))
    whole = statistics.median(results[WHOLE])
    print("| asyncssh fed             | CPU ms/MB (median) | runs | vs whole reads |")
    print("|--------------------------|--------------------|------|----------------|")
    for piece, values in results.items():
        name = "whole socket reads" if piece == WHOLE else f"pieces of {piece // 1024} KiB"
        median = statistics.median(values)
        listed = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {name:24s} | {median:18.2f} | {listed} | {median / whole:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=32, help="MiB of log lines per run")
    parser.add_argument("--work", type=float, default=20.0, help="simulated ns per byte")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        flood = directory / "flood.log"
        write_log_file(flood, args.mb * 2**20)
        with SshdServer(directory / "sshd") as server:
            asyncio.run(_main(server, flood, args.work, args.runs))


if __name__ == "__main__":
    main()
