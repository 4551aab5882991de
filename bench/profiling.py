"""Optional py-spy profiles of the relay process while a benchmark runs.

``python -m bench --profile DIR`` samples the relay during one extra run of
rows 1 and 2 and writes ``DIR/<name>.txt`` (py-spy's collapsed stacks) and
``DIR/<name>.summary.txt``: the functions that hold the most samples, by self
time and by inclusive time, in percent of all samples.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import TracebackType

RATE = 250
#: Leaf frames py-spy counts as active that are threads waiting for work (the
#: default executor's idle workers): left out of every summary.
IDLE = frozenset({"_worker (thread.py)"})


class Profile:
    """``with Profile(pid, path):`` samples ``pid`` with py-spy for the block's duration."""

    def __init__(self, pid: int, path: Path) -> None:
        self.pid = pid
        self.path = path
        self._process: subprocess.Popen[bytes] | None = None
        self._started = 0.0

    @staticmethod
    def executable() -> str | None:
        """py-spy on ``PATH``, or beside this interpreter (a venv's ``bin/``, not activated)."""
        return shutil.which("py-spy") or shutil.which(
            "py-spy", path=str(Path(sys.executable).parent)
        )

    @staticmethod
    def available() -> bool:
        return Profile.executable() is not None

    def __enter__(self) -> Profile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        executable = self.executable()
        assert executable is not None, "check Profile.available() first"
        self._process = subprocess.Popen(
            [
                executable,
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                str(RATE),
                "--format",
                "raw",
                "--output",
                str(self.path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self.path.exists():
            summary = summarize(self.path, time.perf_counter() - self._started)
            self.path.with_suffix(".summary.txt").write_text(summary)


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``func (module.py)``."""
    name, _, where = frame.partition(" (")
    file = where.split(":")[0].rstrip(")")
    return f"{name} ({file.rsplit('/', 1)[-1]})" if file else name


def summarize(path: Path, seconds: float, top: int = 25) -> str:
    """Self and inclusive time per function, in percent of all samples.

    py-spy leaves out idle samples (the event loop waiting in ``select``), so
    samples / (seconds x rate) is the share of one core the relay kept busy.
    Frames present in nearly every sample (runpy, ``asyncio.run``, the event
    loop itself) are left out of the inclusive list: they say nothing.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames or frames[-1] in IDLE:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples\n"
    busy = total / (seconds * RATE) if seconds else float("nan")
    lines = [
        f"{total} samples at {RATE} Hz over {seconds:.1f} s: "
        f"relay busy {100 * busy:.0f}% of a core",
        "",
        "self time:",
    ]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["", "inclusive time:"]
    telling = [(f, n) for f, n in inclusive.most_common() if n < 0.95 * total]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in telling[:top]]
    return "\n".join(lines) + "\n"
