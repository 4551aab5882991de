"""The type-ahead rules on their own (:mod:`tui.typeahead`): what is kept, and its fate.

The room is built from the relay's own message shapes (``welcome_session``,
``roster``), as the session screen builds it.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from relay.core import messages
from tui.room import Link, Room
from tui.typeahead import LIMIT, TypeAhead

Told = list[tuple[str, str]]


def room(*, you: str | None, driver: str | None, paused: str | None = None) -> Room:
    """A room as the screen has it: welcomed as ``you`` (c1 alice, c2 bob), then a roster."""
    r = Room(session="s1", user="alice")
    if you is None:
        return r
    r.link = Link.LIVE
    welcome = {"type": "welcome_session", "you": you, "role": "lead" if you == "c1" else "viewer"}
    r.welcome(cast(messages.WelcomeSession, welcome))
    roster: dict[str, Any] = {
        "type": "roster",
        "session": "s1",
        "driver": driver,
        "paused": paused,
        "participants": [
            {"id": "c1", "user": "alice", "role": "lead", "joined_at": 1.0, "expires_at": None},
            {"id": "c2", "user": "bob", "role": "viewer", "joined_at": 2.0, "expires_at": None},
        ],
        "requests": [],
    }
    r.apply_roster(cast(messages.Roster, roster))
    return r


def kept(told: Told, *keys: bytes) -> TypeAhead:
    ahead = TypeAhead(tell=lambda text, title: told.append((title, text)))
    for key in keys:
        assert ahead.keep(key)
    return ahead


def test_nothing_is_settled_before_the_relay_says_who_this_window_is() -> None:
    told: Told = []
    ahead = kept(told, b"l", b"s", b"\r")
    assert ahead.settle(Room(session="s1"), 1.0) is None
    welcomed = Room(session="s1")
    welcome = {"type": "welcome_session", "you": "c1", "role": "lead"}
    welcomed.welcome(cast(messages.WelcomeSession, welcome))
    assert ahead.settle(welcomed, 2.0) is None, "no roster yet: whether it drives is not known"
    assert ahead.keeping and ahead.kept == b"ls\r" and ahead.typed_ahead(5.0)
    assert told == []


def test_a_driver_gets_the_kept_keys_in_order_once() -> None:
    told: Told = []
    ahead = kept(told, b"l", b"s", b"\x1b[A", b"\r")
    assert ahead.settle(room(you="c1", driver="c1"), 10.0) == b"ls\x1b[A\r"
    assert not ahead.keeping and told == []
    assert ahead.settle(room(you="c1", driver="c1"), 11.0) is None, "settled once, sent once"
    assert not ahead.keep(b"x"), "after the join, keys are not kept"
    assert ahead.typed_ahead(9.9) and not ahead.typed_ahead(10.0)


@pytest.mark.parametrize(
    ("where", "why"),
    [
        (room(you="c2", driver="c1"), "you are watching (alice drives)"),
        (room(you="c2", driver=None), "you are watching (nobody drives)"),
        (room(you="c1", driver="c1", paused="2 watchers"), "input is paused: 2 watchers"),
    ],
)
def test_keys_that_cannot_be_sent_are_discarded_and_counted(where: Room, why: str) -> None:
    told: Told = []
    ahead = kept(told, b"d", b"f", b"\r")
    assert ahead.settle(where, 1.0) == b""
    assert told == [
        (
            "Keys not sent",
            f"3 typed keys were discarded (typed before the window joined), not sent: {why}.",
        )
    ]
    assert ahead.kept == b""


def test_a_session_that_ends_before_the_join_discards_them() -> None:
    ended = Room(session="s1")
    ended.link = Link.ENDED
    told: Told = []
    assert kept(told, b"x").settle(ended, 1.0) == b""
    assert told == [
        (
            "Keys not sent",
            "1 typed key was discarded (typed before the window joined), not sent: "
            "the session is over.",
        )
    ]


def test_nothing_typed_nothing_said() -> None:
    told: Told = []
    assert kept(told).settle(room(you="c2", driver="c1"), 1.0) == b""
    assert told == []


def test_a_pane_that_does_not_type_ahead_keeps_nothing() -> None:
    ahead = TypeAhead(keeping=False)
    assert not ahead.keep(b"x") and not ahead.typed_ahead(0.0)
    assert ahead.settle(room(you="c1", driver="c1"), 1.0) is None


def test_past_the_limit_everything_is_dropped_and_said_once() -> None:
    told: Told = []
    ahead = kept(told, b"a" * (LIMIT - 1), b"b")  # exactly the limit
    assert ahead.keep(b"c") and ahead.keep(b"") and ahead.keep(b"d")
    assert len(told) == 1 and told[0][0] == "Keys dropped"
    assert f"more than {LIMIT // 1024} KiB" in told[0][1]
    assert ahead.dropped == 2 and ahead.keys == 2
    assert ahead.settle(room(you="c1", driver="c1"), 1.0) == b"a" * (LIMIT - 1) + b"b"
