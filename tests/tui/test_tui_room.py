"""The session screen's room is a reactive: the panes follow it, nobody copies it in.

The relay's messages reach the screen as the link posts them; the status bar,
the people pane, both banners and the key bar hold the screen's own room
(``data_bind``) and redraw when it changes, without the screen telling each
of them.
"""

from __future__ import annotations

from typing import Any

from tests.tui.test_tui_helpers import until
from tests.tui.test_tui_snapshots import T0, session_app
from tui.handoff import RequestBanner
from tui.keybar import KeyBar
from tui.participants import ParticipantsPane
from tui.paused import PausedBanner
from tui.room import Link
from tui.session_link import SessionLink
from tui.session_screen import SessionScreen
from tui.status import StatusBar

PANES = (StatusBar, ParticipantsPane, PausedBanner, RequestBanner, KeyBar)


def roster(paused: str | None, requests: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "roster",
        "session": "incident-42",
        "target": "prod-db-1",
        "owner": "alice",
        "state": "open",
        "driver": "c1",
        "paused": paused,
        "participants": [
            {"id": "c1", "user": "alice", "role": "lead", "joined_at": T0, "expires_at": None},
            {"id": "c2", "user": "bob", "role": "viewer", "joined_at": T0 + 1},
            {"id": "c3", "user": "dan", "role": "viewer", "joined_at": T0 + 2},
        ],
        "requests": requests,
    }


async def test_the_panes_follow_the_room() -> None:
    app = session_app("c1")
    async with app.run_test(size=(130, 32)) as pilot:
        screen = app.screen
        assert isinstance(screen, SessionScreen)
        for pane in PANES:
            assert screen.query_one(pane).room is screen.room

        def says(message: dict[str, Any]) -> None:
            screen.post_message(SessionLink.Received(message))

        screen.post_message(SessionLink.StateChanged(Link.LIVE, ""))
        says({"type": "welcome_session", "you": "c1", "role": "lead"})
        waiting = [{"id": "c2", "reason": "restart api-8", "at": T0}]
        says(roster("two more people must watch", waiting))
        paused, banner = screen.query_one(PausedBanner), screen.query_one(RequestBanner)
        people, status = screen.query_one(ParticipantsPane), screen.query_one(StatusBar)
        await until(pilot, lambda: paused.has_class("-shown"), what="the paused banner")
        assert "two more people must watch" in str(paused.render())
        assert "‖ PAUSED" in str(status.render()) and "alice lead DRIVING" in str(status.render())
        assert people.border_title == "People (3)"
        assert "bob asks for control: restart api-8" in str(banner.render())
        keys = str(screen.query_one(KeyBar).render())
        assert keys.lstrip().startswith("ctrl+]") and "Release control" in keys

        says(roster(None, []))  # the relay lifts the pause; the request was answered
        await until(pilot, lambda: not paused.has_class("-shown"), what="the banner gone")
        assert not banner.has_class("-shown")
        assert "PAUSED" not in str(status.render())

        says({"type": "ended", "reason": "fixed", "by": "alice"})
        await until(pilot, lambda: "ENDED" in str(status.render()), what="the end shown")
        assert screen.query_one(ParticipantsPane).room.ended
