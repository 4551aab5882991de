"""Row 6: feed rate of the terminal model (fast path on and off) vs plain pyte 0.8.

Three generated (seeded) streams:

* scrolling text: ``cat`` of a log, CRLF lines of 0-130 characters (some wrap);
* coloured logs: ``journalctl``/``kubectl logs``-like SGR colours, bold, dim
  and resets around the same words, lines that sometimes wrap;
* full-screen repaints: a ``top``-like program redrawing 80x24 with cursor
  addressing, reverse video, bold and erases, never scrolling.

Each is fed in the slices the brief names (64 KiB) and in the relay's own
(``relay.output.MODEL_SLICE``, 16 KiB) to ``TerminalModel()`` (fast path),
``TerminalModel(fast=False)`` (the reference path the differential tests compare
with) and ``pyte.Screen`` + ``pyte.ByteStream``. Rates are medians in MB/s (1e6
bytes) of the time spent in ``feed``; ``same`` says whether the fast model's
whole state equals the reference's, and its text pyte's.

``python -m bench.terminal [--quick] [--size MB] [--runs N]``; the bench runner
imports :func:`run`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

import pyte

from relay.output import MODEL_SLICE
from relay.terminal import TerminalModel

COLS, ROWS = 80, 24
SLICE = 64 * 1024
WORDS = ["GET", "POST", "/api/v1/items", "200", "404", "upstream", "timeout", "cache", "retry"]
TARGET_MBPS = 20.0  # scrolling text, and >= 20x pyte


def _lines(size: int, make: Callable[[], str]) -> bytes:
    out: list[str] = []
    total = 0
    while total < size:
        line = make()
        out.append(line)
        total += len(line)
    return "".join(out).encode()[:size]


def scrolling_text(size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    return _lines(
        size,
        lambda: " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 18)))[:130] + "\r\n",
    )


def coloured_logs(size: int, seed: int = 2) -> bytes:
    rng = random.Random(seed)
    levels = ("\x1b[32mINFO", "\x1b[33mWARN", "\x1b[1;31mERROR", "\x1b[36mDEBUG")

    def line() -> str:
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 14)))
        level = rng.choice(levels)
        return f"\x1b[2m{rng.randint(0, 86399):05d}\x1b[0m {level}\x1b[0m {words}\r\n"

    return _lines(size, line)


def repaints(size: int, seed: int = 3) -> bytes:
    rng = random.Random(seed)

    def frame() -> str:
        parts = [f"\x1b[H\x1b[7m top - load average: {rng.random():.2f} \x1b[K\x1b[0m"]
        for y in range(2, ROWS + 1):
            parts.append(
                f"\x1b[{y};1H{rng.randint(1, 99999):6d} root  20 0 {rng.random() * 100:5.1f} "
                f"\x1b[1m{rng.choice(WORDS):<14}\x1b[0m\x1b[K"
            )
        return "".join(parts)

    return _lines(size, frame)


STREAMS: dict[str, Callable[[int], bytes]] = {
    "scrolling text": scrolling_text,
    "coloured logs": coloured_logs,
    "full-screen repaints": repaints,
}


def _slices(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def feed_model(chunks: Iterable[bytes], fast: bool = True) -> tuple[float, TerminalModel]:
    model = TerminalModel(COLS, ROWS, fast=fast)
    feed = model.feed
    start = time.perf_counter()
    for chunk in chunks:
        feed(chunk)
    return time.perf_counter() - start, model


def feed_pyte(chunks: Iterable[bytes]) -> tuple[float, list[str]]:
    screen = pyte.Screen(COLS, ROWS)
    feed = pyte.ByteStream(screen).feed
    start = time.perf_counter()
    for chunk in chunks:
        feed(chunk)
    return time.perf_counter() - start, list(screen.display)


def _state(model: TerminalModel) -> Any:
    s = model.screen
    grid = [model.line_cells(y) for y in range(model.rows)]
    return grid, (s.cursor.x, s.cursor.y, s.cursor.attrs), sorted(s.mode), s.last_char


def run(
    quick: bool = False, size: int | None = None, runs: int | None = None
) -> list[dict[str, Any]]:
    """One dict per stream and slice size: rates in MB/s, ratios, and whether screens agree.

    ``quick``: 1 MB streams and one run (pyte alone needs about a second per MB);
    otherwise 4 MB and three runs (median).
    """
    size = size or (1 if quick else 4) * 1_000_000
    runs = runs or (1 if quick else 3)
    results = []
    for name, make in STREAMS.items():
        data = make(size)
        pyte_rates = []
        for _ in range(runs):
            seconds, pyte_text = feed_pyte(_slices(data, SLICE))
            pyte_rates.append(len(data) / seconds / 1e6)
        base = statistics.median(pyte_rates)
        for slice_size in (SLICE, MODEL_SLICE):
            chunks = _slices(data, slice_size)
            fast_rates, ref_rates = [], []
            for _ in range(runs):
                seconds, fast = feed_model(chunks)
                fast_rates.append(len(data) / seconds / 1e6)
                seconds, ref = feed_model(chunks, fast=False)
                ref_rates.append(len(data) / seconds / 1e6)
            value = statistics.median(fast_rates)
            results.append(
                {
                    "stream": name,
                    "bytes": len(data),
                    "slice": slice_size,
                    "runs": runs,
                    "fast_mbps": value,
                    "reference_mbps": statistics.median(ref_rates),
                    "pyte_mbps": base,
                    "ratio": value / base,
                    "reference_ratio": statistics.median(ref_rates) / base,
                    "same_as_reference": _state(fast) == _state(ref),
                    "same_text_as_pyte": fast.display() == pyte_text,
                    "target": (
                        f">= {TARGET_MBPS:g} MB/s and 20x pyte"
                        if name == "scrolling text"
                        else ">= 1x pyte"
                    ),
                    "met": (
                        value >= TARGET_MBPS and value / base >= 20
                        if name == "scrolling text"
                        else value >= base
                    ),
                }
            )
    return results


def table(results: list[dict[str, Any]]) -> str:
    head = (
        f"{'stream':<22}{'slice':>7}{'fast':>10}{'fast=False':>12}{'pyte':>8}"
        f"{'fast/pyte':>11}{'ref/pyte':>10}  {'same':<6}{'target':<30}{'result'}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        same = "yes" if r["same_as_reference"] and r["same_text_as_pyte"] else "NO"
        lines.append(
            f"{r['stream']:<22}{r['slice'] // 1024:>5}Ki{r['fast_mbps']:>10.1f}"
            f"{r['reference_mbps']:>12.2f}{r['pyte_mbps']:>8.2f}{r['ratio']:>10.1f}x"
            f"{r['reference_ratio']:>9.1f}x  {same:<6}{r['target']:<30}"
            f"{'pass' if r['met'] else 'GAP'}"
        )
    mb = results[0]["bytes"] / 1e6 if results else 0
    lines.append(f"(MB/s, median of {results[0]['runs'] if results else 0} runs, {mb:.1f} MB each)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.terminal", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 MB streams, one run")
    parser.add_argument("--size", type=float, help="MB per stream")
    parser.add_argument("--runs", type=int, help="runs per measurement (median)")
    args = parser.parse_args(argv)
    size = int(args.size * 1e6) if args.size else None
    print(table(run(args.quick, size, args.runs)))


if __name__ == "__main__":
    main()
