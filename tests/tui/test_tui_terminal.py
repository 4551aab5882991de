"""The terminal pane: rendering, dirty-line redraws, cropping, keys and paste.

Byte streams are fed through the widget (as the relay's frames would be) and the
result is read back from the model and from the ``Strip`` lines Textual paints.
"""

from __future__ import annotations

import pytest
from rich.style import Style
from textual import _time as textual_time
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from tests.tools import TESTS
from tests.tui.test_tui_helpers import until
from tui.strips import line_strip, pen_style
from tui.terminal_view import TerminalView

STREAMS = TESTS / "data" / "streams"


class TermApp(App[None]):
    """Just the terminal pane, collecting what it posts."""

    def __init__(self, cols: int = 40, rows: int = 10, driving: bool = False) -> None:
        super().__init__()
        self.cols, self.rows, self.start_driving = cols, rows, driving
        self.sent: list[bytes] = []
        self.resized: list[tuple[int, int]] = []
        self.behind = 0

    def compose(self) -> ComposeResult:
        yield TerminalView(self.cols, self.rows)

    def on_mount(self) -> None:
        view = self.query_one(TerminalView)
        view.driving = self.start_driving
        view.focus()

    def on_terminal_view_input(self, event: TerminalView.Input) -> None:
        self.sent.append(event.data)

    def on_terminal_view_resized(self, event: TerminalView.Resized) -> None:
        self.resized.append((event.cols, event.rows))

    def on_terminal_view_behind(self) -> None:
        self.behind += 1

    @property
    def view(self) -> TerminalView:
        return self.query_one(TerminalView)


def text_of(strip_segments: object) -> str:
    return "".join(seg.text for seg in strip_segments)  # type: ignore[attr-defined]


async def settle(pilot: Pilot[None]) -> None:
    await pilot.pause(0.05)
    await pilot.pause()


# ---------------------------------------------------------------- rendering


async def test_colours_and_attributes_become_rich_styles() -> None:
    app = TermApp(cols=40, rows=5)
    async with app.run_test(size=(40, 5)) as pilot:
        app.view.write(
            b"\x1b[31mR\x1b[0m\x1b[38;5;202mP\x1b[0m\x1b[38;2;1;2;3mT\x1b[0m"
            b"\x1b[1;4;7mB\x1b[0m\x1b[44mb\x1b[0m\x1b[3;9mI"
        )
        await settle(pilot)
        runs = app.view.model.line_runs(0)
        styles = {text[0]: pen_style(pen) for text, pen in runs}
        assert styles["R"].color is not None and styles["R"].color.name == "red"
        assert styles["P"].color is not None and styles["P"].color.number == 202
        assert styles["T"].color is not None and styles["T"].color.triplet is not None
        assert tuple(styles["T"].color.triplet) == (1, 2, 3)
        assert styles["B"].bold and styles["B"].underline and styles["B"].reverse
        assert styles["b"].bgcolor is not None and styles["b"].bgcolor.name == "blue"
        assert styles["I"].italic and styles["I"].strike


async def test_wide_characters_keep_the_row_width() -> None:
    app = TermApp(cols=10, rows=3)
    async with app.run_test(size=(10, 3)) as pilot:
        app.view.write("中文ab".encode())
        await settle(pilot)
        strip = line_strip(app.view.model, 0)
        assert strip.cell_length == 10
        assert text_of(strip).startswith("中文ab")
        assert app.view.render_line(0).cell_length == 10


async def test_utf8_split_across_frames() -> None:
    app = TermApp()
    async with app.run_test(size=(40, 10)) as pilot:
        data = "é中🙂".encode()
        for i in range(len(data)):
            app.view.write(data[i : i + 1])
        await settle(pilot)
        assert app.view.screen_text()[0].startswith("é中🙂")


async def test_alternate_screen_enter_and_leave() -> None:
    app = TermApp(cols=40, rows=6)
    async with app.run_test(size=(40, 6)) as pilot:
        view = app.view
        view.write(b"$ ls\r\nmain-screen-text\r\n$ ")
        view.write(b"\x1b[?1049h\x1b[H\x1b[2Jfull screen app")
        await settle(pilot)
        assert view.model.alternate
        assert view.screen_text()[0].startswith("full screen app")
        assert "main-screen-text" not in "\n".join(view.screen_text())
        view.write(b"\x1b[?1049l")
        await settle(pilot)
        assert not view.model.alternate
        assert view.screen_text()[1].startswith("main-screen-text")
        assert "full screen app" not in "\n".join(view.screen_text())


async def test_scroll_region() -> None:
    app = TermApp(cols=20, rows=6)
    async with app.run_test(size=(20, 6)) as pilot:
        view = app.view
        view.write(b"header\r\n")
        view.write(b"\x1b[2;5r\x1b[2;1H")  # rows 2-5 scroll, row 1 and 6 stay
        view.write(b"\x1b[6;1Hfooter\x1b[2;1H")
        view.write(b"".join(b"line%d\r\n" % i for i in range(8)))
        await settle(pilot)
        rows = [r.rstrip() for r in view.screen_text()]
        assert rows[0] == "header"
        assert rows[5] == "footer"
        assert rows[1:5] == ["line5", "line6", "line7", ""]


@pytest.mark.parametrize("name", ["vim", "less", "top"])
async def test_recorded_full_screen_programs(name: str) -> None:
    """Real recordings (80x24): the program's screen while it runs, the shell after."""
    data = (STREAMS / f"{name}.bin").read_bytes()
    app = TermApp(cols=80, rows=24)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.view
        enter = data.find(b"\x1b[?1049h")
        leave = data.rfind(b"\x1b[?1049l")
        if name == "top" and enter < 0:
            view.write(data)
            await settle(pilot)
            assert "PID" in "\n".join(view.screen_text())
            return
        assert 0 <= enter < leave
        view.write(data[:leave])
        await settle(pilot)
        assert view.model.alternate, "the program's screen is the alternate screen"
        during = "\n".join(view.screen_text())
        assert "notes.txt" not in during
        if name in ("vim", "less"):
            assert "quick brown fox" in during
        else:
            assert "PID" in during
        view.write(data[leave:])
        await settle(pilot)
        assert not view.model.alternate
        assert "notes.txt" in "\n".join(view.screen_text())
        for y in range(24):  # every line renders at full width
            assert view.render_line(y).cell_length == 80


# ---------------------------------------------------------------- redraws


async def test_only_dirty_lines_are_rebuilt() -> None:
    app = TermApp(cols=20, rows=8)
    async with app.run_test(size=(20, 8)) as pilot:
        view = app.view
        view.write(b"".join(b"row %d\r\n" % i for i in range(7)))
        await settle(pilot)
        for y in range(8):
            view.render_line(y)
        before = view.rows_built.copy()
        view.write(b"\x1b[3;1Hchanged")  # row 2, and the cursor moves from row 7 to row 2
        await settle(pilot)
        for y in range(8):  # every row drawn again: only the dirty ones are rebuilt
            view.render_line(y)
        rebuilt = set(view.rows_built - before)
        assert rebuilt == {2, 7}
        assert view.screen_text()[2].startswith("changed")


async def test_output_is_coalesced_into_frames() -> None:
    app = TermApp(cols=40, rows=10)
    async with app.run_test(size=(40, 10)) as pilot:
        view = app.view
        frames = view.frames
        for i in range(500):
            view.write(b"chunk %d\r\n" % i)
        await settle(pilot)
        await pilot.pause(0.1)
        assert view.screen_text()[-2].startswith("chunk 499")
        assert view.frames - frames < 20, "500 writes must not mean 500 redraws"


class ReplyingApp(TermApp):
    """The pane, collecting device replies too."""

    def __init__(self) -> None:
        super().__init__(cols=40, rows=5, driving=True)
        self.replies: list[bytes] = []

    def on_terminal_view_reply(self, event: TerminalView.Reply) -> None:
        self.replies.append(event.data)


async def test_frames_keep_coming_when_the_ui_is_descheduled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a loaded machine the UI can lose the CPU between any two lines, for longer
    than a frame's delay: the pane still draws every byte and answers the shell's
    queries (a frame timer Textual counts as missed once meant a pane frozen for good).
    """
    app = ReplyingApp()
    async with app.run_test(size=(40, 5)) as pilot:
        view = app.view
        await settle(pilot)
        real = textual_time.get_time
        lost = [0.0]

        def descheduled() -> float:
            lost[0] += 0.02  # every reading of Textual's clock comes 20 ms after the last
            return real() + lost[0]

        monkeypatch.setattr(textual_time, "get_time", descheduled)
        for line in range(3):
            view.write(b"line %d\r\n" % line)
            await until(pilot, lambda line=line: f"line {line}" in "\n".join(view.screen_text()))
        view.write(b"\x1b[6n")
        await until(pilot, lambda: app.replies == [b"\x1b[4;1R"], what="the cursor report")
        view.write(b"\x1b[?1000h")
        await until(pilot, lambda: view.model.mouse_protocol != 0, what="mouse tracking")


async def test_huge_backlog_asks_for_a_snapshot() -> None:
    app = TermApp()
    async with app.run_test(size=(40, 10)) as pilot:
        app.view.write(b"x" * (3 * 1024 * 1024))
        await settle(pilot)
        assert app.behind == 1
        assert not app.view.pending
        app.view.load_snapshot(40, 10, b"\x1b[Hfresh")
        await settle(pilot)
        assert app.view.screen_text()[0].startswith("fresh")


# ---------------------------------------------------------------- cropping


async def test_smaller_window_is_cropped_with_a_marker() -> None:
    app = TermApp(cols=60, rows=20)
    async with app.run_test(size=(30, 8)) as pilot:
        view = app.view
        view.write(b"short\r\n" + b"L" * 50 + b"\r\n")
        view.write(b"\x1b[20;1Hlast line")
        await settle(pilot)
        assert view.cropped
        marker = text_of(view.render_line(7))
        assert "✂" in marker and "60x20" in marker
        # The rows shown follow the cursor (on the last row of the PTY).
        shown = [text_of(view.render_line(y)) for y in range(7)]
        assert shown[-1].startswith("last line")
        assert all(len(line) == 30 for line in shown)
        view.write(b"\x1b[1;1H")  # cursor back to the top: the top rows come back
        await settle(pilot)
        assert text_of(view.render_line(0)).startswith("short")
        long_row = text_of(view.render_line(1))
        assert long_row.endswith("▸"), "a row cut on the right is marked"
        assert "cropped" in view.crop_note()


def cursor_cell(strip_segments: object) -> int | None:
    """The column drawn in reverse video (the cursor), if any."""
    x = 0
    for seg in strip_segments:  # type: ignore[attr-defined]
        if seg.style is not None and seg.style.reverse:
            return x
        x += seg.cell_length
    return None


async def test_narrow_window_crop_follows_the_cursor_sideways() -> None:
    app = TermApp(cols=100, rows=4)
    async with app.run_test(size=(70, 5)) as pilot:
        view = app.view
        digits = "".join(str(i % 10) for i in range(100))
        view.write(b"\x1b[?25h" + digits[:90].encode() + b"\r\n" + digits.encode())
        view.write(b"\x1b[1;91H")  # the cursor after the 90 digits of row 0, column 90
        await settle(pilot)
        assert view.model.cursor == (90, 0)
        # Columns 22-91 are shown: the cursor sits one cell before the right edge.
        row = text_of(view.render_line(0))
        assert len(row) == 70
        assert row.startswith("◂"), "a row cut on the left is marked"
        assert row[1:68] == digits[23:90]
        assert cursor_cell(view.render_line(0)) == 68
        full = text_of(view.render_line(1))
        assert full == "◂" + digits[23:91] + "▸"
        marker = text_of(view.render_line(4))
        assert "✂" in marker and "23 columns on the left, 9 on the right" in marker

        # Moving within the view does not scroll it.
        view.write(b"\x1b[10D")  # ten columns left: column 80
        await settle(pilot)
        assert text_of(view.render_line(1)) == full
        assert cursor_cell(view.render_line(0)) == 58

        # To the far right: the last column is shown, with no ▸.
        view.write(b"\x1b[2;100H")
        await settle(pilot)
        assert view.model.cursor == (99, 1)
        assert text_of(view.render_line(1)) == "◂" + digits[31:100]
        assert cursor_cell(view.render_line(1)) == 69
        assert "31 columns on the left hidden" in text_of(view.render_line(4))

        # Back to the start of the line: the left part again, marked ▸ as before.
        view.write(b"\r")
        await settle(pilot)
        assert text_of(view.render_line(1)) == digits[:69] + "▸"
        assert cursor_cell(view.render_line(1)) == 0
        marker = text_of(view.render_line(4))
        assert "31 columns hidden" in marker and "left" not in marker


async def test_sideways_crop_keeps_wide_characters_whole_width() -> None:
    app = TermApp(cols=40, rows=3)
    async with app.run_test(size=(15, 4)) as pilot:
        view = app.view
        view.write("中文".encode() * 9)  # 36 cells; the cursor ends at column 36
        await settle(pilot)
        for y in range(3):
            assert view.render_line(y).cell_length == 15
        assert text_of(view.render_line(0)).startswith("◂")
        assert cursor_cell(view.render_line(0)) == 13


async def test_larger_window_shows_the_pty_edge() -> None:
    app = TermApp(cols=20, rows=4)
    async with app.run_test(size=(30, 6)) as pilot:
        view = app.view
        view.write(b"hello")
        await settle(pilot)
        assert not view.cropped
        line = view.render_line(0)
        assert line.cell_length == 30
        assert text_of(line).startswith("hello")
        assert text_of(view.render_line(5)).strip() == ""


# ---------------------------------------------------------------- input


async def test_keys_go_to_the_shell_only_while_driving() -> None:
    app = TermApp(driving=False)
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.press("x", "ctrl+c", "up")
        assert app.sent == []
        app.view.driving = True
        await pilot.press("l", "s", "enter", "ctrl+c", "up", "tab", "escape", "f5")
        assert app.sent == [b"l", b"s", b"\r", b"\x03", b"\x1b[A", b"\t", b"\x1b", b"\x1b[15~"]


async def test_application_cursor_mode_changes_arrows() -> None:
    app = TermApp(driving=True)
    async with app.run_test(size=(40, 10)) as pilot:
        app.view.write(b"\x1b[?1h")  # DECCKM, as vim and less set it
        await settle(pilot)
        await pilot.press("up", "left")
        assert app.sent == [b"\x1bOA", b"\x1bOD"]


async def test_ctrl_q_and_ctrl_p_reach_the_shell_in_the_real_app() -> None:
    """Priority bindings of the app are disabled while driving (see test_tui_session)."""
    from tui.app import SHELL_KEYS_WIN

    assert {"quit", "command_palette"} <= SHELL_KEYS_WIN


async def test_the_pane_alone_sends_ctrl_bracket_to_the_shell() -> None:
    """The escape chord is the session screen's (tests/tui/test_tui_safety.py): the pane
    itself has no window keys, so without a screen around it ``ctrl+]`` is the shell's."""
    app = TermApp(driving=True)
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.press("ctrl+right_square_bracket", "c")
        assert app.sent == [b"\x1d", b"c"]


async def test_paste_is_bracketed_when_the_program_asks() -> None:
    from textual import events

    app = TermApp(driving=True)
    async with app.run_test(size=(40, 10)) as pilot:
        app.view.post_message(events.Paste("ls\nid"))
        await settle(pilot)
        app.view.write(b"\x1b[?2004h")
        await settle(pilot)
        app.view.post_message(events.Paste("ls\nid"))
        await settle(pilot)
        assert app.sent == [b"ls\rid", b"\x1b[200~ls\rid\x1b[201~"]


async def test_the_window_never_sizes_the_model() -> None:
    """The driver's window sets the PTY's size through the relay; the screen
    changes size only when that change comes back in the stream."""
    app = TermApp(cols=80, rows=24, driving=False)
    async with app.run_test(size=(50, 12)) as pilot:
        await until(pilot, lambda: app.resized[-1:] == [(50, 12)], what="the window's size")
        assert (app.view.model.cols, app.view.model.rows) == (80, 24)
        app.view.driving = True
        await settle(pilot)
        assert (app.view.model.cols, app.view.model.rows) == (80, 24)
        app.view.resize_model(50, 12)
        await settle(pilot)
        assert (app.view.model.cols, app.view.model.rows) == (50, 12)


@pytest.mark.parametrize("seed", range(20))
def test_size_changes_apply_between_the_right_bytes(seed: int) -> None:
    """Whatever the frame budget splits, each size change lands exactly between
    the bytes written before it and after it (as the relay's model applied it)."""
    import random

    from relay.terminal import TerminalModel

    rng = random.Random(seed)
    view = TerminalView(20, 6)
    want = TerminalModel(20, 6)
    for _ in range(40):
        if rng.random() < 0.3:
            cols, rows = rng.randint(5, 30), rng.randint(2, 10)
            view.resize_model(cols, rows)
            want.resize(cols, rows)
        else:
            data = "".join(
                rng.choice(["word ", "\r\n", "wrapping-text-", "\x1b[2J"])
                for _ in range(rng.randint(1, 8))
            ).encode()
            view.write(data)
            want.feed(data)
        if rng.random() < 0.3:
            view.flush(rng.randint(0, 40))  # a frame with a small budget
    view.flush()
    assert (view.model.cols, view.model.rows) == (want.cols, want.rows)
    assert view.model.display() == want.display()
    assert view.model.cursor == want.cursor


def test_pen_style_reverse_video() -> None:
    from relay.terminal import BLANK

    assert pen_style(BLANK, reverse_video=True) == Style(reverse=True)
    assert pen_style(BLANK) == Style()
