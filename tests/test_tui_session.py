"""Pilot tests of the session screen against a real relay and sandbox shell."""

from __future__ import annotations

from relay.roles import Role
from tests.harness import Harness
from tests.test_tui_helpers import app_for, screen_of, terminal_text, type_text, until


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

        # Take back: the lead is no longer driving, so t works directly.
        await lp.press("t")
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
        await until(vp, lambda: not vscreen.room.has_requested, what="request answered")
        assert not vscreen.room.driving
        await until(
            vp,
            lambda: any("denied" in n.message for n in viewer._notifications),
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
        assert "alice" in pane and "lead" in pane and "driving" in pane
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

        # Bob leaves with d: alice sees him go.
        await vp.press("escape", "d")
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
