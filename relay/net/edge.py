"""A session held by another relay of the cluster, as this relay's clients join it.

A relay that is not a session's home (an *edge*) serves its participants with
the same code as the home serves its own: the same
:class:`relay.net.conversation.Conversation` (every check on the connection, the
credential, limits, stale input), the same :class:`relay.net.connection.ClientLink`
writer, reading the same kind of :class:`relay.net.output.SessionOutput`. Only the
session object differs: an :class:`EdgeSession` is a proxy whose

* output comes from the session's stream in Redis (masked at the home, with
  the home's byte offsets and size changes), copied into a ring of the same
  size as the home's, whose terminal model starts from the home's snapshot:
  a client resumes, resyncs or joins late here exactly as on the home, and a
  client may reconnect to any relay and resume at its offset;
* actions (join, keystrokes, chat, control, leave) go to the home's inbox, in
  the order they were made, where the session's core rules on them
  (:mod:`relay.net.home`); what the core answers comes back in the stream.

Every participant on an edge reads masked output, the driver too: raw output
never leaves the home.

What an edge keeps is only a cache of the stream: when its copy misses bytes
(it read Redis too late, or the home had to skip), it takes a new snapshot
and its clients are resynced from it, as a slow client is. When Redis fails
for :data:`relay.net.home.GRACE` seconds, or the home stops writing for
:data:`HOME_TIMEOUT`, the edge's clients are disconnected with the reason;
they may reconnect to any relay (the session goes on at its home, or has
ended there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.frames import CloseCode

from relay.cluster.bus import Bus, Fields, RedisError, field_int, field_text
from relay.core import messages
from relay.core.actions import error
from relay.core.errors import ErrorCode, ProtocolError
from relay.net.connection import ClientLink
from relay.net.home import GRACE, RETRY
from relay.net.live import Seat
from relay.net.output import SessionOutput
from relay.store import SessionRecord, StoreError

log = logging.getLogger(__name__)

SYNC_TIMEOUT = 10.0  # seconds the home has to answer a snapshot request or a join
HOME_TIMEOUT = 5.0  # the home writes at least every second; silent this long, it is gone
REPORT = 0.25  # seconds between checks of which connections are reading
REPORT_ALWAYS = 1.0  # ...and a report at least this often: the edge is alive
MAX_OUTBOX = 10_000  # actions waiting for Redis (a relay whose Redis is away drops them)


class Outbox:
    """What this relay's participants do, to the homes' inboxes, in order.

    Actions are sent at most once: after a failed round Redis may have taken
    some of it, and a keystroke sent twice is worse than one lost while Redis
    fails (the sessions concerned end soon after, fail closed).
    """

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._queue: list[tuple[str, Fields]] = []
        self._wake = asyncio.Event()
        self.failing_since: float | None = None
        self.dropped = 0

    def send(self, home: str, fields: Fields) -> None:
        if len(self._queue) >= MAX_OUTBOX:
            self.dropped += 1
            return
        self._queue.append((self.bus.inbox_key(home), fields))
        self._wake.set()

    async def run(self) -> None:
        redis = self.bus.redis
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            pipe = redis.pipeline(transaction=False)
            for key, fields in batch:
                pipe.xadd(key, fields, maxlen=100_000, approximate=True)  # type: ignore[arg-type]
            try:
                await self.bus.call(pipe.execute())
            except RedisError as exc:
                self.dropped += len(batch)
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                log.warning("cluster: %d action(s) not sent to Redis: %s", len(batch), exc)
                await asyncio.sleep(RETRY)
                continue
            self.failing_since = None


class EdgeSession:
    """A session whose home is another relay (:class:`relay.net.live.Room`)."""

    def __init__(
        self,
        bus: Bus,
        outbox: Outbox,
        record: SessionRecord,
        node: str,
        capacity: int,
        scrollback: int,
        on_end: Callable[[EdgeSession], None] | None = None,
        lost: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        """``lost``: asked when the home stops answering; the session's end if the home
        relay is gone (not merely slow), else None."""
        self.bus = bus
        self.outbox = outbox
        self.session_id = record.id
        self.target = record.target
        self.home = record.home
        self.node = node
        self.key = bus.session_key(record.id)
        self.capacity = capacity
        self.scrollback = scrollback
        self.on_end = on_end
        self.lost = lost
        self.links: dict[str, ClientLink] = {}
        self.output: SessionOutput | None = None
        self.ended = asyncio.Event()
        self.end_reason: str | None = None
        self.idle_since = time.monotonic()
        self._answers: dict[str, asyncio.Future[bool]] = {}
        self._ready: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._model: asyncio.Task[None] | None = None
        self._failing_since: float | None = None

    # ------------------------------------------------------------ Room

    async def enter(self, link: ClientLink, seat: Seat, offset: int | None) -> bool:
        """Ask the home for a seat; on yes, stream from this relay's copy at ``offset``."""
        await self._follow()
        output = self.output
        assert output is not None
        pid = link.pid
        self.links[pid] = link  # the home's answer (welcome, roster) comes through it
        answer = asyncio.get_running_loop().create_future()
        self._answers[pid] = answer
        self._send(b"j", pid, {b"n": self.node.encode(), b"j": json.dumps(seat.to_json()).encode()})
        try:
            async with asyncio.timeout(SYNC_TIMEOUT):
                seated = await answer
        except TimeoutError:
            seated = False
            link.send_json(self._silent_home("join"))
            self._send(b"l", pid, {b"m": b"no answer"})
        finally:
            self._answers.pop(pid, None)
        if not seated or self.links.get(pid) is not link:
            self.links.pop(pid, None)
            return False
        output = self.output  # a resync may have replaced it meanwhile
        assert output is not None
        held = offset is not None and output.holds(offset)
        link.attach(output, offset if held else None)
        return True

    def act(
        self, pid: str, kind: str, args: dict[str, Any], mask: Callable[[str], str] | None
    ) -> None:
        """To the home's core (chat is masked there, with the same patterns)."""
        self._send(b"a", pid, {b"m": kind.encode(), b"j": json.dumps(args).encode()})

    def input(self, pid: str, data: bytes) -> None:
        self._send(b"i", pid, {b"d": data})

    def drop_link(self, pid: str) -> None:
        if self._forget(pid):
            self._send(b"d", pid, {})

    def remove_link(self, pid: str, reason: str) -> None:
        if self._forget(pid):
            self._send(b"l", pid, {b"m": reason.encode()})

    def remove(self, pid: str, reason: str) -> None:
        """The home takes the participant out (its core tells them why, through the stream)."""
        if pid in self.links:
            self._send(b"x", pid, {b"m": reason.encode()})

    def idle_for(self) -> float:
        """Seconds nobody on this relay has been in the session (0 while someone is)."""
        if self.links or self._answers:
            return 0.0
        return time.monotonic() - self.idle_since

    def _forget(self, pid: str) -> bool:
        link = self.links.pop(pid, None)
        if link is None:
            return False
        link.detach()
        if not self.links:
            self.idle_since = time.monotonic()
        return True

    def _send(self, kind: bytes, pid: str, fields: Fields) -> None:
        base = {b"k": kind, b"s": self.session_id.encode(), b"p": pid.encode()}
        self.outbox.send(self.home, {**base, **fields})

    def _silent_home(self, what: str) -> messages.Error:
        return error(
            ErrorCode.UNAVAILABLE,
            f"{what}: the session's home relay ({self.home}) did not answer through Redis; "
            "try again shortly",
        )

    # ------------------------------------------------------------ following the stream

    async def _follow(self) -> None:
        """Start following the stream (once), and wait until this relay's copy is ready."""
        if self.ended.is_set():
            raise ProtocolError(
                ErrorCode.SESSION_ENDED,
                f"the session {self.session_id!r} has ended: {self.end_reason}",
            )
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._tasks = [
                asyncio.create_task(self._run(), name=f"edge-{self.session_id}"),
                asyncio.create_task(self._report(), name=f"edge-report-{self.session_id}"),
            ]
        try:
            async with asyncio.timeout(SYNC_TIMEOUT):
                await asyncio.shield(self._ready)
        except TimeoutError:
            raise ProtocolError(
                ErrorCode.UNAVAILABLE, self._silent_home("join")["message"]
            ) from None
        if self.ended.is_set():
            raise ProtocolError(
                ErrorCode.SESSION_ENDED,
                f"the session {self.session_id!r} has ended: {self.end_reason}",
            )

    async def _run(self) -> None:
        while not self.ended.is_set():
            try:
                top = await self._sync()
                if top is None:
                    return
                await self._read(top)  # returns when the copy misses bytes: sync again
                self._failing_since = None
            except RedisError as exc:
                now = time.monotonic()
                self._failing_since = self._failing_since or now
                if now - self._failing_since >= GRACE:
                    self._end(
                        f"this relay lost the session's live stream: Redis ({self.bus.where}) "
                        f"fails: {exc}; connect again (to any relay)",
                        ended=False,
                    )
                    return
                await asyncio.sleep(RETRY)
            except TimeoutError:
                gone = await self._gone()
                if gone is not None:  # its home died, and the session with it
                    self._end(gone)
                    return
                self._end(
                    f"the session's home relay ({self.home}) stopped answering through Redis",
                    ended=False,
                )
                return

    async def _gone(self) -> str | None:
        """The session's end if its home relay no longer runs; None if it may (or if the
        database cannot say: the clients are then told to try again)."""
        if self.lost is None:
            return None
        try:
            return await self.lost()
        except StoreError as exc:
            log.warning("session %s: cannot tell whether its home runs: %s", self.session_id, exc)
            return None

    async def _sync(self) -> bytes | None:
        """Ask the home for a snapshot and build this relay's copy of the stream around it.

        The copy holds every output byte Redis still holds (what the home's
        ring holds, at least), so a client may resume here wherever it could
        on the home; its model starts from the snapshot, not from those bytes.
        Returns the id to read on from, or None if the session ended.
        """
        after = await self.bus.top(self.key)
        nonce = secrets.token_hex(8)
        self.outbox.send(
            self.home,
            {
                b"k": b"y",
                b"s": self.session_id.encode(),
                b"n": self.node.encode(),
                b"x": nonce.encode(),
            },
        )
        snapshot: tuple[bytes, Fields] | None = None
        async with asyncio.timeout(SYNC_TIMEOUT):
            while snapshot is None:
                for entry_id, fields in await self.bus.read(self.key, after, 512, 1000):
                    after = entry_id
                    kind = fields.get(b"k")
                    if kind == b"s" and fields.get(b"n") == nonce.encode():
                        snapshot = (entry_id, fields)
                        break
                    if kind == b"e":
                        self._end(field_text(fields, b"m"))
                        return None
        snap_id, snap = snapshot
        output = await self._backfill(snap_id)
        offset = field_int(snap, b"o")
        cols, rows = field_int(snap, b"w", 80), field_int(snap, b"h", 24)
        if output is None or not output.holds(offset):
            output = SessionOutput(self.capacity, cols, rows, offset, scrollback=self.scrollback)
        output.seed(offset, cols, rows, snap.get(b"d", b""))
        self._replace(output)
        return snap_id

    async def _backfill(self, until: bytes) -> SessionOutput | None:
        """A copy of the output entries Redis holds, up to the entry ``until``."""
        output: SessionOutput | None = None
        start: bytes = b"-"
        while True:
            entries = await self.bus.range(self.key, start, until, 256)
            for _entry_id, fields in entries:
                kind = fields.get(b"k")
                offset = field_int(fields, b"o")
                if kind == b"o":
                    data = fields.get(b"d", b"")
                    if output is None or offset != output.stream.end:  # the first, or a gap
                        cols, rows = field_int(fields, b"w", 80), field_int(fields, b"h", 24)
                        output = SessionOutput(
                            self.capacity, cols, rows, offset, scrollback=self.scrollback
                        )
                    output.stream.append(data)
                elif kind == b"r" and output is not None and offset == output.stream.end:
                    output.resize(field_int(fields, b"w"), field_int(fields, b"h"))
                elif kind == b"g":
                    output = None
            if len(entries) < 256:
                return output
            start = b"(" + entries[-1][0]

    def _replace(self, output: SessionOutput) -> None:
        """Serve from a new copy: clients resume in it where it holds their place."""
        self.output = output
        if self._model is not None:
            self._model.cancel()
        self._model = asyncio.create_task(output.feed_model(), name=f"model-{self.session_id}")
        for link in self.links.values():
            if link.source is None:
                continue  # not seated yet: attached when the home says yes
            cursor = link.cursor
            link.attach(output, cursor if cursor is not None and output.holds(cursor) else None)
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    async def _read(self, after: bytes) -> None:
        """Follow the stream until the session ends or this copy misses bytes."""
        heard = time.monotonic()
        while not self.ended.is_set():
            entries = await self.bus.read(self.key, after, 512, 1000)
            if not entries:
                if time.monotonic() - heard >= HOME_TIMEOUT:
                    raise TimeoutError
                continue
            heard = time.monotonic()
            self._failing_since = None
            for entry_id, fields in entries:
                after = entry_id
                if not self._apply(fields):
                    return

    def _apply(self, fields: Fields) -> bool:
        """One entry; False when the copy must be rebuilt (or the session ended)."""
        output = self.output
        assert output is not None
        kind = fields.get(b"k")
        if kind == b"o":
            offset, data = field_int(fields, b"o"), fields.get(b"d", b"")
            end = output.stream.end
            if offset > end:
                return False  # bytes this copy never got: start again from a snapshot
            if offset + len(data) > end:
                output.append(data[end - offset :])
                for link in self.links.values():
                    link.notify()
        elif kind == b"r":
            offset = field_int(fields, b"o")
            if offset > output.stream.end:
                return False
            if offset == output.stream.end:
                output.resize(field_int(fields, b"w"), field_int(fields, b"h"))
                for link in self.links.values():
                    link.notify()
        elif kind == b"m":
            data = fields.get(b"m", b"{}")  # encoded once, at the home, for everyone
            to = field_text(fields, b"t")
            if to == "*":
                for link in self.links.values():
                    link.send_encoded(data)
            elif (one := self.links.get(to)) is not None:
                one.send_encoded(data)
        elif kind == b"c":
            if (closing := self.links.get(field_text(fields, b"t"))) is not None:
                code = field_int(fields, b"c", CloseCode.POLICY_VIOLATION)
                closing.close(code, field_text(fields, b"m"))
        elif kind == b"a":
            answer = self._answers.get(field_text(fields, b"t"))
            if answer is not None and not answer.done():
                answer.set_result(fields.get(b"ok") == b"1")
        elif kind == b"g":
            return False
        elif kind == b"e":
            self._end(field_text(fields, b"m"))
            return False
        return True

    async def _report(self) -> None:
        """Tell the home which participants are here and which are not reading (four-eyes)."""
        last: tuple[frozenset[str], frozenset[str]] | None = None
        sent = 0.0
        while not self.ended.is_set():
            await asyncio.sleep(REPORT)
            pids = frozenset(self.links)
            if not pids and not self._answers:
                continue
            not_reading = frozenset(pid for pid, link in self.links.items() if not link.reading())
            now = time.monotonic()
            if (pids, not_reading) == last and now - sent < REPORT_ALWAYS:
                continue
            last, sent = (pids, not_reading), now
            report = {"pids": sorted(pids | set(self._answers)), "not": sorted(not_reading)}
            self.outbox.send(
                self.home,
                {
                    b"k": b"h",
                    b"s": self.session_id.encode(),
                    b"n": self.node.encode(),
                    b"j": json.dumps(report).encode(),
                },
            )

    # ------------------------------------------------------------ the end

    def _end(self, reason: str, ended: bool = True) -> None:
        """The session ended at its home (``ended``), or this relay can no longer serve it."""
        if self.ended.is_set():
            return
        self.end_reason = reason
        self.ended.set()
        closing = f"session ended: {reason}" if ended else f"{ErrorCode.UNAVAILABLE}: {reason}"
        code = CloseCode.NORMAL_CLOSURE if ended else CloseCode.TRY_AGAIN_LATER
        for link in self.links.values():
            link.close(code, closing)
        self.links.clear()
        for answer in self._answers.values():
            if not answer.done():
                answer.set_result(False)
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)
        if self.on_end is not None:
            self.on_end(self)
        asyncio.get_running_loop().create_task(self.close())

    async def close(self, reason: str | None = None) -> None:
        """Stop following (the relay stops, or the session ended); clients are told ``reason``."""
        if reason is not None and not self.ended.is_set():
            self._end(reason, ended=False)
        current = asyncio.current_task()
        tasks = [t for t in [*self._tasks, self._model] if t is not None and t is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
