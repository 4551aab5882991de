"""The background checks behind ``/healthz`` (relay.cluster.health).

The relay's own ``/healthz`` over real sockets, on SQLite and on a real
PostgreSQL that goes away and comes back, is tested in
``tests/relay/cluster/test_cluster_postgres.py``.
"""

from __future__ import annotations

import asyncio

from relay.cluster.health import MAX_DETAIL, Health
from relay.store import StoreError


async def test_each_check_reports_its_own_result_and_a_failure_says_why() -> None:
    clock = iter(range(1000, 2000))
    health = Health(clock=lambda: float(next(clock)), timeout=0.5)

    async def fine() -> str:
        return "PostgreSQL 15.18,\n schema 1"

    async def broken() -> str:
        raise StoreError("cannot reach the state database postgresql://w@db/w: refused")

    async def stuck() -> str:
        await asyncio.sleep(3600)
        return "never"

    health.register("store", fine)
    health.register("audit_copy", broken)
    health.register("redis", stuck)
    assert not health.failing  # nothing checked yet: nothing is failing yet
    assert health.fields("store") == {"ok": True, "status": "starting", "detail": "not checked yet"}

    await health.check()
    store, copy, redis = (health.fields(n) for n in ("store", "audit_copy", "redis"))
    assert (store["ok"], store["status"]) == (True, "ok")
    assert store["detail"] == "PostgreSQL 15.18, schema 1"
    assert (copy["ok"], copy["status"]) == (False, "failing")
    assert copy["error"] == "cannot reach the state database postgresql://w@db/w: refused"
    assert (redis["ok"], redis["error"]) == (False, "no answer within 0.5 s")
    assert all(isinstance(s["checked_at"], float) for s in (store, copy, redis))
    assert all(s["seconds"] >= 0 for s in (store, copy, redis))
    assert health.failing == ["audit_copy", "redis"]
    unknown = {"ok": False, "status": "failing", "error": "nope is not checked"}
    assert health.fields("nope") == unknown


async def test_a_check_registered_again_is_replaced_and_a_long_reason_is_cut() -> None:
    health = Health()

    async def wordy() -> str:
        raise RuntimeError("x" * 10_000)

    health.register("redis", wordy)
    await health.check()
    result = health.result("redis")
    assert result is not None and result.status == "failing"
    assert len(result.detail) == MAX_DETAIL and result.detail.endswith("…")

    async def fine() -> str:
        return "Redis 7"

    health.register("redis", fine)
    await health.check()
    assert not health.failing and health.fields("redis")["detail"] == "Redis 7"
