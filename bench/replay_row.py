"""Row 7: the replay benchmark (``bench/replay.py``), run as its own process.

``bench.replay`` prints a table of its own and exposes no function returning
numbers, so this runs ``python -m bench.replay`` and reads the lines it needs:
``build index  15.7 s (6.7 MB/s)`` and ``seek max  85.7 ms (budget 100 ms)``
(plus the median and p95 seeks and the recording size for the note).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.table import Row

TIMEOUT = 300
_RATE = re.compile(r"\(([\d.]+) MB/s\)")
_MS = re.compile(r"([\d.]+) ms")


def _lines(output: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for line in output.splitlines():
        name, sep, value = line.partition("  ")
        if sep:
            table[name.strip()] = value.strip()
    return table


def _number(pattern: re.Pattern[str], text: str | None) -> float:
    found = pattern.search(text or "")
    if found is None:
        raise ValueError(f"cannot read a number from {text!r}")
    return float(found[1])


def replay(size_mb: float, seconds: float, seeks: int) -> list[Row]:
    command = [
        sys.executable,
        "-m",
        "bench.replay",
        "--size-mb",
        str(size_mb),
        "--seconds",
        str(seconds),
        "--seeks",
        str(seeks),
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.replay exited {done.returncode}: {done.stderr.strip()[-300:]}")
    table = _lines(done.stdout)
    build = _number(_RATE, table.get("build index"))
    seek_max = _number(_MS, table.get("seek max"))
    seek_median = _number(_MS, table.get("seek median"))
    seek_p95 = _number(_MS, table.get("seek p95"))
    recording = table.get("recording", "?")
    return [
        Row(
            "7",
            "replay: index build rate",
            f"{build:.1f} MB/s",
            "-",
            "-",
            ">= 20 MB/s",
            "pass" if build >= 20 else f"GAP {20 - build:.1f} MB/s",
            f"bench/replay.py on a generated recording ({recording}), 1 run; "
            f"build {table.get('build index')}, generate {table.get('generate (recorder)')}",
        ),
        Row(
            "7",
            "replay: seek anywhere (max)",
            f"{seek_max:.1f} ms",
            "-",
            "-",
            "<= 100 ms",
            "pass" if seek_max <= 100 else f"GAP {seek_max - 100:.1f} ms",
            f"{seeks} random seeks: median {seek_median:.1f} ms, p95 {seek_p95:.1f} ms",
        ),
    ]
