"""Keys typed while the link rejoins are refused in plain sight, and never sent late.

Once the window has been in the session, the link never keeps keys to send
them late (a blind keystroke must not reach a production shell seconds after
it made sense: tests/tui/test_link_health.py), so the window must say so: the
terminal's frame says RECONNECTING and that keys are not sent, typing then
says they were dropped, and once the link is live again the window says that
what was typed before was not sent. (Before the *first* join, keys are kept
and sent if the window drives: tests/tui/test_tui_typeahead.py.)

Real parts: the harness relay over real websockets and the TUI under the pilot.
The connection is held back at the connector (the relay is up, the window waits
for it), as a relay still starting (``warroom demo``) or a network that is down
holds it back.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from relay.trust.identity import parse_join_target
from tests.harness import Harness
from tests.tui.test_tui_helpers import PilotApp, screen_of, terminal_text, type_text, until
from tui.client import RelayClient
from tui.login import Connector
from tui.room import Link

SIZE = (120, 36)


class Held(Connector):
    """The TUI's own connector, which waits until ``open`` is set before each connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open = asyncio.Event()

    async def __call__(self) -> RelayClient:
        await self.open.wait()
        return await super().__call__()


def held_app(harness: Harness, session: str, user: str) -> tuple[PilotApp, Held]:
    key_path = harness.data_dir.parent / f"id_{user}"
    if not key_path.exists():
        harness.user_keys[user].write_private_key(str(key_path))
    connector = Held(parse_join_target(harness.url), user=user, key=key_path)
    return PilotApp(connector, session), connector


def frame(app: PilotApp) -> str:
    return str(screen_of(app).terminal.border_title)


def hints(app: PilotApp) -> list[str]:
    return [t.message for t in app.toasts if t.title == "Not connected"]


async def test_a_driver_typing_while_the_link_rejoins_is_told_and_nothing_is_sent_late(
    harness: Harness, tmp_path: Path
) -> None:
    session = await harness.open()
    app, connector = held_app(harness, session, "alice")
    connector.open.set()
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.room.driving, what="alice to drive", timeout=30)
        connector.open.clear()  # the next connection waits: the network is down
        await screen.link.drop_connection()
        await until(pilot, lambda: screen.room.link is Link.RECONNECTING, what="the rejoin")
        assert frame(app) == "RECONNECTING · keys are not sent, nor kept to be sent later"
        assert screen.terminal.has_class("-offline")

        await type_text(pilot, "echo lost-$((6*7))")  # still the driver: keys go to the link
        await pilot.press("enter")
        await until(pilot, lambda: bool(hints(app)), what="the refusal")
        assert hints(app) == [
            "keys not sent: the connection to the relay is down. "
            "They are dropped, not kept to be sent later."
        ]

        connector.open.set()
        await until(pilot, lambda: screen.room.link is Link.LIVE, what="live again", timeout=30)
        await until(pilot, lambda: frame(app).startswith("DRIVING"), what="driving again")
        assert app.notified("What you typed before was not sent", title="Keys not sent")
        await type_text(pilot, "echo back-$((6*7))")
        await pilot.press("enter")
        await until(pilot, lambda: "back-42" in terminal_text(app), what="the shell's answer")
        assert "lost" not in terminal_text(app)
