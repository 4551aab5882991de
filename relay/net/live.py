"""A running session: the pure core wired to its shell, clients, recording and audit.

The core (:mod:`relay.core.session`) decides; this module only carries out the
actions it returns, and moves output from the target to the clients. The
output path is kept short on purpose — mask, append to the stream(s), hand
the masked chunk to the recorder, wake the client writers — because it runs
for every chunk the target prints. Terminal models are fed off that path
(:mod:`relay.net.output`).

Secrets (:mod:`relay.masking`): viewers, the snapshots they start from and
the recording only ever see masked output. When the policy lets the driver see
raw output, a second :class:`SessionOutput` carries it, read only by whoever
drives; a change of driver moves both links to their new stream. Input the
target does not echo (a password at a prompt) reaches the shell but is never
recorded (:class:`relay.masking.InputGuard`).

In a cluster (``[cluster] redis``), participants on other relays are in the
same core: each has a :class:`Link` here that carries what the core sends it
through Redis, and :class:`Peers` publishes the masked output once for all of
them (:mod:`relay.net.home`). Nothing in this module knows Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from websockets.frames import CloseCode

from relay.core import messages, protocol
from relay.core.actions import (
    Action,
    Audit,
    Broadcast,
    Disconnect,
    End,
    Forward,
    Record,
    Resize,
    Send,
)
from relay.core.roles import Role
from relay.core.session import Session
from relay.masking import SECRET_INPUT, InputGuard, Masking, OutputMasker, SecretPattern
from relay.masking.screen import ScreenCheck
from relay.net.connection import ClientLink
from relay.net.output import RAW_BASE, SessionOutput
from relay.terminal import TerminalModel

log = logging.getLogger(__name__)

IDLE_FLUSH = 0.05  # seconds of quiet after which held-back output is released (masked)
DRIVER_HIGH = 1 / 2  # the driver this far behind (of the buffer): stop reading the target
DRIVER_LOW = 1 / 8  # ...until they are this close again


class Shell(Protocol):
    def write(self, data: bytes) -> None: ...
    def resize(self, cols: int, rows: int) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    async def close(self) -> None: ...


class Recorder(Protocol):
    def output(self, data: bytes, now: float) -> None: ...
    def input(self, data: bytes, user: str, now: float) -> None: ...
    def event(self, kind: str, data: dict[str, Any], now: float) -> None: ...
    def resize(self, cols: int, rows: int, now: float) -> None: ...
    def tick(self, now: float) -> None: ...
    def due(self) -> float | None: ...
    def close(self, reason: str, now: float) -> None: ...


class Auditor(Protocol):
    def record(self, event: str, **fields: str | int | float | bool | None) -> None: ...


class Link(Protocol):
    """One participant's way out of the session: a websocket client here
    (:class:`relay.net.connection.ClientLink`), or one on another relay
    (:class:`relay.net.home.RemoteLink`, ``remote``)."""

    pid: str
    remote: bool
    on_sent: Callable[[ClientLink], None] | None

    @property
    def source(self) -> object: ...
    @property
    def cursor(self) -> int | None: ...
    def send_json(self, message: messages.RelayMessage) -> None: ...
    def send_encoded(self, data: bytes) -> None:
        """``send_json`` of a message encoded once for many (:func:`relay.core.protocol.encode`)."""
        ...

    def notify(self) -> None: ...
    def close(self, code: int, reason: str) -> None: ...
    def attach(self, source: SessionOutput, offset: int | None) -> None: ...
    def detach(self) -> None: ...
    def reading(self) -> bool: ...
    def backlog(self) -> int: ...


class Peers(Protocol):
    """The other relays of a cluster, as the session's home sees them: one publisher of
    this session's masked output and of the messages for all remote participants."""

    def notify(self) -> None: ...
    def broadcast(self, message: messages.RelayMessage) -> None: ...
    def ended(self, reason: str) -> None: ...
    async def finish(self) -> None:
        """After the end: send what is left (within a bound), then stop."""


@dataclass(frozen=True)
class Seat:
    """Who joins a session, as the relay admitted them (the core's ``join`` arguments).

    Plain data, so that a relay serving the participant can send it to the
    session's home (:mod:`relay.net.edge`). ``driver_by``/``driver_until``:
    a just-in-time driver grant the participant holds (control is theirs on
    joining).
    """

    user: str
    role: Role
    expires_at: float
    cols: int = 80
    rows: int = 24
    person: str | None = None
    invited_by: str | None = None
    key: str | None = None
    driver_by: str | None = None
    driver_until: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "role": self.role.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Seat:
        return cls(**{**data, "role": Role(data["role"])})


class Room(Protocol):
    """The session a connection joined: here (:class:`LiveSession`), or held by another
    relay of the cluster (:class:`relay.net.edge.EdgeSession`)."""

    @property
    def session_id(self) -> str: ...
    @property
    def target(self) -> str: ...
    async def enter(self, link: ClientLink, seat: Seat, offset: int | None) -> bool: ...
    def act(
        self, pid: str, kind: str, args: dict[str, Any], mask: Callable[[str], str] | None
    ) -> None: ...
    def input(self, pid: str, data: bytes) -> None: ...
    def drop_link(self, pid: str) -> None: ...
    def remove_link(self, pid: str, reason: str) -> None: ...
    def remove(self, pid: str, reason: str) -> None:
        """Take the participant out, telling them why (their access ended)."""
        ...


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
        patterns: tuple[SecretPattern, ...] | None = None,
        driver_sees_raw: bool = True,
        scrollback: int = 10_000,
    ) -> None:
        self.core = core
        self.audit = audit
        self.recorder = recorder
        self.clock = clock
        self.output = SessionOutput(output_buffer, cols, rows, scrollback=scrollback)
        self.raw = (
            SessionOutput(output_buffer, cols, rows, RAW_BASE, lazy=True, scrollback=scrollback)
            if patterns is not None and driver_sees_raw
            else None
        )
        for output in (self.output, self.raw):
            if output is not None:
                output.stream.floor = lambda output=output: self._driver_floor(output)
        self.masker = OutputMasker(patterns) if patterns is not None else None
        self.input_masker = OutputMasker(patterns) if patterns is not None else None
        self.screen = ScreenCheck(patterns) if patterns is not None else None
        self.guard = InputGuard()
        self.shell: Shell | None = None
        self.links: dict[str, Link] = {}
        self.peers: Peers | None = None  # the other relays of a cluster ([cluster] redis)
        self._flush_timer: asyncio.TimerHandle | None = None
        self._record_timer: asyncio.TimerHandle | None = None
        self._input_timer: asyncio.TimerHandle | None = None
        self._reading_paused = False
        self._driver_seen: str | None = None  # the driver the links were last arranged for
        self._batch: list[bytes] = []  # output of this event-loop turn, not processed yet
        self._tasks: list[asyncio.Task[None]] = []
        self.ended = asyncio.Event()
        self.end_reason: str | None = None  # why, once ``ended`` is set (for the directory)
        self.ended_at: float | None = None
        self._closed = asyncio.Event()

    @property
    def session_id(self) -> str:
        return self.core.session_id

    @property
    def target(self) -> str:
        return self.core.target

    def start(self, shell: Shell) -> None:
        self.shell = shell
        self._tasks = [
            asyncio.create_task(self.output.feed_model(), name=f"model-{self.session_id}"),
            asyncio.create_task(self._tick(), name=f"tick-{self.session_id}"),
        ]

    # ------------------------------------------------------------ output path

    def on_output(self, data: bytes) -> None:
        """A chunk from the target: the hot path, for every chunk.

        Chunks that arrive in the same event-loop turn (asyncssh delivers a
        socket read's worth of SSH packets one by one) are processed together at
        the end of the turn: masking, recording and the model then pay their
        per-call costs once per read instead of once per packet, and no latency
        is added.
        """
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._process_batch)
        self._batch.append(data)

    def _process_batch(self) -> None:
        if not self._batch:  # already processed by an exit or an end in this turn
            return
        data = b"".join(self._batch) if len(self._batch) > 1 else self._batch[0]
        self._batch.clear()
        try:
            self._process_output(data)
        except Exception:  # fail closed: never go on with output nobody masked or kept
            log.exception("session %s: output processing failed", self.session_id)
            self.apply(self.core.shutdown("internal error while processing output", self.clock()))

    def _process_output(self, data: bytes) -> None:
        echo = self.guard.masking_echo  # before this output: the echo of a secret
        inside = self.guard.observe_output(data, self.clock())  # a prompt and its echo here
        self._decide_input()
        if self.raw is not None:
            self.raw.append(data)
            self._hold_for_driver()
        if self.masker is None:
            self._publish(data, [])
            return
        if echo:
            self.masker.mask_echo()
        if inside is None:
            masked, maskings = self.masker.feed(data)
        else:  # the echo of a secret begins inside this chunk: masked from there
            masked, maskings = self.masker.feed(data[:inside])
            self.masker.mask_echo()
            rest, more = self.masker.feed(data[inside:])
            masked, maskings = masked + rest, maskings + more
        self._publish(masked, maskings)
        if self.masker.pending:
            self._schedule_flush()

    def _publish(self, data: bytes, maskings: list[Masking]) -> None:
        now = self.clock()
        if data:
            if self.screen is not None and self.screen.wants(data):  # drawn out of order?
                data = self.output.append_checked(data, self._check_screen)
            else:
                self.output.append(data)
            if self.recorder is not None:
                self.recorder.output(data, now)
        for masking in maskings:
            self._note_masking(masking, now)
        self._arm_recorder(now)
        if self.peers is not None:  # first: the other relays' viewers have further to go
            self.peers.notify()
        for link in self.links.values():
            link.notify()
        self._hold_for_driver()

    # ------------------------------------------------------------ flow control

    def _hold_for_driver(self) -> None:
        """The driver must see every byte, like on a direct SSH session: when their
        client falls far behind, stop reading the target (SSH flow control then
        pauses the program) until they catch up. Viewers never hold the session;
        they are resynced from a snapshot instead.

        Called after every append to either stream. Output already in flight
        when reading stops (the rest of one socket read, the masker's
        hold-back) still arrives; the stream the driver reads never evicts past
        the driver's cursor (:meth:`_driver_floor`), so that overshoot costs a
        little memory, never a byte of the driver's output."""
        link = self.links.get(self.core.driver) if self.core.driver else None
        if link is None or self._reading_paused or self.shell is None:
            return
        if link.backlog() > self.output.stream.capacity * DRIVER_HIGH:
            self._reading_paused = True
            self.shell.pause_reading()

    def _driver_progress(self, link: ClientLink | Link) -> None:
        """After each frame a client received: resume the target once the driver caught up.

        Only the driver's own progress counts: a viewer reading fast says
        nothing about how far behind the driver is."""
        if not self._reading_paused:
            return
        driver = self.links.get(self.core.driver) if self.core.driver else None
        if driver is None or driver.backlog() < self.output.stream.capacity * DRIVER_LOW:
            self._resume_reading()

    def _driver_floor(self, output: SessionOutput) -> int | None:
        """The driver's cursor in ``output``, if they read it: its stream keeps it."""
        link = self.links.get(self.core.driver) if self.core.driver else None
        if link is None or link.source is not output:
            return None
        return link.cursor

    def _resume_reading(self) -> None:
        if self._reading_paused and self.shell is not None:
            self._reading_paused = False
            self.shell.resume_reading()

    def _arm_recorder(self, now: float) -> None:
        """Wake the recorder when what it holds must be proven on disk (its loss bound),
        even if no more output comes to do it."""
        if self._record_timer is not None or self.recorder is None:
            return
        due = self.recorder.due()
        if due is not None:
            loop = asyncio.get_running_loop()
            self._record_timer = loop.call_later(max(0.0, due - now), self._recorder_due)

    def _recorder_due(self) -> None:
        self._record_timer = None
        if self.recorder is None:
            return
        now = self.clock()
        try:
            self.recorder.tick(now)
        except Exception:  # the recording stops growing; the session core decides nothing here
            log.exception("session %s: recorder tick failed", self.session_id)
            return
        self._arm_recorder(now)

    def _schedule_flush(self) -> None:
        """Release held-back output after a short quiet, masked if it is a secret."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        loop = asyncio.get_running_loop()
        self._flush_timer = loop.call_later(IDLE_FLUSH, self._flush_masker)

    def _flush_masker(self, end_of_stream: bool = False) -> None:
        self._flush_timer = None
        if end_of_stream:
            self._decide_input(flush=True)  # the end: what still waits for an echo is secret
        if self.masker is not None:
            self._publish(*self.masker.flush(end_of_stream))
        if self.input_masker is not None and self.input_masker.pending:
            self._record_input(*self.input_masker.flush(end_of_stream), self.clock())

    def _check_screen(self, model: TerminalModel, frame: bytes) -> bytes:
        """The correction for secrets the masked screen shows, and their markers."""
        assert self.screen is not None
        correction, maskings = self.screen.check_now(model, frame)  # _publish asked wants()
        for masking in maskings:
            self._note_masking(masking, self.clock())
        return correction

    def _note_masking(self, masking: Masking, now: float) -> None:
        """A marker in the recording and the audit log: the kind, never the secret."""
        if self.recorder is not None:
            self.recorder.event("s", masking.marker(), now)
        self.audit.record(
            "secret.masked", session=self.session_id, kind=masking.kind, count=masking.count
        )

    def on_exit(self, status: int | None) -> None:
        """The shell's channel closed."""
        if self._batch:
            self._process_batch()
        self._flush_masker(end_of_stream=True)
        self.apply(self.core.target_exited(status, self.clock()))

    # ------------------------------------------------------------ clients

    def _output_for(self, pid: str) -> SessionOutput:
        """The driver reads raw output when the policy allows; everyone else, masked."""
        if self.raw is not None and pid == self.core.driver:
            return self.raw
        return self.output

    async def enter(self, link: Link, seat: Seat, offset: int | None) -> bool:
        """Seat a participant (:meth:`seat`); a :class:`Room` method."""
        return self.seat(link, seat, offset)

    def seat(self, link: Link, seat: Seat, offset: int | None) -> bool:
        """Join ``link``'s participant to the core, stream output to it from ``offset``
        (if still held), and give them control if a driver grant says so.

        Refused (full, ended...): the refusal goes to this link only, and False.
        """
        now = self.clock()
        actions = self.core.join(
            link.pid,
            seat.user,
            seat.role,
            now,
            seat.expires_at,
            seat.cols,
            seat.rows,
            person=seat.person,
            invited_by=seat.invited_by,
            key=seat.key,
        )
        if link.pid not in self.core.participants:
            for action in actions:
                if isinstance(action, Send) and action.to == link.pid:
                    link.send_json(action.message)
            return False
        self.add_link(link, offset)
        self.apply(actions)
        if seat.driver_by is not None and seat.driver_until is not None:
            ttl = seat.driver_until - now
            self.apply(self.core.assign_control(seat.user, seat.driver_by, now, ttl))
        return True

    def act(
        self,
        pid: str,
        kind: str,
        args: dict[str, Any],
        mask: Callable[[str], str] | None = None,
    ) -> None:
        """A participant's session message (checked and cleaned by its connection),
        ruled on by the core. ``mask`` masks chat text the core accepts."""
        core, now = self.core, self.clock()
        match kind:
            case "resize":
                actions = core.resize(pid, args["cols"], args["rows"], now)
            case "request_control":
                actions = core.request_control(pid, args["reason"], now)
            case "grant":
                actions = core.grant(pid, args["id"], now, args.get("ttl"))
            case "deny":
                actions = core.deny(pid, args["id"], args["reason"], now)
            case "release":
                actions = core.release(pid, now)
            case "take":
                actions = core.take(pid, now)
            case "chat":
                actions = core.chat(pid, args["text"], now, mask=mask)
            case "end":
                actions = core.end(pid, args["reason"], now)
            case _:
                raise ValueError(f"not a session message: {kind!r}")
        self.apply(actions)

    def add_link(self, link: Link, offset: int | None) -> None:
        """Start streaming to a joined client, from ``offset`` if its stream still holds it."""
        self.links[link.pid] = link
        link.on_sent = self._driver_progress
        if link.pid == self.core.driver:  # the owner, made driver by joining
            self._driver_seen = link.pid
        source = self._output_for(link.pid)
        link.attach(source, offset if offset is not None and source.holds(offset) else None)

    def drop_link(self, pid: str) -> None:
        """The connection was lost (no ``leave``): the core decides about the driver's grace."""
        link = self.links.pop(pid, None)
        if link is not None:
            link.detach()
            link.on_sent = None
        self.apply(self.core.drop(pid, self.clock()))
        if self.core.driver == pid:  # away: the output must not wait for a reader who left
            self._resume_reading()

    def remove_link(self, pid: str, reason: str) -> None:
        link = self.links.pop(pid, None)
        if link is not None:
            link.detach()
            link.on_sent = None
        self.apply(self.core.leave(pid, self.clock(), reason))

    def remove(self, pid: str, reason: str) -> None:
        """Take a participant out (access revoked), telling them why; a :class:`Room` method."""
        self.apply(self.core.remove(pid, reason, self.clock()))

    def input(self, pid: str, data: bytes) -> None:
        """Keystrokes from a participant; four-eyes is judged on the sockets as they are now."""
        not_reading = self._not_reading() if self.core.four_eyes.watchers > 0 else None
        self.apply(self.core.input(pid, data, self.clock(), not_reading))

    def _not_reading(self) -> frozenset[str]:
        """Participants whose connection is closing, closed or stalled at this instant."""
        return frozenset(
            pid
            for pid in self.core.participants
            if (link := self.links.get(pid)) is None or not link.reading()
        )

    def snapshot(self) -> tuple[int, int, int, bytes]:
        """The masked screen, as late joiners get it."""
        return self.output.snapshot()

    async def _tick(self) -> None:
        """Expiry and idle checkpoints; a failing round is logged, not the end of expiry."""
        while True:
            await asyncio.sleep(0.25)
            now = self.clock()
            try:
                self.apply(self.core.tick(now))
                if self.core.four_eyes.watchers > 0:  # the roster says who reads now
                    self.apply(self.core.watching(self._not_reading()))
                if self.recorder is not None:
                    self.recorder.tick(now)
            except Exception:
                log.exception("session %s: tick failed; retrying", self.session_id)

    # ------------------------------------------------------------ actions

    def apply(self, actions: list[Action]) -> None:
        """Carry out what the core decided, in order; then follow a change of driver.

        The driver is compared with the one the links were last arranged for,
        not with the core's before these actions: the core has already changed
        it by the time its actions arrive here.
        """
        now = self.clock()
        for action in actions:
            self._apply_one(action, now)
        self._arm_recorder(now)
        self._follow_driver()

    def _follow_driver(self) -> None:
        """A new driver (or none): only the current driver reads the raw stream.

        The former and the new driver each move to their stream, starting from
        a snapshot of it, before any output produced under the new driver is
        delivered: this runs in the same event-loop turn as the change.
        """
        new = self.core.driver
        old, self._driver_seen = self._driver_seen, new
        if new == old:
            return
        self._resume_reading()  # the new driver (or nobody) decides from here on
        if self.raw is None:
            return
        for pid in (old, new):
            link = self.links.get(pid) if pid else None
            if link is not None:
                link.attach(self._output_for(link.pid), None)

    def _apply_one(self, action: Action, now: float) -> None:
        match action:
            case Forward(data, _pid, user):
                self._forward(data, user, now)
            case Send(to, message):
                link = self.links.get(to)
                if link is not None:
                    link.send_json(message)
            case Broadcast(message):
                self._broadcast(message)
            case Resize(cols, rows):
                self._resize(cols, rows, now)
            case Audit(event, fields):
                self.audit.record(event, **fields)
            case Record(kind, data):
                self._record_event(kind, data, now)
            case Disconnect(to, code, reason):
                link = self.links.get(to)
                if link is not None:
                    link.close(CloseCode.POLICY_VIOLATION, f"{code}: {reason}")
            case End(reason):
                self._end(reason, now)

    def _broadcast(self, message: messages.RelayMessage) -> None:
        """To every participant: encoded once for all of this relay's (a roster of 200
        people, encoded once per reader, was most of a busy session's CPU), and put in
        the session's stream once for all the other relays'."""
        remote = False
        encoded: bytes | None = None
        for link in self.links.values():
            if link.remote:
                remote = True
            else:
                if encoded is None:
                    encoded = protocol.encode(message).encode()
                link.send_encoded(encoded)
        if remote and self.peers is not None:
            self.peers.broadcast(message)

    def _record_event(self, kind: str, data: dict[str, Any], now: float) -> None:
        """A session event into the recording; a recorder that fails ends the session.

        Also while the session is ending for another failure of the recorder
        (its end event raises again): the end goes on without it, and the
        file stays unsealed, which ``warroom verify`` reports as interrupted.
        """
        if self.recorder is None:
            return
        try:
            self.recorder.event(kind, data, now)
        except Exception:
            log.exception("session %s: the recording failed", self.session_id)
            self.recorder = None
            asyncio.get_running_loop().call_soon(self._recording_failed)

    def _recording_failed(self) -> None:
        if not self.ended.is_set():
            reason = "internal error: the recording failed"
            self.apply(self.core.shutdown(reason, self.clock()))

    def _forward(self, data: bytes, user: str, now: float) -> None:
        """Keystrokes to the shell; input the target does not echo is never recorded.

        The guard (:class:`relay.masking.InputGuard`) holds each piece until its
        echo shows in the output, or until it is clear that none will come
        (then one ``secret-input`` marker stands for the whole secret).
        """
        if self.shell is not None:
            self.shell.write(data)
        self.guard.typed(data, user, now)
        self._decide_input()

    def _decide_input(self, flush: bool = False) -> None:
        """Record the typed input the guard has decided on; wake up for the rest."""
        now = self.clock()
        decisions = self.guard.flush(now) if flush else self.guard.decide(now)
        for decision in decisions:
            if self.recorder is None:
                continue
            if decision.data is None:
                self.recorder.event("s", Masking(SECRET_INPUT).marker(), now)
            elif self.input_masker is None:
                self.recorder.input(decision.data, decision.user, now)
            else:  # a pasted secret is masked in the recorded input too
                self._record_input(*self.input_masker.feed(decision.data), now, decision.user)
                if self.input_masker.pending:
                    self._schedule_flush()
        if self._input_timer is not None:
            self._input_timer.cancel()
            self._input_timer = None
        deadline = self.guard.deadline
        if deadline is not None and not flush:
            loop = asyncio.get_running_loop()
            self._input_timer = loop.call_later(max(0.0, deadline - now), self._decide_input)

    def _record_input(
        self, data: bytes, maskings: list[Masking], now: float, user: str = ""
    ) -> None:
        if self.recorder is None:
            return
        if data:
            self.recorder.input(data, user, now)
        for masking in maskings:
            self._note_masking(masking, now)

    def _resize(self, cols: int, rows: int, now: float) -> None:
        """The PTY's new size, at this point of both streams and of the recording."""
        if self.shell is not None:
            self.shell.resize(cols, rows)
        self.output.resize(cols, rows)
        if self.raw is not None:
            self.raw.resize(cols, rows)
        if self.recorder is not None:
            self.recorder.resize(cols, rows, now)
        for link in self.links.values():
            link.notify()  # clients resize between the same two bytes
        if self.peers is not None:
            self.peers.notify()

    def _end(self, reason: str, now: float) -> None:
        if self._batch:
            self._process_batch()
        self._flush_masker(end_of_stream=True)
        for link in self.links.values():
            link.close(CloseCode.NORMAL_CLOSURE, f"session ended: {reason}")
        if self.peers is not None:
            self.peers.ended(reason)
        if self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            try:
                recorder.close(reason, now)
            except Exception:  # the session ends all the same; the file stays unsealed
                log.exception("session %s: the recording could not be sealed", self.session_id)
        self.end_reason, self.ended_at = reason, now
        self.ended.set()
        asyncio.get_running_loop().create_task(self._shutdown())

    async def wait_closed(self) -> None:
        """Wait until the session has ended and its shell is closed."""
        await self.ended.wait()
        await self._closed.wait()

    async def _shutdown(self) -> None:
        for timer in (self._flush_timer, self._record_timer, self._input_timer):
            if timer is not None:
                timer.cancel()
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
            "output_bytes": self.output.stream.end,
            "clients": len(self.links),
            "model_lag": self.output.model_lag,
            "model_skips": self.output.skips,
        }
