"""What the TUI accepts from a relay, its readers can read: a property over spoiled messages.

Each relay message starts as a good example; one field anywhere in it (a top-level
field, an element of a list, a field of a nested record) is replaced by an
arbitrary JSON value, or removed. The check (:mod:`tui.incoming`) must either
refuse it with :class:`~tui.incoming.Unreadable`, and nothing else, or accept
it; and what it accepts, the window's own readers (the room, just-in-time
access, the status line) must take in without an exception. A reader that
crashes on an accepted message is a window a relay can close.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.core import messages, protocol
from tui import incoming
from tui.incoming import Unreadable
from tui.room import Room
from tui.status import render_status

T0 = 1_800_000_000.0
GRANT = {
    "id": "g1",
    "user": "bob",
    "role": "driver",
    "session": "s1",
    "target": None,
    "expires_at": T0 + 600,
    "granted_by": "alice",
    "reason": "INC-7",
}
ASK = {"id": "r1", "user": "bob", "role": "viewer", "session": "s1", "reason": "why", "at": T0}
PERSON = {
    "id": "c1",
    "user": "alice",
    "role": "lead",
    "joined_at": T0,
    "expires_at": None,
    "invited_by": None,
    "away": False,
}
GOOD: dict[str, dict[str, Any]] = {
    "welcome_session": {"you": "c1", "role": "lead", "recording": True},
    "roster": {
        "session": "s1",
        "target": "prod",
        "owner": "alice",
        "state": "open",
        "recording": True,
        "pty": {"cols": 80, "rows": 24},
        "paused": None,
        "four_eyes": 0,
        "driver": "c1",
        "control_expires_at": T0 + 60,
        "participants": [PERSON, {**PERSON, "id": "c2", "user": "bob", "role": "viewer"}],
        "requests": [{"id": "c2", "reason": "let me", "at": T0}],
    },
    "notice": {"text": "bob is back", "t": T0},
    "chat": {"id": "c2", "user": "bob", "text": "hi", "t": T0},
    "control_request": {"id": "c2", "user": "bob", "reason": "let me"},
    "control_denied": {"by": "alice", "reason": "not now"},
    "control_expired": {"message": "your control has ended"},
    "ended": {"reason": "done", "exit_status": 0, "by": "alice"},
    "error": {"code": "forbidden", "message": "no", "ref": "take"},
    "access": {"grants": [GRANT], "requests": [ASK], "invites": []},
    "access_granted": {"grant": GRANT},
    "access_revoked": {"grants": [GRANT], "by": "alice", "tokens": 1, "invites": ["i1"]},
    "access_request": {"request": ASK},
    "access_requested": {"request": ASK},
    "access_decided": {"id": "r1", "grant": GRANT},
    "access_decision": {
        "id": "r1",
        "approved": True,
        "by": "alice",
        "reason": "ok",
        "grant": {**GRANT, "user": "carol"},
    },
    "access_request_closed": {"id": "r1", "approved": False, "by": "alice"},
    "access_expired": {"grant": GRANT},
    "sessions": {
        "sessions": [
            {
                "id": "s1",
                "target": "prod",
                "owner": "alice",
                "opened_at": T0,
                "reason": "INC-7",
                "participants": 2,
                "driver": None,
            }
        ],
        "targets": [{"name": "prod", "description": "the database"}],
    },
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["", "lead", "viewer", "reviewer", "driver", "inf", "nan", "1e400", "c1"])
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "user", "role", "t", "x"]), inner, max_size=3)
    ),
    max_leaves=6,
)


def places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a field or an element under ``value`` (not ``type``)."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "type":
                found.append((*path, key))
                found.extend(places(item, (*path, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.append((*path, i))
            found.extend(places(item, (*path, i)))
    return found


def message(kind: str) -> dict[str, Any]:
    return {"type": kind, **copy.deepcopy(GOOD[kind])}


def read_everything(checked: messages.RelayMessage) -> None:
    """What the window does with a message, short of drawing the screen."""
    room = Room(session="s1", user="alice")
    room.access.lead = True
    room.access.user = "bob"
    if checked["type"] == "welcome_session":
        room.welcome(checked)
    elif checked["type"] == "roster":
        room.apply_roster(checked)
        room.driver_name, room.pending_for_me(), room.control_left(T0), room.time_left(T0)
    elif incoming.is_access(checked):
        room.access.apply(checked, T0)
        room.access.to_decide(), room.access.mine(T0), room.access.expire(T0 + 60)
    render_status(room, T0)


def test_every_relay_message_has_a_good_example() -> None:
    kinds = {protocol.message_type(t) for t in messages.RELAY_MESSAGES}
    # answers the window does not read (the login and the command line do)
    answers = {"hello", "authenticated", "recordings", "recording_chunk", "opened", "invite"}
    assert kinds - set(GOOD) <= {*answers, "invite_revoked"}


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_the_good_examples_are_read_as_they_are(kind: str) -> None:
    good = message(kind)
    assert incoming.read(json.dumps(good)) == good
    read_everything(incoming.check(good))


@given(st.data())
def test_what_the_check_accepts_the_window_can_read(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(GOOD)), label="kind")
    spoiled = message(kind)
    path = data.draw(st.sampled_from(places(spoiled)), label="path")
    *parents, last = path
    holder: Any = spoiled
    for step in parents:
        holder = holder[step]
    if data.draw(st.booleans(), label="remove") and isinstance(holder, dict):
        del holder[last]
    else:
        holder[last] = data.draw(json_values, label="value")
    frame = json.dumps(spoiled)  # NaN and Infinity too, as Python's json writes them
    try:
        checked = incoming.read(frame)
    except Unreadable as exc:
        assert str(exc), "a refusal must say why"
        return
    read_everything(checked)


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        ({"type": "access_granted", "grant": {**GRANT, "expires_at": "inf"}}, "expires_at"),
        ({"type": "access_granted", "grant": {**GRANT, "expires_at": 1e400}}, "expires_at"),
        ({"type": "access_request", "request": {**ASK, "at": float("nan")}}, "at"),
        ({"type": "access_granted", "grant": {**GRANT, "session": 7}}, "session"),
        (
            {"type": "access_decision", **GOOD["access_decision"], "grant": {**GRANT, "role": ""}},
            "grant.role: expected 'viewer' or 'driver' or 'reviewer', got ''",
        ),
    ],
)
def test_records_the_window_cannot_read_are_refused(frame: dict[str, Any], why: str) -> None:
    with pytest.raises(Unreadable, match=why):
        incoming.read(json.dumps(frame))
