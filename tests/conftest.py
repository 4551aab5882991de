"""Fixtures shared by the test suite: a real sshd and a real relay on loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness import Harness, running_relay
from tests.sshd import sshd  # noqa: F401  (re-exported fixture)

os.environ.pop("http_proxy", None)
os.environ.pop("https_proxy", None)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_relay(tmp_path) as h:
        yield h
