"""A running session: the pure core wired to its shell, clients, recording and audit.

The core (:mod:`relay.session`) decides; this module only carries out the
actions it returns, and moves output from the target to the shared stream.
The output path is kept short on purpose — append to the ring, hand the chunk
to the recorder, wake the client writers — because it runs for every chunk the
target prints. The terminal model that makes snapshots is fed off that path,
by a background task (see :meth:`LiveSession._feed_model`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from relay.connection import ClientLink
from relay.session import (
    Action,
    Audit,
    Broadcast,
    Disconnect,
    End,
    Forward,
    Record,
    Resize,
    Send,
    Session,
)
from relay.stream import OutputStream
from relay.terminal import TerminalModel

log = logging.getLogger(__name__)

MODEL_SLICE = 16 * 1024  # bytes fed to the model per event-loop turn
MODEL_TAIL = 256 * 1024  # after a skip, the model replays this much of the newest output


class Shell(Protocol):
    def write(self, data: bytes) -> None: ...
    def resize(self, cols: int, rows: int) -> None: ...
    async def close(self) -> None: ...


class Recorder(Protocol):
    def output(self, data: bytes, now: float) -> None: ...
    def input(self, data: bytes, user: str, now: float) -> None: ...
    def event(self, kind: str, data: dict[str, Any], now: float) -> None: ...
    def resize(self, cols: int, rows: int, now: float) -> None: ...
    def tick(self, now: float) -> None: ...
    def close(self, reason: str, now: float) -> None: ...


class Auditor(Protocol):
    def record(self, event: str, **fields: str | int | float | bool | None) -> None: ...


class LiveSession:
    """One session's I/O: target shell ⇄ core ⇄ clients."""

    def __init__(
        self,
        core: Session,
        audit: Auditor,
        output_buffer: int,
        recorder: Recorder | None = None,
        cols: int = 80,
        rows: int = 24,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.core = core
        self.audit = audit
        self.recorder = recorder
        self.clock = clock
        self.stream = OutputStream(output_buffer)
        self.shell: Shell | None = None
        self.links: dict[str, ClientLink] = {}
        self.model = TerminalModel(cols, rows)
        self._model_cursor = 0
        self._model_skips = 0
        self._pending_resizes: deque[tuple[int, int, int]] = deque()
        self._model_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.ended = asyncio.Event()
        self._closed = asyncio.Event()

    @property
    def session_id(self) -> str:
        return self.core.session_id

    def start(self, shell: Shell) -> None:
        self.shell = shell
        self._tasks = [
            asyncio.create_task(self._feed_model(), name=f"model-{self.session_id}"),
            asyncio.create_task(self._tick(), name=f"tick-{self.session_id}"),
        ]

    # ------------------------------------------------------------ output path

    def on_output(self, data: bytes) -> None:
        """A chunk from the target: the hot path, for every chunk."""
        if self.stream.start_after(len(data)) > self._model_cursor:
            self._skip_model(self.stream.start_after(len(data)))
        self.stream.append(data)
        if self.recorder is not None:
            self.recorder.output(data, self.clock())
        for link in self.links.values():
            link.notify()
        self._model_wake.set()

    def on_exit(self, status: int | None) -> None:
        """The shell's channel closed."""
        self.apply(self.core.target_exited(status, self.clock()))

    # ------------------------------------------------------------ terminal model

    async def _feed_model(self) -> None:
        """Keep the terminal model close to the end of the stream, a slice per turn.

        A model slower than the target (pyte feeds ~1 MB/s) cannot keep up with a
        flood. Rather than slowing the session down to its pace, the model skips:
        it drops what it has not read and replays only the newest ``MODEL_TAIL``
        bytes, keeping its modes. Floods are scrolling text, whose screen is
        determined by that tail; the skip count is kept for ``/healthz`` stats.
        """
        while True:
            await self._model_wake.wait()
            self._model_wake.clear()
            while self._model_cursor < self.stream.end:
                if self.stream.end - self._model_cursor > 4 * MODEL_TAIL:
                    self._skip_model(self.stream.end - MODEL_TAIL)
                self._feed_slice()
                await asyncio.sleep(0)

    def _feed_slice(self) -> None:
        limit = MODEL_SLICE
        if self._pending_resizes:
            limit = min(limit, max(0, self._pending_resizes[0][0] - self._model_cursor))
        if limit:
            data = self.stream.read(self._model_cursor, limit)
            self.model.feed(data)
            self._model_cursor += len(data)
        while self._pending_resizes and self._pending_resizes[0][0] <= self._model_cursor:
            _, cols, rows = self._pending_resizes.popleft()
            self.model.resize(cols, rows)

    def _skip_model(self, offset: int) -> None:
        """Move the model's cursor forward to the line start nearest after ``offset``."""
        offset = max(offset, self.stream.start)
        window = self.stream.read(offset, 4096)
        newline = window.find(b"\n")
        if newline >= 0:
            offset += newline + 1
        self._model_cursor = min(offset, self.stream.end)
        self._model_skips += 1
        self.model.discontinuity()
        while self._pending_resizes and self._pending_resizes[0][0] <= self._model_cursor:
            _, cols, rows = self._pending_resizes.popleft()
            self.model.resize(cols, rows)

    def snapshot(self) -> tuple[int, int, int, bytes]:
        """The screen at the model's position; the client continues from there."""
        return self._model_cursor, self.model.cols, self.model.rows, self.model.snapshot()

    # ------------------------------------------------------------ clients

    def add_link(self, link: ClientLink, offset: int | None) -> None:
        """Start streaming to a joined client, from ``offset`` if it is still held."""
        self.links[link.pid] = link
        if offset is not None and not self.stream.start <= offset <= self.stream.end:
            offset = None
        link.attach(self, offset)

    def remove_link(self, pid: str, reason: str) -> None:
        link = self.links.pop(pid, None)
        if link is not None:
            link.detach()
        self.apply(self.core.leave(pid, self.clock(), reason))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            now = self.clock()
            self.apply(self.core.tick(now))
            if self.recorder is not None:
                self.recorder.tick(now)

    # ------------------------------------------------------------ actions

    def apply(self, actions: list[Action]) -> None:
        """Carry out what the core decided, in order."""
        now = self.clock()
        for action in actions:
            self._apply_one(action, now)

    def _apply_one(self, action: Action, now: float) -> None:
        match action:
            case Forward(data, _pid, user):
                if self.shell is not None:
                    self.shell.write(data)
                if self.recorder is not None:
                    self.recorder.input(data, user, now)
            case Send(to, message):
                link = self.links.get(to)
                if link is not None:
                    link.send_json(message)
            case Broadcast(message):
                for link in self.links.values():
                    link.send_json(message)
            case Resize(cols, rows):
                self._resize(cols, rows, now)
            case Audit(event, fields):
                self.audit.record(event, **fields)
            case Record(kind, data):
                if self.recorder is not None:
                    self.recorder.event(kind, data, now)
            case Disconnect(to, code, reason):
                link = self.links.get(to)
                if link is not None:
                    link.close(1008, f"{code}: {reason}")
            case End(reason):
                self._end(reason, now)

    def _resize(self, cols: int, rows: int, now: float) -> None:
        if self.shell is not None:
            self.shell.resize(cols, rows)
        self._pending_resizes.append((self.stream.end, cols, rows))
        self._model_wake.set()
        if self.recorder is not None:
            self.recorder.resize(cols, rows, now)

    def _end(self, reason: str, now: float) -> None:
        for link in self.links.values():
            link.close(1000, f"session ended: {reason}")
        if self.recorder is not None:
            self.recorder.close(reason, now)
            self.recorder = None
        self.ended.set()
        asyncio.get_running_loop().create_task(self._shutdown())

    async def wait_closed(self) -> None:
        """Wait until the session has ended and its shell is closed."""
        await self.ended.wait()
        await self._closed.wait()

    async def _shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.shell is not None:
            shell, self.shell = self.shell, None
            with contextlib.suppress(Exception):
                await shell.close()
        self._closed.set()

    def stats(self) -> dict[str, Any]:
        return {
            "output_bytes": self.stream.end,
            "clients": len(self.links),
            "model_lag": self.stream.end - self._model_cursor,
            "model_skips": self._model_skips,
        }
