"""What others wrote shows as written: never read as markup, never reaching the terminal.

Two sources of hostile text, each against the real TUI under Textual's pilot:

* the project's relay, with a viewer whose chat, control request and access
  request carry Rich/Textual markup (the relay lets brackets through: they
  are text; it drops control characters);
* a relay that cleans nothing (an older or a hostile one, a real websocket
  server speaking the protocol), whose names and reasons carry markup, ESC,
  BEL, C1 controls and a bidi override as well.

The check is on what the window draws — every cell of the screen, as Textual's
compositor renders it for the terminal (read from its screenshot) — and on
the app staying up: one ``[/]`` read as markup ends a Textual app with a
``MarkupError``.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rich.cells import cell_len
from websockets.asyncio.server import ServerConnection, serve

from relay.trust.identity import parse_join_target
from tests.harness import Harness
from tests.tui.test_tui_helpers import screen_of, until, user_app
from tui.access_screens import DecideAccessScreen
from tui.app import Connector, WarroomApp
from tui.handoff import DenyScreen
from tui.shown import message, plain

SIZE = (160, 50)
MARKUP = ["[b]bold?[/b]", "[/]", "[link=https://evil.example]click[/link]", "[$accent]x"]
CONTROLS = ["\x1b", "\x07", "\x9b", "\x9d", "\x85", "\u202e", "\x00"]


# One run of text in Textual's SVG screenshot: its column (x) and its row (line-N).
SVG_TEXT = re.compile(
    r'<text class="[^"]*" x="([0-9.]+)" y="[0-9.]+" textLength="[0-9.]+" '
    r'clip-path="url\(#[^)]*-line-(\d+)\)">(.*?)</text>',
    re.S,
)
CELL_WIDTH = 20 * 0.61  # Rich's SVG: 20 px lines, characters 0.61 as wide as high


def drawn(app: WarroomApp) -> str:
    """Every cell of the screen as the terminal would get it (styles left out).

    Read from ``export_screenshot()``, which renders the screen the way Textual's
    compositor sends it to the terminal; cells only a background paints are
    spaces.
    """
    rows: dict[int, list[tuple[int, str]]] = {}
    for x, row, text in SVG_TEXT.findall(app.export_screenshot()):
        text = html.unescape(text).replace("\xa0", " ").replace("\n", "")  # spaces are nbsp
        rows.setdefault(int(row), []).append((round(float(x) / CELL_WIDTH), text))
    lines = []
    for row in range(app.size.height):
        line, at = "", 0
        for column, text in sorted(rows.get(row, [])):
            line += " " * (column - at) + text
            at = column + cell_len(text)
        lines.append(line)
    return "\n".join(lines)


async def connected(app: WarroomApp) -> WarroomApp:
    """The app as ``warroom join`` starts it: signed in before the window opens."""
    app.first_client = await app.connector()
    return app


def shows_all(app: WarroomApp, *texts: str) -> bool:
    screen = drawn(app)
    return all(text in screen for text in texts)


def no_controls(app: WarroomApp) -> None:
    screen = drawn(app)
    for char in CONTROLS:
        assert char not in screen, f"{char!r} reached the terminal"
    assert app.is_running and app.return_code is None


# ---------------------------------------------------------------- through the project's relay


async def test_markup_a_viewer_writes_shows_as_written_at_the_lead(harness: Harness) -> None:
    session = await harness.open()
    lead = await connected(user_app(harness, session, "alice"))
    async with lead.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: screen_of(lead).room.you is not None, what="alice in")
        bob = await harness.joined("bob", session)
        await bob.send({"type": "chat", "text": f"chat {MARKUP[0]} {MARKUP[1]}"})
        await until(pilot, lambda: shows_all(lead, f"chat {MARKUP[0]} {MARKUP[1]}"), what="chat")
        await bob.send({"type": "request_control", "reason": f"ctl {MARKUP[1]} {MARKUP[2]}"})
        await until(pilot, lambda: shows_all(lead, f"ctl {MARKUP[1]} {MARKUP[2]}"), what="request")
        reason = f"acc {MARKUP[3]} {MARKUP[1]} back\\"
        await bob.send(
            {"type": "access_request", "role": "driver", "reason": reason, "session": session}
        )
        await until(pilot, lambda: bool(screen_of(lead).room.access.to_decide()), what="ask")
        await pilot.press("ctrl+right_square_bracket", "p")  # the answer dialog quotes it
        await until(pilot, lambda: isinstance(lead.screen, DecideAccessScreen), what="dialog")
        await until(pilot, lambda: shows_all(lead, f"“{reason}”", "bob asks for"), what="quote")
        no_controls(lead)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(lead.screen, DecideAccessScreen), what="closed")
        await pilot.press("ctrl+right_square_bracket", "n")  # denying quotes the request
        await until(pilot, lambda: isinstance(lead.screen, DenyScreen), what="the deny dialog")
        await until(pilot, lambda: shows_all(lead, f"asked: ctl {MARKUP[1]}"), what="its note")
        no_controls(lead)


async def test_an_end_reason_in_markup_shows_as_written_to_everyone(harness: Harness) -> None:
    session = await harness.open()
    viewer = await connected(user_app(harness, session, "bob"))
    async with viewer.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: screen_of(viewer).room.you is not None, what="bob in")
        lead = await harness.joined("alice", session)
        reason = f"done {MARKUP[1]} {MARKUP[2]}"
        await lead.send({"type": "end", "reason": reason})
        await until(pilot, lambda: shows_all(viewer, f"Session over: {reason}."), what="banner")
        no_controls(viewer)


async def test_a_reason_in_markup_shows_as_written_in_the_lobby(harness: Harness) -> None:
    reason = f"INC-7 {MARKUP[1]} {MARKUP[0]}"
    lead = await harness.login("alice")
    await lead.open("sandbox", reason)
    app = user_app(harness, None, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: shows_all(app, reason), what="the session's reason")
        no_controls(app)


# ---------------------------------------------------------------- a relay that cleans nothing

NAME = "eve[b]\x1b]0;owned\x07\x1b[31m\x9b2J[/]"
REASON = "[link=https://evil.example]click[/link] [/]\x1b[2J\x9d8;;x\x9c \u202egnp.exe [$accent]x\\"


def _hostile_messages(session: str, you: str) -> list[dict[str, Any]]:
    now = time.time()
    member = {
        "role": "viewer",
        "joined_at": now,
        "expires_at": None,
        "invited_by": NAME,
        "away": False,
    }
    request = {"id": "r1", "user": NAME, "role": "driver", "session": session, "reason": REASON}
    return [
        {"type": "welcome_session", "you": you, "role": "lead", "recording": True},
        {
            "type": "roster",
            "session": session,
            "target": f"prod{NAME}",
            "owner": NAME,
            "state": "open",
            "recording": True,
            "paused": f"too few watch {REASON}",
            "four_eyes": 1,
            "control_expires_at": None,
            "pty": {"cols": 80, "rows": 24},
            "driver": "c2",
            "participants": [
                {**member, "id": you, "user": "alice", "role": "lead", "invited_by": None},
                {**member, "id": "c2", "user": NAME},
            ],
            "requests": [{"id": "c2", "reason": REASON, "at": now}],
        },
        {"type": "control_request", "id": "c2", "user": NAME, "reason": REASON},
        {"type": "chat", "id": "c2", "user": NAME, "text": REASON, "t": now},
        {"type": "access_request", "request": {**request, "at": now}},
        {"type": "error", "code": "forbidden", "message": f"refused {REASON}"},
    ]


@asynccontextmanager
async def relay_that_cleans_nothing() -> AsyncIterator[str]:
    """A websocket server that speaks the protocol and sends others' text unclean.

    Its messages are well formed (the TUI drops a frame that is not a relay message:
    tests/tui/test_tui_hostile_relay.py); only the text in them is hostile."""

    async def handle(ws: ServerConnection) -> None:
        nonce = base64.b64encode(b"n" * 32).decode()
        async for frame in ws:
            message = json.loads(frame) if isinstance(frame, str) else {}
            kind = message.get("type")
            answers: list[dict[str, Any]] = []
            if kind == "hello":
                limits = {"max_frame": 1 << 20, "max_input": 4096, "chat_length": 500}
                limits |= {"chat_rate": 10, "chat_window": 10.0, "clients_per_session": 50}
                hello = {"version": 1, "relay": "evil", "nonce": nonce, "limits": limits}
                answers = [{"type": "hello", **hello}]
            elif kind == "auth":
                who = {"user": "alice", "role": "lead", "session": None, "token": "wr1.a.b"}
                answers = [{"type": "authenticated", **who, "expires_at": time.time() + 600}]
            elif kind == "join":
                answers = _hostile_messages(str(message["session"]), "c1")
            elif kind == "list_sessions":
                session = {"id": "s1", "target": NAME, "owner": NAME, "opened_at": time.time()}
                answers = [
                    {
                        "type": "sessions",
                        "sessions": [
                            {**session, "reason": REASON, "participants": 2, "driver": None}
                        ],
                        "targets": [{"name": NAME, "description": REASON}],
                    }
                ]
            elif kind == "list_recordings":
                entry = {"name": "s1.cast", "session": NAME, "target": NAME, "owner": NAME}
                found = {"drivers": [NAME], "match": REASON, "match_at": 1.0, "started_at": 0}
                answers = [{"type": "recordings", "recordings": [{**entry, **found}]}]
            elif kind == "access_list":
                ask = {"id": "r1", "user": NAME, "role": "driver", "session": "s1", "at": 1.0}
                answers = [
                    {"type": "access", "grants": [], "requests": [{**ask, "reason": REASON}]},
                    {"type": "error", "code": "access", "message": f"no {NAME}"},
                ]
            for answer in answers:
                await ws.send(json.dumps(answer, ensure_ascii=False))

    async with serve(handle, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/invite/wr1.aaaa.bbbb"


async def test_names_and_reasons_from_a_relay_that_cleans_nothing_stay_text() -> None:
    async with relay_that_cleans_nothing() as url:
        app = await connected(WarroomApp(Connector(parse_join_target(url)), "s1"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: shows_all(app, "click[/link]", "eve[b]"), what="names")
            await until(pilot, lambda: screen_of(app).room.access.to_decide() != [], what="ask")
            await pilot.press("p")
            await until(pilot, lambda: isinstance(app.screen, DecideAccessScreen), what="dialog")
            await until(pilot, lambda: shows_all(app, "[link=https://evil.example]"), what="ask")
            await asyncio.sleep(0)
            no_controls(app)


async def test_the_recordings_of_a_relay_that_cleans_nothing_stay_text() -> None:
    async with relay_that_cleans_nothing() as url:
        target = parse_join_target(url)
        app = await connected(WarroomApp(Connector(target), None, browse=True))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: shows_all(app, "eve[b]", "[link="), what="the listing")
            no_controls(app)


async def test_the_lobby_of_a_relay_that_cleans_nothing_stays_text() -> None:
    async with relay_that_cleans_nothing() as url:
        target = parse_join_target(url)
        app = WarroomApp(Connector(target), None)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: shows_all(app, "eve[b]", "[link="), what="the listing")
            no_controls(app)


# ---------------------------------------------------------------- the rule itself


def test_plain_drops_controls_and_keeps_everything_else() -> None:
    assert plain("  bob [b]x[/b] \\") == "  bob [b]x[/b] \\"  # markup is text; layout kept
    assert plain("a\x1b]0;t\x07b\x9bc\u202ed\x00e") == "a]0;tbcde"
    assert plain("one\ntwo\tthree") == "one two three"
    assert plain("one\ntwo", lines=True) == "one\ntwo"
    assert plain("lone \ud800 surrogate") == "lone  surrogate"  # could not be written at all
    assert plain(42) == "42"


def test_every_string_of_a_relay_message_is_plain() -> None:
    sent = {"type": "roster", "n": 1, "ok": True, "list": [{"user\x1b": "eve\x9b"}, None]}
    assert message(sent) == {"type": "roster", "n": 1, "ok": True, "list": [{"user": "eve"}, None]}
