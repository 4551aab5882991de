"""Room for the shell: the side panel folds on narrow windows, and replay fits or says so.

In an 80x24 ``make demo`` the shell used to get 44 columns (everyone's shell,
since the driver's window sets its size). Checked with ``stty size`` in the
real shell behind the real relay, and on the replay screen with a recording
wider than the window.
"""

from __future__ import annotations

from pathlib import Path

from relay.core.roles import Role
from relay.evidence.replay import Recording
from relay.trust.keys import SigningKey
from tests.harness import Harness
from tests.recordings import sample_session
from tests.tui.test_tui_helpers import app_for, screen_of, terminal_text, type_text, until
from tui.replay_app import ReplayApp
from tui.replay_screen import ReplayScreen
from tui.session_screen import SIDEBAR_WIDTH


async def stty(pilot: object, app: object, marker: str) -> str:
    """Run ``stty size`` in the shared shell and return what it printed."""
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    await type_text(pilot, f"echo {marker}-$(stty size | tr ' ' x)")
    await pilot.press("enter")
    found: list[str] = []

    def printed() -> bool:
        for line in terminal_text(app).splitlines():  # type: ignore[arg-type]
            if line.startswith(f"{marker}-"):
                found.append(line.split("-", 1)[1].strip())
                return True
        return False

    await until(pilot, printed, what=f"stty size ({marker})")
    return found[0]


async def test_at_80_columns_the_driver_gets_78(harness: Harness) -> None:
    session = await harness.open()
    lead = app_for(harness, session, Role.LEAD, "alice")
    async with lead.run_test(size=(80, 24)) as lp:
        screen = screen_of(lead)
        await until(lp, lambda: screen.room.driving, what="alice drives")
        assert not screen.query_one("#sidebar").display
        assert await stty(lp, lead, "narrow") == "20x78"  # rows: status, frame, key bar
        # Who drives is still in sight: the status bar and the frame say it.
        assert str(screen.terminal.border_title).startswith("DRIVING")

        # ctrl+] s brings the panel back (the shell narrows), and takes it away again.
        await lp.press("ctrl+right_square_bracket", "s")
        await until(lp, lambda: screen.query_one("#sidebar").display, what="the panel")
        assert await stty(lp, lead, "panel") == f"20x{80 - SIDEBAR_WIDTH - 2}"
        await lp.press("ctrl+right_square_bracket", "s")
        await until(lp, lambda: not screen.query_one("#sidebar").display, what="folded")
        assert await stty(lp, lead, "again") == "20x78"


async def test_the_panel_folds_by_itself_when_the_window_narrows(harness: Harness) -> None:
    session = await harness.open()
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with viewer.run_test(size=(140, 40)) as vp:
        screen = screen_of(viewer)
        await until(vp, lambda: screen.room.you is not None, what="bob in")
        assert screen.query_one("#sidebar").display
        await vp.resize_terminal(100, 30)
        await until(vp, lambda: not screen.query_one("#sidebar").display, what="folded")
        # c opens the chat even when folded: the panel comes back for it.
        await vp.press("c")
        await until(vp, lambda: screen.query_one("#sidebar").display, what="the chat shown")
        assert viewer.focused is not None and viewer.focused.id == "chat-input"


async def test_replay_folds_its_panel_for_a_wide_recording_and_says_what_is_hidden(
    tmp_path: Path,
) -> None:
    recording = Recording.open(sample_session(tmp_path / "s.cast", SigningKey.generate()))
    app = ReplayApp(recording, at=9.0)  # after the resize to 100x30
    async with app.run_test(size=(150, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, ReplayScreen)
        await pilot.pause()
        assert screen.player.model.cols == 100
        assert screen.query_one("#replay-side").display  # 150 - 38 >= 100: room for both
        await pilot.resize_terminal(110, 40)
        await until(pilot, lambda: not screen.query_one("#replay-side").display, what="fold")
        assert "cropped" not in screen.status_line()  # 108 columns hold 100
        await pilot.resize_terminal(90, 40)
        await until(pilot, lambda: "cropped" in screen.status_line(), what="the crop note")
        assert "shell 100x30" in screen.status_line()
        # s brings the panel back on request, even though it crops more.
        await pilot.press("s")
        await until(pilot, lambda: screen.query_one("#replay-side").display, what="the panel")
