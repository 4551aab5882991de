"""Keys that never surprise: quick presses, words typed for a shell, and dialogs that keep text.

Against the real relay harness, with the real TUI under Textual's pilot.
``burst`` posts key events without waiting between them, as a terminal
delivers two keys read in one go; ``pilot.press`` waits after each key, as a
slow typist would.
"""

from __future__ import annotations

import random
import unicodedata

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from relay.core.protocol import REASON_LENGTH
from relay.core.roles import Role
from tests.harness import Harness
from tests.tui.test_tui_helpers import app_for, screen_of, terminal_text, type_text, until, user_app
from tui.app import WarroomApp
from tui.dialogs import ConfirmScreen, Dialog, ReasonScreen
from tui.handoff import HelpScreen, RequestControlScreen
from tui.room import ChatLine
from tui.session_screen import WATCHING_HINT

SIZE = (120, 36)


def burst(app: WarroomApp, *keys: str) -> None:
    """Post key events back to back, without letting the app run in between."""
    for key in keys:
        character = {"space": " ", "question_mark": "?", "minus": "-"}.get(key, key)
        app.post_message(events.Key(key, character if len(character) == 1 else None))


# How a terminal names the keys of the characters that are not letters or digits.
KEY_NAMES = {"commercial_at": "at", "hyphen_minus": "minus", "solidus": "slash"}


def burst_text(app: WarroomApp, text: str) -> None:
    """Type ``text`` in one burst, with the key names and characters a terminal gives."""
    for ch in text:
        name = ch if ch.isalnum() else unicodedata.name(ch).lower()
        name = name.replace(" ", "_").replace("-", "_")
        app.post_message(events.Key(KEY_NAMES.get(name, name), ch))


def dialogs(app: WarroomApp) -> list[Dialog[object]]:
    return [s for s in app.screen_stack if isinstance(s, Dialog)]


async def test_two_quick_presses_open_one_dialog_with_nothing_typed(harness: Harness) -> None:
    """``rr`` and ``aa`` from a viewer once ended the app with DuplicateIds."""
    session = await harness.open()
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with viewer.run_test(size=SIZE) as vp:
        await until(vp, lambda: screen_of(viewer).room.you is not None, what="bob in")
        for key in ("r", "a", "question_mark"):
            burst(viewer, key, key, key)
            await until(vp, lambda: bool(dialogs(viewer)), what=f"a dialog after {key}{key}")
            await vp.pause(0.2)
            assert len(dialogs(viewer)) == 1, viewer.screen_stack
            assert viewer.return_code is None and viewer.is_running
            for field in viewer.screen.query(Input).results(Input):
                assert field.value == "", f"{key}{key} left {field.value!r} in the dialog"
            await vp.press("escape")
            await until(vp, lambda: not dialogs(viewer), what="the dialog to close")


async def test_a_word_typed_for_the_shell_does_not_leave(harness: Harness) -> None:
    """A viewer who types ``df -h`` thinking they are in the shell stays, and is told why."""
    session = await harness.open()
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with viewer.run_test(size=SIZE) as vp:
        vscreen = screen_of(viewer)
        await until(vp, lambda: vscreen.room.you is not None, what="bob in")
        # Typed by a person, one key at a time: d asks, f answers no.
        await type_text(vp, "df -h")
        await vp.press("enter")
        await vp.pause(0.3)
        assert not dialogs(viewer) and viewer.is_running
        assert screen_of(viewer) is vscreen and vscreen.link.live
        assert viewer.notified(WATCHING_HINT)
        # The same word in one burst: the keys after d were typed before it asked.
        burst(viewer, "d", "f", "space", "minus", "h", "enter")
        await until(vp, lambda: isinstance(viewer.screen, ConfirmScreen), what="d asks")
        await vp.pause(0.2)
        assert isinstance(viewer.screen, ConfirmScreen), "the typed-ahead keys answered it"
        await vp.press("n")
        await until(vp, lambda: not dialogs(viewer), what="the question gone")
        assert vscreen.link.live and viewer.is_running
        # The frame says what state this window is in, and who drives.
        assert str(vscreen.terminal.border_title).startswith("WATCHING · nobody drives")


async def test_a_watching_lead_typing_top_does_not_take_control(harness: Harness) -> None:
    session = await harness.open()
    lead = app_for(harness, session, Role.LEAD, "alice")
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with lead.run_test(size=SIZE) as lp, viewer.run_test(size=SIZE) as vp:
        lscreen, vscreen = screen_of(lead), screen_of(viewer)
        await until(lp, lambda: lscreen.room.driving, what="alice to drive")
        await until(vp, lambda: vscreen.room.you is not None, what="bob in")
        await vp.press("r")
        await until(vp, lambda: isinstance(viewer.screen, RequestControlScreen), what="dialog")
        await type_text(vp, "my turn")
        await vp.press("enter")
        await until(lp, lambda: lscreen.room.pending_for_me() is not None, what="request")
        await lp.press("ctrl+right_square_bracket", "g")
        await until(vp, lambda: vscreen.room.driving, what="bob to drive")
        await until(lp, lambda: not lscreen.room.driving, what="alice watches")
        assert str(lscreen.terminal.border_title).startswith("WATCHING · bob drives")
        assert str(vscreen.terminal.border_title).startswith("DRIVING")
        assert vscreen.terminal.has_class("-driving")
        assert not lscreen.terminal.has_class("-driving")

        await type_text(lp, "top")
        await lp.press("enter")
        await lp.pause(0.3)
        assert not dialogs(lead)
        assert vscreen.room.driving and not lscreen.room.driving, "t took control"
        # The chord is deliberate: ctrl+] t takes at once.
        await lp.press("ctrl+right_square_bracket", "t")
        await until(lp, lambda: lscreen.room.driving, what="alice drives again")


async def test_the_chord_leaves_at_once_for_a_watcher(harness: Harness) -> None:
    session = await harness.open()
    viewer = app_for(harness, session, Role.VIEWER, "carol")
    async with viewer.run_test(size=SIZE) as vp:
        vscreen = screen_of(viewer)
        await until(vp, lambda: vscreen.room.you is not None, what="carol in")
        await vp.press("ctrl+right_square_bracket", "d")
        await until(vp, lambda: not viewer.is_running, what="carol to leave")
        assert viewer.return_code == 0
    live = harness.relay.sessions[session]
    assert "carol" not in [p.user for p in live.core.participants.values()]


async def test_dialogs_keep_the_text_on_errors(harness: Harness) -> None:
    """Enter on an empty reason, and a reason too long for the relay, keep the dialog open."""
    session = await harness.open()
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with viewer.run_test(size=SIZE) as vp:
        vscreen = screen_of(viewer)
        await until(vp, lambda: vscreen.room.you is not None, what="bob in")
        await vp.press("r")
        await until(vp, lambda: isinstance(viewer.screen, ReasonScreen), what="dialog")
        dialog = viewer.screen
        assert isinstance(dialog, ReasonScreen)
        await vp.press("enter")
        await vp.pause(0.2)
        assert viewer.screen is dialog, "Enter on an empty reason closed the dialog"
        error = dialog.query_one(".dialog-error")
        assert error.display and "say why" in str(error.render())

        too_long = "INC-4211 " + "x" * REASON_LENGTH
        viewer.post_message(events.Paste(too_long))
        await until(vp, lambda: dialog.reason == too_long.strip(), what="the paste")
        await vp.press("enter")
        await vp.pause(0.2)
        assert viewer.screen is dialog and dialog.reason == too_long.strip()
        assert f"at most {REASON_LENGTH}" in str(dialog.query_one(".dialog-error").render())

        # Cut it down: now it goes, with no stray letter in front.
        dialog.query_one(Input).value = "INC-4211: restart the worker"
        await vp.press("enter")
        await until(vp, lambda: vscreen.room.has_requested, what="the request")
        asked = [r.reason for r in harness.relay.sessions[session].core.requests.values()]
        assert asked == ["INC-4211: restart the worker"]


async def test_typing_while_watching_shows_the_hint_and_sends_nothing(harness: Harness) -> None:
    session = await harness.open()
    lead_client = await harness.joined("alice", session)
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with viewer.run_test(size=SIZE) as vp:
        vscreen = screen_of(viewer)
        await until(vp, lambda: vscreen.room.driver_name == "alice", what="alice drives")
        await type_text(vp, "ls /xyz")
        viewer.post_message(events.Paste("echo pasted-$((3*3))\n"))
        await vp.pause(0.3)
        assert viewer.notified(WATCHING_HINT)
        await lead_client.send_input(b"echo marker-$((2*2))\r")
        await until(vp, lambda: "marker-4" in terminal_text(viewer), what="the lead's echo")
        assert "xyz" not in terminal_text(viewer) and "pasted-9" not in terminal_text(viewer)
        # ? opens the help, generated from the key table; any key closes it.
        await vp.press("question_mark")
        await until(vp, lambda: isinstance(viewer.screen, HelpScreen), what="help")
        help_text = str(viewer.screen.query_one("#help-text").render())
        for line in ("leave the session", "end the session for everyone", "ctrl+]"):
            assert line in help_text
        await vp.press("x")
        await until(vp, lambda: not dialogs(viewer), what="help closed")


async def test_quick_presses_in_the_lobby_open_one_dialog_or_browser(harness: Harness) -> None:
    from tui.lobby import LobbyScreen
    from tui.recordings import RecordingsScreen

    await harness.open()
    viewer = user_app(harness, None, "bob")
    async with viewer.run_test(size=SIZE) as vp:
        await until(vp, lambda: isinstance(viewer.screen, LobbyScreen), what="the lobby")
        await until(vp, lambda: viewer.connector.identity.get("user") == "bob", what="signed in")
        burst(viewer, "a", "a", "a")
        await until(vp, lambda: bool(dialogs(viewer)), what="the access dialog")
        await vp.pause(0.2)
        assert len(dialogs(viewer)) == 1 and viewer.is_running
        assert all(f.value == "" for f in viewer.screen.query(Input).results(Input))
    lead = user_app(harness, None, "alice")
    async with lead.run_test(size=SIZE) as lp:
        await until(lp, lambda: isinstance(lead.screen, LobbyScreen), what="the lobby")
        await until(lp, lambda: lead.connector.identity.get("role") == "lead", what="signed in")
        burst(lead, "b", "b")
        await until(lp, lambda: isinstance(lead.screen, RecordingsScreen), what="the browser")
        await lp.pause(0.2)
        assert sum(isinstance(s, RecordingsScreen) for s in lead.screen_stack) == 1


def chat_texts(count: int, seed: int = 20261130) -> list[str]:
    """Messages made mostly of the window's letters (a watcher's ``a`` asks for access, ``r``
    for control, ``d`` leaves...) and shell-looking words: seeded, so CI sees the same ones."""
    rng = random.Random(seed)
    alphabet = "acdegnprstv?" * 3 + "@-/:$()*=0123456789xyz "
    texts = ["@lead all yours"]
    while len(texts) < count:
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))).strip()
        if text:
            texts.append(text)
    return texts


async def chat_in_one_burst(
    app: WarroomApp, pilot: Pilot[None], opener: list[str], text: str, seen: list[ChatLine]
) -> None:
    """Open the chat with ``opener``, type ``text``, Enter, Esc: all in one burst."""

    def mine() -> list[str]:
        return [line.text for line in seen if line.mine]

    before = len(mine())
    burst(app, *opener)
    burst_text(app, text)
    burst(app, "enter", "escape")
    screen = screen_of(app)
    await until(pilot, lambda: len(mine()) > before, what=f"{text!r} in the chat")
    assert mine()[before:] == [text], opener
    await until(pilot, lambda: app.focused is screen.terminal, what="Esc back to the terminal")
    assert not dialogs(app), f"{text!r} acted as window keys: {app.screen_stack}"
    assert screen.link.live


async def test_what_is_typed_right_after_the_chat_key_goes_to_the_chat(harness: Harness) -> None:
    """``ctrl+] c`` (the driver) or ``c`` (a watcher), then a message, Enter and Esc in one
    burst: the message reaches the chat whole, none of it reaches the shell or acts as a
    window key, and Esc returns to the terminal. CI once saw the driver's "@lead a" go to
    the shell and only "ll yours" to the chat: the chord was decided after the keys that
    followed it had been queued for the shell."""
    session = await harness.open()
    lead = app_for(harness, session, Role.LEAD, "alice")
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with lead.run_test(size=SIZE) as lp, viewer.run_test(size=SIZE) as vp:
        lscreen, vscreen = screen_of(lead), screen_of(viewer)
        await until(lp, lambda: lscreen.room.driving, what="alice drives")
        await until(vp, lambda: vscreen.room.driver_name == "alice", what="bob sees alice drive")
        texts = chat_texts(5)  # the relay takes at most 5 chat messages per 10 s from one user
        for text in texts:
            await chat_in_one_burst(
                lead, lp, ["ctrl+right_square_bracket", "c"], text, lscreen.chat.lines
            )
            await chat_in_one_burst(viewer, vp, ["c"], text, vscreen.chat.lines)
        burst_text(lead, "echo shell-$((6*7))")
        burst(lead, "enter")
        await until(lp, lambda: "shell-42" in terminal_text(lead), what="the shell's answer")
        shown = terminal_text(lead)
        assert not [text for text in texts if text in shown], shown


async def test_the_chord_in_one_burst(harness: Harness) -> None:
    """``ctrl+] ctrl+]`` sends one ``^]`` to the shell, ``ctrl+] Esc`` nothing, and the keys
    typed after either go to the shell in order (``cat -v`` shows what it got)."""
    session = await harness.open()
    lead = app_for(harness, session, Role.LEAD, "alice")
    async with lead.run_test(size=SIZE) as lp:
        await until(lp, lambda: screen_of(lead).room.driving, what="alice drives")
        await until(lp, lambda: "$" in terminal_text(lead), what="the prompt")
        burst_text(lead, "cat -v")
        burst(lead, "enter", "ctrl+right_square_bracket", "ctrl+right_square_bracket")
        burst_text(lead, "x")
        burst(lead, "ctrl+right_square_bracket", "escape")
        burst_text(lead, "a=")
        burst(lead, "enter")
        await until(lp, lambda: "\n^]xa=" in terminal_text(lead), what="cat's line")
        assert not dialogs(lead) and lead.focused is screen_of(lead).terminal


async def test_two_quick_keys_close_a_dialog_once(harness: Harness) -> None:
    """Any key closes the help, ``n`` answers a question: the second key of a burst, read
    before the dialog closed, once closed the session screen under it too (found by the
    monkey under ``make fuzz``: "Can't pop screen" on the replay screen)."""
    session = await harness.open()
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with viewer.run_test(size=SIZE) as vp:
        vscreen = screen_of(viewer)
        await until(vp, lambda: vscreen.room.you is not None, what="bob in")
        for opener, answers in (("question_mark", ("x", "y")), ("d", ("n", "n"))):
            await vp.press(opener)
            await until(vp, lambda: bool(dialogs(viewer)), what=f"the dialog of {opener}")
            burst(viewer, *answers)
            await until(vp, lambda: not dialogs(viewer), what="the dialog closed")
            await vp.pause(0.3)
            assert viewer.screen is vscreen and viewer.is_running, viewer.screen_stack
            assert vscreen.link.live
