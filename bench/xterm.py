"""xterm.js headless as a speed baseline: a node process timing its own writes.

It uses the oracle's pinned packages (``tests/oracle``; ``npm ci`` there) and
script (``tests/oracle/xterm_screen.js``, its bench mode): a fresh terminal per
run, fed the same chunks as the model, timed from the first ``write()`` to the
last one's callback, so node's start-up and the transfer of the bytes are not
counted.
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


def feed_seconds(data: bytes, chunk: int, runs: int, cols: int = 80, rows: int = 24) -> list[float]:
    """Seconds xterm.js took to take in ``data`` in ``chunk``-byte writes, once per run."""
    request = {
        "bench": True,
        "cols": cols,
        "rows": rows,
        "chunk": chunk,
        "runs": runs,
        "data": base64.b64encode(data).decode(),
    }
    result = subprocess.run(
        ["node", "xterm_screen.js"],
        cwd=ORACLE_DIR,
        input=json.dumps(request) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    seconds: list[float] = json.loads(result.stdout)["seconds"]
    return seconds
