"""Property: whatever one client sends, in whatever role, the relay holds.

Random well-formed and malformed frames from one client (the attacker) in
each role — lead, driver, viewer, reviewer, guest, and a client that never
authenticated — go to the project's relay over real websockets, while a lead,
a driver, a viewer, a reviewer, a guest and a lead in the lobby are connected
and read everything. After each frame the attacker asks ``list_sessions`` and
waits for the answer: the relay handles one connection's frames in order, so
whatever a frame caused has been sent by then, and each effect is put down to
the frame that caused it. Three properties, each checked on every example:

1. **Input reaches the shell only from the driver.** The target is ``cat``
   on a raw PTY writing everything it receives to a file, so the file is what
   the shell received. Every input frame carries a fresh marker; a marker in
   the file from a frame sent while the attacker did not drive is a failure
   (and a marker missing while they drove throughout and nothing was refused
   is one too). At the end a lead types an end marker and the check waits for
   it: everything forwarded before it is in the file by then.
2. **Others see only what the role may cause.** What every other client
   received while the attacker acted is compared with what the attacker's
   role may cause: nobody but a lead may end the session, change anyone
   else's place in it or send anyone an ``access_*`` message; nobody but the
   driver (or a lead) may change who drives or the PTY's size; a viewer's
   frames reach others only as their own chat, control request, access
   request and presence. Nobody else gets an error, or is disconnected.
3. **Nothing raises.** No client ever receives ``internal_error`` (the relay's
   answer to an unexpected exception while handling one message), the relay
   logs no error or exception, and the attacker's connection is closed only
   for a documented reason.
4. **The evidence holds.** Once the relay has stopped, the audit log and
   every recording verify as intact, the recordings against the audit log:
   nothing a client sends can break a chain or leave an entry unwritten.

In ``make test`` a fixed seed and a few examples per role; ``make fuzz``
(``HYPOTHESIS_PROFILE=fuzz``) runs far more, with fresh seeds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from relay.core import protocol
from relay.core.errors import ProtocolError
from relay.core.protocol import OutputChunk, SizeChange, Snapshot
from relay.core.roles import Role
from relay.evidence.verdicts import Verdict, check_audit, check_recording
from relay.trust import identity
from relay.trust.keys import VerifyKey
from tests import shapes
from tests.harness import Harness, running_relay, sink_shell, sunk, until_sunk
from tui.client import Event, RelayClient

ROLES = ("lead", "driver", "viewer", "reviewer", "guest", "unauthenticated")
USER_OF = {"lead": "alice", "driver": "carol", "viewer": "bob", "reviewer": "rita"}
GUEST = "dave"
MAX_STEPS = 12  # x3 with the keys after it and the barrier: under the burst of 60 frames

# The profile decides: a few examples per role in `make test`, far more under `make fuzz`.
EXAMPLES = 15 if settings.default.max_examples <= 100 else settings.default.max_examples // 20


# ---------------------------------------------------------------- clients that read everything


@dataclass
class Tap:
    """One connection and everything the relay sent it since the tap was put on."""

    name: str
    client: RelayClient
    events: list[Event] = field(default_factory=list)
    closed: tuple[int, str] | None = None  # (code, reason) once the connection is over
    pid: str | None = None
    seen: int | None = None  # events up to here are the attacker's doing
    asked: int = 0  # list_sessions sent that the relay will answer
    answered: int = 0  # sessions answers received
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read(), name=f"tap-{self.name}")

    async def _read(self) -> None:
        ws = self.client.ws
        assert ws is not None
        try:
            while True:
                frame = await ws.recv()
                if isinstance(frame, bytes):
                    self.events.append(protocol.parse_server_binary(frame))
                else:
                    message = protocol.json_decode(frame)
                    self.answered += message["type"] == "sessions"
                    self.events.append(message)
                self._changed.set()
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            self.closed = (rcvd.code, rcvd.reason) if rcvd is not None else (1006, "")
        finally:
            if self.closed is None:
                self.closed = (0, "the tap stopped reading")
            self._changed.set()

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    def messages(self, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events[start:end] if isinstance(e, dict)]

    async def barrier(self) -> None:
        """Everything the relay queued for this client before now has arrived.

        The relay handles one connection's frames in order and queues its
        JSON answers in order: once the answer to this ``list_sessions`` is
        here, so is every message an earlier frame caused.
        """
        if self.closed is not None:
            return
        self.asked += 1
        with contextlib.suppress(ConnectionClosed):
            await self.client.send({"type": "list_sessions"})
        await self.until(
            lambda: self.answered >= self.asked or self.closed is not None,
            f"{self.name}'s answer to list_sessions",
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


# ---------------------------------------------------------------- what the attacker sends


@dataclass(frozen=True)
class Text:
    """A text frame sent as is."""

    text: str


@dataclass(frozen=True)
class Binary:
    """A binary frame sent as is."""

    data: bytes


@dataclass(frozen=True)
class Keys:
    """An input frame: a fresh marker is put in front of ``data`` when it is sent."""

    data: bytes


Frame = Text | Binary | Keys


@dataclass
class Pool:
    """Values worth aiming at: the ids, names and numbers that exist in this example."""

    session: str
    pids: list[str]
    users: list[str] = field(
        default_factory=lambda: ["alice", "bob", "carol", "rita", f"guest:{GUEST}", "nobody"]
    )
    requests: list[str] = field(default_factory=lambda: ["r1", "req-0"])


TRICKY_TEXT = st.sampled_from(
    [
        "[b]bold[/b]",
        "[/]",
        "[link=https://evil.example]click[/link]",
        "\x1b]0;title\x07",
        "\x1b[2J\x1b[H",
        "\x9b31m",
        "line\nforged 2020-01-01 00:00:00 control.grant by=guest:lead",
        "\u202eevil",
        "password=hunter2hunter2",
        "AKIAIOSFODNN7EXAMPLE",
        "\ud800",
        "x" * 600,
    ]
)
TEXT = st.one_of(st.text(max_size=40), TRICKY_TEXT, st.lists(TRICKY_TEXT, max_size=3).map("".join))
NUMBER = st.one_of(
    st.integers(-5, 100_000),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    st.sampled_from([0, 0.001, 1, 5, 3600, 1e7, 1e400, -1]),
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | NUMBER | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
SIGNATURE = st.binary(max_size=120).map(lambda b: base64.b64encode(b).decode())


def _credential(claims: bytes, signature: bytes) -> str:
    """A token or invite of the right shape (``wr1.<claims>.<signature>``), not signed."""
    return "wr1." + ".".join(
        base64.urlsafe_b64encode(part).decode().rstrip("=") for part in (claims, signature)
    )


CLAIMS = st.dictionaries(TEXT, JSON_VALUE, max_size=6).map(lambda d: _json(d).encode())
CREDENTIAL = st.builds(_credential, CLAIMS | st.binary(max_size=60), st.binary(max_size=70))
ROLE_NAME = st.sampled_from(["lead", "viewer", "driver", "reviewer", "admin", ""])
KEYS = st.binary(max_size=64).map(Keys)


def well_formed(pool: Pool) -> st.SearchStrategy[dict[str, Any]]:
    """Messages of every client type, with values from the pool and around their bounds."""
    pid = st.sampled_from(pool.pids) | TEXT
    session = st.sampled_from([pool.session, "sandbox-000000", "../x"]) | TEXT
    user = st.sampled_from(pool.users) | TEXT
    request = st.sampled_from(pool.requests) | TEXT
    ttl = NUMBER
    size = st.integers(-1, 1001)

    def message(kind: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
        required = {k: v for k, v in fields.items() if not k.startswith("_")}
        optional = {k[1:]: v for k, v in fields.items() if k.startswith("_")}
        return st.fixed_dictionaries({"type": st.just(kind), **required}, optional=optional)

    return st.one_of(
        message("hello", version=st.sampled_from([1, 2, 0]), _client=TEXT),
        message(
            "auth",
            method=st.sampled_from(["ssh", "token", "invite", "password"]),
            _user=user,
            _signature=st.sampled_from(["AAAA", "not base64!"]) | SIGNATURE | TEXT,
            _token=st.sampled_from(["wr1.e30.AAAA", ""]) | CREDENTIAL | TEXT,
            _invite=CREDENTIAL | TEXT,
            _name=TEXT,
        ),
        message("list_sessions"),
        message("list_recordings", _session=session),
        message(
            "fetch_recording",
            name=st.sampled_from([f"{pool.session}.cast", "../audit/x", "x.cast"]) | TEXT,
            _offset=st.integers(-1, 10**6),
        ),
        message("open", target=st.sampled_from(["sandbox", "nowhere"]) | TEXT, reason=TEXT),
        message(
            "join",
            session=session,
            _offset=st.none() | st.integers(-1, 2**64),
            _cols=size,
            _rows=size,
        ),
        message("leave"),
        message("resize", cols=size, rows=size),
        message("request_control", reason=TEXT),
        message("grant", id=pid, _ttl=ttl),
        message("deny", id=pid, _reason=TEXT),
        message("release"),
        message("take"),
        message("chat", text=TEXT),
        message("end", _reason=TEXT),
        message(
            "access_grant",
            user=user,
            role=ROLE_NAME,
            ttl=ttl,
            _session=session,
            _target=st.sampled_from(["sandbox"]) | TEXT,
            _reason=TEXT,
        ),
        message("access_revoke", user=user, _session=session),
        message("access_request", role=ROLE_NAME, reason=TEXT, _session=session),
        message("access_decide", id=request, approve=st.booleans(), _ttl=ttl, _reason=TEXT),
        message("access_list"),
        message("invite", role=ROLE_NAME, session=session, ttl=ttl, _name=TEXT),
    )


def mutated(message: dict[str, Any]) -> st.SearchStrategy[str]:
    """The message made wrong in one way: a field dropped, added, retyped, or doubled."""
    keys = sorted(message)

    def drop(key: str) -> str:
        return _json({k: v for k, v in message.items() if k != key})

    def retype(pair: tuple[str, Any]) -> str:
        return _json({**message, pair[0]: pair[1]})

    def doubled(key: str) -> str:
        body = _json(message)
        return body[:-1] + ("," if len(message) else "") + f"{json.dumps(key)}:{json.dumps(1)}}}"

    return st.one_of(
        st.sampled_from(keys).map(drop),
        st.tuples(st.sampled_from(keys) | TEXT, JSON_VALUE).map(retype),
        st.sampled_from(keys).map(doubled),
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)  # a lone surrogate travels as \ud800


HOSTILE = st.sampled_from(
    [
        "[" * 5000,
        '{"type":"hello","version":' + "7" * 50 + "}",
        '{"type":"chat","text":"\\ud800"}',
        '{"type":"resize","cols":NaN,"rows":Infinity}',
        '{"type":"grant","id":"c1","ttl":1e400}',
        "null",
        "",
        '{"type":["chat"]}',
    ]
)


def frames(pool: Pool) -> st.SearchStrategy[Frame]:
    valid = well_formed(pool).map(lambda m: Text(_json(m)))
    return st.one_of(
        valid,
        valid,
        valid,
        valid,
        KEYS,
        well_formed(pool).flatmap(mutated).map(Text),
        JSON_VALUE.map(lambda v: Text(_json(v))),
        st.text(max_size=60).map(Text),
        HOSTILE.map(Text),
        st.binary(max_size=40).map(Binary),
    )


# ---------------------------------------------------------------- the scene


@dataclass
class Scene:
    h: Harness
    session: str
    sink: Path
    taps: dict[str, Tap]  # by role (plus "lobby": a relay-wide lead not in the session)
    baseline: dict[str, Any]  # the roster once everyone is in and carol drives
    marker: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def pid(self, role: str) -> str:
        pid = self.taps[role].pid
        assert pid is not None
        return pid

    def received(self) -> bytes:
        return sunk(self.sink)


async def joined(h: Harness, user: str, session: str) -> tuple[RelayClient, str]:
    client = await h.login(user)
    welcome = await client.join(session)
    return client, str(welcome["you"])


async def guest_joined(h: Harness, session: str) -> tuple[RelayClient, str]:
    target = identity.parse_join_target(await h.relay.invite(Role.VIEWER, session, 600, GUEST))
    client = RelayClient(target.url)
    h.clients.append(client)
    await client.connect()
    await client.auth_invite(target.invite or "")
    welcome = await client.join(session)
    return client, str(welcome["you"])


async def set_scene(h: Harness, sink: Path) -> Scene:
    session = await h.open()
    clients: dict[str, tuple[RelayClient, str | None]] = {}
    for role in ("lead", "driver", "viewer", "reviewer"):
        clients[role] = await joined(h, USER_OF[role], session)
    clients["guest"] = await guest_joined(h, session)
    clients["lobby"] = (await h.login("alice"), None)
    lead, carol = clients["lead"][0], clients["driver"][0]
    carol_id = clients["driver"][1]
    await carol.send({"type": "request_control", "reason": "INC-1"})
    await lead.expect("control_request")
    await lead.send({"type": "grant", "id": carol_id})
    baseline = await lead.wait_for(
        lambda e: isinstance(e, dict) and e.get("type") == "roster" and e["driver"] == carol_id
    )
    assert isinstance(baseline, dict)
    taps = {role: Tap(role, client, pid=pid) for role, (client, pid) in clients.items()}
    for tap in taps.values():
        tap.start()
    for tap in taps.values():  # what the set-up caused is behind us
        await tap.barrier()
        tap.events.clear()
    return Scene(h, session, sink, taps, baseline)


async def attacker_for(scene: Scene, role: str) -> Tap:
    if role in scene.taps:
        return scene.taps[role]
    client = RelayClient(scene.h.url)
    scene.h.clients.append(client)
    assert role == "unauthenticated"
    from websockets.asyncio.client import connect

    client.ws = await connect(scene.h.url, proxy=None, max_size=client.max_size)
    tap = Tap(role, client)
    tap.start()
    return tap


# ---------------------------------------------------------------- running one example


@dataclass
class Step:
    frame: Frame
    start: int  # the attacker's events before it was sent
    driving_before: bool
    in_session_before: bool
    end: int = 0  # ... once the relay had answered the barrier after it
    markers: list[bytes] = field(default_factory=list)  # of the input frames sent in it


async def attack(scene: Scene, attacker: Tap, role: str, data: st.DataObject) -> list[Step]:
    pids = [t.pid for t in scene.taps.values() if t.pid] + ["c0", "c999"]
    pool = Pool(scene.session, pids)
    steps: list[Step] = []
    me = attacker.pid
    in_session = role != "unauthenticated"
    driving = role == "driver"
    count = data.draw(st.integers(1, MAX_STEPS), label="steps")
    for n in range(count):
        if attacker.closed is not None:
            break
        frame = data.draw(frames(pool), label=f"frame {n}")
        step = Step(frame, len(attacker.events), driving, in_session)
        assert attacker.client.ws is not None
        try:
            match frame:
                case Text(text):
                    await attacker.client.ws.send(text)
                case Binary(raw):
                    await attacker.client.ws.send(raw)
                case Keys(keys):
                    step.markers.append(f"<<{scene.marker}-{n}>>".encode())
                    await attacker.client.ws.send(protocol.input_frame(step.markers[-1] + keys))
            if role != "unauthenticated":  # and after whatever it was, the attacker types
                step.markers.append(f"<<{scene.marker}-{n}-after>>".encode())
                await attacker.client.ws.send(protocol.input_frame(step.markers[-1]))
        except ConnectionClosed:
            pass
        if _answered_by_sessions(frame):
            attacker.asked += 1
        if role == "unauthenticated":
            # one answer (hello, authenticated or error) per frame, or a close
            await attacker.until(
                lambda n=n: len(attacker.messages()) > n or attacker.closed is not None,
                "an answer before authentication",
            )
        else:
            await attacker.barrier()
        step.end = len(attacker.events)
        steps.append(step)
        for message in attacker.messages(step.start, step.end):
            kind = message.get("type")
            if kind == "roster" and in_session:
                driving = message.get("driver") == me
            elif kind == "welcome_session":
                in_session, me = True, str(message["you"])
            elif kind in ("access_requested", "access_request"):
                pool.requests.append(str(message["request"]["id"]))
        if _sent_type(frame) == "leave" and not _errors(attacker, step):
            in_session = driving = False
    return steps


def _answered_by_sessions(frame: Frame) -> bool:
    """Whether the relay answers this frame with ``sessions`` (the barrier's answer)."""
    if not isinstance(frame, Text):
        return False
    try:
        return protocol.parse_client_text(frame.text)["type"] == "list_sessions"
    except ProtocolError:
        return False


def _sent_type(frame: Frame) -> str | None:
    if not isinstance(frame, Text):
        return None
    try:
        message = protocol.parse_client_text(frame.text)
    except ProtocolError:
        return None
    return str(message["type"])


def _errors(tap: Tap, step: Step) -> list[dict[str, Any]]:
    return [m for m in tap.messages(step.start, step.end) if m.get("type") == "error"]


async def close_the_books(scene: Scene) -> bool:
    """Make sure all forwarded input reached the file: a lead takes control and types an
    end marker. Returns whether the session was still open (else the shell is gone)."""
    live = scene.h.relay.sessions.get(scene.session)
    if live is None or live.ended.is_set():
        if live is not None:
            await live.wait_closed()
        return False
    closer = await scene.h.login("alice")
    welcome = await closer.join(scene.session)
    await closer.send({"type": "take"})
    end = f"<<{scene.marker}-end>>".encode()
    me = welcome["you"]
    await closer.wait_for(
        lambda e: isinstance(e, dict) and e.get("type") == "roster" and e["driver"] == me
    )
    await closer.send_input(end)
    await until_sunk(scene.sink, end)
    return True


# ---------------------------------------------------------------- the properties


def check_input(scene: Scene, attacker: Tap, steps: list[Step], shell_alive: bool) -> None:
    received = scene.received()
    me = attacker.pid
    for n, step in enumerate(steps):
        rosters = [m for m in attacker.messages(step.start, step.end) if m.get("type") == "roster"]
        drove = step.driving_before and step.in_session_before
        drove_at_some_point = drove or any(r.get("driver") == me for r in rosters)
        drove_throughout = drove and all(r.get("driver") == me for r in rosters)
        for marker in step.markers:
            arrived = marker in received
            if not drove_at_some_point:
                assert not arrived, f"step {n}: input from a non-driver reached the shell"
            elif drove_throughout and shell_alive and not _errors(attacker, step):
                assert arrived, f"step {n}: the driver's input was neither refused nor forwarded"


def check_others(scene: Scene, role: str, attacker: Tap) -> None:
    """What the attacker's role may cause everyone else to see."""
    me, user = attacker.pid, _user(role)
    carol, alice = scene.pid("driver"), scene.pid("lead")
    before = {p["id"]: p for p in scene.baseline["participants"]}
    for name, tap in scene.taps.items():
        if tap is attacker:
            continue
        for event in tap.events[: tap.seen]:
            assert not isinstance(event, OutputChunk), f"{name} saw output nobody typed"
            if isinstance(event, Snapshot):
                continue
            if isinstance(event, SizeChange):  # the PTY changed size: the driver's window
                assert role in ("lead", "driver"), f"a {role} resized the PTY for {name}"
                continue
            kind = event.get("type")
            if kind == "error" and role == "lead" and _revoked_by(event, user):
                continue  # a lead may revoke anyone's access; the revoked one is told who
            assert kind != "error", f"{name} got someone else's error: {event}"
            if kind == "sessions" or role == "lead":
                continue
            where = f"{name} got {event} from a {role}"
            if kind == "roster":
                assert event["state"] == "open", where
                assert event["paused"] == scene.baseline["paused"], where
                now = {p["id"]: p for p in event["participants"]}
                for pid, entry in before.items():
                    if pid != me:
                        assert now.get(pid) == entry, where
                assert set(now) <= set(before) | {me}, where
                assert all(r["id"] == me for r in event["requests"]), where
                if role == "driver":
                    assert event["driver"] in (carol, alice, None), where
                else:
                    assert event["driver"] == carol, where
                    assert event["pty"] == scene.baseline["pty"], where
                    assert event["control_expires_at"] == scene.baseline["control_expires_at"]
            elif kind == "chat":
                assert event["id"] == me, where
            elif kind == "control_request":
                assert event["id"] == me and role != "reviewer", where
            elif kind == "access_request":
                assert event["request"]["user"] == user and role != "guest", where
            else:
                raise AssertionError(where)
        if role != "lead":
            assert tap.closed is None, f"a {role} got {name} disconnected: {tap.closed}"
        elif tap.closed is not None:
            told = any(m.get("type") == "ended" for m in tap.messages(0, tap.seen))
            assert told or tap.closed[0] == 1008, f"{name} closed without a word: {tap.closed}"


def check_no_failure(scene: Scene, attacker: Tap, role: str, log: pytest.LogCaptureFixture) -> None:
    for name, tap in [*scene.taps.items(), ("attacker", attacker)]:
        for message in tap.messages():
            assert message.get("code") != "internal_error", f"{name} got {message}"
            assert shapes.problems(message) == [], f"{name} got {message}"
    failures = [r for r in log.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not failures, [r.getMessage() for r in failures]
    if attacker.closed is not None and role != "unauthenticated":
        code, reason = attacker.closed
        ended = any(m.get("type") == "ended" for m in attacker.messages())
        documented = code == 1009 or reason.startswith("session ended") or ended
        assert documented or (role == "lead" and code == 1008), attacker.closed
    if attacker.closed is not None and role == "unauthenticated":
        code, reason = attacker.closed
        assert code in (1008, 1009), attacker.closed


def check_evidence(data: Path, key: VerifyKey) -> None:
    audit = check_audit(data / "audit", [key])
    assert audit.verdict is Verdict.INTACT, audit.text()
    recordings = sorted((data / "recordings").glob("*.cast"))
    assert recordings
    for path in recordings:
        check = check_recording(path, [key], data / "audit")
        assert check.verdict is Verdict.INTACT, (path.name, check.issues)


def _revoked_by(event: dict[str, Any], user: str) -> bool:
    """The error a participant gets when ``user`` revoked their access (``access_revoke``)."""
    message = str(event.get("message", ""))
    return event.get("code") == "auth_failed" and f"revoked by {user}" in message


def _user(role: str) -> str:
    return f"guest:{GUEST}" if role == "guest" else USER_OF.get(role, "")


# ---------------------------------------------------------------- the test


@pytest.mark.parametrize("role", ROLES)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_no_frame_from_any_role_breaks_the_rules(
    role: str, data: st.DataObject, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    caplog.set_level(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="warroom-prop-") as tmp:
        sink = Path(tmp) / "sink"
        sink.mkdir()
        async with running_relay(Path(tmp), shell=sink_shell(sink), recordings=True) as h:
            scene = await set_scene(h, sink)
            attacker = await attacker_for(scene, role)
            steps = await attack(scene, attacker, role, data)
            for tap in scene.taps.values():
                if tap is not attacker:
                    await tap.barrier()
                    tap.seen = len(tap.events)  # the closer's arrival is not the attacker's doing
            shell_alive = await close_the_books(scene)
            check_input(scene, attacker, steps, shell_alive)
            check_others(scene, role, attacker)
            check_no_failure(scene, attacker, role, caplog)
            for tap in [*scene.taps.values(), attacker]:
                await tap.stop()
            key = h.relay.verify_key
        check_evidence(h.data_dir, key)
