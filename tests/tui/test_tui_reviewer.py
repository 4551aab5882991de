"""The reviewer's path and the end of a session, in the real TUI against a real relay.

A reviewer's invite opens the recordings browser (never the live session with
a useless "request control"); the browser lists what the relay says, filters
and searches on the relay, and opens the replay screen; ``warroom replay``
takes a reviewer's invite without a session. When a lead ends a session, every
window stops showing it as live, and the lead is told where the recording went.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from relay.core.roles import Role
from relay.trust.identity import parse_join_target
from tests.harness import Harness, read_until, running_relay
from tests.tui.test_tui_helpers import app_for, screen_of, type_text, until, user_app
from tui.app import Connector, WarroomApp
from tui.cli import main
from tui.lobby import LobbyScreen
from tui.recordings import RecordingsScreen, around, parse_day
from tui.replay_screen import ReplayScreen
from tui.session_screen import SessionScreen
from tui.status import render_status

SIZE = (130, 36)


async def recorded(h: Harness, text: bytes, needle: bytes) -> str:
    session = await h.open()
    live = h.relay.sessions[session]
    alice = await h.joined("alice", session)
    await alice.send_input(text)
    await read_until(alice, needle)
    await alice.send({"type": "end", "reason": "fixed"})
    await live.wait_closed()
    return session


async def invited(h: Harness, role: Role, session: str) -> WarroomApp:
    """``warroom join <invite>``: authenticate first, then open the window."""
    connector = Connector(parse_join_target(await h.relay.invite(role, session, 600, "rev")))
    client = await connector()
    return WarroomApp(connector, session, client=client)


def browser(app: WarroomApp) -> RecordingsScreen:
    for screen in reversed(app.screen_stack):
        if isinstance(screen, RecordingsScreen):
            return screen
    raise AssertionError(f"no recordings browser in {app.screen_stack}")


def test_a_match_is_shown_from_just_before_the_searched_text() -> None:
    line = "x" * 70 + " curl: (52) 502 upstream"
    assert around(line, "502 UPSTREAM") == "…curl: (52) 502 upstream"
    assert around("curl: 502", "502") == "curl: 502"  # near the start: as it is
    assert around(line, "") == line and around(line, "absent") == line


def test_day_filters_read_as_people_write_them() -> None:
    noon = 1_800_000_000.0
    today = parse_day("today", noon)
    assert today is not None and today.since <= noon < today.until
    assert today.until - today.since in (23 * 3600, 24 * 3600, 25 * 3600)
    yesterday = parse_day("yesterday", noon)
    assert yesterday is not None and yesterday.until == today.since
    week = parse_day("7d", noon)
    assert week is not None and week.since < today.since and week.until > noon
    day = parse_day("2027-01-15", noon)
    assert day is not None and day.until - day.since >= 23 * 3600
    assert parse_day("  ", noon) is None
    with pytest.raises(ValueError, match="2026-01-31"):
        parse_day("last tuesday", noon)


async def test_a_reviewer_invite_opens_the_recordings_and_replays(tmp_path: Path) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        # A long line: the relay sends all of it, the column shows where it matched.
        first = await recorded(h, b"echo " + b"x" * 70 + b" FIRST-$((6*7))\r", b"FIRST-42")
        live = await h.open()  # a live session the reviewer must not be dropped into
        app = await invited(h, Role.REVIEWER, first)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, RecordingsScreen), what="browser")
            assert not any(isinstance(s, SessionScreen) for s in app.screen_stack)
            screen = browser(app)
            await until(pilot, lambda: screen.loaded >= 1, what="the listing")
            assert [e["session"] for e in screen.recordings] == [first]  # its session only
            table = screen.query_one(DataTable)
            row = [str(cell) for cell in table.get_row_at(0)]
            assert row[0] == first and row[1] == "sandbox" and row[2] == "alice"
            assert row[5] == "alice" and "verified" in row[6]

            # Search the text on the relay; the match says where.
            await pilot.press("slash")
            await type_text(pilot, "first-42")
            await pilot.press("enter")
            await until(pilot, lambda: screen.loaded >= 2, what="the search")
            _, match = str(table.get_row_at(0)[7]).split(" ", 1)
            assert match.startswith("…") and "FIRST-42" in match[:24], match
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, ReplayScreen), what="the replay")
            replay = app.screen
            assert isinstance(replay, ReplayScreen)
            assert "FIRST-42" in replay.player.screen_text()
            assert replay.last_search == "first-42"
            await pilot.press("q")
            await until(pilot, lambda: app.screen is screen, what="back to the browser")
            await pilot.press("escape")
            await until(pilot, lambda: not app.is_running, what="the app to close")
        assert live in h.relay.sessions and not h.relay.sessions[live].core.participants


async def test_filters_narrow_the_list_and_say_so(tmp_path: Path) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        first = await recorded(h, b"echo FIRST-$((6*7))\r", b"FIRST-42")
        second = await recorded(h, b"echo SECOND-$((5*5))\r", b"SECOND-25")
        app = user_app(h, None, "rita")
        app.browse = True
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, RecordingsScreen), what="browser")
            screen = browser(app)
            await until(pilot, lambda: screen.loaded >= 1, what="the listing")
            assert [e["session"] for e in screen.recordings] == [second, first]
            await pilot.press("f")
            await type_text(pilot, "nobody")
            await pilot.press("enter")
            await until(pilot, lambda: screen.loaded >= 2, what="the filtered listing")
            assert screen.recordings == []
            assert "no recordings" in screen.status or "0 recordings" in screen.status
            screen.query_one("#filter-user", Input).value = ""
            screen.query_one("#filter-day", Input).value = "someday"
            screen.action_refresh()
            await pilot.pause(0.2)
            assert "not a day" in screen.status


async def test_a_lead_opens_the_recordings_from_the_lobby(harness: Harness) -> None:
    app = user_app(harness, None, "alice")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LobbyScreen), what="lobby")
        await until(pilot, lambda: app.connector.identity.get("role") == "lead", what="signed in")
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, RecordingsScreen), what="browser")
        await until(pilot, lambda: browser(app).loaded >= 1, what="the listing")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, LobbyScreen), what="back in the lobby")
        assert app.is_running


async def test_warroom_replay_takes_a_reviewer_invite_without_a_session(tmp_path: Path) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        session = await recorded(h, b"echo INVITED-$((6*7))\r", b"INVITED-42")
        url = await h.relay.invite(Role.REVIEWER, session, 600, "auditor")
        argv = ["replay", url, "--dump", "--at", "1000", "--save-to", str(tmp_path / "got")]
        out = tmp_path / "out.txt"

        def run() -> int:
            import contextlib

            with out.open("w") as handle, contextlib.redirect_stdout(handle):
                return main(argv)

        assert await asyncio.to_thread(run) == 0
        assert "INVITED-42" in out.read_text()
        assert list((tmp_path / "got").glob(f"{session}-*.cast"))


async def test_the_end_stops_rec_and_says_where_the_recording_went(tmp_path: Path) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        session = await h.open()
        lead = user_app(h, session, "alice")
        viewer = app_for(h, session, Role.VIEWER, "bob")
        async with lead.run_test(size=SIZE) as lp, viewer.run_test(size=SIZE) as vp:
            lscreen, vscreen = screen_of(lead), screen_of(viewer)
            await until(lp, lambda: lscreen.room.driving, what="alice to drive")
            await until(vp, lambda: vscreen.room.driver_name == "alice", what="bob sees alice")
            assert "REC" in render_status(vscreen.room, 0).plain

            await lp.press("ctrl+right_square_bracket", "e")
            await until(lp, lambda: lead.screen.id == "end-session", what="end asks why")
            await type_text(lp, "fixed the queue")
            await lp.press("enter")
            for app, screen in ((lead, lscreen), (viewer, vscreen)):
                await until(lp, lambda s=screen: s.room.ended, what="the end")  # type: ignore[misc]
                status = render_status(screen.room, 0).plain
                assert "ENDED" in status and "REC" not in status, status
                assert "drives" not in status and "DRIVING" not in status
                assert str(screen.terminal.border_title).startswith("ENDED")
                assert app.is_running
            await until(lp, lambda: "Recorded as" in lscreen.ended_text(), what="where it went")
            (path,) = (h.data_dir / "recordings").glob(f"{session}-*.cast")
            told = lscreen.ended_text()
            assert path.name in told and f"warroom replay {h.url} {session}" in told
            assert "replay" not in vscreen.ended_text().lower()  # viewers cannot read it

            await lp.press("v")
            await until(lp, lambda: isinstance(lead.screen, RecordingsScreen), what="browser")
            await until(lp, lambda: browser(lead).loaded >= 1, what="the listing")
            assert [e["session"] for e in browser(lead).recordings] == [session]
