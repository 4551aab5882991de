"""Pilot test of the lobby against the real relay: list, join, and open with a reason."""

from __future__ import annotations

from pathlib import Path

from relay.trust.identity import parse_join_target
from tests.harness import Harness
from tests.tui.test_tui_helpers import screen_of, until
from tui.app import WarroomApp
from tui.lobby import LobbyScreen
from tui.login import Connector


async def test_lobby_lists_joins_and_opens(harness: Harness, tmp_path: Path) -> None:
    key = tmp_path / "alice_key"
    harness.user_keys["alice"].write_private_key(str(key))
    session = await harness.open()
    connector = Connector(parse_join_target(harness.url), user="alice", key=key)
    client = await connector()
    app = WarroomApp(connector, None, client=client)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LobbyScreen) and app.screen.sessions)
        lobby = app.screen
        assert isinstance(lobby, LobbyScreen)
        assert [s["id"] for s in lobby.sessions] == [session]
        assert [t["name"] for t in lobby.targets] == ["sandbox"]

        # Open a new session on the target, with a reason.
        await pilot.press("o", "enter")
        await pilot.press(*"disk alert", "enter")
        await until(pilot, lambda: not isinstance(app.screen, LobbyScreen), what="new session")
        opened = screen_of(app)
        await until(pilot, lambda: opened.room.driving, what="alice to drive the new session")
        assert opened.room.session != session
        assert len(harness.relay.sessions) == 2
