"""Snapshot tests of the main screens (pytest-textual-snapshot; synchronous by design).

The screens are fed canned relay messages instead of a live relay so that the
pictures are deterministic; the pilot tests cover the same screens live.
Update after an intended change with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from textual.pilot import Pilot

from relay.identity import parse_join_target
from relay.protocol import SizeChange
from tui.app import Connector, WarroomApp
from tui.lobby import LobbyScreen
from tui.room import Link
from tui.session_screen import SessionScreen

os.environ["TZ"] = "UTC"
time.tzset()

SIZE = (110, 30)
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


class StaticSession(SessionScreen):
    """The session screen without a connection: the test plays the relay."""

    def _start_link(self) -> None:
        pass


class SnapApp(WarroomApp):
    def __init__(self, screen_factory: Any) -> None:
        super().__init__(Connector(parse_join_target("ws://127.0.0.1:9")), None)
        self.factory = screen_factory

    def first_screen(self) -> Any:
        return self.factory(self.connector)


def session_app(you: str) -> SnapApp:
    return SnapApp(lambda connector: StaticSession(connector, "incident-42"))


async def play(pilot: Pilot[None], you: str, requests: list[dict[str, Any]] | None) -> None:
    screen = pilot.app.screen
    assert isinstance(screen, StaticSession)
    screen._link_state(Link.LIVE, "")
    screen.handle_message({"type": "welcome_session", "you": you, "role": "lead"})
    if you == "c2":
        screen.handle_message({"type": "welcome_session", "you": you, "role": "viewer"})
    screen.handle_message(roster("c1", requests))
    if you == "c1":  # the relay's size change: the PTY has the driver's pane size
        banner = screen.query_one("#request-banner")
        while banner.has_class("-shown") != bool(requests):
            await pilot.pause(0.05)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.1)  # the layout settles (a request banner takes a row)
        screen._output(SizeChange(0, *screen.terminal.window_size()))
    screen.terminal.write(SHELL)
    for user, who, text in (("bob", "c2", "502s on api-8 since 09:10"), ("alice", "c1", "on it")):
        screen.handle_message({"type": "chat", "id": who, "user": user, "text": text, "t": T0})
    await pilot.pause(0.2)
    pilot.app.clear_notifications()
    await pilot.pause(0.1)


def test_session_lead_driving(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await play(pilot, "c1", None)

    assert snap_compare(session_app("c1"), terminal_size=SIZE, run_before=run_before)


def test_session_viewer(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await play(pilot, "c2", None)

    assert snap_compare(session_app("c2"), terminal_size=SIZE, run_before=run_before)


def test_handoff_request_at_the_lead(snap_compare: Any) -> None:
    request = [{"id": "c2", "reason": "restart the api-8 worker", "at": T0}]

    async def run_before(pilot: Pilot[None]) -> None:
        await play(pilot, "c1", request)

    assert snap_compare(session_app("c1"), terminal_size=SIZE, run_before=run_before)


def test_request_control_dialog(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await play(pilot, "c2", None)
        await pilot.press("r")
        await pilot.press(*"disk full")
        await pilot.pause(0.1)

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
    def factory(connector: Connector) -> LobbyScreen:
        connector.identity = {"user": "alice", "role": "lead"}
        return StaticLobby(connector)

    assert snap_compare(SnapApp(factory), terminal_size=SIZE)
