"""Scrollback and device replies through the real relay, in the real TUI.

A late joiner's snapshot carries the masked scrollback, which its pane scrolls
through; a program on the target (the sandbox and a real sshd) that asks for
the cursor position and waits gets exactly one answer, from the driver's
client, and a viewer's client sends nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from relay.audit import read_events
from relay.roles import Role
from tests.harness import Harness, Targets, running_relay
from tests.test_tui_helpers import app_for, screen_of, terminal_text, type_text, until
from tui.app import WarroomApp
from tui.terminal_view import TerminalView

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # a well-formed, fake GitHub token
# Builds the token in the shell, so that the echoed command line holds only pieces.
PRINT_TOKEN = (
    "T=ghp_A1b2C3d4E5; T=${T}f6G7h8I9j0; T=${T}K1l2M3n4O5p6Q7r8; printf 'token=%s\\n' \"$T\""
)


def history_text(app: WarroomApp) -> str:
    view = screen_of(app).query_one(TerminalView)
    view.flush()
    model = view.model
    return "\n".join(
        "".join(cell.data for cell in model.line(y)).rstrip() for y in range(-len(model.history), 0)
    )


async def run(pilot: object, app: WarroomApp, command: str) -> None:
    await type_text(pilot, command)  # type: ignore[arg-type]
    await pilot.press("enter")  # type: ignore[attr-defined]


async def test_a_late_joiner_scrolls_back_through_masked_scrollback(harness: Harness) -> None:
    session = await harness.open()
    lead = app_for(harness, session, Role.LEAD, "alice")
    async with lead.run_test(size=(100, 30)) as lp:
        await until(lp, lambda: screen_of(lead).room.driving, what="alice to drive")
        await run(lp, lead, f"{PRINT_TOKEN}; seq -f 'line %g' 1 300")
        await until(lp, lambda: "line 300" in terminal_text(lead), what="the output")
        assert f"token={TOKEN}" in history_text(lead)  # the driver's own stream is raw

        viewer = app_for(harness, session, Role.VIEWER, "bob")
        async with viewer.run_test(size=(100, 30)) as vp:
            await until(vp, lambda: "line 300" in terminal_text(viewer), what="the snapshot")
            history = history_text(viewer)
            assert "line 1\nline 2\n" in history and "line 270" in history
            assert TOKEN not in history
            assert "token=" + "*" * 10 in history  # masked, as everything a viewer sees

            view = screen_of(viewer).query_one(TerminalView)
            shown = view.size.height - 1
            await vp.press("shift+pageup")
            await vp.pause(0.1)
            rows = [view.render_line(y).text.rstrip() for y in range(shown)]
            first = int(rows[0].split()[-1])
            assert rows == [f"line {n}" for n in range(first, first + shown)]
            assert first < 300 - shown


async def test_a_program_asking_for_the_cursor_gets_one_answer_from_the_driver(
    tmp_path: Path, on_target: Targets
) -> None:
    async with running_relay(tmp_path, targets=on_target.extra) as h:
        session = await h.open(on_target.name)
        lead = app_for(h, session, Role.LEAD, "alice")
        viewer = app_for(h, session, Role.VIEWER, "bob")
        async with lead.run_test(size=(100, 30)) as lp, viewer.run_test(size=(90, 30)) as vp:
            lscreen, vscreen = screen_of(lead), screen_of(viewer)
            await until(lp, lambda: lscreen.room.driving, what="alice to drive")
            await until(vp, lambda: vscreen.room.you is not None, what="bob in")
            sent: dict[str, list[bytes]] = {"alice": [], "bob": []}
            for name, screen in (("alice", lscreen), ("bob", vscreen)):
                send_input = screen.link.send_input

                async def counting(data: bytes, name: str = name, send: Any = send_input) -> bool:
                    sent[name].append(data)
                    result: bool = await send(data)
                    return result

                screen.link.send_input = counting  # type: ignore[method-assign]

            def answers(name: str) -> list[str]:
                return re.findall(r"\x1b\[\d+;\d+R", b"".join(sent[name]).decode())

            # Ask (CPR) and wait for the answer up to R (the program hangs without one),
            # then read whatever else arrives before an M: a second answer would be there.
            await run(
                lp,
                lead,
                "printf '\\033[6n'; read -rsdR pos; IFS= read -rsd M rest;"
                ' echo "got=${pos#*[}= rest=[${rest}]"',
            )
            await until(lp, lambda: answers("alice"), timeout=15, what="the driver's answer")
            await lp.press("M")
            await until(
                lp,
                lambda: re.search(r"got=\d+;\d+= rest=\[", terminal_text(lead)),
                timeout=15,
                what="the program to get its answer",
            )
            result = re.search(r"got=(\d+);(\d+)= rest=\[(.*?)\]", terminal_text(lead))
            assert result is not None and result.group(2) == "1"  # the start of a line
            assert result.group(3) == "", "the shell got one answer, nothing more"
            await run(lp, lead, "echo DONE-$((40+2))")
            await until(vp, lambda: "DONE-42" in terminal_text(viewer), what="the next command")
            # One answer from the driver's client; the viewer's saw the query and sent nothing.
            assert len(answers("alice")) == 1
            assert sent["bob"] == []
            denied = [e for e in read_events(h.data_dir / "audit") if e["event"] == "input.denied"]
            assert denied == []
