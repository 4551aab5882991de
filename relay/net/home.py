"""A session's home in a cluster: its live traffic out to Redis, other relays' participants in.

The home is the relay holding the session's SSH connection. It runs the
session exactly as a relay on its own does (:class:`relay.net.live.LiveSession`:
the core, masking, recording, flow control), and adds two things:

* :class:`SessionFeed` publishes what the other relays (its *edges*) need to
  the session's stream in Redis: the **masked** output with its byte offsets
  and the size changes between the same two bytes, read from the same
  :class:`relay.net.output.SessionOutput` the home's own viewers read, at its own
  pace (a cursor, like a client's); the messages the core addresses to
  participants on edges; snapshots for edges that start following. Output is
  masked once, here: no raw byte ever reaches Redis.
* :class:`HomeDesk` reads this relay's inbox: what participants on edges do
  (join, keystrokes, chat, control, leave, removal when their access ended,
  and whether their connections are reading), each handed to the same
  :class:`relay.net.live.LiveSession` method a local connection calls. A
  participant on an edge is in the core like any other, with a
  :class:`RemoteLink` instead of a websocket: one driver, hand-off,
  four-eyes, time limits and the kill switch are decided here, once.

Stream entries (fields, bytes; ``k`` says the kind):

==== ===================================================================
o    output: ``o`` offset, ``d`` bytes, ``w``/``h`` the size in effect there
r    size change at ``o``: ``w`` x ``h``
m    a message for participant ``t`` (``*``: every one on an edge): ``m`` the JSON
     text the participant gets, as the home encoded it (edges pass it on as is)
c    close participant ``t``'s connection: ``c`` close code, ``m`` reason
a    the answer to participant ``t``'s join: ``ok`` 1 or 0
s    a snapshot for the edge that asked with nonce ``n``: ``o``, ``w``, ``h``, ``d``
g    output before ``o`` can no longer be published: edges start again from a snapshot
h    the home is alive (at least every :data:`HEARTBEAT` seconds)
e    the session ended: ``m`` reason
==== ===================================================================

Entry ids are ``OFFSET-N``: the output offset published so far, and a
counter. They rise with the offset, so trimming the stream like the output
ring is one ``XTRIM MINID``, and an edge that reconnects can tell what it has.

Failing closed: when Redis does not take the session's entries for
:data:`GRACE` seconds, participants on edges can no longer be served and the
home cannot hear them, so the session ends for everyone with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from relay.cluster.bus import Bus, Fields, RedisError, field_text
from relay.core import messages, protocol
from relay.net.connection import ClientLink
from relay.net.live import LiveSession, Seat
from relay.net.output import SessionOutput

log = logging.getLogger(__name__)

PIECE = 64 * 1024  # bytes of output per entry (the output ring keeps pieces of this size)
BATCH = 1024 * 1024  # bytes of output per round trip to Redis
HEARTBEAT = 1.0  # seconds: the home writes an entry at least this often
EDGE_TIMEOUT = 5.0  # an edge not heard from this long has lost its participants' connections
GRACE = 5.0  # seconds Redis may refuse a session's entries before the session ends
RETRY = 0.25  # seconds between attempts while Redis fails
MAX_WAITING = 10_000  # messages waiting for Redis (a session whose Redis is away ends first)
ENDED_TTL = 300  # seconds an ended session's stream stays, for edges to read its end


class RemoteLink:
    """A participant on another relay, as the session's core reaches them.

    What the core sends them goes to the session's stream; whether they are
    reading is what their relay last reported (and that it is still heard
    from). They read the masked output from their relay, so they never hold
    the session back (:meth:`backlog` is 0): a driver on an edge who falls
    behind their relay's copy of the stream is resynced from a snapshot, as
    a viewer is.
    """

    remote = True

    def __init__(self, pid: str, node: str, feed: SessionFeed) -> None:
        self.pid = pid
        self.node = node
        self.feed = feed
        self.on_sent: Callable[[ClientLink], None] | None = None
        self.is_reading = True
        self.closed = False

    @property
    def source(self) -> object:
        return None

    @property
    def cursor(self) -> int | None:
        return None

    def send_json(self, message: messages.RelayMessage) -> None:
        self.feed.send(self.pid, protocol.encode(message).encode())

    def send_encoded(self, data: bytes) -> None:
        self.feed.send(self.pid, data)

    def notify(self) -> None:
        pass  # the feed publishes the output once for every edge

    def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.feed.close(self.pid, code, reason)

    def attach(self, source: SessionOutput, offset: int | None) -> None:
        pass  # their relay streams the masked output to them

    def detach(self) -> None:
        pass

    def reading(self) -> bool:
        return self.is_reading and not self.closed and self.feed.hears(self.node)

    def backlog(self) -> int:
        return 0


class SessionFeed:
    """Publishes one home session to its stream in Redis (:class:`relay.net.live.Peers`)."""

    def __init__(self, bus: Bus, live: LiveSession, clock: Callable[[], float] = time.time) -> None:
        self.bus = bus
        self.live = live
        self.clock = clock
        self.key = bus.session_key(live.session_id)
        self.output = live.output
        self._cursor = self.output.stream.start  # the next output byte to publish
        self._mark_seq, cols, rows = self.output.size_at(self._cursor)
        self._size = (cols, rows)
        self._seq = 0  # the counter in entry ids
        self._entries: list[tuple[str, Fields]] = []  # built, not yet taken by Redis
        self._waiting = 0  # bytes of output in _entries
        self._syncs: list[str] = []  # snapshot requests (nonces) to answer
        self._heard: dict[str, float] = {}  # edge node -> when last heard (monotonic)
        self._wake = asyncio.Event()
        self._published_at = time.monotonic()
        self.failing_since: float | None = None
        self.error: str | None = None
        self._unsure = False  # a round failed: Redis may have taken part of it
        self._ended = False
        self._tasks: list[asyncio.Task[None]] = []
        self._listed: bytes | None = None  # the lobby summary last written

    def start(self) -> None:
        sid = self.live.session_id
        self._tasks = [
            asyncio.create_task(self._run(), name=f"feed-{sid}"),
            asyncio.create_task(self._tick(), name=f"feed-tick-{sid}"),
        ]
        self._wake.set()

    async def finish(self) -> None:
        """After the end: its last entries out (for at most :data:`GRACE` s), then stop."""
        if self._tasks:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._tasks[0]), GRACE)
        await self.stop()

    async def stop(self) -> None:
        with contextlib.suppress(RedisError):
            await self.bus.call(self.bus.redis.hdel(self.bus.lobby_key, self.live.session_id))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------ Peers

    def notify(self) -> None:
        self._wake.set()

    def broadcast(self, message: messages.RelayMessage) -> None:
        self._event({b"k": b"m", b"t": b"*", b"m": protocol.encode(message).encode()})

    def ended(self, reason: str) -> None:
        self._event({b"k": b"e", b"m": reason.encode()})
        self._ended = True

    # ------------------------------------------------------------ for remote links

    def send(self, pid: str, data: bytes) -> None:
        """A message (encoded: :func:`relay.core.protocol.encode`, UTF-8) for one participant."""
        self._event({b"k": b"m", b"t": pid.encode(), b"m": data})

    def close(self, pid: str, code: int, reason: str) -> None:
        self._event({b"k": b"c", b"t": pid.encode(), b"c": b"%d" % code, b"m": reason.encode()})

    def ack(self, pid: str, ok: bool) -> None:
        self._event({b"k": b"a", b"t": pid.encode(), b"ok": b"1" if ok else b"0"})

    def sync(self, nonce: str) -> None:
        """An edge starts following: answer with a snapshot, behind all output before it."""
        self._syncs.append(nonce)
        self._wake.set()

    def heard(self, node: str, report: dict[str, Any] | None = None) -> None:
        """An edge spoke; ``report`` says which of its participants are there and reading."""
        self._heard[node] = time.monotonic()
        if report is None:
            return
        present = set(report.get("pids", ()))
        not_reading = set(report.get("not", ()))
        for link in self._remote(node):
            if link.pid not in present:  # its relay no longer has it: the connection is gone
                self.live.drop_link(link.pid)
            else:
                link.is_reading = link.pid not in not_reading

    def hears(self, node: str) -> bool:
        heard = self._heard.get(node)
        return heard is not None and time.monotonic() - heard < EDGE_TIMEOUT

    def _remote(self, node: str) -> list[RemoteLink]:
        return [
            link
            for link in self.live.links.values()
            if isinstance(link, RemoteLink) and link.node == node
        ]

    # ------------------------------------------------------------ entries

    def _event(self, fields: Fields) -> None:
        if len(self._entries) >= MAX_WAITING:
            self._fail("too many messages wait for Redis")
            return
        self._add(fields)
        self._wake.set()

    def _add(self, fields: Fields) -> None:
        self._seq += 1
        self._entries.append((f"{self._cursor}-{self._seq}", fields))

    def _collect_output(self, limit: int) -> None:
        """Turn output and size changes past the cursor into entries, up to ``limit`` bytes.

        The same walk as a client's writer (:class:`relay.net.connection.ClientLink`):
        a size change goes between the same two bytes it came between.
        """
        output = self.output
        stream = output.stream
        while self._waiting < limit:
            if self._cursor < stream.start or self._mark_seq < output.dropped_seq:
                self._gap()
                continue
            mark = output.next_mark(self._mark_seq)
            if mark is not None and mark.offset <= self._cursor:
                self._mark_seq = mark.seq
                self._size = (mark.cols, mark.rows)
                self._add({b"k": b"r", b"o": b"%d" % mark.offset, **self._size_fields()})
                continue
            size = min(PIECE, limit - self._waiting)
            if mark is not None:
                size = min(size, mark.offset - self._cursor)
            data = stream.read(self._cursor, size)
            if not data:
                return
            fields = {b"k": b"o", b"o": b"%d" % self._cursor, b"d": data, **self._size_fields()}
            self._add(fields)
            self._cursor += len(data)
            self._waiting += len(data)

    def _size_fields(self) -> Fields:
        return {b"w": b"%d" % self._size[0], b"h": b"%d" % self._size[1]}

    def _gap(self) -> None:
        """The ring dropped output this feed had not published (Redis was too slow):
        edges start again from a snapshot."""
        output = self.output
        self._cursor = output.stream.start
        self._mark_seq, cols, rows = output.size_at(self._cursor)
        self._size = (cols, rows)
        self._add({b"k": b"g", b"o": b"%d" % self._cursor})

    def _answer_syncs(self) -> None:
        self._collect_output(1 << 62)  # everything before the snapshot goes before it
        offset, cols, rows, data = self.output.snapshot()
        for nonce in self._syncs:
            fields = {b"k": b"s", b"n": nonce.encode(), b"o": b"%d" % offset, b"d": data}
            self._add({**fields, b"w": b"%d" % cols, b"h": b"%d" % rows})
        self._syncs.clear()

    # ------------------------------------------------------------ to Redis

    async def _run(self) -> None:
        redis = self.bus.redis
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._syncs:
                self._answer_syncs()
            self._collect_output(BATCH)
            if not self._entries:
                if self._ended:
                    break
                continue
            try:
                await self._publish()
            except RedisError as exc:
                self._unsure = True  # Redis may have taken part of the round
                self._fail(str(exc))
                await asyncio.sleep(RETRY)
                self._wake.set()
                continue
            self.failing_since = self.error = None
            if self._cursor < self.output.stream.end or self._entries:
                self._wake.set()
        with contextlib.suppress(RedisError):
            await self.bus.call(redis.expire(self.key, ENDED_TTL))

    async def _publish(self) -> None:
        """Send the entries built so far; those built meanwhile wait for the next round.

        On failure the batch goes back in front of them, to be sent again.
        """
        redis = self.bus.redis
        batch, waiting = self._entries, self._waiting
        self._entries, self._waiting = [], 0
        try:
            entries = batch
            if self._unsure:  # a failed round may have landed in part: skip what Redis has
                last = _id(await self.bus.top(self.key))
                entries = [e for e in batch if _id(e[0].encode()) > last]
            if entries:
                pipe = redis.pipeline(transaction=False)
                for entry_id, fields in entries:
                    pipe.xadd(self.key, fields, id=entry_id)  # type: ignore[arg-type]
                start = max(0, self.output.stream.start - PIECE)  # keeps at least the ring
                pipe.xtrim(self.key, minid=f"{start}-0", approximate=True)
                await self.bus.call(pipe.execute())
        except BaseException:
            self._entries = batch + self._entries
            self._waiting += waiting
            raise
        self._unsure = False
        self._published_at = time.monotonic()

    def _fail(self, why: str) -> None:
        """Redis did not take the entries: after :data:`GRACE` seconds, end the session."""
        now = time.monotonic()
        self.error = why
        if self.failing_since is None:
            self.failing_since = now
            log.warning("session %s: Redis refuses its live traffic: %s", self.key, why)
        if now - self.failing_since < GRACE or self.live.ended.is_set():
            return
        reason = (
            f"the session's live traffic cannot reach Redis ({self.bus.where}) for "
            f"{now - self.failing_since:.0f} s, so participants on other relays cannot "
            f"be served: {why}"
        )
        self.live.audit.record("cluster.redis_lost", session=self.live.session_id, error=why)
        self.live.apply(self.live.core.shutdown(reason[:500], self.clock()))

    async def _tick(self) -> None:
        """Heartbeats, edges gone silent, and the failure clock while nothing is sent."""
        while True:
            await asyncio.sleep(HEARTBEAT / 2)
            now = time.monotonic()
            if now - self._published_at >= HEARTBEAT and not self._entries:
                self._event({b"k": b"h"})
            if self.failing_since is not None and self.error is not None:
                self._fail(self.error)
            await self._list()
            for node, heard in list(self._heard.items()):
                if now - heard >= EDGE_TIMEOUT:
                    del self._heard[node]
                    for link in self._remote(node):
                        log.warning(
                            "session %s: relay %s went silent; dropping %s",
                            self.live.session_id,
                            node,
                            link.pid,
                        )
                        self.live.drop_link(link.pid)

    async def _list(self) -> None:
        """Keep the session's line in every relay's lobby up to date."""
        if self.live.ended.is_set():
            return
        summary = json.dumps(self.live.core.summary()).encode()
        if summary == self._listed:
            return
        try:
            await self.bus.call(
                self.bus.redis.hset(self.bus.lobby_key, self.live.session_id, summary)
            )
        except RedisError:
            return  # the feed's own round reports Redis failing
        self._listed = summary


def _id(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)


class HomeDesk:
    """Reads this relay's inbox: what participants on other relays do in its sessions."""

    def __init__(
        self,
        bus: Bus,
        node: str,
        sessions: dict[str, LiveSession],
        mask: Callable[[str, str], str] | None = None,
    ) -> None:
        self.bus = bus
        self.key = bus.inbox_key(node)
        self.sessions = sessions
        self.mask = mask  # (session, text) -> masked text, for chat from edges

    async def run(self) -> None:
        top: bytes | None = None
        while True:
            try:
                if top is None:  # read what comes after the relay started
                    top = await self.bus.top(self.key)
                entries = await self.bus.read(self.key, top, 512, 1000)
            except RedisError as exc:
                log.warning("cannot read the relay's inbox in Redis: %s", exc)
                await asyncio.sleep(RETRY * 4)
                continue
            for entry_id, fields in entries:
                top = entry_id
                try:
                    await self._handle(fields)
                except Exception:  # one bad entry never stops the others
                    log.exception("cluster: an inbox entry failed: %r", fields.get(b"k"))

    async def _handle(self, fields: Fields) -> None:
        kind = fields.get(b"k", b"")
        sid = field_text(fields, b"s")
        pid = field_text(fields, b"p")
        live = self.sessions.get(sid)
        feed = live.peers if live is not None else None
        if live is None or live.ended.is_set() or not isinstance(feed, SessionFeed):
            if kind == b"j":  # answer, so the edge need not wait for its timeout
                await self._refuse_join(sid, pid)
            return
        if kind == b"h":
            feed.heard(field_text(fields, b"n"), json.loads(fields.get(b"j", b"{}")))
            return
        if kind == b"y":
            feed.heard(field_text(fields, b"n"))
            feed.sync(field_text(fields, b"x"))
            return
        if kind == b"j":
            node = field_text(fields, b"n")
            feed.heard(node)
            seat = Seat.from_json(json.loads(fields[b"j"]))
            feed.ack(pid, live.seat(RemoteLink(pid, node, feed), seat, None))
            return
        if not isinstance(live.links.get(pid), RemoteLink):  # gone, or not an edge's to speak for
            return
        match kind:
            case b"i":
                live.input(pid, fields.get(b"d", b""))
            case b"a":
                mask = self.mask
                args = json.loads(fields.get(b"j", b"{}"))
                live.act(
                    pid,
                    field_text(fields, b"m"),
                    args,
                    (lambda text: mask(sid, text)) if mask is not None else None,
                )
            case b"d":
                live.drop_link(pid)
            case b"l":
                live.remove_link(pid, field_text(fields, b"m", "left"))
            case b"x":  # their relay says their access no longer admits them
                live.remove(pid, field_text(fields, b"m", "access ended"))

    async def _refuse_join(self, sid: str, pid: str) -> None:
        key = self.bus.session_key(sid)
        with contextlib.suppress(RedisError):
            await self.bus.call(
                self.bus.redis.xadd(key, {b"k": b"a", b"t": pid.encode(), b"ok": b"0"})
            )
            await self.bus.call(self.bus.redis.expire(key, ENDED_TTL))
