"""A relay that sends what is not one of its messages: the window stays up and says so.

The attacker is a fake relay on a real websocket: it greets, authenticates and
lets the TUI join like the real one, then sends frames that are not relay
messages (not JSON, unknown types, fields of the wrong type, a NaN time, an
unknown role, a grant record missing its fields, an unknown binary frame) among
good ones. Each bad frame is dropped with a clear note, no handler sees it, and
the good frames after it are still read: the session screen keeps its roster
and shows the chat line sent last; the lobby lists the sessions sent last.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from relay.core import protocol
from relay.trust.identity import parse_join_target
from tests.tui.test_tui_helpers import PilotApp, screen_of, until
from tui.client import RelayClient
from tui.lobby import LobbyScreen
from tui.login import Connector

SIZE = (120, 36)
T0 = 1_800_000_000.0

ROSTER = {
    "type": "roster",
    "session": "s1",
    "target": "prod",
    "owner": "alice",
    "state": "open",
    "recording": True,
    "pty": {"cols": 80, "rows": 24},
    "paused": None,
    "four_eyes": 0,
    "driver": "c1",
    "control_expires_at": None,
    "participants": [
        {
            "id": "c1",
            "user": "alice",
            "role": "lead",
            "joined_at": T0,
            "expires_at": None,
            "invited_by": None,
            "away": False,
        }
    ],
    "requests": [],
}

# (what is sent, what the window must say about it)
BAD: list[tuple[str | bytes, str]] = [
    ("this is not JSON", "frame is not valid JSON"),
    ('["a", "list"]', "frame must be a JSON object with a type"),
    ('{"type": "self_destruct", "now": true}', "unknown message type 'self_destruct'"),
    (json.dumps({**ROSTER, "driver": 7}), "roster.driver: expected str or null, got int"),
    (
        json.dumps({**ROSTER, "participants": [{"id": "c9"}]}),
        "roster.participants[0]: user is missing",
    ),
    (
        '{"type": "chat", "id": "c1", "user": "alice", "text": "x", "t": NaN}',
        "chat.t: expected float, got nan",
    ),
    (
        json.dumps({"type": "welcome_session", "you": "c1", "role": "root", "recording": True}),
        "welcome_session.role: unknown role 'root'",
    ),
    (
        json.dumps({"type": "access_granted", "grant": {"id": "g1"}}),
        "access_granted.grant: user is missing",
    ),
    (json.dumps({"type": "notice", "text": ["not", "text"], "t": T0}), "notice.text: expected"),
    (b"Zgarbage", "unknown binary frame kind"),
]

Script = Callable[[ServerConnection, dict[str, Any]], Awaitable[None]]


@asynccontextmanager
async def hostile_relay(script: Script) -> AsyncIterator[str]:
    """A relay that says hello and authenticates anyone, then runs ``script`` on each
    message the client sends after that; the URL to reach it."""

    async def handler(ws: ServerConnection) -> None:
        async for frame in ws:
            if not isinstance(frame, str):
                continue
            message = json.loads(frame)
            kind = message.get("type")
            if kind == "hello":
                limits = {
                    "max_frame": 1 << 20,
                    "max_input": 4096,
                    "chat_length": 500,
                    "chat_rate": 10,
                    "chat_window": 10.0,
                    "clients_per_session": 50,
                }
                await ws.send(
                    protocol.encode(
                        {
                            "type": "hello",
                            "version": protocol.VERSION,
                            "relay": "hostile",
                            "nonce": "AAAA",
                            "limits": limits,
                        }
                    )
                )
            elif kind == "auth":
                who = {
                    "type": "authenticated",
                    "user": "alice",
                    "role": "lead",
                    "session": None,
                    "token": "t0k3n",
                    "expires_at": T0 + 3600,
                }
                await ws.send(protocol.encode(who))
            else:
                await script(ws, message)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def send_bad_frames(ws: ServerConnection) -> None:
    for frame, _ in BAD:
        await ws.send(frame)


def connector(url: str) -> Connector:
    signed_in = Connector(parse_join_target(url))
    signed_in.token = "t0k3n"  # what a stored login would hold
    return signed_in


async def test_a_session_window_drops_what_is_not_a_relay_message_and_says_so() -> None:
    async def script(ws: ServerConnection, message: dict[str, Any]) -> None:
        if message["type"] == "join":
            welcome = {"type": "welcome_session", "you": "c1", "role": "lead", "recording": True}
            await ws.send(json.dumps(welcome))
            await ws.send(json.dumps(ROSTER))
            await send_bad_frames(ws)
            chat = {"type": "chat", "id": "c1", "user": "alice", "text": "still here", "t": T0}
            await ws.send(json.dumps(chat))

    async with hostile_relay(script) as url:
        app = PilotApp(connector(url), "s1")
        async with app.run_test(size=SIZE) as pilot:
            screen = screen_of(app)
            await until(
                pilot,
                lambda: any(line.text == "still here" for line in screen.chat.lines),
                what="the good chat line after the bad frames",
                timeout=30,
            )
            assert app.is_running and screen_of(app) is screen
            assert screen.link.live
            assert screen.room.driving and screen.room.users() == ["alice"]  # the good roster
            said = [t for t in app.toasts if t.title == "Relay message ignored"]
            assert said, "the window did not say it ignored anything"
            first = said[0].message
            assert first.startswith("The relay sent something this window cannot read: ")
            assert BAD[0][1] in first
            seen = screen.ignoring.seen
            assert len(seen) == len(BAD), seen
            for got, (_, expected) in zip(seen, BAD, strict=True):
                assert expected in got


async def test_the_lobby_drops_what_is_not_a_relay_message_and_says_so() -> None:
    good = {
        "type": "sessions",
        "sessions": [
            {
                "id": "s-good",
                "target": "prod",
                "owner": "alice",
                "opened_at": T0,
                "reason": "INC-7",
                "participants": 1,
                "driver": None,
            }
        ],
        "targets": [],
    }
    bad_listing = {**good, "sessions": [{"id": "s-bad", "opened_at": "yesterday"}]}

    async def script(ws: ServerConnection, message: dict[str, Any]) -> None:
        if message["type"] == "list_sessions":
            await ws.send(json.dumps(bad_listing))
            await send_bad_frames(ws)
            await ws.send(json.dumps(good))

    async with hostile_relay(script) as url:
        signed_in = connector(url)
        first = await signed_in()
        app = PilotApp(signed_in, None, client=first)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, LobbyScreen), what="the lobby")
            lobby = app.screen
            assert isinstance(lobby, LobbyScreen)
            await until(
                pilot, lambda: [s["id"] for s in lobby.sessions] == ["s-good"], what="good list"
            )
            assert app.is_running
            assert app.notified("sessions.sessions[0]: target is missing", title="ignored")
            seen = lobby.ignoring.seen
            assert len(seen) == 1 + len(BAD), seen
            for got, (_, expected) in zip(seen[1:], BAD, strict=True):
                assert expected in got


async def test_a_client_drops_and_reports_what_is_not_a_relay_message() -> None:
    """The client under the TUI and the command line: ``expect`` and ``recv`` skip a bad
    frame, report it to ``on_unreadable``, and return the next good one."""

    async def script(ws: ServerConnection, message: dict[str, Any]) -> None:
        if message["type"] == "open":
            await send_bad_frames(ws)
            await ws.send(json.dumps({"type": "opened", "session": "s-new"}))
            await send_bad_frames(ws)
            await ws.send(json.dumps({"type": "notice", "text": "after", "t": T0}))

    async with hostile_relay(script) as url:
        client = RelayClient(url)
        heard: list[str] = []
        client.on_unreadable = lambda exc: heard.append(str(exc))
        await client.connect()
        await client.auth_token("t0k3n")
        assert await client.open("prod", "why") == "s-new"
        assert len(heard) == len(BAD)
        notice = await asyncio.wait_for(client.recv(), 10)
        assert isinstance(notice, dict) and notice["type"] == "notice"
        assert notice["text"] == "after"
        assert len(heard) == 2 * len(BAD)
        for got, (_, expected) in zip(heard, BAD * 2, strict=True):
            assert expected in got
        await client.close()
