"""Row 6: feed rate of the terminal model vs xterm.js headless, with pyte as a second baseline.

Four generated (seeded) streams, ``bench/terminal_streams.py``: plain logs,
coloured logs, a shell-session mix and full-screen repaints. Every emulator
gets the same bytes in the same 4 KiB writes (cut on UTF-8 character
boundaries), at 80x24, with its default scrollback:

* the model: ``relay.terminal.TerminalModel(80, 24).feed``, timed in this process
  up to a read of its screen after the last write (the model may keep plain
  output undrawn until it is read: that drawing is timed too);
* xterm.js headless 6 with the Unicode 11 addon, timed by its own node process
  from the first ``write()`` to the last one's callback (``bench/xterm.py``):
  feeding time only, not node's start-up nor the transfer of the bytes;
  one node process for all runs, so that its JIT stays warm;
* ``pyte.Screen`` + ``pyte.ByteStream``.

Runs of the three alternate, so that the load of a shared machine weighs on
all alike. Rates are medians in MB/s (1e6 bytes) over the runs; the target is a ratio to
xterm.js measured in the same run (issue 9: at least 1x on logs, 0.5x on the
mix and on full-screen repaints).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyte

from bench.table import Row, median
from bench.terminal_streams import STREAMS, TARGETS, chunks
from bench.xterm import XtermTimer, unavailable
from relay.terminal import TerminalModel

COLS, ROWS = 80, 24
WRITE = 4096


def model_seconds(pieces: list[bytes]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process) to feed ``pieces`` and read the screen."""
    model = TerminalModel(COLS, ROWS)
    feed = model.feed
    cpu = time.process_time()
    start = time.perf_counter()
    for piece in pieces:
        feed(piece)
    model.screen  # noqa: B018  (output the model kept undrawn is drawn on reading: timed too)
    return time.perf_counter() - start, time.process_time() - cpu


def pyte_seconds(pieces: list[bytes]) -> float:
    screen = pyte.Screen(COLS, ROWS)
    feed = pyte.ByteStream(screen).feed
    start = time.perf_counter()
    for piece in pieces:
        feed(piece)
    return time.perf_counter() - start


@dataclass
class Rates:
    """One stream's feed rates in MB/s, medians and runs (xterm.js: None if unavailable)."""

    stream: str
    size: int
    model: list[float]
    xterm: list[float] | None
    pyte: list[float]
    why_no_xterm: str | None = None
    #: The same runs in MB per CPU-second: of this process for the model, of the node
    #: process (every thread: V8's collector too) for xterm.js. Less moved by the load
    #: of a shared machine than the wall clock, which counts the time a process waited.
    model_cpu: list[float] = field(default_factory=list)
    xterm_cpu: list[float] = field(default_factory=list)

    @property
    def target(self) -> float:
        return TARGETS[self.stream]


def rates(size: int, runs: int) -> list[Rates]:
    """Each stream fed ``runs`` times to the model, xterm.js and pyte, runs alternating."""
    missing = unavailable()
    timer = XtermTimer() if missing is None else None
    results = []
    try:
        for name, make in STREAMS.items():
            data = make(size)
            pieces = chunks(data, WRITE)
            ours: list[float] = []
            theirs: list[float] | None = None if timer is None else []
            base: list[float] = []
            ours_cpu: list[float] = []
            theirs_cpu: list[float] = []
            mb = len(data) / 1e6
            for _ in range(runs):
                wall, cpu = model_seconds(pieces)
                ours.append(mb / wall)
                ours_cpu.append(mb / cpu)
                if timer is not None and theirs is not None:
                    theirs.append(mb / timer.seconds(data, WRITE, COLS, ROWS))
                    theirs_cpu.append(mb / timer.cpu_seconds)
                base.append(mb / pyte_seconds(pieces))
            results.append(
                Rates(name, len(data), ours, theirs, base, missing, ours_cpu, theirs_cpu)
            )
    finally:
        if timer is not None:
            timer.close()
    return results


def terminal_model(size: int, runs: int) -> list[Row]:
    rows = []
    for r in rates(size, runs):
        value, base = median(r.model), median(r.pyte)
        name = f"terminal model: {r.stream}"
        target = f">= {r.target:g}x xterm.js"
        note = (
            f"{r.size / 1e6:.1f} MB in {WRITE // 1024} KiB writes, {runs} runs; "
            f"pyte {base:.2f} MB/s ({value / base:.1f}x)"
        )
        if r.xterm is None:
            result, xterm, ratio = "NOT MEASURED", "-", "-"
            note += f"; xterm.js: {r.why_no_xterm}"
        else:
            rate = median(r.xterm)
            xterm, ratio = f"{rate:.2f} MB/s", f"{value / rate:.2f}x"
            gap = r.target - value / rate
            result = "pass" if gap <= 0 else f"GAP {gap:.2f}x"
            cpu, their_cpu = median(r.model_cpu), median(r.xterm_cpu)
            note += (
                f"; CPU time: model {cpu:.2f}, xterm.js {their_cpu:.2f} MB/cpu-s"
                f" ({cpu / their_cpu:.2f}x); runs wall {_runs(r.model)} vs {_runs(r.xterm)},"
                f" CPU {_runs(r.model_cpu)} vs {_runs(r.xterm_cpu)}"
            )
        rows.append(Row("6", name, f"{value:.2f} MB/s", xterm, ratio, target, result, note))
    return rows


def _runs(rates: list[float]) -> str:
    return "[" + ", ".join(f"{r:.1f}" for r in rates) + "]"
