"""Helpers for the TUI's pilot tests: apps joined to the harness relay, and waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.pilot import Pilot

from relay.identity import parse_join_target
from relay.roles import Role
from tests.harness import USERS, Harness
from tui.app import WarroomApp
from tui.login import Connector
from tui.session_screen import SessionScreen
from tui.terminal_view import TerminalView


def app_for(harness: Harness, session: str, role: Role, name: str) -> WarroomApp:
    """A TUI for harness user ``name``, logged in with their SSH key in their own role.

    Anyone else (or a user in another role) joins with an invite: ``guest_app``.
    """
    if USERS.get(name) is not role:
        raise ValueError(f"{name} is not a {role} in the harness: use guest_app")
    return user_app(harness, session, name)


async def guest_app(harness: Harness, session: str, role: Role, name: str) -> WarroomApp:
    """A TUI for a guest, as ``warroom join <invite>`` would open it."""
    url = await harness.relay.invite(role, session, 600, name)
    return WarroomApp(Connector(parse_join_target(url)), session)


def user_app(harness: Harness, session: str | None, user: str) -> WarroomApp:
    """A TUI logged in with the user's SSH key, as ``warroom join URL --user --key`` would be.

    Guests (invites) are never config users, so grants and requests need this.
    """
    key_path = harness.data_dir.parent / f"id_{user}"
    if not key_path.exists():
        harness.user_keys[user].write_private_key(str(key_path))
    return WarroomApp(Connector(parse_join_target(harness.url), user=user, key=key_path), session)


async def until(
    pilot: Pilot[None], condition: Callable[[], object], timeout: float = 10.0, what: str = ""
) -> None:
    """Let the app run until ``condition()`` holds (or fail saying what was awaited)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.05)


def screen_of(app: WarroomApp) -> SessionScreen:
    screen = app.screen
    if not isinstance(screen, SessionScreen):
        for candidate in app.screen_stack:
            if isinstance(candidate, SessionScreen):
                return candidate
        raise AssertionError(f"not on a session screen: {screen!r}")
    return screen


def terminal_text(app: WarroomApp) -> str:
    view = screen_of(app).query_one(TerminalView)
    view.flush()
    return "\n".join(view.screen_text())


async def type_text(pilot: Pilot[None], text: str) -> None:
    keys = ["space" if ch == " " else ch for ch in text]
    await pilot.press(*keys)
