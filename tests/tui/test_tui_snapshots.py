"""Snapshot tests of the main screens (pytest-textual-snapshot; synchronous by design).

The screens are fed canned relay messages instead of a live relay so that the
pictures are deterministic; the pilot tests cover the same screens live.
Each test's docstring says what its picture must show: review a changed
picture against it. Update after an intended change with
``pytest tests/tui/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from relay.core.protocol import SizeChange
from relay.trust.identity import parse_join_target
from tui.app import Connector, WarroomApp
from tui.client import RelayClient
from tui.lobby import LobbyScreen
from tui.recordings import RecordingsScreen
from tui.room import Link
from tui.session_link import SessionLink
from tui.session_screen import SessionScreen

os.environ["TZ"] = "UTC"
time.tzset()

SIZE = (130, 32)
NARROW = (80, 24)
T0 = 1_800_000_000.0
SHELL = (
    b"$ systemctl status api\r\n"
    b"\x1b[1;32m\xe2\x97\x8f\x1b[0m api.service - API server\r\n"
    b"   Active: \x1b[1;32mactive (running)\x1b[0m since Tue 09:12\r\n"
    b"   \x1b[38;5;208mwarn\x1b[0m 502 upstream \x1b[7mapi-8\x1b[0m \xe4\xb8\xad\xe6\x96\x87\r\n"
    b"$ "
)


def roster(driver: str, requests: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "type": "roster",
        "session": "incident-42",
        "target": "prod-db-1",
        "owner": "alice",
        "state": "open",
        "driver": driver,
        "participants": [
            {"id": "c1", "user": "alice", "role": "lead", "joined_at": T0, "expires_at": None},
            {"id": "c2", "user": "bob", "role": "viewer", "joined_at": T0 + 1, "expires_at": None},
        ],
        "requests": requests or [],
    }


class Unanswered(Connector):
    """A relay that never answers: the screen's link waits to connect (and says
    nothing), so the test plays the relay by posting the link's messages."""

    async def __call__(self) -> RelayClient:
        await asyncio.Event().wait()
        raise AssertionError("never answered")


class SnapApp(WarroomApp):
    def __init__(self, screen_factory: Any) -> None:
        super().__init__(Unanswered(parse_join_target("ws://127.0.0.1:9")), None)
        self.factory = screen_factory

    def first_screen(self) -> Any:
        return self.factory(self.connector)


def session_app(you: str) -> SnapApp:
    return SnapApp(lambda connector: SessionScreen(connector, "incident-42"))


def relay_says(screen: SessionScreen, message: dict[str, Any]) -> None:
    """Hand the screen a relay message the way its link does."""
    screen.post_message(SessionLink.Received(message))


async def play(pilot: Pilot[None], you: str, requests: list[dict[str, Any]] | None) -> None:
    screen = pilot.app.screen
    assert isinstance(screen, SessionScreen)
    screen.post_message(SessionLink.StateChanged(Link.LIVE, ""))
    relay_says(screen, {"type": "welcome_session", "you": you, "role": "lead"})
    if you == "c2":
        relay_says(screen, {"type": "welcome_session", "you": you, "role": "viewer"})
    relay_says(screen, roster("c1", requests))
    await pilot.pause()
    if you == "c1":  # the relay's size change: the PTY has the driver's pane size
        banner = screen.query_one("#request-banner")
        while banner.has_class("-shown") != bool(requests):
            await pilot.pause(0.05)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.1)  # the layout settles (a request banner takes a row)
        screen.post_message(SessionLink.Output(SizeChange(0, *screen.terminal.window_size())))
        await pilot.pause()
    screen.terminal.write(SHELL)
    for user, who, text in (("bob", "c2", "502s on api-8 since 09:10"), ("alice", "c1", "on it")):
        relay_says(screen, {"type": "chat", "id": who, "user": user, "text": text, "t": T0})
    await pilot.pause(0.2)
    pilot.app.clear_notifications()
    await pilot.pause(0.1)


def test_session_lead_driving(snap_compare: Any) -> None:
    """The lead drives: a heavy green frame titled DRIVING around the shell's coloured
    output (a wide character included), REC and "alice lead DRIVING" in the status
    bar, the People and Chat panels with their titles, and the key bar's words after
    "ctrl+] then" (Release control, not Request control)."""

    async def run_before(pilot: Pilot[None]) -> None:
        await play(pilot, "c1", None)

    assert snap_compare(session_app("c1"), terminal_size=SIZE, run_before=run_before)


def test_session_viewer(snap_compare: Any) -> None:
    """A viewer watches: a thin frame titled "WATCHING · alice drives · r asks for
    control", "alice drives" in the status bar, the driver marked ▶ in People, the
    chat, and the single letters (Chat, Request control, …) in the key bar."""

    async def run_before(pilot: Pilot[None]) -> None:
        await play(pilot, "c2", None)

    assert snap_compare(session_app("c2"), terminal_size=SIZE, run_before=run_before)


def test_session_connecting(snap_compare: Any) -> None:
    """Before the relay answers: the terminal's frame is yellow and titled "CONNECTING ·
    what you type is sent once joined, if you drive", the status bar ends with
    "connecting" in red, the key bar starts with "ctrl+] then" (letters typed now
    are kept for the shell), and the key typed meanwhile brought no toast (it is kept)."""

    async def run_before(pilot: Pilot[None]) -> None:
        screen = pilot.app.screen
        assert isinstance(screen, SessionScreen)
        while screen.terminal.border_title is None:
            await pilot.pause(0.05)
        await pilot.press("x")
        await pilot.pause(0.2)

    assert snap_compare(session_app("c1"), terminal_size=SIZE, run_before=run_before)


def test_session_driving_in_80_columns(snap_compare: Any) -> None:
    """An 80x24 window: the side panel folds away and the driver's frame spans the
    window (78 columns of shell); who drives is still in the status bar and the frame
    title; the key bar still fits its most useful words and ? Help."""

    async def run_before(pilot: Pilot[None]) -> None:
        await play(pilot, "c1", None)

    assert snap_compare(session_app("c1"), terminal_size=NARROW, run_before=run_before)


def test_handoff_request_at_the_lead(snap_compare: Any) -> None:
    """A request waits: the amber banner above the terminal names bob and his reason
    in full, with "ctrl+] g grant" and "ctrl+] n deny" on a second line (nothing cut),
    and bob is marked ◆ with his reason in People."""

    request = [{"id": "c2", "reason": "restart the api-8 worker", "at": T0}]

    async def run_before(pilot: Pilot[None]) -> None:
        await play(pilot, "c1", request)

    assert snap_compare(session_app("c1"), terminal_size=SIZE, run_before=run_before)


def test_request_control_dialog(snap_compare: Any) -> None:
    """The viewer pressed r and typed: a bordered dialog in the middle with who drives,
    the reason typed so far ("disk full", no stray r in front), Request and Cancel."""

    async def run_before(pilot: Pilot[None]) -> None:
        await play(pilot, "c2", None)
        await pilot.press("r")
        while pilot.app.screen.id != "request-control":  # keys typed before it opens are dropped
            await pilot.pause(0.05)
        await pilot.press(*"disk full")
        reason = pilot.app.screen.query_one(Input)
        while reason.value != "disk full":  # every key read, however loaded the machine
            await pilot.pause(0.05)

    assert snap_compare(session_app("c2"), terminal_size=SIZE, run_before=run_before)


def test_session_ended_at_the_lead(snap_compare: Any) -> None:
    """The session ended: ■ ENDED instead of ● REC and nobody shown driving in the
    status bar, a red-edged banner saying why, where the recording went and how to
    replay it (v, or the warroom replay command), the frame titled ENDED."""

    async def run_before(pilot: Pilot[None]) -> None:
        await play(pilot, "c1", None)
        screen = pilot.app.screen
        assert isinstance(screen, SessionScreen)
        relay_says(screen, {"type": "ended", "reason": "fixed: api-8 restarted", "by": "alice"})
        await pilot.pause(0.2)
        # What the relay would answer when the screen asks where the recording went.
        screen.recording_note = "recorded as incident-42-20270115T080000Z.cast (sealed)"
        screen.room_changed()
        pilot.app.clear_notifications()
        await pilot.pause(0.1)

    assert snap_compare(session_app("c1"), terminal_size=SIZE, run_before=run_before)


def test_help_overlay(snap_compare: Any) -> None:
    """? opens the keys in a bordered panel: every letter with its line, the ones that
    ask first marked *, nothing wrapped badly, no toast over it."""

    async def run_before(pilot: Pilot[None]) -> None:
        await play(pilot, "c2", None)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(session_app("c2"), terminal_size=SIZE, run_before=run_before)


class StaticLobby(LobbyScreen):
    def load(self) -> None:  # type: ignore[override]
        self.show(
            {
                "sessions": [
                    {
                        "id": "incident-42",
                        "target": "prod-db-1",
                        "owner": "alice",
                        "opened_at": time.time() - 600,
                        "reason": "502s on api-8",
                        "participants": 3,
                        "driver": "alice",
                    }
                ],
                "targets": [
                    {"name": "prod-db-1", "description": "primary database"},
                    {"name": "prod-api-8", "description": "API worker"},
                ],
            }
        )


def test_lobby(snap_compare: Any) -> None:
    """The lobby for a lead: the open session with owner, driver and why; the targets a
    lead may open a session on, with the reason field; Recordings in the footer."""

    def factory(connector: Connector) -> LobbyScreen:
        connector.identity = {"user": "alice", "role": "lead"}
        return StaticLobby(connector)

    assert snap_compare(SnapApp(factory), terminal_size=SIZE)


RECORDINGS = [
    {
        "name": "incident-42-20270115T080000Z.cast",
        "session": "incident-42",
        "target": "prod-db-1",
        "owner": "alice",
        "started_at": T0,
        "size": 48_213,
        "duration": 754.2,
        "drivers": ["alice", "bob"],
        "participants": ["alice", "bob", "guest:maya"],
        "verification": "verified",
        "match_at": 312.5,
        "match": "502 upstream api-8",
    },
    {
        "name": "incident-41-20270114T220000Z.cast",
        "session": "incident-41",
        "target": "prod-api-8",
        "owner": "carol",
        "started_at": T0 - 36_000,
        "size": 9_102,
        "duration": 95.0,
        "drivers": ["carol"],
        "participants": ["carol"],
        "verification": "interrupted",
        "match_at": 12.0,
        "match": "curl: (52) 502 upstream",
    },
]


class StaticRecordings(RecordingsScreen):
    def action_refresh(self) -> None:
        self.show(RECORDINGS, searched=True)


def test_recordings_browser(snap_compare: Any) -> None:
    """The recordings browser: a titled panel with filter fields (user, target, day,
    text), one row per recording with session, target, owner, start, length, who drove,
    the verification state (✓ verified in green, ! interrupted in yellow) and where the
    searched text matched; Replay, Search text and Filter in the footer."""

    def factory(connector: Connector) -> RecordingsScreen:
        connector.identity = {"user": "rita", "role": "reviewer"}
        return StaticRecordings(connector)

    assert snap_compare(SnapApp(factory), terminal_size=SIZE)


def test_every_snapshot_says_what_it_must_show() -> None:
    """A changed picture is reviewed against its test's docstring: each must have one
    that names what the picture shows (not just what the test does)."""
    pictures = [
        test
        for name, test in globals().items()
        if name.startswith("test_") and "snap_compare" in inspect.signature(test).parameters
    ]
    assert len(pictures) >= 9
    for test in pictures:
        words = (test.__doc__ or "").split()
        assert len(words) >= 15, f"{test.__name__}: say what the picture must show"
