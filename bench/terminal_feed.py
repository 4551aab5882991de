"""Row 6: feed rate of the relay's terminal model vs plain pyte 0.8, on three streams.

The streams are generated (seeded): scrolling plain text, coloured logs (SGR
colours, bold, resets, as ``journalctl`` or ``kubectl logs`` print them) and
full-screen repaints (a ``top``-like program redrawing an 80x24 screen with
cursor addressing, reverse video and erases). Both models get the same bytes
in the same slices the relay feeds (``relay.output.MODEL_SLICE``); the
note says whether their final screens' text agree (the differential tests in
CI check the full cells; this is only a sanity check).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pyte

from bench.table import Row, median
from relay.output import MODEL_SLICE
from relay.terminal import TerminalModel

COLS, ROWS = 80, 24
SLICE = MODEL_SLICE
WORDS = ["GET", "POST", "/api/v1/items", "200", "404", "upstream", "timeout", "cache", "retry"]


def scrolling_text(size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    out: list[str] = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 14)))[:COLS]
        out.append(line + "\r\n")
        total += len(line) + 2
    return "".join(out).encode()[:size]


def coloured_logs(size: int, seed: int = 2) -> bytes:
    rng = random.Random(seed)
    out: list[str] = []
    total = 0
    while total < size:
        level = rng.choice(("\x1b[32mINFO", "\x1b[33mWARN", "\x1b[1;31mERROR", "\x1b[36mDEBUG"))
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 10)))
        line = f"\x1b[2m{rng.randint(0, 86399):05d}\x1b[0m {level}\x1b[0m {words}\r\n"
        out.append(line)
        total += len(line)
    return "".join(out).encode()[:size]


def repaints(size: int, seed: int = 3) -> bytes:
    rng = random.Random(seed)
    out: list[str] = []
    total = 0
    while total < size:
        frame = [f"\x1b[H\x1b[7m top - load average: {rng.random():.2f} \x1b[K\x1b[0m"]
        for y in range(2, ROWS + 1):
            pid = rng.randint(1, 99999)
            frame.append(
                f"\x1b[{y};1H{pid:6d} root  20 0 {rng.random() * 100:5.1f} "
                f"\x1b[1m{rng.choice(WORDS):<14}\x1b[0m\x1b[K"
            )
        text = "".join(frame)
        out.append(text)
        total += len(text)
    return "".join(out).encode()[:size]


STREAMS: dict[str, Callable[[int], bytes]] = {
    "scrolling text": scrolling_text,
    "coloured logs": coloured_logs,
    "full-screen repaints": repaints,
}


def _feed_model(data: bytes) -> tuple[float, list[str]]:
    model = TerminalModel(COLS, ROWS)
    start = time.perf_counter()
    for i in range(0, len(data), SLICE):
        model.feed(data[i : i + SLICE])
    return time.perf_counter() - start, model.display()


def _feed_pyte(data: bytes) -> tuple[float, list[str]]:
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)
    start = time.perf_counter()
    for i in range(0, len(data), SLICE):
        stream.feed(data[i : i + SLICE])
    return time.perf_counter() - start, list(screen.display)


def terminal_model(size: int, runs: int) -> list[Row]:
    rows = []
    for name, make in STREAMS.items():
        data = make(size)
        ours: list[float] = []
        theirs: list[float] = []
        same = True
        for _ in range(runs):
            seconds, screen = _feed_model(data)
            ours.append(len(data) / seconds / 1e6)
            seconds, reference = _feed_pyte(data)
            theirs.append(len(data) / seconds / 1e6)
            same = same and screen == reference
        value, base = median(ours), median(theirs)
        ratio = value / base
        if name == "scrolling text":
            target, ok = ">= 20 MB/s", value >= 20 and ratio >= 1
            gap = f"GAP {20 - value:.1f} MB/s" if value < 20 else "GAP slower than pyte"
        else:
            target, ok = ">= 1x pyte", ratio >= 1
            gap = f"GAP {1 - ratio:.2f}x"
        rows.append(
            Row(
                "6",
                f"terminal model: {name}",
                f"{value:.2f} MB/s",
                f"{base:.2f} MB/s",
                f"{ratio:.2f}x",
                target,
                "pass" if ok else gap,
                f"{len(data) / 1e6:.1f} MB in {SLICE // 1024} KiB slices, {runs} runs; "
                f"final screen text {'identical to' if same else 'DIFFERS from'} pyte",
            )
        )
    return rows
