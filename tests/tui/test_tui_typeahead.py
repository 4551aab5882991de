"""Type-ahead: keys typed before the window's first join reach the shell once it drives.

A newcomer starts ``warroom demo`` and types at once, as with ssh: what they type
while the window joins must reach the shell once, in order, before anything
typed later; a window that joins as a watcher sends none of it (nor runs its
letters as the window's commands) and says so; at most a few KiB are kept.

Real parts: the harness relay over real websockets, the TUI under the pilot,
and as the oracle either bash's own output or a target shell that writes every
byte it receives to a file (``tests.harness.sink_shell``). The join is held
back at the connector (:class:`tests.tui.test_tui_connecting.Held`), as a relay
still starting holds it back; keys are posted as the terminal delivers them
(``burst``: several read in one go, nothing waiting in between).
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual import events
from textual.command import CommandPalette
from textual.message import Message

from relay.core.roles import Role
from relay.evidence.audit import read_events
from relay.trust.identity import parse_join_target
from tests.harness import Harness, running_relay, sink_shell, sunk, until_sunk
from tests.tui.test_tui_connecting import frame, held_app
from tests.tui.test_tui_helpers import PilotApp, screen_of, terminal_text, until
from tests.tui.test_tui_safety import burst, dialogs
from tui.client import RelayClient
from tui.login import Connector
from tui.session_link import SessionLink
from tui.session_screen import SessionScreen
from tui.typeahead import LIMIT

SIZE = (120, 36)
SMOKE = "echo SMOKE-$((6*7))-OK"


def keys_of(text: str) -> list[str]:
    """Textual's key names for typing ``text`` (what ``burst`` posts)."""
    names = {" ": "space", "-": "minus", "$": "dollar_sign", "(": "left_parenthesis"}
    names |= {")": "right_parenthesis", "*": "asterisk", "#": "number_sign"}
    return [names.get(ch, ch) for ch in text]


def type_burst(app: PilotApp, text: str) -> None:
    for key, ch in zip(keys_of(text), text, strict=True):
        app.post_message(events.Key(key, ch))


def count_input(screen: SessionScreen) -> list[bytes]:
    """Every input this window hands its link from now on (still sent)."""
    sent: list[bytes] = []
    send_input = screen.link.send_input

    async def counting(data: bytes) -> bool:
        sent.append(data)
        result: bool = await send_input(data)
        return result

    screen.link.send_input = counting  # type: ignore[method-assign]
    return sent


@pytest.fixture
async def sink_relay(tmp_path: Path) -> AsyncIterator[tuple[Harness, Path]]:
    sink = tmp_path / "sink"
    sink.mkdir()
    async with running_relay(tmp_path, shell=sink_shell(sink)) as h:
        yield h, sink


async def test_a_command_typed_before_the_join_runs_once_in_the_shell(harness: Harness) -> None:
    session = await harness.open()
    app, connector = held_app(harness, session, "alice")
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.terminal.border_title is not None, what="the frame")
        assert frame(app) == "CONNECTING · what you type is sent once joined, if you drive"
        type_burst(app, SMOKE)
        burst(app, "enter")
        await until(
            pilot, lambda: screen.terminal.typeahead.keys == len(SMOKE) + 1, what="keys kept"
        )
        assert not dialogs(app), "a letter typed ahead ran as the window's command"

        connector.open.set()  # the relay answers: alice joins, and drives (the owner)
        await until(pilot, lambda: screen.room.driving, what="alice to drive", timeout=30)

        def shown() -> list[str]:
            return [line.rstrip() for line in terminal_text(app).splitlines() if line.strip()]

        await until(
            pilot,
            lambda: shown()[-3:] == [f"$ {SMOKE}", "SMOKE-42-OK", "$"],
            what="the command, its output once, and the next prompt",
            timeout=30,
        )
        assert terminal_text(app).count("SMOKE-42-OK") == 1
        assert not screen.terminal.typeahead.keeping
        assert not app.notified(title="Keys not sent") and not app.notified(title="Not connected")


class KeysBehindTheRoster:
    """Where the link posts what it hears (the screen), with keys typed at that instant.

    Right behind the relay's first roster (the one that settles the kept keys),
    the terminal pane's queue gets keys it has not read yet: typed after the
    kept ones, they must reach the shell after them, never first.
    """

    def __init__(self, screen: SessionScreen, keys: str) -> None:
        self.screen = screen
        self.keys = keys

    def post_message(self, message: Message) -> bool:
        posted = self.screen.post_message(message)
        if isinstance(message, SessionLink.Received) and message.message["type"] == "roster":
            for key, ch in zip(keys_of(self.keys), self.keys, strict=True):
                self.screen.terminal.post_message(events.Key(key, ch))
            self.keys = ""
        return posted


async def test_keys_typed_across_the_join_reach_the_shell_in_typing_order(
    sink_relay: tuple[Harness, Path],
) -> None:
    """Kept keys go first, then those typed as the join completed, then the later ones."""
    h, sink = sink_relay
    session = await h.open()
    app, connector = held_app(h, session, "alice")
    ahead = "dear rest top" + string.ascii_letters  # d, e, r, t, s...: window letters
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.terminal.border_title is not None, what="the frame")
        type_burst(app, ahead)
        burst(app, "ctrl+p")  # the shell's (previous line), not the command palette
        kept = screen.terminal.typeahead
        await until(pilot, lambda: kept.keys == len(ahead) + 1, what="the keys kept")
        behind = "typed-as-the-roster-came"
        screen.link.target = KeysBehindTheRoster(screen, behind)
        connector.open.set()
        await until(pilot, lambda: not kept.keeping, what="the join", timeout=30)
        later = "".join(random.Random(7).choices(string.ascii_letters, k=40)) + "#END#"
        for i in range(0, len(later), 3):
            type_burst(app, later[i : i + 3])  # three keys read in one go
            await pilot.pause()
        received = await until_sunk(sink, b"#END#")
        assert received == f"{ahead}\x10{behind}{later}".encode()
        assert screen.room.driving and not isinstance(app.screen, CommandPalette)


async def test_a_watcher_sends_nothing_typed_ahead_and_is_told(
    sink_relay: tuple[Harness, Path],
) -> None:
    h, sink = sink_relay
    session = await h.open()
    alice = await h.joined("alice", session)  # the owner: she drives
    app, connector = held_app(h, session, "bob")
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.terminal.border_title is not None, what="the frame")
        sent = count_input(screen)
        # d leaves, e ends, r asks for control, t takes it: as a watcher's letters.
        type_burst(app, "df -h")
        burst(app, "enter")
        type_burst(app, "rm -rf tmp")
        burst(app, "enter")
        await until(pilot, lambda: screen.terminal.typeahead.keys == 17, what="the keys kept")
        # Typed as the join completes, read by the pane after it: discarded too, not letters.
        screen.link.target = KeysBehindTheRoster(screen, "dd?")

        connector.open.set()
        await until(
            pilot, lambda: not screen.terminal.typeahead.keeping, what="the join", timeout=30
        )
        assert screen.room.role is Role.VIEWER and not screen.room.driving
        await until(pilot, lambda: app.notified(title="Keys not sent"), what="the note")
        notes = [t.message for t in app.toasts if t.title == "Keys not sent"]
        told = re.fullmatch(
            r"(\d+) typed keys were discarded \(typed before the window joined\), not sent: "
            r"you are watching \(alice drives\)\.",
            notes[0],
        )
        assert len(notes) == 1 and told is not None, notes
        assert 17 <= int(told.group(1)) <= 20  # the three read before or after the join

        await alice.send_input(b"MARK")  # whatever reached the shell before, is there now
        assert await until_sunk(sink, b"MARK") == b"MARK"
        await pilot.pause()
        assert not dialogs(app), "a kept key ran as the window's command"
        assert app.is_running and screen.link.live and sent == []
        denied = [e for e in read_events(h.data_dir / "audit") if e["event"] == "input.denied"]
        assert denied == [], "the window sent keys the relay had to refuse"


async def test_at_most_a_few_kib_are_kept_and_the_rest_is_dropped_saying_so(
    sink_relay: tuple[Harness, Path],
) -> None:
    h, sink = sink_relay
    session = await h.open()
    app, connector = held_app(h, session, "alice")
    first = "a" * (LIMIT - 10)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.terminal.border_title is not None, what="the frame")
        app.post_message(events.Paste(first))
        app.post_message(events.Paste("b" * 20))  # over the limit: dropped, and told
        type_burst(app, "cc")  # after a drop, nothing more is kept (no hole in the middle)
        await until(pilot, lambda: screen.terminal.typeahead.dropped == 22, what="the drop")
        dropped = [t.message for t in app.toasts if t.title == "Keys dropped"]
        assert dropped == [
            f"You typed more than {LIMIT // 1024} KiB before the window joined: the rest is "
            "dropped, not sent. Only what came before is sent, if you drive."
        ]

        connector.open.set()
        await until(pilot, lambda: screen.room.driving, what="alice to drive", timeout=30)
        await until(pilot, lambda: not screen.terminal.typeahead.keeping, what="the kept keys sent")
        type_burst(app, "#END#")
        assert await until_sunk(sink, b"#END#") == (first + "#END#").encode()
        assert len([t for t in app.toasts if t.title == "Keys dropped"]) == 1
        assert b"b" not in sunk(sink) and b"c" not in sunk(sink)


class OpensFromTheLobby(PilotApp):
    """Keys arrive the moment the session's screen replaces the lobby (before it mounts)."""

    def open_session(self, session: str, client: RelayClient | None) -> None:
        super().open_session(session, client)
        type_burst(self, SMOKE)
        burst(self, "enter")


async def test_keys_typed_as_the_lobby_opens_the_session_reach_the_shell(
    harness: Harness, tmp_path: Path
) -> None:
    key = tmp_path / "alice_key"
    harness.user_keys["alice"].write_private_key(str(key))
    await harness.open()
    connector = Connector(parse_join_target(harness.url), user="alice", key=key)
    client = await connector()
    app = OpensFromTheLobby(connector, None, client=client)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: bool(getattr(app.screen, "sessions", None)), what="the lobby")
        await pilot.press("enter")  # the first session
        await until(pilot, lambda: isinstance(app.screen, SessionScreen), what="the session")
        screen = screen_of(app)
        await until(pilot, lambda: screen.room.driving, what="alice to drive", timeout=30)
        await until(
            pilot,
            lambda: "SMOKE-42-OK" in terminal_text(app),
            what="the command typed as the session opened",
            timeout=30,
        )
        assert terminal_text(app).count("SMOKE-42-OK") == 1
