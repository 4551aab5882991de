"""Issue 9, item 2, end to end: vim on a real sshd, through the relay, in the real TUI.

The lead (120x40) runs vim; a viewer asks for control, and the request banner
shrinks the lead's pane, so the PTY shrinks and vim redraws; the lead grants;
the new driver types ``:set nu``, quits, and runs ``clear; seq 1 37``. After
each step every participant's screen must equal an xterm of the PTY's
current size (a model fed the session's recording: tests/tui/test_tui_geometry.py),
and show what the step drew: the former driver saw vim's command line on the
wrong row and a blank row at the bottom, and ``seq`` from 2 instead of 1.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from textual.pilot import Pilot

from relay.core.roles import Role
from tests.harness import running_relay, sshd_target
from tests.sshd import SshdServer
from tests.tools import require_tool
from tests.tui.test_tui_geometry import same_as_pty
from tests.tui.test_tui_helpers import app_for, screen_of, type_text, until
from tui.app import WarroomApp


def rows_of(app: WarroomApp) -> list[str]:
    view = screen_of(app).terminal
    view.flush()
    return [row.rstrip() for row in view.model.display()]


async def run(pilot: Pilot[None], command: str) -> None:
    await type_text(pilot, command)
    await pilot.press("enter")


async def test_vim_across_a_handoff_on_a_real_sshd(tmp_path: Path, sshd: SshdServer) -> None:
    require_tool(shutil.which("vim") is not None, "vim is not installed")
    text = tmp_path / "services"
    text.write_text("".join(f"service-{i:03d}  {1000 + i}/tcp  # entry {i}\n" for i in range(400)))
    targets = {"sshd": sshd_target(sshd)}
    async with running_relay(tmp_path, targets=targets, recordings=True) as h:
        session = await h.open("sshd")
        lead = app_for(h, session, Role.LEAD, "alice")
        viewer = app_for(h, session, Role.VIEWER, "bob")
        async with lead.run_test(size=(120, 40)) as lp, viewer.run_test(size=(120, 40)) as vp:
            pilots = {"lead": (lp, lead), "viewer": (vp, viewer)}
            lscreen, vscreen = screen_of(lead), screen_of(viewer)
            await until(lp, lambda: lscreen.room.driving, what="alice to drive")
            await until(vp, lambda: vscreen.room.you is not None, what="bob in")
            # -u DEFAULTS: Debian's defaults (ruler, showcmd), whatever vimrc the host has.
            await run(lp, f"vim -u DEFAULTS -i NONE {text}")
            for pilot, app in pilots.values():
                await until(
                    pilot,
                    lambda app=app: rows_of(app)[0].startswith("service-000"),
                    timeout=20,
                    what="vim",
                )
            await same_as_pty(h, pilots)
            rows_before = lscreen.terminal.model.rows

            # The request banner takes a row of the lead's pane: the PTY shrinks.
            await vp.press("r")
            await until(vp, lambda: viewer.screen.id == "request-control", what="request")
            await type_text(vp, "mine")
            await vp.press("enter")
            await until(lp, lambda: lscreen.room.pending_for_me() is not None, what="request")
            await until(
                lp,
                lambda: lscreen.terminal.model.rows < rows_before,
                what="the banner to shrink the PTY",
            )
            await same_as_pty(h, pilots)

            await lp.press("ctrl+right_square_bracket", "g")
            await until(vp, lambda: vscreen.room.driving, what="bob to drive")
            await until(lp, lambda: not lscreen.room.driving, what="alice to see it")
            await run(vp, ":set nu")
            for pilot, app in pilots.values():
                await until(
                    pilot,
                    lambda app=app: rows_of(app)[0].split()[:2] == ["1", "service-000"],
                    what="line numbers",
                )
            await same_as_pty(h, pilots)
            for _, app in pilots.values():  # vim's command line, on the PTY's last row
                assert rows_of(app)[-1].startswith(":set nu"), rows_of(app)[-1]

            await run(vp, ":q")
            await run(vp, "clear; seq 1 37")
            for pilot, app in pilots.values():
                await until(
                    pilot,
                    lambda app=app: "37" in rows_of(app),
                    timeout=15,
                    what="seq",
                )
            await same_as_pty(h, pilots)
            rows = vscreen.terminal.model.rows
            for _, app in pilots.values():
                shown = rows_of(app)
                numbers = [row for row in shown if row.isdigit()]
                assert numbers[-1] == "37" and shown.index("37") == len(shown) - 2
                assert numbers[0] == str(max(1, 37 - (rows - 2))), f"{rows} rows: {numbers[0]}"

            # The windows change size after the hand-off too.
            await lp.resize_terminal(100, 30)
            await vp.resize_terminal(110, 36)
            await run(vp, "clear; seq 1 37")
            await same_as_pty(h, pilots)
