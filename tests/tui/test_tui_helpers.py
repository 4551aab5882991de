"""Helpers for the TUI's pilot tests: apps joined to the harness relay, and waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual import events
from textual.notifications import Notification, SeverityLevel
from textual.pilot import Pilot
from textual.widget import Widget

from relay.core.roles import Role
from relay.trust.identity import parse_join_target
from tests.harness import USERS, Harness
from tui.app import WarroomApp
from tui.login import Connector
from tui.session_screen import SessionScreen
from tui.terminal_view import TerminalView


class PilotApp(WarroomApp):
    """The TUI under the pilot, keeping what every notification it showed said.

    ``run_test()`` draws no toasts, and what an app keeps of its notifications is
    private; every ``notify`` (a screen's or a widget's ends here) is noted in
    :attr:`toasts` first, then shown as usual.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.toasts: list[Notification] = []

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        shown_for = self.NOTIFICATION_TIMEOUT if timeout is None else timeout
        self.toasts.append(Notification(message, title, severity, shown_for, markup))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def notified(self, text: str = "", *, title: str = "") -> bool:
        """Whether a notification said ``text`` (in its message) under ``title``."""
        return any(text in n.message and title in n.title for n in self.toasts)


def app_for(harness: Harness, session: str, role: Role, name: str) -> PilotApp:
    """A TUI for harness user ``name``, logged in with their SSH key in their own role.

    Anyone else (or a user in another role) joins with an invite: ``guest_app``.
    """
    if USERS.get(name) is not role:
        raise ValueError(f"{name} is not a {role} in the harness: use guest_app")
    return user_app(harness, session, name)


async def guest_app(harness: Harness, session: str, role: Role, name: str) -> PilotApp:
    """A TUI for a guest, as ``warroom join <invite>`` would open it."""
    url = await harness.relay.invite(role, session, 600, name)
    return PilotApp(Connector(parse_join_target(url)), session)


def user_app(harness: Harness, session: str | None, user: str) -> PilotApp:
    """A TUI logged in with the user's SSH key, as ``warroom join URL --user --key`` would be.

    Guests (invites) are never config users, so grants and requests need this.
    """
    key_path = harness.data_dir.parent / f"id_{user}"
    if not key_path.exists():
        harness.user_keys[user].write_private_key(str(key_path))
    return PilotApp(Connector(parse_join_target(harness.url), user=user, key=key_path), session)


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


async def scroll_wheel(
    pilot: Pilot[None], widget: Widget, *, up: bool, offset: tuple[int, int] = (0, 0)
) -> None:
    """Turn the mouse wheel one notch over ``widget`` (the pilot clicks, but has no wheel).

    The event goes to the app as the terminal's driver would send it, in screen
    coordinates, and the app routes it to what is under the mouse.
    """
    x, y = widget.region.x + offset[0], widget.region.y + offset[1]
    kind = events.MouseScrollUp if up else events.MouseScrollDown
    delta = -1 if up else 1
    event = kind(None, x, y, 0, delta, 0, False, False, False, screen_x=x, screen_y=y)
    pilot.app.post_message(event)
    await pilot.pause()
