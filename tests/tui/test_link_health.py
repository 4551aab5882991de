"""Dead links: found within seconds on both sides, a dropped driver's grace, and no late keys.

Real parts only: the relay over real websockets, a connection cut by aborting
its socket or silenced by no longer reading, and a relay process stopped with
SIGSTOP, the way a frozen host or a suspended VM stops it.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message

from relay.config import Limits
from relay.evidence.audit import read_events
from relay.net.stall import LoopWatch
from relay.trust.identity import parse_join_target
from tests.harness import Harness, read_until, running_relay
from tests.tools import stop
from tui.app import Connector
from tui.client import Event, RelayClient
from tui.room import Link
from tui.session_link import Keepalive, SessionLink

WARROOM = [sys.executable, "-m", "tui.cli"]


def events(data_dir: Path, name: str) -> list[dict[str, Any]]:
    return [e for e in read_events(data_dir / "audit") if e["event"] == name]


def roster_where(check: Callable[[dict[str, Any]], bool]) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, dict) and e.get("type") == "roster" and check(e)


def notice(pattern: str) -> Callable[[Event], bool]:
    return lambda e: (
        isinstance(e, dict) and e.get("type") == "notice" and re.fullmatch(pattern, e["text"])
    )


async def bob_drives(h: Harness) -> tuple[str, RelayClient, str, RelayClient, str]:
    session = await h.open()
    alice = await h.login("alice")
    alice_id = (await alice.join(session))["you"]
    bob = await h.login("bob")
    bob_id = (await bob.join(session))["you"]
    await bob.send({"type": "request_control", "reason": "I know this host"})
    await alice.expect("control_request")
    await alice.send({"type": "grant", "id": bob_id})
    await alice.wait_for(roster_where(lambda r: r["driver"] == bob_id))
    return session, alice, alice_id, bob, bob_id


async def test_a_driver_whose_socket_is_cut_comes_back_and_drives(tmp_path: Path) -> None:
    async with running_relay(tmp_path, limits=Limits(driver_grace=120)) as h:
        session, alice, _, bob, bob_id = await bob_drives(h)
        token = bob.identity["token"]
        assert bob.ws is not None
        bob.ws.transport.abort()  # the network goes away under bob

        await alice.wait_for(
            notice(r"bob's connection dropped; they keep control for 120 s in case they come back")
        )
        away = await alice.wait_for(roster_where(lambda r: r["driver"] == bob_id))
        assert isinstance(away, dict)
        assert [p["away"] for p in away["participants"] if p["id"] == bob_id] == [True]

        again = RelayClient(h.url)
        h.clients.append(again)
        await again.connect()
        await again.auth_token(token)
        new_id = (await again.join(session))["you"]
        await alice.wait_for(notice(r"bob is back( after \d+ s)? and drives again"))
        await alice.wait_for(roster_where(lambda r: r["driver"] == new_id))
        await again.send_input(b"echo back-$((6*7))\r")
        await read_until(alice, b"back-42")
        assert [e["user"] for e in events(h.data_dir, "control.away")] == ["bob"]
        assert [e["user"] for e in events(h.data_dir, "control.back")] == ["bob"]


async def test_control_returns_to_the_lead_when_the_grace_runs_out(tmp_path: Path) -> None:
    async with running_relay(tmp_path, limits=Limits(driver_grace=1)) as h:
        _, alice, alice_id, bob, _ = await bob_drives(h)
        assert bob.ws is not None
        bob.ws.transport.abort()
        await alice.wait_for(roster_where(lambda r: r["driver"] == alice_id), timeout=20)
        await alice.wait_for(notice(r"bob did not come back within 1 s: control returns to alice"))
        lapsed = events(h.data_dir, "control.lapsed")
        assert [(e["user"], e["to"]) for e in lapsed] == [("bob", "alice")]
        await alice.send_input(b"echo lead-again-$((6*7))\r")
        await read_until(alice, b"lead-again-42")


async def test_the_relay_pings_find_a_driver_who_went_silent(tmp_path: Path) -> None:
    limits = Limits(ping_interval=0.5, ping_timeout=1, driver_grace=120)
    async with running_relay(tmp_path, limits=limits) as h:
        _, alice, _, bob, _ = await bob_drives(h)
        assert bob.ws is not None
        bob.ws.transport.pause_reading()  # alive to the kernel, deaf to the relay's pings
        await alice.wait_for(notice(r"bob's connection dropped; .*"), timeout=30)
        assert [e["user"] for e in events(h.data_dir, "control.away")] == ["bob"]


# ---------------------------------------------------------------- a relay that stops


@dataclass
class Demo:
    process: subprocess.Popen[str]
    data: Path
    invites: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def cont(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def recording(self) -> str:
        return "".join(p.read_text() for p in (self.data / "recordings").glob("*.cast"))


def _read_invites(process: subprocess.Popen[str]) -> dict[str, str]:
    assert process.stdout is not None
    invites: dict[str, str] = {}
    while len(invites) < 3:
        line = process.stdout.readline()
        assert line, "the demo exited early"
        role, sep, url = line.strip().partition(": warroom join ")
        if sep:
            invites[role] = url
    return invites


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    data = tmp_path / "demo"
    process = subprocess.Popen(
        [*WARROOM, "demo", "--headless", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Demo(process, data)
    try:
        running.invites = await asyncio.to_thread(_read_invites, process)
        yield running
    finally:
        process.send_signal(signal.SIGCONT)
        await stop(process)


async def test_keys_that_waited_in_a_stopped_relay_never_reach_the_shell(demo: Demo) -> None:
    target = parse_join_target(demo.invites["lead"])
    lead = RelayClient(target.url)
    await lead.connect()
    await lead.auth_invite(target.invite or "")
    await lead.join("demo")
    await lead.send_input(b"echo before-$((6*7))\r")
    await read_until(lead, b"before-42")

    demo.stop()
    await lead.send_input(b"echo STALE-$((6*7))\r")  # waits in the stopped relay's socket
    await asyncio.sleep(4.5)  # longer than the relay's stall threshold (3 s)
    demo.cont()

    seen: list[Event] = []

    def an_error(event: Event) -> bool:
        seen.append(event)
        return isinstance(event, dict) and event.get("type") == "error"

    try:
        refused = await lead.wait_for(an_error, timeout=90)
    except TimeoutError:
        pytest.fail(f"no refusal; the relay sent {seen!r}")
    assert isinstance(refused, dict) and refused["code"] == "stale_input"
    assert refused["message"].startswith("the relay did not run for ")
    await lead.send_input(b"echo after-$((6*7))\r")
    seen = await read_until(lead, b"after-42")
    assert b"STALE-42" not in seen
    await lead.close()
    assert "STALE" not in demo.recording()
    stale = events(demo.data, "input.stale")
    assert [e["user"] for e in stale] == ["guest:lead"]


async def test_a_session_link_refuses_keys_then_rejoins_and_drives_again(demo: Demo) -> None:
    """The TUI's link: silent, then cut and rejoined; typed keys refused, never sent late."""
    states: list[tuple[Link, str]] = []
    unconfirmed: list[int] = []
    messages: list[dict[str, Any]] = []
    output = bytearray()
    connector = Connector(parse_join_target(demo.invites["lead"]))

    class Target:
        """Where the link posts what it hears (a screen, in the TUI)."""

        def post_message(self, message: Message) -> bool:
            if isinstance(message, SessionLink.Received):
                messages.append(message.message)
            elif isinstance(message, SessionLink.Output) and isinstance(message.data, bytes):
                output.extend(message.data)
            elif isinstance(message, SessionLink.StateChanged):
                states.append((message.state, message.detail))
            elif isinstance(message, SessionLink.Unconfirmed):
                unconfirmed.append(message.size)
            return True

    link = SessionLink(
        connector,
        "demo",
        size=lambda: (80, 24),
        target=Target(),
        keepalive=Keepalive(interval=0.3, silent_after=1.0, dead_after=2.0),
    )
    task = asyncio.create_task(link.run())

    async def until(check: Callable[[], bool], what: str) -> None:
        async with asyncio.timeout(60):
            while not check():
                await asyncio.sleep(0.05)

    def drives() -> bool:
        rosters = [m for m in messages if m.get("type") == "roster"]
        welcomes = [m for m in messages if m.get("type") == "welcome_session"]
        return bool(rosters and welcomes) and rosters[-1]["driver"] == welcomes[-1]["you"]

    try:
        await until(lambda: link.live and drives(), "the lead to drive")
        demo.stop()
        assert await link.send_input(b"echo UNCONFIRMED-$((6*7))\r")  # not yet known dead
        await until(lambda: link.silent, "the link to go silent")
        assert (Link.SILENT, "the relay has not answered for 1 s; keys are not sent") in states
        assert not await link.send_input(b"echo REFUSED-$((6*7))\r")
        assert link.refusal == "the relay has not answered for 1 s"
        await until(
            lambda: any(s is Link.RECONNECTING and "no answer from the relay for 2 s" in d
                        for s, d in states),
            "the link to be cut",
        )  # fmt: skip
        assert unconfirmed == [len(b"echo UNCONFIRMED-$((6*7))\r")]
        assert not await link.send_input(b"echo REFUSED-$((6*7))\r")
        await asyncio.sleep(3.5)  # the relay stays stopped past its stall threshold
        demo.cont()
        await until(lambda: link.live and drives() and link.reconnects > 0, "a rejoin as driver")
        assert await link.send_input(b"echo fresh-$((6*7))\r")
        await until(lambda: b"fresh-42" in output, "the fresh command's output")
    finally:
        await link.close()
        await asyncio.gather(task, return_exceptions=True)
    recorded = demo.recording()
    for word in ("REFUSED", "UNCONFIRMED-42"):
        at = recorded.find(word)
        assert at < 0, f"{word} was recorded: ...{recorded[max(0, at - 300) : at + 100]}..."
    texts = [m["text"] for m in messages if m.get("type") == "notice"]
    back = r"guest:lead is back( after \d+ s)? and drives again"
    assert any(re.fullmatch(back, t) for t in texts)


def test_the_loop_watch_names_a_stall_only_past_its_threshold() -> None:
    now = [100.0]
    watch = LoopWatch(stall=3.0, clock=lambda: now[0])
    now[0] = 102.9
    assert watch.stalled_for() == 0.0
    now[0] = 104.5
    assert watch.stalled_for() == pytest.approx(4.5)
