"""Pilot tests of the session screen against a real relay and sandbox shell."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import OptionList

from relay.core.roles import Role
from tests.harness import Harness
from tests.tui.test_tui_helpers import PilotApp, app_for, screen_of, terminal_text, type_text, until
from tui.app import WarroomApp
from tui.dialogs import ConfirmScreen
from tui.handoff import DenyScreen, PickRequestScreen, render_request, requests_for_me


async def test_lead_drives_and_sees_the_shell(harness: Harness) -> None:
    session = await harness.open()
    app = app_for(harness, session, Role.LEAD, "alice")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: screen_of(app).room.driving, what="alice to drive")
        await type_text(pilot, "echo hello-$((6*7))")
        await pilot.press("enter")
        await until(pilot, lambda: "hello-42" in terminal_text(app), what="the echo")


async def test_viewer_watches_requests_and_gets_control(harness: Harness) -> None:
    session = await harness.open()
    lead = app_for(harness, session, Role.LEAD, "alice")
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with lead.run_test(size=(120, 36)) as lp, viewer.run_test(size=(120, 36)) as vp:
        await until(lp, lambda: screen_of(lead).room.driving, what="alice to drive")
        await until(vp, lambda: "bob" in screen_of(lead).room.users(), what="bob in")
        # The lead's output reaches the viewer.
        await type_text(lp, "echo from-$((1+1))-lead")
        await lp.press("enter")
        await until(vp, lambda: "from-2-lead" in terminal_text(viewer), what="viewer output")

        # The viewer's keys do not reach the shell (the TUI does not even send them).
        vscreen = screen_of(viewer)
        assert not vscreen.room.driving
        await type_text(vp, "xyz")
        await vp.press("enter")
        await vp.pause(0.3)
        assert "xyz" not in terminal_text(lead)

        # Request with a reason: r opens the dialog.
        await vp.press("r")
        await until(vp, lambda: viewer.screen.id == "request-control", what="request dialog")
        await type_text(vp, "check the logs")
        await vp.press("enter")
        lscreen = screen_of(lead)
        await until(lp, lambda: lscreen.room.pending_for_me() is not None, what="request shown")
        request = lscreen.room.pending_for_me()
        assert request is not None and request.user == "bob"
        assert request.reason == "check the logs"
        banner = lscreen.query_one("#request-banner")
        assert banner.has_class("-shown")

        # The lead drives, so g must come through the escape chord.
        await lp.press("ctrl+right_square_bracket", "g")
        await until(vp, lambda: vscreen.room.driving, what="bob to drive")
        await until(lp, lambda: not lscreen.room.driving, what="alice to stop driving")
        assert not banner.has_class("-shown")

        await type_text(vp, "echo bob-$((2*3))")
        await vp.press("enter")
        await until(lp, lambda: "bob-6" in terminal_text(lead), what="bob's echo at the lead")

        # Take back: the lead is no longer driving, so t works directly, after a "y".
        await lp.press("t")
        await until(lp, lambda: isinstance(lead.screen, ConfirmScreen), what="take asks")
        await lp.press("y")
        await until(lp, lambda: lscreen.room.driving, what="alice to take control")
        await until(vp, lambda: not vscreen.room.driving, what="bob to lose control")


async def test_deny_and_release(harness: Harness) -> None:
    session = await harness.open()
    lead = app_for(harness, session, Role.LEAD, "alice")
    viewer = app_for(harness, session, Role.VIEWER, "carol")
    async with lead.run_test(size=(120, 36)) as lp, viewer.run_test(size=(120, 36)) as vp:
        lscreen, vscreen = screen_of(lead), screen_of(viewer)
        await until(lp, lambda: lscreen.room.driving, what="alice to drive")
        await until(vp, lambda: vscreen.room.you is not None, what="carol in")
        await vp.press("r")
        await until(vp, lambda: viewer.screen.id == "request-control", what="request dialog")
        await type_text(vp, "deploy")
        await vp.press("enter")
        await until(lp, lambda: lscreen.room.pending_for_me() is not None, what="request")
        await lp.press("ctrl+right_square_bracket", "n")
        await until(lp, lambda: isinstance(lead.screen, DenyScreen), what="deny asks why")
        await type_text(lp, "not now")
        await lp.press("enter")
        await until(vp, lambda: not vscreen.room.has_requested, what="request answered")
        assert not vscreen.room.driving
        await until(
            vp,
            lambda: viewer.notified("denied: not now"),
            what="denial shown",
        )

        # The lead releases control (chord r): nobody else is owner, so it stays with alice
        # only if she is the owner; the relay decides, the TUI shows what it says.
        await lp.press("ctrl+right_square_bracket", "r")
        await lp.pause(0.3)
        assert lscreen.room.driver_name in (None, "alice")


async def test_chat_participants_and_status(harness: Harness) -> None:
    from tui.chat import ChatPane
    from tui.participants import render_participants
    from tui.status import render_status

    session = await harness.open()
    lead = app_for(harness, session, Role.LEAD, "alice")
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with lead.run_test(size=(120, 36)) as lp, viewer.run_test(size=(120, 36)) as vp:
        lscreen, vscreen = screen_of(lead), screen_of(viewer)
        await until(lp, lambda: sorted(lscreen.room.users()) == ["alice", "bob"], what="both")
        await until(vp, lambda: vscreen.room.driver_name == "alice", what="roster at bob")

        # Participants: who is here, the role, who drives.
        group = render_participants(vscreen.room)
        pane = "\n".join(str(r) for r in group.renderables)  # type: ignore[attr-defined]
        assert "▶ alice" in pane and "lead" in pane  # ▶ marks who drives (the legend says so)
        assert "bob (you)" in pane and "viewer" in pane

        # Status: session, target, role, who drives, recording indicator.
        status = render_status(vscreen.room, now=0).plain
        assert session in status and "sandbox" in status
        assert (
            "bob viewer" in status and "alice drives" in status and "REC" not in status
        )  # the harness relay does not record

        # Chat: c focuses the input (bob does not drive), Enter sends.
        await vp.press("c")
        await type_text(vp, "looking at the logs")
        await vp.press("enter")
        lchat = lscreen.query_one(ChatPane)
        await until(lp, lambda: len(lchat.lines) == 1, what="chat at alice")
        line = lchat.lines[0]
        assert (line.user, line.text, line.mine) == ("bob", "looking at the logs", False)
        vchat = vscreen.query_one(ChatPane)
        await until(vp, lambda: len(vchat.lines) == 1 and vchat.lines[0].mine, what="own chat")

        # Alice drives: c would go to the shell; the chord reaches the chat.
        await lp.press("ctrl+right_square_bracket", "c")
        await type_text(lp, "ok")
        await lp.press("enter")
        await until(vp, lambda: len(vchat.lines) == 2, what="alice's chat")
        assert vchat.lines[1].text == "ok"
        await lp.press("escape")
        assert lead.focused is lscreen.terminal

        # Bob leaves with d, once he says y: alice sees him go.
        await vp.press("escape", "d")
        await until(vp, lambda: isinstance(viewer.screen, ConfirmScreen), what="leave asks")
        await vp.press("y")
        await until(lp, lambda: lscreen.room.users() == ["alice"], what="bob gone")


async def test_reconnect_resumes_without_loss_or_doubling(harness: Harness) -> None:
    session = await harness.open()
    lead_client = await harness.joined("alice", session)
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with viewer.run_test(size=(120, 36)) as vp:
        vscreen = screen_of(viewer)
        await until(vp, lambda: vscreen.room.link.value == "live", what="connected")
        await lead_client.send_input(b"echo before-$((1+1))\r")
        await until(vp, lambda: "before-2" in terminal_text(viewer), what="first output")

        await vscreen.link.drop_connection()
        await until(vp, lambda: vscreen.room.link.value == "reconnecting", what="drop shown")
        await lead_client.send_input(b"echo during-$((3+4))\r")
        await until(vp, lambda: vscreen.link.reconnects >= 1, timeout=15, what="reconnect")
        await until(vp, lambda: "during-7" in terminal_text(viewer), what="missed output")
        await until(vp, lambda: vscreen.room.link.value == "live", what="live again")

        live = harness.relay.sessions[session]
        await until(
            vp, lambda: vscreen.link.tracker.offset == live.output.stream.end, what="caught up"
        )
        text = terminal_text(viewer)
        assert text.count("before-2") == 1 and text.count("during-7") == 1


async def _two_requests(harness: Harness) -> tuple[str, list[PilotApp]]:
    session = await harness.open()
    return session, [
        app_for(harness, session, Role.LEAD, "alice"),
        app_for(harness, session, Role.VIEWER, "bob"),
        app_for(harness, session, Role.VIEWER, "carol"),
    ]


async def _request(pilot: Pilot[None], app: WarroomApp, reason: str) -> None:
    await pilot.press("r")
    await until(pilot, lambda: app.screen.id == "request-control", what="request dialog")
    await type_text(pilot, reason)
    await pilot.press("enter")
    await until(pilot, lambda: screen_of(app).room.has_requested, what="request registered")


async def test_lead_picks_which_request_to_grant(harness: Harness) -> None:
    _, (lead, bob, carol) = await _two_requests(harness)
    size = (120, 36)
    async with (
        lead.run_test(size=size) as lp,
        bob.run_test(size=size) as bp,
        carol.run_test(size=size) as cp,
    ):
        lscreen, cscreen = screen_of(lead), screen_of(carol)
        await until(lp, lambda: lscreen.room.driving, what="alice to drive")
        await until(lp, lambda: len(lscreen.room.users()) == 3, what="all three in")
        await _request(bp, bob, "read the logs")
        await _request(cp, carol, "restart the worker")
        await until(lp, lambda: len(requests_for_me(lscreen.room)) == 2, what="two requests")
        banner = render_request(lscreen.room, chord=True).plain
        assert "bob" in banner and "+1 more" in banner

        # Two wait: ctrl+] g asks which one, listing who and why.
        await lp.press("ctrl+right_square_bracket", "g")
        await until(lp, lambda: isinstance(lead.screen, PickRequestScreen), what="picker")
        picker = lead.screen
        assert isinstance(picker, PickRequestScreen)
        options = picker.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(2)]
        assert labels == ["bob: read the logs", "carol: restart the worker"]
        await lp.press("down", "enter")
        await until(cp, lambda: cscreen.room.driving, what="carol to drive")
        await until(lp, lambda: lscreen.room.driver_name == "carol", what="alice sees carol")
        assert [r.user for r in lscreen.room.requests] == ["bob"]  # bob still waits

        await type_text(cp, "echo carol-$((3*3))")
        await cp.press("enter")
        await until(lp, lambda: "carol-9" in terminal_text(lead), what="carol's echo")


async def test_lead_picks_which_request_to_deny_with_a_reason(harness: Harness) -> None:
    _, (lead, bob, carol) = await _two_requests(harness)
    size = (120, 36)
    async with (
        lead.run_test(size=size) as lp,
        bob.run_test(size=size) as bp,
        carol.run_test(size=size) as cp,
    ):
        lscreen, bscreen, cscreen = screen_of(lead), screen_of(bob), screen_of(carol)
        await until(lp, lambda: lscreen.room.driving, what="alice to drive")
        await until(lp, lambda: len(lscreen.room.users()) == 3, what="all three in")
        await _request(bp, bob, "read the logs")
        await _request(cp, carol, "restart the worker")
        await until(lp, lambda: len(requests_for_me(lscreen.room)) == 2, what="two requests")

        # Escape cancels: nothing is answered.
        await lp.press("ctrl+right_square_bracket", "n")
        await until(lp, lambda: isinstance(lead.screen, PickRequestScreen), what="picker")
        await lp.press("escape")
        await until(lp, lambda: lead.screen is lscreen, what="picker closed")
        await lp.pause(0.2)
        assert len(lscreen.room.requests) == 2

        # Pick carol (Enter), then the reason (Enter sends the deny).
        await lp.press("ctrl+right_square_bracket", "n")
        await until(lp, lambda: isinstance(lead.screen, PickRequestScreen), what="picker")
        await lp.press("down", "enter")
        await type_text(lp, "wait for the rollback")
        await lp.press("enter")
        await until(cp, lambda: not cscreen.room.has_requested, what="carol answered")
        await until(
            cp,
            lambda: carol.notified("wait for the rollback"),
            what="the reason at carol",
        )
        assert not cscreen.room.driving
        assert bscreen.room.has_requested, "bob's request still waits"
        await until(lp, lambda: [r.user for r in lscreen.room.requests] == ["bob"], what="bob")

        # One request left: ctrl+] n asks for an optional reason; Enter denies without one.
        await lp.press("ctrl+right_square_bracket", "n")
        await until(lp, lambda: isinstance(lead.screen, DenyScreen), what="deny asks why")
        await lp.press("enter")
        await until(bp, lambda: not bscreen.room.has_requested, what="bob answered")
        assert not isinstance(lead.screen, PickRequestScreen)
