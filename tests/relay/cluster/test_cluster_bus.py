"""The relays' Redis client (relay.cluster.bus), against a real redis-server.

Two properties the live traffic between relays rests on:

* a command is on its way to Redis when the call is made, not after the work
  the event loop already had queued: a session's home wakes its feed and then
  one writer per local viewer, and an entry that waited for those writers
  reached every participant on another relay late (bench row 9);
* a Redis that stops answering without closing its connections (here: a
  paused process) fails calls with :class:`RedisError` instead of hanging them,
  so that the relay fails closed as it does when Redis refuses connections;
  and the pool is sound afterwards (no answer meant for an abandoned call is
  read by the next one).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import pytest

from relay.cluster.bus import TIMEOUT, Bus, RedisError
from tests.redis import RedisServer, commands


def _database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _length_now(server: RedisServer, url: str, key: str) -> bytes:
    """XLEN of ``key`` as Redis answers it at this instant, on a connection of its own
    (blocking: nothing else of the test's event loop runs meanwhile)."""
    calls = (("SELECT", _database(url)), ("XLEN", key))
    selected, length = commands(server.host, server.port, *calls, timeout=30.0)
    assert selected == b"+OK"
    return length


async def _seen_by_work_queued_before(
    server: RedisServer, url: str, key: str, send: Callable[[], Awaitable[object]]
) -> bytes:
    """Queue work on the loop (as a home's writers are), then ``send``: what the queued
    work finds in Redis when it runs."""
    seen: list[bytes] = []
    asyncio.get_running_loop().call_soon(lambda: seen.append(_length_now(server, url, key)))
    await send()
    assert len(seen) == 1
    return seen[0]


async def test_a_command_leaves_for_redis_before_the_work_the_loop_had_queued(
    redis_server: RedisServer, redis_url: str
) -> None:
    bus = Bus(redis_url, "prod-relay")
    key = bus.session_key("s1")
    try:
        await bus.top(key)  # the pool has a connection: the call below only writes
        entry = {b"k": b"o", b"o": b"0", b"d": b"x"}
        one = await _seen_by_work_queued_before(
            redis_server, redis_url, key, lambda: bus.call(bus.redis.xadd(key, entry))
        )
        assert one == b":1"

        def round_trip() -> Awaitable[object]:  # as the home's feed publishes its entries
            pipe = bus.redis.pipeline(transaction=False)
            pipe.xadd(key, entry)
            pipe.xadd(key, entry)
            return bus.call(pipe.execute())

        assert await _seen_by_work_queued_before(redis_server, redis_url, key, round_trip) == b":3"
    finally:
        await bus.close()


@contextmanager
def paused(server: RedisServer) -> Iterator[None]:
    """The server stops answering (SIGSTOP) but its connections stay open."""
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)


async def test_a_redis_that_stops_answering_fails_calls_and_the_pool_recovers(
    own_redis: RedisServer,
) -> None:
    bus = Bus(own_redis.url(0), "prod-relay")
    key = bus.session_key("s1")
    try:
        await bus.call(bus.redis.xadd(key, {b"k": b"h"}))
        with paused(own_redis):
            bus.timeout = 0.5  # (only while paused: a loaded machine may answer slowly)
            with pytest.raises(RedisError, match=r"did not answer within 0\.5 s"):
                await bus.top(key)
            with pytest.raises(RedisError, match=r"did not answer within 0\.6 s"):
                await bus.read(key, b"0-0", 10, 100)  # its 100 ms of blocking, then 0.5 s
            with pytest.raises(RedisError, match="did not answer"):
                pipe = bus.redis.pipeline(transaction=False)
                pipe.xadd(key, {b"k": b"h"})
                await bus.call(pipe.execute())
        bus.timeout = TIMEOUT
        # Answered again; each call reads its own answer (not one an abandoned call left).
        assert await bus.call(bus.redis.ping()) is True
        length = await bus.call(bus.redis.xlen(key))
        assert isinstance(length, int) and length >= 1
        top = await bus.top(key)
        assert top.count(b"-") == 1 and top != b"0-0"
        entries = await bus.read(key, b"0-0", 10, 100)
        assert len(entries) == length and entries[-1][0] == top
    finally:
        await bus.close()
