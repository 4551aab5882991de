"""Pilot tests of just-in-time access in the TUI, against the real relay harness.

Grants and their countdowns, a lead answering access requests from the TUI,
the four-eyes pause banner, the recording indicator and the PTY size viewers
follow. Users: alice (lead), bob and carol (viewers), rita (reviewer).
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Group

from relay.core.roles import Role
from relay.trust.identity import parse_join_target
from tests.harness import Harness, running_relay
from tests.tui.test_tui_helpers import PilotApp, app_for, screen_of, terminal_text, type_text, until
from tui.access import Access, parse_ttl
from tui.access_screens import DecideAccessScreen, RequestAccessScreen
from tui.app import WarroomApp
from tui.lobby import LobbyScreen
from tui.login import Connector
from tui.participants import render_participants
from tui.session_screen import SessionScreen
from tui.status import render_status

SIZE = (140, 36)


async def lead_app(harness: Harness, session: str, tmp_path: Path) -> PilotApp:
    """alice signed in with her SSH key: a relay-wide lead, who decides access requests."""
    key = tmp_path / "alice_key"
    harness.user_keys["alice"].write_private_key(str(key))
    connector = Connector(parse_join_target(harness.url), user="alice", key=key)
    client = await connector()
    return PilotApp(connector, session, client=client)


def status_of(app: WarroomApp) -> str:
    screen = screen_of(app)
    return render_status(screen.room, time.time()).plain


def pane_text(screen: SessionScreen) -> str:
    group = render_participants(screen.room)
    assert isinstance(group, Group)
    return "\n".join(str(r) for r in group.renderables)


# ------------------------------------------------------------ pure parts


def test_ttl_parsing() -> None:
    assert parse_ttl("30m") == 1800
    assert parse_ttl("") == 1800  # the default
    assert parse_ttl("1h") == 3600
    assert parse_ttl("45") == 45 * 60  # bare numbers are minutes
    for bad in ("soon", "-5m", "0m"):
        try:
            parse_ttl(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")


def test_access_book_follows_the_messages() -> None:
    grant = {
        "id": "g1",
        "user": "bob",
        "role": "driver",
        "session": "s1",
        "target": None,
        "expires_at": 1000.0,
        "granted_by": "alice",
        "reason": "INC-1",
    }
    bob = Access(user="bob")
    notice = bob.apply({"type": "access_granted", "grant": grant}, now=400.0)
    assert notice is not None and "driver" in notice.text and "10:00" in notice.text
    assert [g.id for g in bob.mine(400.0)] == ["g1"]
    bob.apply({"type": "access_revoked", "by": "alice", "grants": ["g1"]}, now=500.0)
    assert bob.mine(500.0) == []
    bob.apply({"type": "access", "grants": [grant], "requests": []}, now=0.0)
    bob.expire(1000.0)
    assert bob.grants == {}

    # A lead sees others' requests; the requester sees only that it waits.
    ask = {"id": "r1", "user": "bob", "role": "driver", "session": "s1", "reason": "x", "at": 1.0}
    alice = Access(user="alice", lead=True)
    assert alice.apply({"type": "access_request", "request": ask}, now=2.0) is not None
    assert [r.id for r in alice.to_decide()] == ["r1"]
    alice.apply({"type": "access_decided", "id": "r1", "grant": None}, now=3.0)
    assert alice.to_decide() == []
    bob.apply({"type": "access_requested", "request": ask}, now=2.0)
    assert bob.to_decide() == [] and [r.id for r in bob.asked()] == ["r1"]
    denial = {"type": "access_decision", "id": "r1", "approved": False, "by": "alice"}
    notice = bob.apply({**denial, "reason": "not now", "grant": None}, now=3.0)
    assert notice is not None and "not now" in notice.text and bob.asked() == []


# ------------------------------------------------------------ against the relay


async def test_grants_and_control_count_down(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.login("alice")
    # A grant given before bob's window opens: access_list at join shows it.
    await lead.send(
        {"type": "access_grant", "user": "bob", "role": "reviewer", "ttl": 3600, "reason": "r"}
    )
    await lead.expect("access_granted")
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with viewer.run_test(size=SIZE) as vp:
        vscreen = screen_of(viewer)
        await until(vp, lambda: vscreen.room.access.grants, what="grants listed at join")
        await until(vp, lambda: "grants: reviewer 59:" in status_of(viewer), what="countdown")

        # A driver grant while bob is in the session: control now, for 10 minutes.
        await lead.send(
            {
                "type": "access_grant",
                "user": "bob",
                "role": "driver",
                "ttl": 600,
                "session": session,
                "reason": "INC-7",
            }
        )
        await until(vp, lambda: vscreen.room.driving, what="bob to drive on the grant")
        await until(vp, lambda: len(vscreen.room.access.grants) == 2, what="both grants")
        status = status_of(viewer)
        assert "control ends in 9:5" in status or "control ends in 10:00" in status
        assert "driver 9:5" in status or "driver 10:00" in status
        await until(vp, lambda: viewer.notified("driver on session"), what="grant notice")

        # The countdown moves with the clock.
        first = status_of(viewer)
        await vp.pause(1.2)
        assert status_of(viewer) != first

        # Revoked: control drops and the relay's control_expired is shown.
        await lead.send({"type": "access_revoke", "user": "bob", "session": session})
        await until(vp, lambda: not vscreen.room.driving, what="control to drop")
        await until(vp, lambda: viewer.notified("access revoked"), what="control_expired shown")
        assert "control ends" not in status_of(viewer)


async def test_lead_approves_a_driver_request_from_the_tui(
    harness: Harness, tmp_path: Path
) -> None:
    session = await harness.open()
    lead = await lead_app(harness, session, tmp_path)
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with lead.run_test(size=SIZE) as lp, viewer.run_test(size=SIZE) as vp:
        lscreen, vscreen = screen_of(lead), screen_of(viewer)
        await until(lp, lambda: lscreen.room.driving, what="alice to drive")
        await until(vp, lambda: vscreen.room.you is not None, what="bob in")
        assert lscreen.room.access.lead and not vscreen.room.access.lead

        # bob (not driving) presses a: the dialog asks for a role and a reason.
        await vp.press("a")
        await until(vp, lambda: isinstance(viewer.screen, RequestAccessScreen), what="dialog")
        assert viewer.screen.role == "driver"  # type: ignore[attr-defined]
        await type_text(vp, "INC-4211 slow queries")
        await vp.press("enter")
        await until(vp, lambda: vscreen.room.access.asked(), what="request acknowledged")
        assert "waiting for a lead" in pane_text(vscreen)

        # alice is told, sees it listed, and (driving) opens it with ctrl+] p.
        await until(lp, lambda: lscreen.room.access.to_decide(), what="request at alice")
        await until(lp, lambda: lead.notified("bob asks for driver"), what="notification")
        assert "INC-4211 slow queries" in pane_text(lscreen)
        assert "1 access request" in status_of(lead)
        await lp.press("ctrl+right_square_bracket", "p")
        await until(lp, lambda: isinstance(lead.screen, DecideAccessScreen), what="decide dialog")
        ttl = lead.screen.query_one("#decide-ttl")
        assert ttl.value == "30m"  # type: ignore[attr-defined]
        await lp.press("ctrl+u")  # clear the default, then 10 minutes
        await type_text(lp, "10m")
        await lp.press("enter")

        # bob drives now, for ten minutes, and is told so.
        await until(vp, lambda: vscreen.room.driving, what="bob to drive")
        await until(vp, lambda: viewer.notified("alice approved driver"), what="outcome")
        left = vscreen.room.control_left(time.time())
        assert left is not None and 590 < left <= 600
        await until(lp, lambda: not lscreen.room.access.to_decide(), what="list emptied")
        await type_text(vp, "echo jit-$((40+2))")
        await vp.press("enter")
        await until(lp, lambda: "jit-42" in terminal_text(lead), what="bob's keys reach the shell")


async def test_lead_denies_with_a_reason(harness: Harness, tmp_path: Path) -> None:
    session = await harness.open()
    lead = await lead_app(harness, session, tmp_path)
    viewer = app_for(harness, session, Role.VIEWER, "carol")
    async with lead.run_test(size=SIZE) as lp, viewer.run_test(size=SIZE) as vp:
        lscreen, vscreen = screen_of(lead), screen_of(viewer)
        await until(vp, lambda: vscreen.room.you is not None, what="carol in")
        await vp.press("a")
        await until(vp, lambda: isinstance(viewer.screen, RequestAccessScreen), what="dialog")
        await vp.click("#role-viewer")
        await vp.click("#access-reason")
        await type_text(vp, "curious")
        await vp.press("enter")
        await until(lp, lambda: lscreen.room.access.to_decide(), what="request at alice")
        ask = lscreen.room.access.to_decide()[0]
        assert (ask.user, ask.role, ask.session) == ("carol", "viewer", session)

        await lp.press("ctrl+right_square_bracket", "p")
        await until(lp, lambda: isinstance(lead.screen, DecideAccessScreen), what="decide dialog")
        # Deny without a reason is refused by the dialog itself.
        await lp.click("#decide-deny")
        assert isinstance(lead.screen, DecideAccessScreen)
        await type_text(lp, "not during the incident")
        await lp.press("enter")
        await until(vp, lambda: viewer.notified("not during the incident"), what="denial")
        assert not vscreen.room.access.asked() and not vscreen.room.access.mine(time.time())
        assert not vscreen.room.driving
        await until(lp, lambda: not lscreen.room.access.to_decide(), what="list emptied")


async def test_four_eyes_pause_is_shown_and_blocks_input(tmp_path: Path) -> None:
    async with running_relay(tmp_path, four_eyes=1) as harness:
        session = await harness.open()
        lead = app_for(harness, session, Role.LEAD, "alice")
        async with lead.run_test(size=SIZE) as lp:
            lscreen = screen_of(lead)
            await until(lp, lambda: lscreen.room.driving, what="alice to drive")
            banner = lscreen.query_one("#paused-banner")
            await until(lp, lambda: banner.has_class("-shown"), what="paused banner")
            assert "four-eyes" in str(banner.render())
            assert lscreen.terminal.has_class("-paused")
            assert "‖ PAUSED" in status_of(lead)

            # Keys are held back, and the user is told why.
            await type_text(lp, "echo nope")
            await until(lp, lambda: lead.notified("input is paused"), what="paused hint")

            viewer = app_for(harness, session, Role.VIEWER, "bob")
            async with viewer.run_test(size=SIZE) as vp:
                vscreen = screen_of(viewer)
                await until(lp, lambda: not banner.has_class("-shown"), what="resumed")
                assert not lscreen.terminal.has_class("-paused")
                assert "PAUSED" not in status_of(lead)
                assert vscreen.room.paused is None
                await type_text(lp, "echo eyes-$((2+2))")
                await lp.press("enter")
                await until(vp, lambda: "eyes-4" in terminal_text(viewer), what="input flows")
                await vp.press("d")  # bob leaves: paused again
            await until(lp, lambda: banner.has_class("-shown"), what="paused again")


async def test_recording_indicator_follows_the_relay(harness: Harness) -> None:
    # The harness relay records nothing: no REC badge.
    session = await harness.open()
    app = app_for(harness, session, Role.VIEWER, "bob")
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.room.recording is False, what="roster")
        assert "REC" not in status_of(app)

    # A session the relay records (a recorder factory is configured): the badge shows.
    harness.relay.recorder_factory = lambda core, cols, rows: None
    recorded = await harness.open()
    app = app_for(harness, recorded, Role.VIEWER, "bob")
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.room.recording is True, what="roster")
        assert "● REC" in status_of(app)


async def test_viewer_follows_the_pty_size_from_the_roster(harness: Harness) -> None:
    session = await harness.open()
    lead = app_for(harness, session, Role.LEAD, "alice")
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with lead.run_test(size=(100, 30)) as lp, viewer.run_test(size=(140, 40)) as vp:
        lscreen, vscreen = screen_of(lead), screen_of(viewer)
        await until(lp, lambda: lscreen.room.driving, what="alice to drive")
        live = harness.relay.sessions[session]
        size = lscreen.terminal.window_size()
        await until(lp, lambda: live.core.pty == size, what="the PTY at alice's size")
        await until(vp, lambda: vscreen.room.pty == size, what="the roster's pty at bob")
        term = vscreen.terminal
        await until(vp, lambda: (term.model.cols, term.model.rows) == size, what="bob's size")
        assert vscreen.terminal.window_size() != size  # bob's own window is larger


async def test_lead_answers_access_requests_in_the_lobby(harness: Harness, tmp_path: Path) -> None:
    key = tmp_path / "alice_key"
    harness.user_keys["alice"].write_private_key(str(key))
    session = await harness.open()
    connector = Connector(parse_join_target(harness.url), user="alice", key=key)
    app = PilotApp(connector, None, client=await connector())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LobbyScreen) and app.screen.sessions)
        lobby = app.screen
        assert isinstance(lobby, LobbyScreen)
        assert not lobby.query_one("#access-box").display

        bob = await harness.login("bob")
        reason = "INC-9: read the logs"
        await bob.send(
            {"type": "access_request", "role": "viewer", "reason": reason, "session": session}
        )
        await until(pilot, lambda: lobby.access.to_decide(), what="request in the lobby")
        assert lobby.query_one("#access-box").display
        await until(pilot, lambda: app.notified(reason), what="the notification")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, DecideAccessScreen), what="dialog")
        await pilot.press("enter")  # the default TTL, 30 minutes
        decision = await bob.expect("access_decision")
        assert decision["approved"] and decision["by"] == "alice"
        left = decision["grant"]["expires_at"] - time.time()
        assert 1790 < left <= 1800
        await until(pilot, lambda: not lobby.access.to_decide(), what="list emptied")

        # Joining still works after the lobby listened on the same connection.
        await pilot.press("escape")
        lobby.query_one("#sessions").focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SessionScreen), what="session")
        await until(pilot, lambda: screen_of(app).room.driving, what="alice drives")


def test_access_state_follows_expiry_and_requests_closed_by_another_lead() -> None:
    from tui.access import Access

    grant = {
        "id": "g1",
        "user": "bob",
        "role": "driver",
        "session": "s1",
        "target": None,
        "expires_at": 1000.0,
        "granted_by": "alice",
        "reason": "INC-1",
    }
    mine = Access(user="bob")
    mine.apply({"type": "access_granted", "grant": grant}, now=900.0)
    assert [g.id for g in mine.mine(900.0)] == ["g1"]
    notice = mine.apply({"type": "access_expired", "grant": grant}, now=1000.0)
    assert notice is not None and "ended" in notice.text and mine.grants == {}

    lead = Access(user="carol", lead=True)
    request = {
        "id": "r1",
        "user": "bob",
        "role": "driver",
        "session": None,
        "reason": "INC-2",
        "at": 1.0,
    }
    lead.apply({"type": "access_request", "request": request}, now=1.0)
    assert [r.id for r in lead.to_decide()] == ["r1"]
    lead.apply({"type": "access_request_closed", "id": "r1", "approved": True, "by": "alice"}, 2.0)
    assert lead.to_decide() == []
