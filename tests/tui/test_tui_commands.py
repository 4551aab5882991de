"""The session window's keys come from one table (:data:`tui.commands.SESSION`).

The bindings, the chord, the key bar, the chord's toast and the help overlay
are generated from it, and every other text that names a key asks
:func:`tui.commands.key`. Renaming a key in the table here renames it
everywhere a user reads it; a letter written by hand somewhere would stay
behind and fail these tests.
"""

from __future__ import annotations

import dataclasses

import pytest
from textual.binding import Binding

from relay.core.access import AccessRequest
from relay.core.roles import Role
from tui import commands
from tui.access import Access
from tui.commands import CHORD_KEY, SESSION, Command
from tui.handoff import render_access_requests, render_request
from tui.participants import render_participants
from tui.room import Member, Request, Room
from tui.session_screen import SessionScreen


def deciding_lead() -> Room:
    """A relay-wide lead with a control request and an access request waiting."""
    access = Access(user="alice", lead=True)
    ask = AccessRequest("a1", "carol", "driver", "incident-42", "INC-9", 0.0)
    access.requests = {ask.id: ask}
    return Room(
        session="incident-42",
        user="alice",
        you="c1",
        role=Role.LEAD,
        driver="c3",
        members={
            "c1": Member("c1", "alice", Role.LEAD, 0.0, None),
            "c2": Member("c2", "bob", Role.VIEWER, 1.0, None),
            "c3": Member("c3", "dan", Role.VIEWER, 2.0, None),
        },
        requests=[Request("c2", "bob", "restart api-8", 0.0), Request("c3", "dan", "x", 1.0)],
        access=access,
    )


def test_bindings_and_chord_come_from_the_table() -> None:
    bindings = [b for b in SessionScreen.BINDINGS if isinstance(b, Binding)]
    by_key = {b.key: b.action for b in bindings}
    assert by_key.pop(CHORD_KEY) == "chord"
    assert by_key == {c.key: c.action for c in SESSION}
    for command in SESSION:
        assert commands.chord_action(command.key) == command.action
    assert commands.chord_action("?") == "help"


def test_toast_and_help_name_every_key_that_works() -> None:
    works = {"chat", "control", "help"}
    toast = commands.chord_toast(lambda c: c.action in works)
    for command in SESSION:
        assert (f"{command.shown} {command.label.lower()}" in toast) == (command.action in works)
    help_text = commands.help_text()
    for command in SESSION:
        assert f"[b]{command.shown:<2}[/b]" in help_text and command.help in help_text


@pytest.fixture
def renamed(monkeypatch: pytest.MonkeyPatch) -> dict[str, Command]:
    """The table with every letter upper-cased (``g`` is ``G``), as if keys were renamed."""
    table = {
        c.action: dataclasses.replace(c, key=c.key.upper()) if len(c.key) == 1 else c
        for c in SESSION
    }
    monkeypatch.setattr(commands, "BY_ACTION", table)
    return table


def test_banners_name_the_tables_keys(renamed: dict[str, Command]) -> None:
    room = deciding_lead()
    watching = render_request(room, chord=False).plain
    assert " G  grant" in watching and " N  deny" in watching
    assert "G/N let you pick" in watching
    driving = render_request(room, chord=True).plain
    assert " ctrl+] G  grant" in driving and " ctrl+] N  deny" in driving
    assert " P  approve or deny" in render_access_requests(room, chord=False).plain
    assert "ctrl+] P  approve" in render_access_requests(room, chord=True).plain
    for text in (watching, driving, render_access_requests(room, chord=False).plain):
        assert " g " not in text and " n " not in text and " p " not in text


def test_the_people_pane_names_the_tables_key(renamed: dict[str, Command]) -> None:
    room = deciding_lead()
    group = render_participants(room)
    text = "\n".join(str(line) for line in group.renderables)  # type: ignore[union-attr]
    assert "Access requests (P to answer)" in text
    room.driver = "c1"  # driving: the chord reaches the window
    group = render_participants(room)
    text = "\n".join(str(line) for line in group.renderables)  # type: ignore[union-attr]
    assert "Access requests (ctrl+] P to answer)" in text


def test_key_words() -> None:
    assert commands.key("grant") == "g"
    assert commands.key("grant", chord=True) == "ctrl+] g"
    assert commands.key("help") == "?"
