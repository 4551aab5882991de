"""The relays' Redis: where a session's live traffic crosses from one relay to another.

``[cluster] redis`` names one Redis (or a Redis-compatible server) that every
relay of the cluster reaches. Two kinds of stream live there, under the
relay's name (``relay.name``, the same on every relay of a cluster):

* ``warroom:NAME:session:ID`` — one per session, written only by its *home*
  (the relay holding its SSH connection): the masked output, each entry
  carrying its byte offset, the size changes between the same two bytes, and
  the messages the session's core addresses to participants on other relays
  (:mod:`relay.net.home`). Trimmed like the home's output ring, so
  whatever a client may resume from on the home, it may resume from anywhere.
* ``warroom:NAME:node:NODE`` — one per relay, its *inbox*: what the other
  relays' participants do in the sessions this relay is home to (join,
  keystrokes, chat, control, leave), in the order they did it
  (:mod:`relay.net.edge`).

And one hash, ``warroom:NAME:lobby``: each open session's lobby summary,
kept by its home, so that every relay's lobby lists every session.

Why redis-py's asyncio API (``redis>=5``): it is the client Redis itself
maintains, its asyncio side has been part of it (not the separate aioredis)
since 4.2 and sound under task cancellation since 5, and streams (``XADD``,
``XREAD BLOCK``, ``XTRIM MINID``) are first-class calls. Blocking reads each
take a connection of the pool for their duration, which is what one reader
task per followed session needs.

Every call is bounded (:data:`TIMEOUT`, :meth:`Bus.call`) by the relay, not
by a socket timeout of redis-py's: with one (redis-py 8 sets 5 s by default),
each command's write goes through ``asyncio.wait_for``, which on Python 3.11
runs it as a task of its own: the command leaves only after everything the
event loop already had to do. A session's home wakes its feed first and then
one writer per local viewer, so every output entry left for Redis after the
home had written it to all of its own viewers (50 websocket frames, 3-8 ms
with a keystroke's echo), and each participant on an edge got it that much
later (bench row 9; docs/performance.md).

Redis is trusted like the database: whoever may write these streams may act
as any participant. Give it a password or an ACL user and TLS (``rediss://``)
on any network but loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from relay.store.redis_url import check_redis_url as check_url
from relay.store.redis_url import redact_redis_url as redact

Fields = dict[bytes, bytes]
"""One stream entry's fields, as Redis returns them (bytes, never decoded)."""
Entry = tuple[bytes, Fields]

__all__ = ["Bus", "Fields", "RedisError", "check_url", "redact"]

T = TypeVar("T")

TIMEOUT = 5.0
"""Seconds Redis has to answer one call (a blocking read: besides the wait it asks
for). A Redis that stops answering without closing its connections (a paused
process, a network that drops packets) then fails calls like one that refuses
them, and the relay fails closed the same way (:data:`relay.net.home.GRACE`)."""


class Bus:
    """One relay's connection pool to the cluster's Redis, and the names of its streams."""

    def __init__(self, url: str, relay: str, timeout: float = TIMEOUT) -> None:
        self.url = url
        self.where = redact(url)
        self.prefix = f"warroom:{relay}:"
        self.timeout = timeout
        # No socket timeout (redis-py 8 defaults to 5 s): a command is then written
        # to its socket at once, not by a task of its own behind whatever the loop
        # had to do (see above); :meth:`call` bounds each call instead. Connecting
        # is bounded, so an unreachable Redis fails fast.
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=3.0,
            socket_timeout=None,
            health_check_interval=10,
            max_connections=None,
        )

    async def call(self, request: Awaitable[T], wait: float = 0.0) -> T:
        """``request`` (a call on :attr:`redis`, a pipeline's ``execute()``), or
        :class:`RedisError` if Redis has not answered within :attr:`timeout`
        seconds plus ``wait`` (what a blocking read asks Redis to wait)."""
        try:
            async with asyncio.timeout(self.timeout + wait):
                return await request
        except TimeoutError:
            raise RedisError(
                f"Redis ({self.where}) did not answer within {self.timeout + wait:g} s"
            ) from None

    def session_key(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def inbox_key(self, node: str) -> str:
        return f"{self.prefix}node:{node}"

    @property
    def lobby_key(self) -> str:
        """A hash: session id -> what lobbies list about it (JSON), kept by its home."""
        return f"{self.prefix}lobby"

    async def lobby(self) -> dict[str, bytes]:
        reply: Any = await self.call(self.redis.hgetall(self.lobby_key))
        return {key.decode(): value for key, value in reply.items()}

    async def ping(self) -> str:
        """For ``/healthz``: what answered, or an exception saying why not."""
        try:
            await self.call(self.redis.ping())
            info: dict[str, Any] = await self.call(self.redis.info("server"))
        except RedisError as exc:
            raise RedisError(f"cannot reach Redis {self.where}: {exc}") from None
        return f"Redis {info.get('redis_version', '?')} at {self.where}"

    async def close(self) -> None:
        await self.redis.aclose()

    # Typed wrappers: redis-py's stream calls are typed for every client mode at
    # once; this pool never decodes, so entries are bytes throughout.

    async def read(self, key: str, after: bytes, count: int, block: int) -> list[Entry]:
        """Entries of ``key`` after ``after``, waiting up to ``block`` ms for one."""
        request = self.redis.xread({key: after}, count=count, block=block)
        reply: Any = await self.call(request, wait=block / 1000)
        return [(entry_id, fields) for _key, entries in reply or [] for entry_id, fields in entries]

    async def range(self, key: str, start: bytes, end: bytes, count: int) -> list[Entry]:
        reply: Any = await self.call(self.redis.xrange(key, start, end, count=count))
        return list(reply)

    async def top(self, key: str) -> bytes:
        """The id of the newest entry of ``key`` (``0-0`` when there is none)."""
        reply: Any = await self.call(self.redis.xrevrange(key, "+", "-", count=1))
        return bytes(reply[0][0]) if reply else b"0-0"


def field_int(fields: Fields, name: bytes, default: int = 0) -> int:
    value = fields.get(name)
    return int(value) if value is not None else default


def field_text(fields: Fields, name: bytes, default: str = "") -> str:
    value = fields.get(name)
    return value.decode() if value is not None else default
