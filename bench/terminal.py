"""Row 6 on its own, in more detail: ``python -m bench.terminal [--quick] [--size MB] [--runs N]``.

The four streams of ``bench/terminal_streams.py`` fed in 4 KiB writes at 80x24
(see ``bench/terminal_feed.py``) to the model's fast path, its reference path
(``TerminalModel(fast=False)``, the one the property tests compare with),
xterm.js headless and pyte. ``same`` says whether the fast path left exactly
the reference path's state (screens, cursor, modes, scrollback). Nothing is
asserted: this is a benchmark.
"""

from __future__ import annotations

import argparse
import time

from bench.table import median
from bench.terminal_feed import COLS, ROWS, WRITE, Rates, rates
from bench.terminal_streams import STREAMS, chunks
from relay.terminal import TerminalModel


def _state(model: TerminalModel) -> object:
    s = model.screen
    return (
        s.buffer,
        s.inactive,
        (s.cursor.x, s.cursor.y, s.cursor.attrs),
        sorted(s.mode),
        s.rep_width,
        list(s.history),
    )


def reference(size: int, runs: int) -> dict[str, tuple[float, bool]]:
    """Per stream: the reference path's MB/s, and whether the fast path ended the same."""
    out = {}
    for name, make in STREAMS.items():
        data = make(size)
        pieces = chunks(data, WRITE)
        speeds = []
        for _ in range(runs):
            slow = TerminalModel(COLS, ROWS, fast=False)
            start = time.perf_counter()
            for piece in pieces:
                slow.feed(piece)
            speeds.append(len(data) / (time.perf_counter() - start) / 1e6)
        fast = TerminalModel(COLS, ROWS)
        for piece in pieces:
            fast.feed(piece)
        out[name] = (median(speeds), _state(fast) == _state(slow))
    return out


def table(results: list[Rates], ref: dict[str, tuple[float, bool]]) -> str:
    head = (
        f"{'stream':<22}{'model':>8}{'fast=False':>12}{'xterm.js':>10}{'pyte':>8}"
        f"{'/xterm.js':>11}{'/pyte':>8}  {'target':<10}{'same':<6}result"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        value, base = median(r.model), median(r.pyte)
        slow, same = ref[r.stream]
        xterm = median(r.xterm) if r.xterm else None
        ratio = f"{value / xterm:.2f}x" if xterm else "-"
        verdict = "-" if not xterm else ("pass" if value / xterm >= r.target else "GAP")
        lines.append(
            f"{r.stream:<22}{value:>8.2f}{slow:>12.2f}"
            f"{(f'{xterm:.2f}' if xterm else '-'):>10}{base:>8.2f}{ratio:>11}"
            f"{value / base:>7.1f}x  {'>= ' + format(r.target, 'g') + 'x':<10}"
            f"{'yes' if same else 'NO':<6}{verdict}"
        )
    mb = results[0].size / 1e6 if results else 0
    runs = len(results[0].model) if results else 0
    lines.append(f"(MB/s, median of {runs} runs, {mb:.1f} MB each, {WRITE // 1024} KiB writes)")
    missing = next((r.why_no_xterm for r in results if r.why_no_xterm), None)
    if missing:
        lines.append(f"xterm.js not measured: {missing}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.terminal", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="0.5 MB streams, one run")
    parser.add_argument("--size", type=float, help="MB per stream")
    parser.add_argument("--runs", type=int, help="runs per measurement (median)")
    args = parser.parse_args(argv)
    size = int(args.size * 1e6) if args.size else (500_000 if args.quick else 2_000_000)
    runs = args.runs or (1 if args.quick else 3)
    print(table(rates(size, runs), reference(size, runs)))


if __name__ == "__main__":
    main()
