"""Unit tests of the pure session core: every rule and every illegal transition."""

from __future__ import annotations

from typing import Any

import pytest

from relay.core.actions import (
    Action,
    Audit,
    Broadcast,
    Disconnect,
    End,
    Forward,
    Record,
    Resize,
    Send,
)
from relay.core.errors import ErrorCode
from relay.core.roles import Role
from relay.core.session import Session
from relay.core.state import FourEyes, Limits, State

T0 = 1_000.0


def errors(actions: list[Action], to: str | None = None) -> list[str]:
    return [
        a.message["code"]
        for a in actions
        if isinstance(a, Send) and a.message["type"] == "error" and (to is None or a.to == to)
    ]


def audits(actions: list[Action]) -> list[str]:
    return [a.event for a in actions if isinstance(a, Audit)]


def of(actions: list[Action], kind: type[Any]) -> list[Any]:
    return [a for a in actions if isinstance(a, kind)]


@pytest.fixture
def room() -> Session:
    """A session owned by alice, with alice (lead), bob and carol (viewers), rita (reviewer)."""
    s = Session("s1", "prod-db", owner="alice", now=T0)
    s.join("a", "alice", Role.LEAD, T0, cols=120, rows=40)
    s.join("b", "bob", Role.VIEWER, T0, cols=100, rows=30)
    s.join("c", "carol", Role.VIEWER, T0)
    s.join("r", "rita", Role.REVIEWER, T0)
    return s


def test_owner_drives_on_join_and_sets_pty_size() -> None:
    s = Session("s1", "t", owner="alice", now=T0)
    actions = s.join("a", "alice", Role.LEAD, T0, cols=120, rows=40)
    assert s.driver == "a"
    assert Resize(120, 40) in actions
    assert audits(actions) == ["session.join"]
    roster = of(actions, Broadcast)[-1].message
    assert roster["type"] == "roster" and roster["driver"] == "a"


def test_other_lead_does_not_drive_on_join() -> None:
    s = Session("s1", "t", owner="alice", now=T0)
    s.join("z", "zed", Role.LEAD, T0)
    assert s.driver is None


def test_driver_input_is_forwarded(room: Session) -> None:
    assert room.input("a", b"ls\r", T0) == [Forward(b"ls\r", "a", "alice")]


@pytest.mark.parametrize("pid", ["b", "r"])
def test_non_driver_input_is_refused_and_audited(room: Session, pid: str) -> None:
    actions = room.input(pid, b"rm -rf /\r", T0)
    assert not of(actions, Forward)
    assert errors(actions, to=pid) == ["not_driver"]
    assert audits(actions) == ["input.denied"]
    assert "alice is driving" in of(actions, Send)[0].message["message"]


def test_every_denied_input_is_audited_for_the_relay_to_aggregate(room: Session) -> None:
    for i in range(5):
        assert audits(room.input("b", b"x", T0 + i * 0.1)) == ["input.denied"]


def test_input_from_stranger_is_refused() -> None:
    s = Session("s1", "t", owner="alice", now=T0)
    assert errors(s.input("nobody", b"x", T0)) == ["no_such_participant"]


def test_oversized_input_is_refused(room: Session) -> None:
    big = b"x" * (room.limits.input_bytes + 1)
    assert errors(room.input("a", big, T0)) == ["input_too_large"]


def test_full_handoff_cycle(room: Session) -> None:
    actions = room.request_control("b", "INC-1: check slow queries", T0 + 1)
    notified = {a.to for a in of(actions, Send) if a.message["type"] == "control_request"}
    assert notified == {"a"}  # the lead, who is also the driver
    assert audits(actions) == ["control.request"]

    actions = room.grant("a", "b", T0 + 2)
    assert room.driver == "b"
    assert Resize(100, 30) in actions
    assert audits(actions) == ["control.grant"]
    assert of(actions, Audit)[0].fields["reason"] == "INC-1: check slow queries"
    assert room.input("b", b"x", T0 + 3) == [Forward(b"x", "b", "bob")]
    assert errors(room.input("a", b"x", T0 + 3)) == ["not_driver"]

    actions = room.release("b", T0 + 4)
    assert room.driver == "a"  # back to the owner
    assert Resize(120, 40) in actions
    assert audits(actions) == ["control.release"]


def test_driver_may_grant_onwards(room: Session) -> None:
    room.request_control("b", "look", T0)
    room.grant("a", "b", T0)
    room.request_control("c", "my turn", T0)
    room.grant("b", "c", T0)
    assert room.driver == "c"


def test_viewer_cannot_grant_or_deny(room: Session) -> None:
    room.request_control("b", "look", T0)
    assert errors(room.grant("c", "b", T0)) == ["forbidden"]
    assert errors(room.deny("c", "b", "no", T0)) == ["forbidden"]
    assert room.driver == "a"


def test_deny_tells_the_requester(room: Session) -> None:
    room.request_control("b", "look", T0)
    actions = room.deny("a", "b", "not now", T0)
    denied = [a for a in of(actions, Send) if a.message["type"] == "control_denied"]
    assert denied and denied[0].to == "b" and denied[0].message["reason"] == "not now"
    assert audits(actions) == ["control.deny"]
    assert room.requests == {}
    assert errors(room.grant("a", "b", T0)) == ["no_request"]


def test_request_rules(room: Session) -> None:
    assert errors(room.request_control("b", "   ", T0)) == ["reason_required"]
    long = "x" * (room.limits.reason_length + 1)
    assert errors(room.request_control("b", long, T0)) == ["reason_too_long"]
    assert errors(room.request_control("r", "please", T0)) == ["forbidden"]
    assert errors(room.request_control("a", "me", T0)) == ["already_driver"]
    assert errors(room.request_control("b", "ok", T0)) == []
    assert errors(room.request_control("b", "again", T0)) == ["already_requested"]


def test_grant_without_request_is_refused(room: Session) -> None:
    assert errors(room.grant("a", "c", T0)) == ["no_request"]
    assert errors(room.deny("a", "c", "", T0)) == ["no_request"]


def test_release_by_non_driver_is_refused(room: Session) -> None:
    assert errors(room.release("b", T0)) == ["not_driver"]


def test_lead_takes_control_back(room: Session) -> None:
    room.request_control("b", "look", T0)
    room.grant("a", "b", T0)
    actions = room.take("a", T0)
    assert room.driver == "a"
    assert audits(actions) == ["control.take"]
    assert of(actions, Audit)[0].fields["previous"] == "bob"
    assert errors(room.take("a", T0)) == ["already_driver"]
    assert errors(room.take("b", T0)) == ["forbidden"]


def test_owner_releasing_leaves_nobody_driving(room: Session) -> None:
    room.release("a", T0)
    assert room.driver is None
    assert "nobody is driving" in of(room.input("b", b"x", T0), Send)[0].message["message"]
    room.take("a", T0)
    assert room.driver == "a"


def test_driver_leaving_returns_control_to_owner(room: Session) -> None:
    room.request_control("b", "look", T0)
    room.grant("a", "b", T0)
    actions = room.leave("b", T0)
    assert room.driver == "a"
    assert "session.leave" in audits(actions)


def test_owner_leaving_while_driving_leaves_nobody(room: Session) -> None:
    room.leave("a", T0)
    assert room.driver is None


def test_leaving_withdraws_request(room: Session) -> None:
    room.request_control("b", "look", T0)
    room.leave("b", T0)
    assert room.requests == {}
    assert room.leave("b", T0) == []  # twice is harmless


def test_join_rules() -> None:
    s = Session("s1", "t", owner="alice", now=T0, limits=Limits(participants=2))
    s.join("a", "alice", Role.LEAD, T0)
    assert errors(s.join("a", "alice", Role.LEAD, T0)) == ["already_joined"]
    s.join("b", "bob", Role.VIEWER, T0)
    assert errors(s.join("c", "carol", Role.VIEWER, T0)) == ["session_full"]
    assert "c" not in s.participants


def test_viewer_resize_does_not_touch_pty(room: Session) -> None:
    assert room.resize("b", 50, 10, T0) == []
    assert room.pty == (120, 40)
    actions = room.resize("a", 132, 43, T0)
    assert actions[0] == Resize(132, 43)
    assert of(actions, Broadcast)[0].message["pty"] == {"cols": 132, "rows": 43}
    assert room.resize("a", 132, 43, T0) == []  # unchanged: nothing to do


def test_pty_follows_the_driver(room: Session) -> None:
    room.request_control("b", "look", T0)
    room.grant("a", "b", T0)
    assert room.pty == (100, 30) and room.roster()["pty"] == {"cols": 100, "rows": 30}


def test_chat_is_broadcast_and_recorded(room: Session) -> None:
    actions = room.chat("r", "  looks like the disk  ", T0)
    message = of(actions, Broadcast)[0].message
    assert message == {
        "type": "chat",
        "id": "r",
        "user": "rita",
        "text": "looks like the disk",
        "t": T0,
    }
    assert of(actions, Record)[0].kind == "c"


def test_chat_strips_escape_sequences(room: Session) -> None:
    actions = room.chat("b", "hi\x1b[2J\x07 there\x9b\nbob: I approve\u202e", T0)
    assert of(actions, Broadcast)[0].message["text"] == "hi[2J there bob: I approve"


def test_refused_chats_count_against_the_rate_and_are_never_masked(room: Session) -> None:
    masked: list[str] = []

    def mask(text: str) -> str:
        masked.append(text)
        return text

    for i in range(5):  # oversized: refused before masking, but counted
        assert errors(room.chat("b", "x" * 10_000, T0 + i * 0.1, mask)) == ["chat_too_long"]
    assert errors(room.chat("b", "fine", T0 + 1, mask)) == ["chat_rate"]
    assert masked == []
    assert errors(room.chat("b", "fine", T0 + 11, mask)) == [] and masked == ["fine"]


def test_control_handed_on_never_outlives_what_the_driver_held(room: Session) -> None:
    room.join("b2", "bob", Role.VIEWER, T0)
    room.request_control("b", "INC-1", T0)
    room.grant("a", "b", T0, ttl=5)  # bob drives for 5 s
    room.request_control("b2", "my other window", T0 + 1)
    assert errors(room.grant("b", "b2", T0 + 1, ttl=float("nan"))) == ["bad_frame"]
    assert errors(room.grant("b", "b2", T0 + 1, ttl=float("inf"))) == ["bad_frame"]
    assert room.driver == "b"
    room.grant("b", "b2", T0 + 1, ttl=1e9)
    assert room.driver == "b2" and room.control_expires_at == T0 + 5
    assert not of(room.input("b2", b"x", T0 + 8), Forward)


def test_chat_limits(room: Session) -> None:
    assert errors(room.chat("b", " \x1b ", T0 - 20)) == ["chat_empty"]
    assert errors(room.chat("b", "x" * 2001, T0 - 20)) == ["chat_too_long"]
    for i in range(5):
        assert errors(room.chat("b", f"m{i}", T0 + i)) == []
    refused = room.chat("b", "one more", T0 + 5)
    assert errors(refused) == ["chat_rate"]
    assert audits(refused) == ["chat.denied"]
    assert errors(room.chat("b", "later", T0 + 10.5)) == []  # window moved on


def test_expiry_removes_participant_and_control(room: Session) -> None:
    s = Session("s1", "t", owner="alice", now=T0)
    s.join("a", "alice", Role.LEAD, T0)
    s.join("b", "bob", Role.VIEWER, T0, expires_at=T0 + 30)
    s.request_control("b", "look", T0)
    s.grant("a", "b", T0)
    assert s.tick(T0 + 29) == []
    actions = s.tick(T0 + 30)
    assert Disconnect("b", ErrorCode.AUTH_FAILED, "your access expired") in actions
    assert s.driver == "a" and "b" not in s.participants
    assert of(actions, Audit)[0].fields["reason"] == "expired"


def test_only_lead_ends_session(room: Session) -> None:
    assert errors(room.end("b", "bye", T0)) == ["forbidden"]
    actions = room.end("a", "incident resolved", T0)
    assert room.state is State.ENDED and room.driver is None
    assert End("incident resolved") in actions
    assert audits(actions) == ["session.close"]
    assert of(actions, Broadcast)[0].message["type"] == "ended"


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.input("a", b"x", T0),
        lambda s: s.chat("a", "x", T0),
        lambda s: s.request_control("b", "x", T0),
        lambda s: s.grant("a", "b", T0),
        lambda s: s.deny("a", "b", "", T0),
        lambda s: s.release("a", T0),
        lambda s: s.take("a", T0),
        lambda s: s.end("a", "", T0),
        lambda s: s.resize("a", 10, 10, T0),
        lambda s: s.join("z", "zed", Role.VIEWER, T0),
    ],
)
def test_everything_is_refused_after_end(room: Session, call: Any) -> None:
    room.end("a", "done", T0)
    assert errors(call(room)) == ["session_ended"]


def test_target_exit_ends_session(room: Session) -> None:
    actions = room.target_exited(0, T0)
    assert room.state is State.ENDED
    assert of(actions, Broadcast)[0].message["exit_status"] == 0
    assert room.target_exited(0, T0) == []
    assert room.shutdown("relay stopping", T0) == []


def test_shutdown_ends_open_session() -> None:
    s = Session("s1", "t", owner="alice", now=T0)
    assert End("relay stopping") in s.shutdown("relay stopping", T0)


def test_summary_names_driver(room: Session) -> None:
    assert room.summary()["driver"] == "alice"
    assert room.summary()["participants"] == 4


# ---------------------------------------------------------------- time-limited control


def test_control_grant_with_ttl_expires_on_tick(room: Session) -> None:
    room.request_control("b", "INC-9", T0)
    room.grant("a", "b", T0, ttl=30)
    assert room.roster()["control_expires_at"] == T0 + 30
    assert room.tick(T0 + 29) == []
    actions = room.tick(T0 + 30)
    assert room.driver == "a"
    assert "control.expired" in audits(actions)
    told = [a for a in of(actions, Send) if a.to == "b"]
    assert told and told[0].message["type"] == "control_expired"
    assert room.control_expires_at is None


def test_expired_control_refuses_input_even_before_tick(room: Session) -> None:
    """Mid-keystroke: the keystroke after expiry is refused at once, not at the next tick."""
    room.request_control("b", "INC-9", T0)
    room.grant("a", "b", T0, ttl=30)
    assert of(room.input("b", b"x", T0 + 29.9), Forward)
    actions = room.input("b", b"y", T0 + 30.0)
    assert not of(actions, Forward)
    assert "control.expired" in audits(actions)
    assert errors(actions, to="b") == ["not_driver"]
    assert room.driver == "a"


def test_assign_control_is_a_just_in_time_driver_grant(room: Session) -> None:
    actions = room.assign_control("bob", by="alice", now=T0, ttl=60)
    assert room.driver == "b" and room.control_expires_at == T0 + 60
    assert of(actions, Audit)[0].fields["how"] == "access-grant"
    assert room.assign_control("rita", by="alice", now=T0, ttl=60) == []  # reviewers never drive
    assert room.assign_control("nobody", by="alice", now=T0, ttl=60) == []


def test_remove_disconnects_and_passes_control_back(room: Session) -> None:
    room.assign_control("bob", by="alice", now=T0, ttl=None)
    actions = room.remove("b", "access revoked by alice", T0)
    assert Disconnect("b", ErrorCode.AUTH_FAILED, "access revoked by alice") in actions
    assert room.driver == "a" and "b" not in room.participants
    assert room.remove("b", "again", T0) == []


# ---------------------------------------------------------------- four eyes


def four_eyes_room(action: str = "pause") -> Session:
    return Session("s1", "prod", owner="alice", now=T0, four_eyes=FourEyes(1, action))


def test_four_eyes_pauses_input_until_someone_watches() -> None:
    s = four_eyes_room()
    actions = s.join("a", "alice", Role.LEAD, T0)
    assert s.paused is not None and "session.paused" in audits(actions)
    refused = s.input("a", b"ls\r", T0)
    assert errors(refused) == ["paused"] and "four-eyes" in of(refused, Send)[0].message["message"]
    actions = s.join("b", "bob", Role.VIEWER, T0)
    assert s.paused is None and "session.resumed" in audits(actions)
    assert of(s.input("a", b"ls\r", T0), Forward)
    actions = s.leave("b", T0)
    assert s.paused is not None and "session.paused" in audits(actions)
    assert of(actions, Broadcast)[-1].message["paused"] == s.paused


def test_four_eyes_end_action_ends_once_watchers_leave() -> None:
    s = four_eyes_room("end")
    s.join("a", "alice", Role.LEAD, T0)
    assert s.state is State.OPEN  # alone at the start: not ended
    s.join("b", "bob", Role.VIEWER, T0)
    actions = s.leave("b", T0)
    assert s.state is State.ENDED
    assert End(of(actions, End)[0].reason) in actions


# ---------------------------------------------------------------- found in review


def test_a_driver_hands_on_no_more_control_than_their_grant() -> None:
    s = Session("s1", "t", owner="alice", now=T0)
    s.join("a", "alice", Role.LEAD, T0)
    s.join("b1", "bob", Role.VIEWER, T0)
    s.join("b2", "bob", Role.VIEWER, T0)
    s.assign_control("bob", by="alice", now=T0, ttl=3)
    s.request_control("b2", "my other window", T0)
    s.grant("b1", "b2", T0 + 1)  # no ttl asked: still capped at bob's grant
    assert s.driver == "b2" and s.control_expires_at == T0 + 3
    assert s.control_origin == "bob"
    actions = s.revoke_grant("bob", "access revoked by alice", T0 + 2)
    assert s.driver == "a" and "control.revoked" in audits(actions)


def test_a_lead_grant_does_not_inherit_an_origin() -> None:
    s = Session("s1", "t", owner="alice", now=T0)
    s.join("a", "alice", Role.LEAD, T0)
    s.join("b", "bob", Role.VIEWER, T0)
    s.assign_control("bob", by="alice", now=T0, ttl=60)
    s.take("a", T0)
    s.request_control("b", "again", T0)
    s.grant("a", "b", T0)
    assert s.control_origin is None and s.control_expires_at is None
    assert s.revoke_grant("bob", "revoked", T0) == []


def test_four_eyes_counts_people_not_windows() -> None:
    s = Session("s1", "prod", owner="alice", now=T0, four_eyes=FourEyes(1))
    s.join("a", "alice", Role.LEAD, T0)
    s.join("a2", "alice", Role.LEAD, T0)  # the driver's second window
    assert s.paused is not None
    s.join("b", "bob", Role.VIEWER, T0)
    assert s.paused is None


def test_forbidden_refusals_are_audited(room: Session) -> None:
    assert audits(room.take("b", T0)) == ["denied"]
    assert audits(room.end("b", "", T0)) == ["denied"]


def test_extend_only_lengthens(room: Session) -> None:
    room.participants["b"].expires_at = T0 + 10
    room.extend("b", T0 + 5)
    assert room.participants["b"].expires_at == T0 + 10
    room.extend("b", T0 + 50)
    assert room.participants["b"].expires_at == T0 + 50


def test_four_eyes_needs_a_different_person_reading_now_and_audits_refusals() -> None:
    s = Session("s1", "prod", owner="alice", now=T0, four_eyes=FourEyes(1))
    s.join("a", "alice", Role.LEAD, T0)
    s.join("g", "guest:friend", Role.VIEWER, T0, person="invite:j1", invited_by="alice")
    s.join("r", "rita", Role.REVIEWER, T0)
    refused = s.input("a", b"x", T0, not_reading=())
    assert errors(refused) == ["paused"] and not of(refused, Forward)
    assert [a.fields["code"] for a in of(refused, Audit) if a.event == "input.denied"] == ["paused"]
    s.join("b", "bob", Role.VIEWER, T0)
    assert of(s.input("a", b"x", T0, not_reading=()), Forward)
    # bob's connection stalls, or his close frame has just been read: not watching
    refused = s.input("a", b"x", T0, not_reading={"b"})
    assert errors(refused) == ["paused"] and not of(refused, Forward)
    assert s.roster()["paused"]
    assert of(s.input("a", b"x", T0, not_reading=()), Forward)  # reading again
    assert s.roster()["participants"][1]["invited_by"] == "alice"


def test_four_eyes_roles_come_from_the_config() -> None:
    eyes = FourEyes(1, roles=frozenset({"lead", "viewer", "reviewer"}))
    s = Session("s1", "prod", owner="alice", now=T0, four_eyes=eyes)
    s.join("a", "alice", Role.LEAD, T0)
    s.join("r", "rita", Role.REVIEWER, T0)
    assert of(s.input("a", b"x", T0, not_reading=()), Forward)


# ---------------------------------------------------------------- a dropped driver's grace


def notices(actions: list[Action]) -> list[str]:
    return [
        a.message["text"]
        for a in actions
        if isinstance(a, Broadcast) and a.message["type"] == "notice"
    ]


def grace_room(grace: float = 30.0) -> Session:
    """alice (owner, lead) and bob (viewer, key "kb"), bob driving."""
    s = Session("s1", "prod-db", owner="alice", now=T0, limits=Limits(driver_grace=grace))
    s.join("a", "alice", Role.LEAD, T0, key="ka")
    s.join("b", "bob", Role.VIEWER, T0, cols=100, rows=30, key="kb")
    s.request_control("b", "look", T0)
    s.grant("a", "b", T0)
    assert s.driver == "b"
    return s


def test_a_dropped_driver_keeps_control_for_the_grace_period() -> None:
    s = grace_room()
    actions = s.drop("b", T0 + 1)
    assert s.driver == "b" and s.participants["b"].away_since == T0 + 1
    assert notices(actions) == [
        "bob's connection dropped; they keep control for 30 s in case they come back"
    ]
    assert "control.away" in audits(actions)
    roster = of(actions, Broadcast)[-1].message
    assert [p["away"] for p in roster["participants"]] == [False, True]
    assert s.tick(T0 + 30.9) == []  # not yet
    actions = s.tick(T0 + 31)
    assert s.driver == "a" and "b" not in s.participants
    assert notices(actions) == ["bob did not come back within 30 s: control returns to alice"]
    assert audits(actions) == ["session.leave", "control.lapsed"]
    lapsed = next(a for a in actions if isinstance(a, Audit) and a.event == "control.lapsed")
    assert lapsed.fields["to"] == "alice" and lapsed.fields["user"] == "bob"


def test_the_same_credential_coming_back_drives_again() -> None:
    s = grace_room()
    s.drop("b", T0 + 1)
    actions = s.join("b2", "bob", Role.VIEWER, T0 + 12, cols=90, rows=20, key="kb")
    assert s.driver == "b2" and "b" not in s.participants
    assert s.pty == (90, 20) and Resize(90, 20) in actions
    assert notices(actions) == ["bob is back after 11 s and drives again"]
    assert "control.back" in audits(actions)
    assert s.tick(T0 + 100) == []  # nothing left to lapse


def test_another_window_of_the_same_user_does_not_take_the_place() -> None:
    s = grace_room()
    s.drop("b", T0 + 1)
    s.join("b2", "bob", Role.VIEWER, T0 + 2, key="another token")
    s.join("b3", "mallory", Role.VIEWER, T0 + 2, key="kb")  # same key, other user: no
    assert s.driver == "b" and s.participants["b"].away_since is not None
    s.tick(T0 + 31)
    assert s.driver == "a"


def test_a_dropped_viewer_just_leaves() -> None:
    s = grace_room()
    actions = s.drop("a", T0 + 1)  # alice watches while bob drives
    assert "a" not in s.participants and notices(actions) == []
    assert "session.leave" in audits(actions)


def test_without_grace_control_returns_at_once() -> None:
    s = grace_room(grace=0)
    s.drop("b", T0 + 1)
    assert s.driver == "a" and "b" not in s.participants


def test_a_lead_may_take_control_from_an_away_driver() -> None:
    s = grace_room()
    s.drop("b", T0 + 1)
    s.take("a", T0 + 2)
    assert s.driver == "a"
    actions = s.join("b2", "bob", Role.VIEWER, T0 + 3, key="kb")  # back, but no longer drives
    assert s.driver == "a" and "b" not in s.participants and notices(actions) == []


def test_coming_back_without_the_role_to_drive_passes_control_back() -> None:
    s = grace_room()
    s.drop("b", T0 + 1)
    s.join("b2", "bob", Role.REVIEWER, T0 + 3, key="kb")  # their access changed meanwhile
    assert s.driver == "a" and "b" not in s.participants


def test_an_owner_who_does_not_come_back_leaves_nobody_driving() -> None:
    s = Session("s1", "prod-db", owner="alice", now=T0)
    s.join("a", "alice", Role.LEAD, T0, key="ka")
    s.join("b", "bob", Role.VIEWER, T0, key="kb")
    s.drop("a", T0)
    assert s.driver == "a"
    actions = s.tick(T0 + 30)
    assert s.driver is None
    assert notices(actions) == ["alice did not come back within 30 s: nobody drives now"]


def test_a_driver_who_reconnected_before_the_old_link_died_drives_at_once() -> None:
    s = grace_room()
    s.join("b2", "bob", Role.VIEWER, T0 + 2, key="kb")  # the new connection comes first
    assert s.driver == "b"
    actions = s.drop("b", T0 + 9)  # ...then the relay notices the old one is gone
    assert s.driver == "b2" and "b" not in s.participants
    assert notices(actions) == ["bob is back and drives again"]
    assert "control.back" in audits(actions)


def test_a_driver_handed_to_their_new_link_leaves_no_request_behind() -> None:
    """Found by the random walk: the old link's request outlived it, and granting it crashed."""
    s = Session("s1", "prod-db", owner="alice", now=T0)
    s.join("a", "alice", Role.LEAD, T0, key="ka")
    s.join("b", "bob", Role.VIEWER, T0, key="kb")
    s.request_control("b", "INC-1", T0)
    s.grant("a", "b", T0)
    s.request_control("a", "my turn", T0 + 1)  # the owner asks while bob drives
    s.release("b", T0 + 2)  # control returns to the owner, whose request still waits
    assert s.driver == "a"
    s.join("a2", "alice", Role.LEAD, T0 + 3, key="ka")  # her new link, before the old one died
    s.drop("a", T0 + 4)
    assert s.driver == "a2" and "a" not in s.participants
    assert "a" not in s.requests
    s.check_invariants()
    assert errors(s.grant("a2", "a", T0 + 5)) == [ErrorCode.NO_REQUEST.value]
