"""Scrollback, copy, the mouse and device replies through the real relay, in the real TUI.

A late joiner's snapshot carries the masked scrollback, which its pane scrolls
through, and so does the snapshot a teammate gets when they reconnect further
behind than the relay keeps (raw for the driver). Scrolling back and scroll
mode never type into the driver's shell; the driver and viewers copy by
dragging. A program on the target (the sandbox and a real sshd) that tracks
the mouse gets the driver's clicks only, in the encoding it asked for, and one
that asks for the cursor position and waits gets exactly one answer, from the
driver's client, before and after control changes hands.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from relay.config import Limits
from relay.core.protocol import OutputChunk, Snapshot
from relay.core.roles import Role
from relay.evidence.audit import read_events
from relay.net.output import SNAPSHOT_HISTORY_LINES
from relay.terminal import TerminalModel
from tests.harness import Harness, Targets, read_until, running_relay
from tests.tui.test_tui_helpers import (
    app_for,
    screen_of,
    scroll_wheel,
    terminal_text,
    type_text,
    until,
)
from tui.app import WarroomApp
from tui.client import RelayClient
from tui.session_link import Keepalive
from tui.session_screen import SessionScreen
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


def count_input(screen: SessionScreen) -> list[bytes]:
    """Every input this client sends to the relay from now on, in order (still sent)."""
    sent: list[bytes] = []
    send_input = screen.link.send_input

    async def counting(data: bytes) -> bool:
        sent.append(data)
        result: bool = await send_input(data)
        return result

    screen.link.send_input = counting  # type: ignore[method-assign]
    return sent


def pane(view: TerminalView) -> list[str]:
    """What the pane shows, row by row."""
    return [view.render_line(y).text.rstrip() for y in range(view.size.height)]


async def drag(
    pilot: Pilot[None],
    view: TerminalView,
    start: tuple[int, int],
    end: tuple[int, int],
    **keys: bool,
) -> None:
    await pilot.mouse_down(view, offset=start, **keys)
    await pilot.hover(view, offset=end)
    await pilot.mouse_up(view, offset=end, **keys)
    await pilot.pause()


async def wheel(pilot: Pilot[None], view: TerminalView, up: bool) -> None:
    await scroll_wheel(pilot, view, up=up, offset=(3, 3))


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


def lines_of(model: TerminalModel, ys: range) -> list[str]:
    return ["".join(cell.data for cell in model.line(y)).rstrip() for y in ys]


async def test_teammates_reconnecting_too_far_behind_get_the_scrollback(tmp_path: Path) -> None:
    """A client back after more output than the relay keeps gets a snapshot whose
    scrollback holds the newest lines of its own stream: masked for a viewer,
    raw for the driver (who sees raw output), back within their grace."""
    limits = Limits(output_buffer=1024 * 1024, driver_grace=600)
    async with running_relay(tmp_path, limits=limits) as h:
        session = await h.open()
        witness = await h.joined("carol", session)
        clients = {"alice": await h.joined("alice", session), "bob": await h.joined("bob", session)}
        # READY, then more than the relay keeps (~1.6 MiB of 11-byte lines), the token
        # and 30 lines: the token is in the scrollback, above a 24-row screen.
        await clients["alice"].send_input(
            f"echo READY-$((6*7)); seq -f 'row %06g' 1 150000; {PRINT_TOKEN};"
            " seq -f 'tail %g' 1 30; echo END-$((6*7))\r".encode()
        )
        left_at: dict[str, int] = {}
        tokens: dict[str, str] = {}
        for name, client in clients.items():  # each reads up to READY and leaves
            seen = bytearray()
            while b"READY-42" not in seen:
                event = await client.recv()
                if isinstance(event, OutputChunk):
                    seen += event.data
                    left_at[name] = event.offset + len(event.data)
            tokens[name] = client.identity["token"]
            await client.close()
        await read_until(witness, b"END-42", timeout=120)

        for name in ("alice", "bob"):
            again = RelayClient(h.url)
            h.clients.append(again)
            await again.connect()
            await again.auth_token(tokens[name])
            await again.join(session, offset=left_at[name])
            event = await again.wait_for(lambda e: not isinstance(e, dict))
            assert isinstance(event, Snapshot), f"{name} resumed instead of a snapshot"
            model = TerminalModel(event.cols, event.rows)
            model.feed(event.data)
            history = lines_of(model, range(-len(model.history), 0))
            screen = lines_of(model, range(model.rows))
            assert len(history) == SNAPSHOT_HISTORY_LINES
            rows = [int(line.split()[1]) for line in history if line.startswith("row ")]
            assert rows == list(range(rows[0], 150001)), "the newest rows, in order"
            at = history.index(f"row {150000:06d}") + 1
            shown = "token=" + (TOKEN if name == "alice" else "*" * 10)
            assert history[at].startswith(shown), f"{name}'s stream: {history[at]!r}"
            if name == "bob":
                assert TOKEN not in "\n".join(history + screen)
            tails = history[at + 1 :] + screen
            assert tails[: tails.index("END-42")] == [f"tail {n}" for n in range(1, 31)]
            await again.close()


async def test_scrolling_and_copying_while_driving_types_nothing_into_the_shell(
    harness: Harness,
) -> None:
    """shift+PgUp/PgDn, the wheel and scroll mode (ctrl+] b, keys, v, y, q) are the
    window's: the driver's shell (``cat -v``, which shows any byte it gets) reads only
    what is typed after them."""
    session = await harness.open()
    lead = app_for(harness, session, Role.LEAD, "alice")
    async with lead.run_test(size=(100, 30)) as lp:
        lscreen = screen_of(lead)
        view = lscreen.terminal
        await until(lp, lambda: lscreen.room.driving, what="alice to drive")
        await run(lp, lead, "seq -f 'line %g' 1 100; cat -v")
        await until(lp, lambda: "line 100" in terminal_text(lead), what="the output")
        sent = count_input(lscreen)

        await lp.press("shift+pageup", "shift+pageup")
        await until(lp, lambda: view.scrolled_back, what="the pane to scroll back")
        assert "line 100" not in pane(view)
        await lp.press("shift+pagedown")
        await wheel(lp, view, up=True)
        await wheel(lp, view, up=False)
        await lp.press("ctrl+right_square_bracket", "b")
        await until(lp, lambda: view.scroll_mode, what="scroll mode")
        await lp.press("up", "v", "up", "y")  # from the start of "line 100" up a line
        await until(lp, lambda: lead.clipboard == "line 99\nl", what="the copy")
        assert not view.scroll_mode and not view.scrolled_back
        await lp.press("ctrl+right_square_bracket", "b", "pageup", "q")
        assert sent == [], "nothing reached the shell"

        await lp.press("E", "N", "D", "enter", "ctrl+d")

        def shown() -> list[str]:
            return [line.rstrip() for line in terminal_text(lead).splitlines()]

        await until(lp, lambda: shown()[-3:] == ["END", "END", "$"], what="cat to echo")
        assert b"".join(sent) == b"END\r\x04"
        assert "^[" not in terminal_text(lead)


async def test_every_role_copies_what_it_sees(harness: Harness) -> None:
    """The driver and a viewer drag to copy, also while the driver's program tracks
    the mouse (the driver then holds shift); the reviewer's copy is in
    test_tui_scrollback.py (replay)."""
    session = await harness.open()
    lead = app_for(harness, session, Role.LEAD, "alice")
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with lead.run_test(size=(100, 30)) as lp, viewer.run_test(size=(90, 30)) as vp:
        lscreen, vscreen = screen_of(lead), screen_of(viewer)
        await until(lp, lambda: lscreen.room.driving, what="alice to drive")
        await until(vp, lambda: vscreen.room.you is not None, what="bob in")
        apps = ((lp, lead, lscreen), (vp, viewer, vscreen))
        await run(lp, lead, "clear; seq -f 'copy %g' 1 5")
        for pilot, app, _ in apps:
            await until(pilot, lambda app=app: "copy 5" in terminal_text(app), what="output")
        viewer_sent = count_input(vscreen)

        async def copies(
            pilot: Pilot[None], app: WarroomApp, screen: SessionScreen, **keys: bool
        ) -> None:
            view = screen.terminal
            y = pane(view).index("copy 3")
            app.copy_to_clipboard("")
            await drag(pilot, view, (0, y), (5, y + 1), **keys)
            await until(pilot, lambda: app.clipboard == "copy 3\ncopy 4", what="the copy")

        for pilot, app, screen in apps:
            await copies(pilot, app, screen)

        await run(lp, lead, "printf '\\033[?1000h'")  # the program tracks the mouse now
        for pilot, _, screen in apps:
            await until(
                pilot,
                lambda screen=screen: screen.terminal.model.mouse_protocol == 1000,
                what="mouse tracking",
            )
        await copies(vp, viewer, vscreen)  # a viewer's mouse is never the program's
        await copies(lp, lead, lscreen, shift=True)
        assert viewer_sent == []


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


# Reads until a q (the terminal in cbreak mode, no echo) and prints what it read in hex.
READ_MOUSE = (
    "clear; printf '\\033[?{modes}h'; IFS= read -rsd q got; printf '\\033[?{modes}l';"
    ' echo "got=$(printf %s "$got" | od -An -tx1 | tr -d \' \\n\')="'
)


def got(app: WarroomApp) -> str | None:
    found = re.search(r"got=([0-9a-f]*)=", terminal_text(app))
    return found.group(1) if found else None


async def test_after_a_handoff_only_the_new_driver_clicks_and_answers(
    tmp_path: Path, on_target: Targets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mouse reports reach the program from the driver alone, in the encoding the
    program asked for (SGR, then the default), and after control changes hands the
    former driver's client neither clicks nor answers device queries: the shell
    hears one answer, from the new driver."""
    async with running_relay(tmp_path, targets=on_target.extra) as h:
        # The relay refuses keys that waited over 3 s while its loop did not run
        # (relay.net.stall), and a TUI whose pings go unanswered for 3 s refuses keys
        # (tui.session_link). Here one loop runs the relay and both TUIs, which a
        # loaded machine can stall that long; stalls are test_link_health.py's.
        monkeypatch.setattr("relay.net.stall.STALL", 120.0)
        h.relay.watch.stall = 120.0
        monkeypatch.setattr(
            "tui.session_link.Keepalive", partial(Keepalive, silent_after=120, dead_after=180)
        )
        session = await h.open(on_target.name)
        lead = app_for(h, session, Role.LEAD, "alice")
        viewer = app_for(h, session, Role.VIEWER, "bob")
        async with lead.run_test(size=(100, 30)) as lp, viewer.run_test(size=(90, 30)) as vp:
            lscreen, vscreen = screen_of(lead), screen_of(viewer)
            await until(lp, lambda: lscreen.room.driving, what="alice to drive")
            await until(vp, lambda: vscreen.room.you is not None, what="bob in")
            sent = {"alice": count_input(lscreen), "bob": count_input(vscreen)}
            pilots = {"alice": (lp, lscreen), "bob": (vp, vscreen)}

            async def clicks(driver: str, modes: str, expected: bytes) -> None:
                pilot, screen = pilots[driver]
                app = lead if driver == "alice" else viewer
                await run(pilot, app, READ_MOUSE.format(modes=modes))
                for name, (other_pilot, other) in pilots.items():
                    await until(
                        other_pilot,
                        lambda other=other: other.terminal.model.mouse_protocol != 0,
                        timeout=30,
                        what=f"{name}'s pane to track the mouse",
                    )
                view = screen.terminal
                await until(
                    pilot,
                    lambda: (view.model.cols, view.model.rows) == tuple(view.size),
                    what="the PTY to have the driver's size",
                )
                for name, (other_pilot, other) in pilots.items():
                    if name != driver:  # the others click first: nothing may reach the shell
                        await other_pilot.click(other.terminal, offset=(4, 2))
                await pilot.click(view, offset=(4, 2))  # column 5, row 3
                await pilot.press("q")
                await until(
                    pilot, lambda: got(app) is not None, timeout=30, what="the program's report"
                )
                assert got(app) == expected.hex(), f"{driver} clicked {modes}"

            await clicks("alice", "1000;1006", b"\x1b[<0;5;3M\x1b[<0;5;3m")
            assert sent["bob"] == []

            await vp.press("r")
            await until(vp, lambda: viewer.screen.id == "request-control", what="request")
            await type_text(vp, "mine")
            await vp.press("enter")
            await until(lp, lambda: lscreen.room.pending_for_me() is not None, what="request")
            await lp.press("ctrl+right_square_bracket", "g")
            await until(vp, lambda: vscreen.room.driving, what="bob to drive")
            await until(lp, lambda: not lscreen.room.driving, what="alice to see it")
            sent["alice"].clear()

            await clicks("bob", "1000", b"\x1b[M %#\x1b[M#%#")  # X10 bytes: 32 + values
            # A program asks for the cursor and waits (see the test above).
            await run(
                vp,
                viewer,
                "printf '\\033[6n'; read -rsdR pos; IFS= read -rsd M rest;"
                ' echo "got2=${pos#*[}= rest=[${rest}]"',
            )

            def answers() -> list[str]:
                return re.findall(r"\x1b\[\d+;\d+R", b"".join(sent["bob"]).decode())

            await until(vp, answers, timeout=15, what="the driver's answer")
            await vp.press("M")
            await until(
                vp,
                lambda: re.search(r"got2=\d+;\d+= rest=\[", terminal_text(viewer)),
                timeout=15,
                what="the program to get its answer",
            )
            result = re.search(r"got2=(\d+);(\d+)= rest=\[(.*?)\]", terminal_text(viewer))
            assert result is not None and result.group(3) == "", "one answer, nothing more"
            await run(vp, viewer, "echo DONE-$((40+2))")
            await until(lp, lambda: "DONE-42" in terminal_text(lead), what="the next command")
            assert len(answers()) == 1
            assert sent["alice"] == [], "the former driver's client sent nothing"
            denied = [e for e in read_events(h.data_dir / "audit") if e["event"] == "input.denied"]
            assert denied == []
