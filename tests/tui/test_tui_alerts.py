"""Requests that cannot go unnoticed: the bell, desktop notifications, banners, @mentions.

The escape sequences are checked as bytes here (which terminal gets which);
that they reach a real terminal, with the bell, is checked in tmux by the
newcomer test (``tests/e2e/test_e2e_newcomer.py``). Banners and mentions run in
the real TUI against the real relay.
"""

from __future__ import annotations

from pathlib import Path

from rich.style import Style

from relay.core.roles import Role
from tests.harness import Harness
from tests.tui.test_tui_helpers import app_for, screen_of, type_text, until, user_app
from tui.alerts import notification, notification_kind
from tui.chat import MENTIONED, ChatPane, mentions, render_chat_line
from tui.handoff import RequestBanner, RequestControlScreen
from tui.room import ChatLine

SIZE = (130, 36)


def test_which_terminals_get_which_notification() -> None:
    assert notification_kind({"TERM_PROGRAM": "iTerm.app"}) == "osc9"
    assert notification_kind({"TERM_PROGRAM": "WezTerm"}) == "osc9"
    assert notification_kind({"TERM": "xterm-kitty"}) == "osc9"
    assert notification_kind({"TERM": "foot"}) == "osc777"
    assert notification_kind({"TERM": "xterm-256color", "VTE_VERSION": "7600"}) == "osc777"
    assert notification_kind({"TERM": "xterm-256color"}) is None  # unknown: nothing sent
    assert notification_kind({"TERM": "foot", "WARROOM_NOTIFY": "off"}) is None
    assert notification_kind({"TERM": "xterm", "WARROOM_NOTIFY": "osc9"}) == "osc9"


def test_notifications_cannot_be_broken_out_of() -> None:
    """A reason is typed by someone else: it must not end the sequence and inject more."""
    hostile = "fix\x07\x1b]52;c;ZXZpbA==\x07; now"
    nine = notification("osc9", "Control requested", hostile)
    assert nine.startswith("\x1b]9;") and nine.endswith("\x07")
    assert nine.count("\x07") == 1 and nine.count("\x1b") == 1
    seven = notification("osc777", "a;b", hostile)
    assert seven.startswith("\x1b]777;notify;a,b;") and seven.count(";") == 3
    assert seven.count("\x07") == 1 and seven.count("\x1b") == 1
    assert notification(None, "t", "b") == ""
    wrapped = notification("osc9", "t", "b", tmux=True)
    assert wrapped == "\x1bPtmux;\x1b\x1b]9;t: b\x07\x1b\\"


def test_mentions_name_a_person_not_an_address() -> None:
    assert mentions("@alice can you look", "alice")
    assert mentions("thanks @Alice.", "alice")
    assert mentions("@maya take the db", "guest:maya")  # guests by their own name
    assert not mentions("mail ops@alice.example", "alice")
    assert not mentions("@alicesmith", "alice")
    assert not mentions("alice, look", "alice")
    line = render_chat_line(ChatLine("bob", "@alice look at @carol's graph", 0.0), "alice")
    styles = {line.plain[s.start : s.end]: s.style for s in line.spans}
    assert styles["@alice"] == MENTIONED
    assert styles["@carol"] != MENTIONED
    plain = render_chat_line(ChatLine("bob", "@alice look", 0.0), "carol")
    assert all(Style.parse(str(s.style)) != Style.parse(MENTIONED) for s in plain.spans)


async def test_a_request_keeps_its_banner_until_answered(harness: Harness) -> None:
    session = await harness.open()
    lead = app_for(harness, session, Role.LEAD, "alice")
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with lead.run_test(size=SIZE) as lp, viewer.run_test(size=SIZE) as vp:
        lscreen, vscreen = screen_of(lead), screen_of(viewer)
        await until(lp, lambda: lscreen.room.driving, what="alice drives")
        await until(vp, lambda: vscreen.room.you is not None, what="bob in")
        await vp.press("r")
        await until(vp, lambda: isinstance(viewer.screen, RequestControlScreen), what="dialog")
        await type_text(vp, "INC-7 restart the worker")
        await vp.press("enter")
        banner = lscreen.query_one(RequestBanner)
        await until(lp, lambda: banner.has_class("-shown"), what="the banner")
        await until(lp, lambda: lead.notified(title="Control requested"), what="the toast")
        text = str(banner.render())
        assert "bob asks for control: INC-7 restart the worker" in text
        assert "ctrl+] g" in text and "ctrl+] n" in text
        # The toast goes; the banner stays, and the bell rang once for this request
        # (each ring comes with its toast).
        lead.clear_notifications()
        await lp.pause(0.5)
        assert banner.has_class("-shown")
        assert [n.title for n in lead.toasts].count("Control requested") == 1
        await lp.press("ctrl+right_square_bracket", "g")
        await until(lp, lambda: not banner.has_class("-shown"), what="the banner gone")


async def test_an_access_request_shows_a_banner_to_leads(harness: Harness, tmp_path: Path) -> None:
    session = await harness.open()
    lead = user_app(harness, session, "alice")  # a relay-wide lead: decides access
    lead.first_client = await lead.connector()
    asker = await harness.login("bob")
    async with lead.run_test(size=SIZE) as lp:
        lscreen = screen_of(lead)
        await until(lp, lambda: lscreen.room.driving, what="alice drives")
        await asker.send(
            {"type": "access_request", "role": "driver", "reason": "INC-9", "session": session}
        )
        banner = lscreen.query_one(RequestBanner)
        await until(lp, lambda: "bob asks for driver" in str(banner.render()), what="banner")
        assert "ctrl+] p" in str(banner.render())
        (ask,) = lscreen.room.access.to_decide()
        lead_client = await harness.login("alice")
        await lead_client.send(
            {"type": "access_decide", "id": ask.id, "approve": False, "reason": "not now"}
        )
        await until(lp, lambda: not banner.has_class("-shown"), what="the banner gone")


async def test_at_name_stands_out_for_that_person(harness: Harness) -> None:
    session = await harness.open()
    lead = app_for(harness, session, Role.LEAD, "alice")
    viewer = app_for(harness, session, Role.VIEWER, "bob")
    async with lead.run_test(size=SIZE) as lp, viewer.run_test(size=SIZE) as vp:
        lscreen, vscreen = screen_of(lead), screen_of(viewer)
        await until(lp, lambda: lscreen.room.driving, what="alice drives")
        await until(vp, lambda: vscreen.room.you is not None, what="bob in")
        await vp.press("c")
        await type_text(vp, "@alice api-8 is back")
        await vp.press("enter")
        chat = lscreen.query_one(ChatPane)
        await until(lp, lambda: len(chat.lines) == 1, what="the message at alice")
        me = lscreen.room.user
        assert mentions(chat.lines[0].text, me)
        await until(
            lp,
            lambda: lead.notified(title="bob mentions you"),
            what="the mention toast",
        )
        # Bob's own window does not alert him about his own message.
        assert not viewer.notified(title="mentions you")
