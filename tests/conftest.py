"""Fixtures shared by the test suite: a real sshd, PostgreSQL, Redis and relay on loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.harness import Harness, Targets, running_relay, sshd_target
from tests.postgres import postgres_dsn, postgres_server  # noqa: F401  (re-exported fixtures)
from tests.redis import own_redis, redis_server, redis_url  # noqa: F401  (re-exported fixtures)
from tests.s3 import moto, own_moto  # noqa: F401  (re-exported fixtures)
from tests.servers import interrupt_on_sigterm
from tests.sshd import sshd  # noqa: F401  (re-exported fixture)

# Property tests: in `make test` (and CI) a fixed seed and a bounded number of
# examples, so a run is repeatable and its length known; `make fuzz` searches
# far longer with fresh seeds. No deadline: two shared cores make timing noise.
settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=5000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    interrupt_on_sigterm()  # a cancelled run (CI, a bench) tears its fixtures down as ^C would


os.environ.pop("http_proxy", None)
os.environ.pop("https_proxy", None)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recordings the TUI fetches go to a temporary cache, never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_relay(tmp_path) as h:
        yield h


@pytest.fixture(params=["sandbox", "sshd"])
def on_target(request: pytest.FixtureRequest) -> Targets:
    """Run a test against the sandbox and against a real OpenSSH sshd."""
    if request.param == "sshd":
        server = request.getfixturevalue("sshd")
        return Targets("sshd", {"sshd": sshd_target(server)})
    return Targets("sandbox", {})
