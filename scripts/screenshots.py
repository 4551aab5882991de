"""Make the README's screenshots from the real app, against a real demo relay.

    python scripts/screenshots.py [OUTPUT_DIR]   (default: screenshots/)

Starts what ``warroom demo`` starts (a relay, a sandbox SSH target, a session),
opens the lead's and a viewer's TUI headless, drives them through a short
incident, and saves SVGs with ``App.save_screenshot``:

* ``session-lead.svg``: the lead's window, driving;
* ``session-viewer.svg``: a viewer's window on the same session, with chat;
* ``handoff-request.svg``: the lead's window while the viewer asks for control;
* ``viewer-driving.svg``: the viewer's window once the lead granted control;
* ``lobby.svg``: ``warroom join ws://relay`` for a lead: sessions and targets;
* ``session-ended.svg``: the lead's window after ending the session: where the
  recording went and how to replay it;
* ``recordings.svg``: a reviewer's invite opens the recordings browser (a search);
* ``replay.svg``: the recording, replayed at the search's match.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Footer  # noqa: E402
from textual.widgets._footer import FooterKey  # noqa: E402

from relay.cli.demo import SESSION_ID, start_demo  # noqa: E402
from relay.core.roles import Role  # noqa: E402
from relay.trust.identity import parse_join_target  # noqa: E402
from tui.app import Connector, WarroomApp  # noqa: E402
from tui.lobby import LobbyScreen  # noqa: E402
from tui.recordings import RecordingsScreen  # noqa: E402
from tui.replay_screen import ReplayScreen  # noqa: E402
from tui.session_screen import SessionScreen  # noqa: E402

SHOTS = (
    "session-lead",
    "session-viewer",
    "handoff-request",
    "viewer-driving",
    "lobby",
    "session-ended",
    "recordings",
    "replay",
)

SIZE = (120, 32)
REPLAY_SIZE = (120, 36)
COMMANDS = [
    "clear",
    "printf '\\033[1mapi-7\\033[0m  \\033[32m● healthy\\033[0m   "
    "\\033[1mapi-8\\033[0m  \\033[31m● 502s\\033[0m\\n'",
    "uptime",
    "ls --color=always /",
]


async def until(pilot: Pilot[None], condition: Callable[[], object], timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("screenshot step timed out")
        await pilot.pause(0.05)


async def footer_drawn(pilot: Pilot[None], app: WarroomApp, *texts: str) -> None:
    """Wait until the screen's footer shows its keys (it fills in after a refresh), and
    ``texts`` are on the screen (tables are refilled when the relay's answer comes)."""

    def drawn() -> bool:
        shot = app.export_screenshot()
        if not all(text.replace(" ", "&#160;") in shot for text in texts):
            return False
        if not app.screen.query(Footer):
            return True
        keys = app.screen.query(FooterKey)
        return bool(keys) and all(k.description.replace(" ", "&#160;") in shot for k in keys)

    await until(pilot, drawn)


async def type_line(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text], "enter")


def session_of(app: WarroomApp) -> SessionScreen:
    screen = app.screen
    assert isinstance(screen, SessionScreen), screen
    return screen


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        demo = await start_demo(Path(tmp), 0)
        try:
            lobby_invite = await demo.relay.invite(Role.LEAD, None, 600, "lead")
            await _session_shots(demo.invites, lobby_invite, out)
            await _reviewer_shots(demo.invites[Role.REVIEWER], out)
        finally:
            await demo.close()
    for name in SHOTS:
        print(out / f"{name}.svg")


async def _session_shots(invites: dict[Role, str], lobby_invite: str, out: Path) -> None:
    lead = WarroomApp(Connector(parse_join_target(invites[Role.LEAD])), SESSION_ID)
    viewer = WarroomApp(Connector(parse_join_target(invites[Role.VIEWER]), name="maya"), SESSION_ID)
    async with lead.run_test(size=SIZE) as lp, viewer.run_test(size=SIZE) as vp:
        ls, vs = session_of(lead), session_of(viewer)
        await until(lp, lambda: ls.room.driving)
        await until(vp, lambda: vs.room.you is not None and len(ls.room.members) == 2)
        for command in COMMANDS:
            await type_line(lp, command)
            await lp.pause(0.3)
        await vp.press("c")
        await type_line(vp, "api-8 is the one throwing 502s")
        await lp.press("ctrl+right_square_bracket", "c")
        await type_line(lp, "looking at it now")
        await lp.press("escape")
        await until(vp, lambda: len(vs.chat.lines) == 2)
        await vp.press("escape")
        await lp.pause(1.0)
        await vp.pause(0.5)
        lead.clear_notifications()
        viewer.clear_notifications()
        await lp.pause(0.2)
        lead.save_screenshot("session-lead.svg", str(out))
        viewer.save_screenshot("session-viewer.svg", str(out))

        await vp.press("r")
        await until(vp, lambda: viewer.screen.id == "request-control")
        await type_line(vp, "restart the api-8 worker")
        await until(lp, lambda: ls.room.pending_for_me() is not None)
        await lp.pause(0.5)
        lead.clear_notifications()
        await lp.pause(0.2)
        lead.save_screenshot("handoff-request.svg", str(out))

        await lp.press("ctrl+right_square_bracket", "g")
        await until(vp, lambda: vs.room.driving)
        await type_line(vp, "echo restarting api-8; sleep 0.3; echo api-8 back: 200 OK")
        await vp.pause(1.0)
        viewer.clear_notifications()
        await vp.pause(0.2)
        viewer.save_screenshot("viewer-driving.svg", str(out))

        await _lobby_shot(lobby_invite, out)

        await lp.press("e")  # the lead watches now: e alone, and the dialog asks why
        await until(lp, lambda: lead.screen.id == "end-session")
        await type_line(lp, "api-8 restarted, 502s gone")
        await until(lp, lambda: "Recorded as" in ls.ended_text())
        await lp.pause(0.5)
        lead.clear_notifications()
        await lp.pause(0.2)
        lead.save_screenshot("session-ended.svg", str(out))


async def _reviewer_shots(invite: str, out: Path) -> None:
    connector = Connector(parse_join_target(invite))
    client = await connector()
    app = WarroomApp(connector, SESSION_ID, client=client)
    # Taller than the live windows: the replay shows the shared shell's 28 rows whole,
    # with the timeline and the status line under it.
    async with app.run_test(size=REPLAY_SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RecordingsScreen))
        browser = app.screen
        assert isinstance(browser, RecordingsScreen)
        await until(pilot, lambda: browser.loaded >= 1)
        await pilot.press("slash")
        await type_line(pilot, "200 OK")  # what the viewer's command printed, after the hand-off
        await until(pilot, lambda: browser.loaded >= 2)
        await footer_drawn(pilot, app)
        app.save_screenshot("recordings.svg", str(out))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ReplayScreen), timeout=60)
        await until(pilot, lambda: "verified" in app.screen.verification)  # type: ignore[attr-defined]
        await footer_drawn(pilot, app)
        app.save_screenshot("replay.svg", str(out))


async def _lobby_shot(invite: str, out: Path) -> None:
    connector = Connector(parse_join_target(invite))
    client = await connector()
    app = WarroomApp(connector, None, client=client)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LobbyScreen) and app.screen.sessions)
        await footer_drawn(pilot, app, "warroom demo", "throwaway home")
        app.save_screenshot("lobby.svg", str(out))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "screenshots"))
