"""Rules for tests that depend on tools outside Python (sshd, tmux, root), where things are,
and how a test stops a process it started.

Locally a missing tool is a skip with a reason; in CI (``CI=true``) it is a failure,
because a CI run that silently skips the integration tests proves nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent  # shared fixtures, data/, oracle/
ROOT = TESTS.parent  # the repository: docs/, relay/, tui/


def in_ci() -> bool:
    """True when running under CI, which must never skip for a missing tool."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require_tool(condition: bool, reason: str) -> None:
    """Skip the test (fail it under CI) with *reason* unless *condition* holds."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI must not skip this test)", pytrace=False)
    pytest.skip(reason)


async def stop(
    process: subprocess.Popen[str] | subprocess.Popen[bytes],
    sig: int = signal.SIGTERM,
    timeout: float = 30,
) -> int:
    """Send *sig* and wait for the exit code; a process that does not stop is killed.

    A relay that ignores its stop signal is a bug the test must report, and it must
    not outlive the test either (one did, at 30% of a core for 40 minutes).
    """
    process.send_signal(sig)
    try:
        return await asyncio.to_thread(process.wait, timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        await asyncio.to_thread(process.wait)
        raise AssertionError(
            f"{process.args!r} did not stop within {timeout:g} s of {signal.Signals(sig).name}"
        ) from None
