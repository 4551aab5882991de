"""Every participant sees what an xterm of the PTY's current size shows.

The reference is built independently of the clients: a fresh terminal model
fed the session's recording (the relay writes every byte of output and every
PTY resize to it, in the order it sent them to clients and to the target).
Each participant's screen must equal that model (same size, same text, same
cursor), and each pane must show it cropped or letterboxed, whoever drives,
whatever the request banner did to the driver's pane, and however often the
size changed before and after a hand-off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from relay.core.roles import Role
from relay.evidence.asciicast import iter_events, read_header
from relay.evidence.replay import apply_event
from relay.terminal import TerminalModel
from tests.harness import Harness, running_relay
from tests.tui.test_tui_helpers import app_for, screen_of, type_text, until
from tui.app import WarroomApp
from tui.terminal_view import TerminalView

# Fills the PTY exactly: the last number on the row above the prompt.
FILL = "clear; seq 1 $(( $(stty size | cut -d' ' -f1) - 1 ))"


@pytest.fixture
async def recorded(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_relay(tmp_path, recordings=True) as h:
        yield h


def reference(recordings: Path) -> TerminalModel:
    """The screen an xterm attached to the PTY shows: the recording, replayed."""
    (path,) = recordings.glob("*.cast")
    header = read_header(path)
    model = TerminalModel(header.cols, header.rows)
    for event in iter_events(path, header):
        apply_event(model, event)
    return model


def pane_rows(view: TerminalView) -> list[str]:
    """What the pane shows, row by row, as text."""
    return [view.render_line(y).text for y in range(view.size.height)]


def mismatch(view: TerminalView, want: TerminalModel) -> str | None:
    """How the participant's screen differs from the reference (None: it does not)."""
    view.flush()
    model = view.model
    if view.pending:
        return "output still pending"
    if (model.cols, model.rows) != (want.cols, want.rows):
        return f"model is {model.cols}x{model.rows}, the PTY {want.cols}x{want.rows}"
    if model.display() != want.display():
        got, expected = model.display(), want.display()
        rows = [y for y in range(want.rows) if got[y] != expected[y]]
        return "rows differ: " + "; ".join(f"{y}: {got[y]!r} != {expected[y]!r}" for y in rows[:4])
    if model.cursor != want.cursor:
        return f"cursor at {model.cursor}, the reference's at {want.cursor}"
    width, height = view.size
    shown = pane_rows(view)
    cropped = want.cols > width or want.rows > height
    view_rows = height - 1 if cropped else height
    top = 0
    if want.rows > view_rows:  # cropped vertically: a window of rows that holds the cursor
        top = want.cursor[1] - view_rows + 1 if want.cursor[1] >= view_rows else 0
    left = view.first_column
    for y in range(view_rows):
        row = top + y
        if row >= want.rows:
            expected_text = " " * width  # letterbox below the screen
        else:
            expected_text = (want.display()[row] + " " * width)[left : left + width]
            if want.cols < width:
                expected_text = want.display()[row].ljust(width)
        got_text = shown[y]
        # ◂ and ▸ may cover the first and last cell of a row cut on that side.
        if cropped and want.cols > width:
            got_text, expected_text = got_text[1:-1], expected_text[1:-1]
        if got_text != expected_text:
            return f"pane row {y} shows {shown[y]!r}, expected {expected_text!r}"
    return None


async def same_as_pty(harness: Harness, pilots: dict[str, tuple[Pilot[None], WarroomApp]]) -> None:
    """Wait until every participant's screen equals the reference (or fail saying how not)."""
    recordings = harness.data_dir / "recordings"
    problems: dict[str, str] = {}

    def agree() -> bool:
        want = reference(recordings)
        problems.clear()
        for name, (_, app) in pilots.items():
            problem = mismatch(screen_of(app).terminal, want)
            if problem:
                problems[name] = problem
        return not problems

    first = next(iter(pilots.values()))[0]
    try:
        await until(first, agree, timeout=15, what="every screen to match the PTY")
    except AssertionError:
        raise AssertionError(f"screens differ from the PTY's: {problems}") from None


async def run(pilot: Pilot[None], command: str) -> None:
    await type_text(pilot, command)
    await pilot.press("enter")


async def test_screens_follow_the_pty_across_a_handoff_and_resizes(recorded: Harness) -> None:
    """Issue 9, item 2: the request banner shrinks the driver's pane, control changes
    hands, and both windows are resized before and after: every screen stays exact."""
    harness = recorded
    session = await harness.open()
    lead = app_for(harness, session, Role.LEAD, "alice")
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with lead.run_test(size=(120, 40)) as lp, viewer.run_test(size=(100, 32)) as vp:
        pilots = {"lead": (lp, lead), "viewer": (vp, viewer)}
        lscreen, vscreen = screen_of(lead), screen_of(viewer)
        await until(lp, lambda: lscreen.room.driving, what="alice to drive")
        await until(vp, lambda: vscreen.room.you is not None, what="bob in")
        await run(lp, FILL)
        await same_as_pty(harness, pilots)

        # The viewer asks for control: the banner shrinks the lead's pane (and the PTY).
        await vp.press("r")
        await until(vp, lambda: viewer.screen.id == "request-control", what="request dialog")
        await type_text(vp, "mine")
        await vp.press("enter")
        await until(lp, lambda: lscreen.room.pending_for_me() is not None, what="request")
        await run(lp, FILL)
        await same_as_pty(harness, pilots)

        await lp.press("ctrl+right_square_bracket", "g")
        await until(vp, lambda: vscreen.room.driving, what="bob to drive")
        await run(vp, FILL)
        await same_as_pty(harness, pilots)

        # The driver's window changes, then the former driver's.
        await vp.resize_terminal(90, 28)
        await run(vp, FILL)
        await same_as_pty(harness, pilots)
        await lp.resize_terminal(80, 20)
        await run(vp, "seq 1 5")
        await same_as_pty(harness, pilots)

        # Control goes back; sizes change again around it.
        await vp.resize_terminal(110, 36)
        await lp.press("t", "y")  # t asks first; y confirms
        await until(lp, lambda: lscreen.room.driving, what="alice to take control back")
        await lp.resize_terminal(130, 44)
        await run(lp, FILL)
        await same_as_pty(harness, pilots)
        await run(lp, "stty size")
        await same_as_pty(harness, pilots)
