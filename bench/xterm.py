"""xterm.js headless as a speed baseline: a node process timing its own writes.

It uses the oracle's pinned packages (``tests/oracle``; ``npm ci`` there) and
script (``tests/oracle/xterm_screen.js``, its bench mode): a fresh terminal per
run, fed the same chunks as the model, timed from the first ``write()`` to the
last one's callback, so node's start-up and the transfer of the bytes are not
counted: wall clock, and the CPU time node used meanwhile (``process.cpuUsage``).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

ORACLE_DIR = Path(__file__).resolve().parent.parent / "tests" / "oracle"


def unavailable() -> str | None:
    """Why the baseline cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (ORACLE_DIR / "node_modules" / "@xterm" / "headless").is_dir():
        return f"run 'npm ci' in {ORACLE_DIR}"
    return None


class XtermTimer:
    """One node process for a whole benchmark, timing one run per request.

    Kept alive between runs so that runs of the model and of xterm.js can
    alternate (the load of a shared machine then weighs on both alike) while
    xterm.js keeps its JIT warm, as it would in a long-lived terminal.
    """

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            ["node", "xterm_screen.js"],
            cwd=ORACLE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def seconds(self, data: bytes, chunk: int, cols: int = 80, rows: int = 24) -> float:
        """Seconds xterm.js took to take in ``data`` in ``chunk``-byte writes (one run)."""
        assert self._process.stdin is not None and self._process.stdout is not None
        request = {
            "bench": True,
            "cols": cols,
            "rows": rows,
            "chunk": chunk,
            "runs": 1,
            "data": base64.b64encode(data).decode(),
        }
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the xterm.js process exited ({self._process.poll()})")
        answer = json.loads(line)
        #: CPU seconds (user + system, all of node's threads) of the last run.
        self.cpu_seconds: float = answer["cpu"][0]
        seconds: list[float] = answer["seconds"]
        return seconds[0]

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)
