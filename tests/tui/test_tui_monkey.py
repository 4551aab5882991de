"""A seeded monkey: random keys, bursts, pastes and resizes on every screen, in every role.

Against a real relay (``tests/harness.py``), the real TUI runs under Textual's
pilot while a seeded random generator types single keys, bursts of keys
posted back to back (as a terminal delivers a fast typist's keys in one
read: two quick presses once crashed the app), pastes (escape sequences,
wide characters, newlines, long texts) and window resizes down to tiny sizes.
After every step the app must still run, hold at most one dialog, no two
screens with one id, and show a state that agrees with itself (the frame,
the key bar and the terminal pane all say the same about driving).

Leaving, quitting and the session ending are legitimate outcomes of random
keys: the app must then have exited cleanly, and the monkey starts a fresh
window (and a fresh session when the old one ended) for the remaining steps.

The targets run ``cat`` instead of a shell: random keys and pastes must not
run commands on this machine.

CI runs a fixed seed and a bounded number of steps; ``make fuzz`` sets
``WARROOM_FUZZ=1`` for many more steps and a fresh seed each run (printed,
and taken from ``WARROOM_FUZZ_SEED`` to replay a failure).
"""

from __future__ import annotations

import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from textual import events
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from relay.core.roles import Role
from relay.evidence.replay import Recording
from relay.trust.identity import parse_join_target
from tests.harness import Harness, read_until, running_relay
from tests.tui.test_tui_helpers import user_app
from tui.app import Connector, WarroomApp
from tui.commands import CHORD_DISPLAY
from tui.dialogs import Dialog
from tui.keybar import KeyBar
from tui.lobby import LobbyScreen
from tui.replay_app import ReplayApp
from tui.session_screen import SessionScreen

FUZZ = os.environ.get("WARROOM_FUZZ", "") not in ("", "0")
STEPS = int(os.environ.get("WARROOM_FUZZ_STEPS", "1500" if FUZZ else "40"))
SEED = int(os.environ.get("WARROOM_FUZZ_SEED", str(random.randrange(1 << 32) if FUZZ else 1212)))

LETTERS = list("abcdefghijklmnopqrstuvwxyz0123456789")
# The letters the screens act on (session, lobby, browser, replay): typed more often.
COMMANDS: list[str] = [
    *"crgntsdeapvbfuoqiy", "question_mark", "slash", "less_than_sign", "greater_than_sign",
    "left_square_bracket", "right_square_bracket", "comma", "full_stop",
]  # fmt: skip
NAMED = [
    "enter", "escape", "tab", "shift+tab", "backspace", "space", "up", "down", "left",
    "right", "home", "end", "pageup", "pagedown", "delete", "f1", "question_mark",
    "slash", "comma", "full_stop", "minus", "plus", "less_than_sign", "greater_than_sign",
    "left_square_bracket", "right_square_bracket", "shift+left", "shift+right",
    "ctrl+right_square_bracket", "ctrl+a", "ctrl+e", "ctrl+l", "ctrl+u", "ctrl+p", "ctrl+c",
    "ctrl+d", "y", "n", "Y", "D",
]  # fmt: skip
CHARACTERS = {
    "enter": "\r", "escape": "\x1b", "tab": "\t", "backspace": "\x7f", "space": " ",
    "question_mark": "?", "slash": "/", "comma": ",", "full_stop": ".", "minus": "-",
    "plus": "+", "less_than_sign": "<", "greater_than_sign": ">",
    "left_square_bracket": "[", "right_square_bracket": "]",
}  # fmt: skip
PASTES = [
    "echo hi\n",
    "\x1b[31mred\x1b[0m\x1b]0;title\x07",
    "中文 wide ✓ emoji 🚀 e\u0301",
    "x" * 3000,
    "line one\r\nline two\n\n",
    "\x1b[200~bracketed\x1b[201~",
    "",
]
SIZES = [(80, 24), (132, 40), (40, 12), (20, 8), (10, 5), (200, 60), (100, 30)]


@dataclass
class Monkey:
    """The random hand, and a log of what it did (printed when a check fails)."""

    rng: random.Random
    log: list[str] = field(default_factory=list)

    def key(self) -> str:
        roll = self.rng.random()
        if roll < 0.45:
            return self.rng.choice(COMMANDS)
        return self.rng.choice(LETTERS) if roll < 0.7 else self.rng.choice(NAMED)

    async def step(self, pilot: Pilot[None]) -> None:
        app = pilot.app
        roll = self.rng.random()
        if roll < 0.55:
            key = self.key()
            self.log.append(f"press {key}")
            await pilot.press(key)
        elif roll < 0.8:
            if self.rng.random() < 0.4:  # one key twice or more: rr, aa crashed the app once
                keys = [self.rng.choice(COMMANDS)] * self.rng.randint(2, 4)
            else:
                keys = [self.key() for _ in range(self.rng.randint(2, 6))]
            self.log.append(f"burst {keys}")
            for key in keys:
                character = CHARACTERS.get(key, key if len(key) == 1 else None)
                app.post_message(events.Key(key, character))
        elif roll < 0.92:
            text = self.rng.choice(PASTES)
            self.log.append(f"paste {text[:20]!r}")
            app.post_message(events.Paste(text))
        else:
            width, height = self.rng.choice(SIZES)
            self.log.append(f"resize {width}x{height}")
            await pilot.resize_terminal(width, height)
        await pilot.pause(0.02)


def check(app: App[None], monkey: Monkey) -> None:
    """Alive, one dialog at most, unique screen ids, and a session view that agrees."""
    where = f"seed {SEED}, after: {monkey.log[-8:]}"
    assert app.return_code is None, where
    stack = app.screen_stack
    assert sum(isinstance(s, Dialog) for s in stack) <= 1, f"{stack} ({where})"
    ids = [s.id for s in stack if s.id]
    assert len(ids) == len(set(ids)), f"{ids} ({where})"
    for screen in stack:
        if isinstance(screen, SessionScreen) and screen.is_mounted:
            room = screen.room
            assert screen.terminal.driving == room.driving, where
            title = str(screen.terminal.border_title or "")
            assert title.startswith("DRIVING") == room.driving, f"{title!r} ({where})"
            keys = str(screen.query_one(KeyBar).render())
            assert keys.lstrip().startswith(CHORD_DISPLAY) == room.driving, f"{keys!r} ({where})"


async def run_monkey(
    make_app: Callable[[], Awaitable[App[None]]],
    steps: int,
    seed: int,
    stay: type[Screen[None]] | None = None,
) -> None:
    """``steps`` random steps, on fresh windows whenever one exits cleanly.

    With ``stay``, a window that left that screen (the lobby joined a session)
    is closed and a fresh one opened, so the steps go where the test points.
    """
    monkey = Monkey(random.Random(seed))
    done = windows = 0
    while done < steps:
        app = await make_app()
        windows += 1
        size = monkey.rng.choice(SIZES[:3])
        async with app.run_test(size=size) as pilot:
            await pilot.pause(0.3)
            while done < steps and app.is_running:
                await monkey.step(pilot)
                done += 1
                if not app.is_running:
                    break
                check(app, monkey)
                if stay is not None and not any(isinstance(s, stay) for s in app.screen_stack):
                    break
        where = f"seed {seed}, after: {monkey.log[-8:]}"
        assert app.return_code in (None, 0), f"the app failed ({where})"
        assert windows <= steps, "every window closed at once: the monkey never got to type"


@pytest.fixture
async def relay(tmp_path: Path) -> Harness:  # type: ignore[misc]
    async with running_relay(tmp_path, shell=["/bin/cat"], recordings=True) as h:
        yield h


async def open_session(h: Harness) -> str:
    """An open session (a new one when the last ended: random keys may end it)."""
    for session, live in h.relay.sessions.items():
        if not live.ended.is_set():
            return session
    return await h.open()


def seed_for(role: str) -> int:
    return SEED + sum(map(ord, role))


@pytest.mark.parametrize("role", ["lead", "viewer"])
async def test_monkey_in_a_session(relay: Harness, role: str) -> None:
    print(f"monkey seed {seed_for(role)} ({STEPS} steps)")

    async def make() -> App[None]:
        session = await open_session(relay)
        return user_app(relay, session, "alice" if role == "lead" else "carol")

    await run_monkey(make, STEPS, seed_for(role))


async def test_monkey_as_a_driver_granted_control(relay: Harness) -> None:
    print(f"monkey seed {seed_for('driver')} ({STEPS} steps)")

    async def make() -> App[None]:
        session = await open_session(relay)
        await relay.relay.grant_access("alice", "bob", "driver", 600, session, None, "monkey")
        return user_app(relay, session, "bob")

    await run_monkey(make, STEPS, seed_for("driver"))


async def test_monkey_in_the_lobby(relay: Harness) -> None:
    print(f"monkey seed {seed_for('lobby')} ({STEPS} steps)")
    await open_session(relay)

    async def make() -> App[None]:
        return user_app(relay, None, "alice")

    await run_monkey(make, STEPS, seed_for("lobby"), stay=LobbyScreen)


async def test_monkey_as_a_reviewer(relay: Harness) -> None:
    """A reviewer's invite: the recordings browser, searches, and replays opened from it."""
    print(f"monkey seed {seed_for('reviewer')} ({STEPS} steps)")
    session = await relay.open()
    live = relay.relay.sessions[session]
    alice = await relay.joined("alice", session)
    await alice.send_input(b"hello from the monkey's recording\r")
    await read_until(alice, b"monkey's recording")
    await alice.send({"type": "end", "reason": "recorded for the monkey"})
    await live.wait_closed()
    url = await relay.relay.invite(Role.REVIEWER, session, 3600, "monkey")

    async def make() -> App[None]:
        connector = Connector(parse_join_target(url))
        client = await connector()
        return WarroomApp(connector, session, client=client)

    await run_monkey(make, STEPS, seed_for("reviewer"))


async def test_monkey_on_the_replay_screen(tmp_path: Path) -> None:
    from relay.trust.keys import SigningKey
    from tests.recordings import sample_session

    print(f"monkey seed {seed_for('replay')} ({STEPS} steps)")
    path = sample_session(tmp_path / "s1.cast", SigningKey.generate())

    async def make() -> App[None]:
        return ReplayApp(Recording.open(path))

    await run_monkey(make, STEPS, seed_for("replay"))
