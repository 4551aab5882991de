"""The terminal pane's scrollback, selection, copy, mouse reports and device replies.

Pilot tests of :class:`tui.terminal_view.TerminalView` alone (the relay's part
is in ``test_tui_scrollback_live.py``): bytes are written as the relay's
frames would be, and what the pane shows is read back from the ``Strip``
lines Textual paints, what it sends from the ``Input``/``Reply`` messages it
posts, and what it copies from the app's clipboard (set by OSC 52).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.tui.test_tui_helpers import scroll_wheel
from tests.tui.test_tui_terminal import TermApp, settle, text_of
from tui.terminal_view import TerminalView

# 40 numbered lines and a prompt: on a 30x5 screen, "line 00".."line 35" scroll
# into the scrollback (absolute rows 0-35) and the screen shows 36-39 and "$ ".
LINES = b"".join(b"line %02d\r\n" % i for i in range(40)) + b"$ "


class ShellApp(TermApp):
    """The pane, collecting device replies too."""

    def __init__(self, driving: bool = True) -> None:
        super().__init__(cols=30, rows=5, driving=driving)
        self.replies: list[bytes] = []

    def on_terminal_view_reply(self, event: TerminalView.Reply) -> None:
        self.replies.append(event.data)


def pane(view: TerminalView) -> list[str]:
    return [text_of(view.render_line(y)).rstrip() for y in range(view.size.height)]


async def wheel(pilot: Pilot[None], view: TerminalView, up: bool, x: int = 2, y: int = 1) -> None:
    await scroll_wheel(pilot, view, up=up, offset=(x, y))
    await settle(pilot)


async def test_shift_page_keys_and_the_wheel_scroll_back_and_typing_returns_to_live() -> None:
    app = ShellApp()
    async with app.run_test(size=(30, 6)) as pilot:
        view = app.view
        view.write(LINES)
        await settle(pilot)
        assert pane(view)[:5] == ["line 36", "line 37", "line 38", "line 39", "$"]
        assert len(view.model.history) == 36

        await pilot.press("shift+pageup")  # a page is the rows shown (5, above the note) less one
        await settle(pilot)
        shown = pane(view)
        assert shown[:5] == ["line 32", "line 33", "line 34", "line 35", "line 36"]
        assert "4 of 36 lines back" in shown[5]
        assert app.sent == [], "scroll keys are the window's, not the shell's"

        await wheel(pilot, view, up=True)
        assert pane(view)[0] == "line 29"
        await wheel(pilot, view, up=False)
        assert pane(view)[0] == "line 32"

        # Output while scrolled back: the view stays on its lines.
        view.write(b"\r\nline 40\r\nline 41\r\n$ ")
        await settle(pilot)
        assert pane(view)[0] == "line 32"
        assert len(view.model.history) == 39

        await pilot.press("x")  # typing returns to live, and the key goes to the shell
        await settle(pilot)
        assert not view.scrolled_back
        assert pane(view)[:5] == ["line 39", "$", "line 40", "line 41", "$"]
        assert app.sent == [b"x"]

        await pilot.press("shift+pageup", "shift+pagedown")
        await settle(pilot)
        assert not view.scrolled_back  # back at the bottom is live again


async def test_the_top_of_the_scrollback_is_the_oldest_line_kept() -> None:
    app = ShellApp()
    async with app.run_test(size=(30, 6)) as pilot:
        view = app.view
        view.write(LINES)
        await settle(pilot)
        for _ in range(12):
            await pilot.press("shift+pageup")
        await settle(pilot)
        assert pane(view)[:2] == ["line 00", "line 01"]
        assert "36 of 36 lines back" in pane(view)[5]


async def test_a_full_scrollback_drops_lines_under_a_scrolled_view_without_moving_it() -> None:
    app = ShellApp()
    async with app.run_test(size=(30, 6)) as pilot:
        view = app.view
        view.model = type(view.model)(30, 5, scrollback=50)
        view.write(LINES)
        await settle(pilot)
        await pilot.press("shift+pageup")
        await settle(pilot)
        assert pane(view)[0] == "line 32"
        # 30 more lines: the scrollback (50) drops its oldest; "line 32" stays on top.
        view.write(b"".join(b"\r\nmore %02d" % i for i in range(30)))
        await settle(pilot)
        assert len(view.model.history) == 50
        assert pane(view)[0] == "line 32"


async def test_scroll_mode_selects_with_keys_and_copies() -> None:
    app = ShellApp()
    async with app.run_test(size=(30, 6)) as pilot:
        view = app.view
        view.write(LINES)
        await settle(pilot)
        view.start_scroll_mode()  # ctrl+] b in the session window
        await pilot.press("up", "up", "up", "left", "left", "v", "down", *["right"] * 6)
        await settle(pilot)
        assert view.selection is not None
        await pilot.press("y")
        await settle(pilot)
        assert app.clipboard == "line 37\nline 38"
        assert not view.scroll_mode and view.selection is None
        assert app.sent == [], "scroll mode keys never reach the shell"

        # Up into the scrollback and copy a line that scrolled off long ago.
        view.start_scroll_mode()
        await pilot.press(*["up"] * 30, "home", "left", "left", "v", "end")
        await pilot.press(*["up"] * 38, *["right"] * 6, "enter")
        await settle(pilot)
        assert app.clipboard.startswith("line 00\n") and app.clipboard.endswith("line 02")

        # q leaves without copying; an unbound key leaves and goes to the shell.
        view.start_scroll_mode()
        await pilot.press("up", "q")
        assert not view.scroll_mode
        view.start_scroll_mode()
        await pilot.press("z")
        await settle(pilot)
        assert not view.scroll_mode and app.sent == [b"z"]


async def test_dragging_selects_and_copies_for_anyone() -> None:
    app = ShellApp(driving=False)
    async with app.run_test(size=(30, 6)) as pilot:
        view = app.view
        view.write(LINES)
        await settle(pilot)
        await pilot.mouse_down(view, offset=(0, 1))
        await pilot.hover(view, offset=(6, 2))
        await pilot.mouse_up(view, offset=(6, 2))
        await settle(pilot)
        assert app.clipboard == "line 37\nline 38"
        assert app.sent == []
        # The selection is drawn in reverse video until the next key.
        assert view.selection is not None
        await pilot.press("x")
        assert view.selection is None

        # A click without a drag selects nothing and copies nothing.
        app.copy_to_clipboard("before")
        await pilot.click(view, offset=(3, 3))
        await settle(pilot)
        assert app.clipboard == "before" and view.selection is None


async def test_a_selection_in_the_scrollback_copies_what_scrolled_off() -> None:
    app = ShellApp(driving=False)
    async with app.run_test(size=(30, 6)) as pilot:
        view = app.view
        view.write(LINES)
        await settle(pilot)
        for _ in range(9):
            await pilot.press("shift+pageup")
        await settle(pilot)
        assert pane(view)[0] == "line 00"
        await pilot.mouse_down(view, offset=(5, 0))
        await pilot.hover(view, offset=(6, 1))
        await pilot.mouse_up(view, offset=(6, 1))
        await settle(pilot)
        assert app.clipboard == "00\nline 01"


# ---------------------------------------------------------------- mouse reports

ESC = b"\x1b"


async def gestures(pilot: Pilot[None], app: ShellApp) -> list[bytes]:
    """A click at column 5, row 2 (1-based); a drag from there to column 7,
    row 3; a move with no button to column 2, row 4; one wheel notch each way."""
    view = app.view
    app.sent.clear()
    await pilot.mouse_down(view, offset=(4, 1))
    await pilot.mouse_up(view, offset=(4, 1))
    await pilot.mouse_down(view, offset=(4, 1))
    await pilot.hover(view, offset=(6, 2))
    await pilot.mouse_up(view, offset=(6, 2))
    await pilot.hover(view, offset=(1, 3))
    await wheel(pilot, view, up=True, x=1, y=3)
    await wheel(pilot, view, up=False, x=1, y=3)
    await settle(pilot)
    return list(app.sent)


def x10(cb: int, x: int, y: int) -> bytes:
    return ESC + b"[M" + bytes((cb + 32, x + 32, y + 32))


def sgr(cb: int, x: int, y: int, release: bool = False) -> bytes:
    return ESC + b"[<%d;%d;%d%s" % (cb, x, y, b"m" if release else b"M")


# What xterm writes for those gestures (ctlseqs, "Mouse Tracking"): Cb 0 left
# press, 3 release (default encoding) or the button with final m (SGR), +32 on
# motion (35 with no button), 64/65 the wheel. Under 1003 the move to the first
# click is reported too (the pilot moves the mouse there first, as a hand would).
EXPECTED = {
    (1000, False): [
        *(x10(0, 5, 2), x10(3, 5, 2)),
        *(x10(0, 5, 2), x10(3, 7, 3)),
        *(x10(64, 2, 4), x10(65, 2, 4)),
    ],
    (1000, True): [
        *(sgr(0, 5, 2), sgr(0, 5, 2, True)),
        *(sgr(0, 5, 2), sgr(0, 7, 3, True)),
        *(sgr(64, 2, 4), sgr(65, 2, 4)),
    ],
    (1002, False): [
        *(x10(0, 5, 2), x10(3, 5, 2)),
        *(x10(0, 5, 2), x10(32, 7, 3), x10(3, 7, 3)),
        *(x10(64, 2, 4), x10(65, 2, 4)),
    ],
    (1002, True): [
        *(sgr(0, 5, 2), sgr(0, 5, 2, True)),
        *(sgr(0, 5, 2), sgr(32, 7, 3), sgr(0, 7, 3, True)),
        *(sgr(64, 2, 4), sgr(65, 2, 4)),
    ],
    (1003, False): [
        *(x10(35, 5, 2), x10(0, 5, 2), x10(3, 5, 2)),
        *(x10(0, 5, 2), x10(32, 7, 3), x10(3, 7, 3)),
        *(x10(35, 2, 4), x10(64, 2, 4), x10(65, 2, 4)),
    ],
    (1003, True): [
        *(sgr(35, 5, 2), sgr(0, 5, 2), sgr(0, 5, 2, True)),
        *(sgr(0, 5, 2), sgr(32, 7, 3), sgr(0, 7, 3, True)),
        *(sgr(35, 2, 4), sgr(64, 2, 4), sgr(65, 2, 4)),
    ],
}


@pytest.mark.parametrize(("tracking", "use_sgr"), sorted(EXPECTED))
async def test_the_drivers_mouse_reaches_the_shell_as_xterm_encodes_it(
    tracking: int, use_sgr: bool
) -> None:
    app = ShellApp()
    async with app.run_test(size=(30, 6)) as pilot:
        view = app.view
        view.write(LINES + f"\x1b[?{tracking}h".encode() + (b"\x1b[?1006h" if use_sgr else b""))
        await settle(pilot)
        sent = await gestures(pilot, app)
        assert sent == EXPECTED[tracking, use_sgr]
        assert app.clipboard == "" and not view.scrolled_back

        # Shift bypasses the program: shift+drag selects and copies, as in xterm.
        app.sent.clear()
        await pilot.mouse_down(view, offset=(0, 1), shift=True)
        await pilot.hover(view, offset=(6, 1))
        await pilot.mouse_up(view, offset=(6, 1), shift=True)
        await settle(pilot)
        assert app.clipboard == "line 37"
        assert app.sent == []


async def test_no_mouse_reports_without_tracking_or_from_a_viewer() -> None:
    app = ShellApp()
    async with app.run_test(size=(30, 6)) as pilot:
        app.view.write(LINES)
        await settle(pilot)
        assert await gestures(pilot, app) == []  # the wheel scrolled the pane instead
    viewer = ShellApp(driving=False)
    async with viewer.run_test(size=(30, 6)) as pilot:
        viewer.view.write(LINES + b"\x1b[?1003h\x1b[?1006h")
        await settle(pilot)
        assert await gestures(pilot, viewer) == []
    # Tracking turned off again (DECRST): nothing either.
    off = ShellApp()
    async with off.run_test(size=(30, 6)) as pilot:
        off.view.write(LINES + b"\x1b[?1000h\x1b[?1000l")
        await settle(pilot)
        assert await gestures(pilot, off) == []


# ---------------------------------------------------------------- device replies


async def test_the_driver_answers_device_queries_once_and_a_viewer_never() -> None:
    queries = b"\x1b[5;7H\x1b[6n" + b"\x1b[c" + b"\x1b[>c" + b"\x1b[5n"
    app = ShellApp()
    async with app.run_test(size=(30, 6)) as pilot:
        app.view.write(b"\x1b[2J" + queries)
        await settle(pilot)
        replies = b"".join(app.replies)
        assert replies.startswith(b"\x1b[5;7R")  # the cursor when the query came
        assert replies.count(b"R") == 1 and replies.endswith(b"\x1b[0n")
        app.view.write(b"more output")
        await settle(pilot)
        assert b"".join(app.replies) == replies, "answered once"
        assert app.sent == []
    viewer = ShellApp(driving=False)
    async with viewer.run_test(size=(30, 6)) as pilot:
        viewer.view.write(queries)
        await settle(pilot)
        assert viewer.replies == [] and viewer.sent == []


# ---------------------------------------------------------------- replay


async def test_the_replay_scrolls_back_past_the_keyframe_it_seeked_to(tmp_path: Path) -> None:
    """A seek lands on a keyframe (which has no scrollback): the player starts one
    keyframe earlier, so what printed just before the moment is still there."""
    from relay.evidence.replay import KEYFRAME_BYTES, Recording
    from relay.trust.keys import SigningKey
    from tests.recordings import new_recording
    from tui.replay_app import ReplayApp
    from tui.replay_screen import ReplayScreen, ReplayTerminal

    script = new_recording(tmp_path / "long.cast", SigningKey.generate(), cols=40, rows=10)
    for second in range(60):  # 60 s of numbered 40-byte lines, ~1 MiB
        chunk = b"".join(b"%06d %s\r\n" % (second * 450 + i, b"." * 31) for i in range(450))
        script.at(second).out(chunk)
    script.rec.close("done", script.at(61).now)
    recording = Recording.open(tmp_path / "long.cast")
    frames = recording.index.keyframes
    assert len(frames) > 3 and frames[2].offset > KEYFRAME_BYTES
    moment = frames[2].time  # just at a keyframe: without the earlier one, no scrollback
    app = ReplayApp(recording, at=moment)
    async with app.run_test(size=(130, 34)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReplayScreen)
        view = screen.query_one(ReplayTerminal)
        view.focus()
        assert len(view.model.history) > 1000
        last_on_screen = int(pane(view)[0].split()[0])
        await pilot.press("shift+pageup")
        await settle(pilot)
        first = int(pane(view)[0].split()[0])
        assert first < last_on_screen and pane(view)[1].startswith(f"{first + 1:06d}")
        await wheel(pilot, view, up=True)
        assert pane(view)[0].startswith(f"{first - 3:06d}")
        # A reviewer copies too: drag over the first row's number.
        await pilot.mouse_down(view, offset=(0, 0))
        await pilot.hover(view, offset=(5, 0))
        await pilot.mouse_up(view, offset=(5, 0))
        await settle(pilot)
        assert app.clipboard == f"{first - 3:06d}"
        await pilot.press("space")  # playing: a key of the player returns to live
        await settle(pilot)
        assert not view.scrolled_back


async def test_with_scrollback_a_changed_row_is_repainted_where_it_is_shown() -> None:
    """Rows are redrawn one by one when they change: with lines in the scrollback the
    pane row of screen row y must still be y (what Textual repaints, not just renders)."""
    app = ShellApp()
    async with app.run_test(size=(30, 6)) as pilot:
        app.view.write(LINES)
        await settle(pilot)
        app.export_screenshot()  # everything painted once
        app.view.write(b"\x1b[2;1H\x1b[KCHANGED\x1b[5;3H")
        await settle(pilot)
        assert "CHANGED" in app.export_screenshot()
