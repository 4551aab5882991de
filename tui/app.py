"""The warroom TUI: ``warroom join`` opens it on a session, or on the relay's lobby.

The app itself is small: it holds how to (re)connect (:class:`tui.login.Connector`),
starts on the lobby or on a session, and keeps Textual's own priority keys (quit, the
command palette) from eating the shell's keys while this client drives.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from textual import events, on
from textual.screen import Screen

from relay.core.roles import Role
from relay.trust.identity import parse_join_target
from tui.client import RelayClient
from tui.dialogs import typed_before
from tui.lobby import LobbyScreen
from tui.login import Connector, keep_token
from tui.recordings import RecordingsScreen
from tui.session_screen import SessionScreen
from tui.shown import PlainApp
from tui.window_keys import HeldKeys, WindowKey, typed

# App actions that must not fire while driving: their keys belong to the shell.
SHELL_KEYS_WIN = frozenset({"quit", "command_palette", "help_quit"})

HERE = Path(__file__).parent  # CSS paths must not follow subclasses into other packages


class WarroomApp(PlainApp):
    """One engineer's window on a shared shell."""

    TITLE = "warroom"
    CSS_PATH = HERE / "app.tcss"

    def __init__(
        self,
        connect: Connector,
        session: str | None,
        client: RelayClient | None = None,
        *,
        browse: bool = False,
    ) -> None:
        """``browse``: open on the recordings browser (``warroom replay URL``)."""
        super().__init__()
        self.connector = connect
        self.session_id = session
        self.first_client = client
        self.browse = browse
        self.held = HeldKeys()

    def on_mount(self) -> None:
        self.push_screen(self.first_screen())
        terminal = sys.__stdin__
        if terminal is not None and terminal.isatty():
            self.set_interval(1.0, lambda: self.leave_if_hung_up(terminal.fileno()))

    def leave_if_hung_up(self, fd: int) -> None:
        """Exit when the terminal went away (its window closed): its tty is no tty then.

        The kernel's SIGHUP reaches only the terminal's first process: under one that
        waits for its child (``make demo``), this window would stay on a dead tty,
        Textual reading end-of-file from it for ever (most of a core), the demo's relay
        and sandbox up with it.
        """
        if not os.isatty(fd):
            self.exit(return_code=129)  # (128 + SIGHUP, as a shell reports a hang-up)

    def first_screen(self) -> Screen[None]:
        """Reviewers' recordings; else the session given on the command line, or the lobby.

        A reviewer has nothing to do in a live session (no control to ask for):
        their invite or login opens the recordings they may replay.
        """
        who = self.connector.identity
        if who.get("role") == Role.REVIEWER or self.browse:
            client, self.first_client = self.first_client, None
            session = who.get("session") or self.session_id
            return RecordingsScreen(
                self.connector, client=client, session=str(session) if session else None
            )
        if self.session_id is not None:
            return self.session_screen(self.session_id)
        return LobbyScreen(self.connector, self.first_client)

    def session_screen(self, session: str) -> SessionScreen:
        client, self.first_client = self.first_client, None
        who = self.connector.identity
        user = str(who.get("user", ""))
        lead = who.get("role") == Role.LEAD and who.get("session") is None
        return SessionScreen(self.connector, session, user=user, client=client, lead=lead)

    def on_lobby_screen_entered(self, message: LobbyScreen.Entered) -> None:
        self.open_session(message.session, message.client)

    def open_session(self, session: str, client: RelayClient | None) -> None:
        """From the lobby: replace it with the session's screen."""
        self.first_client = client
        self.session_id = session
        self.switch_screen(self.session_screen(session))

    @property
    def driving(self) -> bool:
        """Whether keys go to the shell: driving, or typing ahead of the first join."""
        screen = self.screen
        return isinstance(screen, SessionScreen) and (screen.room.driving or screen.room.joining)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in SHELL_KEYS_WIN and self.driving)

    async def on_event(self, event: events.Event) -> None:
        # Keys typed before the dialog on top opened were meant for what was there before.
        if self.screen_stack and typed_before(self.screen, event):
            return
        if typed(event):
            if self.held.keep(event):
                return  # typed behind a window key still on its way
            await self._hand_on(self.held.back(None))
        screen = self.screen if self.screen_stack else None
        if isinstance(event, events.Key) and typed(event) and isinstance(screen, SessionScreen):
            decided = screen.key_in_order(event)
            if isinstance(decided, WindowKey):
                self.held.hold_until(decided)
            if decided:
                return
        await super().on_event(event)

    @on(WindowKey)
    async def _window_key_back(self, message: WindowKey) -> None:
        """The window key acted: the keys typed after it go where the focus is now."""
        if isinstance(self.screen, SessionScreen):
            self.screen.arrived(message)
        await self._hand_on(self.held.back(message))

    async def _hand_on(self, kept: list[events.Event]) -> None:
        for event in kept:
            await self.on_event(event)


async def run_join(
    target: str,
    *,
    name: str | None = None,
    user: str = "",
    key: Path | None = None,
    ca_cert: Path | None = None,
) -> None:
    """``warroom join``: authenticate (errors surface before the window opens), then run."""
    join_target = parse_join_target(target)
    connector = Connector(join_target, name=name, user=user, key=key, ca_cert=ca_cert)
    client = await connector()
    if join_target.invite is None:
        kept = keep_token(join_target.url, str(connector.token))
        if kept.startswith("but "):  # shown before the window opens, and after it closes
            print(f"warroom: logged in, {kept}", file=sys.stderr)
    session = join_target.session or connector.identity.get("session")
    app = WarroomApp(connector, str(session) if session else None, client=client)
    try:
        await app.run_async()
    finally:
        with contextlib.suppress(Exception):
            await client.close()
