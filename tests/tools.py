"""Rules for tests that depend on tools outside Python (sshd, tmux, root), and where things are.

Locally a missing tool is a skip with a reason; in CI (``CI=true``) it is a failure,
because a CI run that silently skips the integration tests proves nothing.
"""

from __future__ import annotations

import os
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
