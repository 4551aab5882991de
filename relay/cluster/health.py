"""Dependencies a relay checks over the network, in the background, for ``/healthz``.

``/healthz`` (:meth:`relay.net.server.Relay._process_request`) lists one state
per dependency, each a JSON object with at least ``ok``, read on request from
:attr:`relay.net.server.Relay.checks`; while one is not ok the relay refuses new
sessions, saying which and why. Object storage reports from its uploader's
memory. A dependency that must be asked over the network — the state store
(SQLite or PostgreSQL, :meth:`relay.store.Store.ping`) and the audit log's
copy in PostgreSQL — registers an ``async`` check with :class:`Health`
instead (:meth:`relay.net.server.Relay.watch_dependency`): a check returns a
short description of what it reached, or raises with the reason it could
not.

Checks run in the background every :data:`INTERVAL` seconds, each bounded by
:data:`TIMEOUT`; the relay answers from their last results
(:meth:`Health.fields`). Never on request: an unauthenticated URL must not be
a way to make the relay query its database, and a load balancer polling
every second must not either. A description or reason names no password.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

INTERVAL = 2.0  # seconds between rounds of checks
TIMEOUT = 3.0  # seconds one check may take before it counts as failing
MAX_DETAIL = 300  # characters of a check's description or error kept

Status = Literal["ok", "failing", "starting"]
Check = Callable[[], Awaitable[str]]


@dataclass(frozen=True)
class Result:
    """One dependency's last check."""

    status: Status
    detail: str  # what answered, or why it failed
    checked_at: float | None = None
    seconds: float | None = None  # how long the check took

    def fields(self) -> dict[str, Any]:
        """The state ``/healthz`` shows: ``ok``, and ``error`` when failing."""
        value: dict[str, Any] = {"ok": self.status != "failing", "status": self.status}
        value["error" if self.status == "failing" else "detail"] = self.detail
        if self.checked_at is not None:
            value["checked_at"] = round(self.checked_at, 3)
        if self.seconds is not None:
            value["seconds"] = round(self.seconds, 4)
        return value


class Health:
    """The registry of background checks and their last results."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        timeout: float = TIMEOUT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._timeout = timeout
        self._checks: dict[str, Check] = {}
        self._results: dict[str, Result] = {}

    def register(self, name: str, check: Check) -> None:
        """Check ``name`` with ``check`` from the next round on (``starting`` until then)."""
        self._checks[name] = check
        self._results[name] = Result("starting", "not checked yet")

    @property
    def names(self) -> list[str]:
        return list(self._results)

    async def check(self) -> None:
        """Run every check once, concurrently; each result replaces the last."""
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(self._checks[name]) for name in names))
        for name, result in zip(names, results, strict=True):
            self._results[name] = result

    async def watch(self, interval: float = INTERVAL) -> None:
        """Check forever, every ``interval`` seconds (cancel to stop)."""
        while True:
            await self.check()
            await asyncio.sleep(interval)

    async def _run(self, check: Check) -> Result:
        started, at = self._monotonic(), self._clock()
        try:
            async with asyncio.timeout(self._timeout):
                detail = await check()
        except TimeoutError:
            return Result(
                "failing",
                f"no answer within {self._timeout:g} s",
                at,
                self._monotonic() - started,
            )
        except Exception as exc:  # the reason is the report; the relay goes on
            return Result(
                "failing", _short(str(exc) or type(exc).__name__), at, self._monotonic() - started
            )
        return Result("ok", _short(detail), at, self._monotonic() - started)

    def result(self, name: str) -> Result | None:
        return self._results.get(name)

    def fields(self, name: str) -> dict[str, Any]:
        """``name``'s last state, for ``/healthz`` (``starting`` is ok: no answer is due yet)."""
        result = self._results.get(name)
        if result is None:
            return {"ok": False, "status": "failing", "error": f"{name} is not checked"}
        return result.fields()

    @property
    def failing(self) -> list[str]:
        """Names whose last check failed."""
        return [name for name, result in self._results.items() if result.status == "failing"]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"
