"""How fast the output masker is, in MB/s of terminal output.

The masker sits on the relay's output hot path; a PTY delivers 23-58 MB/s here
(docs/architecture.md), so the masker must keep above that on ordinary output.
Three workloads, each fed in frames of several sizes (an SSH channel delivers
up to 32 KiB at a time):

* plain: log lines with timestamps, ``key=value`` pairs, paths, no secrets;
* coloured: the same lines with SGR colour codes around every field;
* secrets: a secret (of a rotating kind) on every other line;

and the attack of issue 11 item 7: a long line of near-matches
(``passwordpassword...``) arriving one byte per frame, reported as time and
work (bytes handed to the regex engine, :attr:`OutputMasker.scanned`) per
frame: both must stay flat however long the line grows.

Run: ``python bench/redaction.py [--mb N]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from relay.masking import OutputMasker

WORDS = (
    "request",
    "handled",
    "user",
    "worker",
    "job",
    "processed",
    "cache",
    "miss",
    "hit",
    "latency",
    "upstream",
    "connection",
    "established",
    "closed",
    "retry",
    "queue",
    "flushed",
    "shard",
    "replica",
    "leader",
    "election",
    "snapshot",
    "compacted",
)
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def plain_line(rng: random.Random, i: int) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(8))
    return (
        f"2024-05-01T12:{i % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z INFO [worker-{i % 8}] {words} "
        f"id={i} duration={i % 97}ms path=/api/v1/items/{i} status=200"
    )


def coloured_line(rng: random.Random, i: int) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(8))
    return (
        f"\x1b[2m2024-05-01T12:{i % 60:02d}:{i % 60:02d}Z\x1b[0m \x1b[32mINFO\x1b[0m "
        f"\x1b[1m[worker-{i % 8}]\x1b[0m {words} \x1b[36mid\x1b[0m=\x1b[33m{i}\x1b[0m "
        f"\x1b[36mpath\x1b[0m=\x1b[33m/api/v1/items/{i}\x1b[0m"
    )


def secret_line(rng: random.Random, i: int) -> str:
    token = "".join(rng.choice(ALNUM) for _ in range(36))
    secrets = (
        f"export GITHUB_TOKEN=ghp_{token}",
        f"aws_access_key_id=AKIA{token[:16].upper().replace('0', 'A').replace('1', 'B')}",
        f"DATABASE_URL=postgres://app:{token[:12]}@db.internal:5432/app",
        f'{{"level":"info","password":"{token[:10]}","user":"bob"}}',
        f"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ{token}.{token}",
        f"slack: xoxb-1234567890-{token[:24]}",
    )
    if i % 2:
        return plain_line(rng, i)
    return secrets[(i // 2) % len(secrets)]


def make(line: Callable[[random.Random, int], str], size: int) -> bytes:
    rng = random.Random(7)
    lines: list[str] = []
    total = 0
    i = 0
    while total < size:
        text = line(rng, i)
        lines.append(text)
        total += len(text) + 2
        i += 1
    return ("\r\n".join(lines) + "\r\n").encode()


def measure(data: bytes, frame: int, repeat: int = 3) -> float:
    best = float("inf")
    frames = [data[i : i + frame] for i in range(0, len(data), frame)]
    for _ in range(repeat):
        masker = OutputMasker()
        start = time.perf_counter()
        for chunk in frames:
            masker.feed(chunk)
        masker.flush()
        best = min(best, time.perf_counter() - start)
    return len(data) / best / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=8.0, help="megabytes per workload")
    args = parser.parse_args()
    size = int(args.mb * 1e6)
    workloads = {
        "plain log": make(plain_line, size),
        "coloured log": make(coloured_line, size),
        "dense secrets": make(secret_line, size),
    }
    frames = (4096, 16384, 32768, 65536)
    print(
        f"{'workload':<16}"
        + "".join(f"{f // 1024:>7} KiB" for f in frames)
        + "   (MB/s, best of 3)"
    )
    for name, data in workloads.items():
        rates = [measure(data, frame) for frame in frames]
        print(f"{name:<16}" + "".join(f"{r:>11.1f}" for r in rates))
    print()
    print(f"{'near-matches, 1 byte/frame':<30}{'line':>10}{'us/frame':>10}{'work/frame':>12}")
    for unit in (b"password", b"eyJ", b"token="):
        for length in (4000, 16000):
            line = unit * (length // len(unit))
            masker = OutputMasker()
            start = time.perf_counter()
            for i in range(len(line)):
                masker.feed(line[i : i + 1])
            per_frame = (time.perf_counter() - start) / len(line) * 1e6
            work = masker.scanned / len(line)
            print(f"{unit.decode():<30}{len(line):>10}{per_frame:>10.0f}{work:>12.0f}")


if __name__ == "__main__":
    main()
