"""``python -m bench``: every benchmark, one table of medians (5 runs).

Starts a real OpenSSH sshd on loopback (root needed, as in the tests), relay
processes built in code (``bench/relay_process.py``; one recording, one not,
and a fresh one for the memory row; for row 9, four ``warroom relay`` processes
of one cluster on a private PostgreSQL and Redis), and runs the rows with the baseline
measured in the same run. ``--quick`` shrinks sizes and runs for a smoke run;
``--profile DIR`` adds py-spy profiles of the relay during rows 1 and 2.
``--only 1,3`` runs some rows. Nothing here asserts: these are benchmarks.
See ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.cluster_row import cluster_row
from bench.flood import Profiles, Sizes, fanout, stalled_viewer, throughput
from bench.latency import echo_latency
from bench.memory import memory
from bench.profiling import Profile
from bench.replay_row import replay
from bench.rig import Rig
from bench.table import Row, failed_row, render
from bench.terminal_feed import terminal_model
from tests.servers import interrupt_on_sigterm

ALL_ROWS = "1,2,3,4,5,6,7,8,9"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one run each")
    parser.add_argument("--only", default=ALL_ROWS, help="rows to run, e.g. 1,5 (default: all)")
    parser.add_argument("--profile", type=Path, help="write py-spy profiles of the relay here")
    parser.add_argument("--runs", type=int, help="runs per row (default: 5, or 1 with --quick)")
    parser.add_argument(
        "--viewers", type=int, help="row 9's viewers (default: 200, or 40 with --quick)"
    )
    return parser.parse_args(argv)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _run(args: argparse.Namespace, rig: Rig) -> list[Row]:
    wanted = set(args.only.split(","))
    quick = args.quick
    sizes = Sizes(
        throughput=(16 if quick else 64) * 2**20,
        fanout=(4 if quick else 16) * 2**20,
        stall=(8 if quick else 32) * 2**20,
        runs=args.runs or (1 if quick else 5),
    )
    profiles = Profiles(args.profile)
    if args.profile is not None and not Profile.available():
        _log("bench: --profile needs py-spy (pip install py-spy); running without profiles")
    rows: list[Row] = []
    recording = rig.relay("relay-recording", record=True)
    plain = rig.relay("relay-plain", record=False) if wanted & {"1", "5"} else None

    async def step(
        numbers: set[str], name: str, action: Callable[[], Awaitable[list[Row]]]
    ) -> None:
        if not numbers & wanted:
            return
        _log(f"bench: {name} ...")
        started = time.perf_counter()
        try:
            rows.extend(await action())
        except Exception as exc:
            rows.append(failed_row(sorted(numbers)[0], name, exc))
        _log(f"bench: {name} done in {time.perf_counter() - started:.0f} s")

    if plain is not None:
        await step(
            {"1", "5"},
            "throughput",
            lambda: throughput(rig, recording, plain, sizes, profiles),
        )
        rig.stop(plain)
    await step({"2"}, "fan-out", lambda: fanout(rig, recording, sizes, profiles))
    await step({"3"}, "echo latency", lambda: echo_latency(rig, recording, 150 if quick else 450))
    rig.stop(recording)
    if "4" in wanted:
        fresh = rig.relay("relay-stall", record=True)
        await step({"4"}, "stalled viewer", lambda: stalled_viewer(rig, fresh, sizes))
        rig.stop(fresh)
    await step(
        {"6"},
        "terminal model",
        lambda: asyncio.to_thread(
            terminal_model, (256 if quick else 2048) * 1024, 1 if quick else 5
        ),
    )
    await step(
        {"7"},
        "replay",
        lambda: asyncio.to_thread(
            replay, 10 if quick else 100, 360 if quick else 3600, 20 if quick else 50
        ),
    )
    if "8" in wanted:
        fresh = rig.relay("relay-memory", record=True)
        await step({"8"}, "memory", lambda: memory(rig, fresh, (1 if quick else 4) * 2**20))
        rig.stop(fresh)
    await step(
        {"9"},
        "cluster",
        lambda: cluster_row(
            rig,
            args.viewers or (40 if quick else 200),
            (1 if quick else 4) * 2**20,
            60 if quick else 300,
        ),
    )
    for path in profiles.written:
        _log(f"bench: profile {path} (summary {path.with_suffix('.summary.txt')})")
    order = {str(n): i for i, n in enumerate(range(1, 10))}
    return sorted(rows, key=lambda r: order.get(r.number, 99))


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    interrupt_on_sigterm()  # a bench stopped with kill removes its servers and files as ^C does
    if os.geteuid() != 0:
        sys.exit("python -m bench needs root: sshd allocates PTYs as root (docs/architecture.md)")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="warroom-bench-") as tmp:
        rig = Rig.start(Path(tmp))
        try:
            rows = asyncio.run(_run(args, rig))
        finally:
            rig.close()
    print(render(rows))
    cpus = os.cpu_count()
    elapsed = time.perf_counter() - started
    print(f"\n{cpus} CPUs, Python {sys.version.split()[0]}, {elapsed:.0f} s in all", flush=True)


if __name__ == "__main__":
    main()
