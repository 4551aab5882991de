"""Just-in-time grants and access requests: the pure rules."""

from __future__ import annotations

import pytest

from relay.access import AccessBook, AccessError
from relay.roles import Role

T0 = 1_000.0


def test_grant_respects_max_ttl_per_role() -> None:
    book = AccessBook(max_ttl={"viewer": 3600, "driver": 600, "reviewer": 7200})
    book.grant("bob", "driver", 600, by="alice", now=T0)
    with pytest.raises(AccessError, match="at most 10 min"):
        book.grant("bob", "driver", 601, by="alice", now=T0)
    with pytest.raises(AccessError, match="unknown role"):
        book.grant("bob", "lead", 60, by="alice", now=T0)
    with pytest.raises(AccessError):
        book.grant("bob", "viewer", 0, by="alice", now=T0)


def test_admission_takes_the_higher_of_standing_role_and_grants() -> None:
    book = AccessBook()
    assert book.admission("dave", None, "s1", "db", T0) == (None, None, None)
    book.grant("dave", "viewer", 60, by="alice", now=T0, session="s1")
    role, until, driver = book.admission("dave", Role.REVIEWER, "s1", "db", T0)
    assert role is Role.VIEWER and until == T0 + 60 and driver is None
    # the grant covers s1 only, and only until it expires
    assert book.admission("dave", Role.REVIEWER, "s2", "db", T0)[0] is Role.REVIEWER
    assert book.admission("dave", Role.REVIEWER, "s1", "db", T0 + 60)[0] is Role.REVIEWER
    # a standing role as high as the grant does not expire with it
    assert book.admission("dave", Role.VIEWER, "s1", "db", T0)[1] is None
    assert book.admission("dave", Role.LEAD, "s1", "db", T0)[0] is Role.LEAD


def test_driver_grant_joins_as_viewer_and_is_returned() -> None:
    book = AccessBook()
    g = book.grant("bob", "driver", 600, by="alice", now=T0, target="db")
    role, _until, driver = book.admission("bob", None, "any", "db", T0)
    assert role is Role.VIEWER and driver == g
    assert book.admission("bob", None, "any", "web", T0) == (None, None, None)


def test_revoke_and_expire() -> None:
    book = AccessBook()
    a = book.grant("bob", "viewer", 60, by="alice", now=T0, session="s1")
    b = book.grant("bob", "viewer", 120, by="alice", now=T0, session="s2")
    assert book.revoke("bob", session="s1") == [a]
    assert book.expire(T0 + 119) == []
    assert book.expire(T0 + 120) == [b]
    assert book.grants == {}


def test_requests_need_a_reason_and_are_taken_once() -> None:
    book = AccessBook()
    with pytest.raises(AccessError, match="say why"):
        book.request("bob", "driver", "  ", T0)
    request = book.request("bob", "driver", "INC-4211: checking slow queries", T0, session="s1")
    with pytest.raises(AccessError, match="already asked"):
        book.request("bob", "driver", "again", T0)
    assert book.take_request(request.id) == request
    with pytest.raises(AccessError, match="no pending"):
        book.take_request(request.id)


def test_invites_obey_the_same_maximum_lifetimes() -> None:
    book = AccessBook(max_ttl={"viewer": 3600, "driver": 600, "reviewer": 7200})
    book.check_ttl("viewer", 3600, "invite")
    with pytest.raises(AccessError, match="lead invite lasts at most 10 min"):
        book.check_ttl("lead", 601, "invite")  # a lead invite is limited like a driver grant
    with pytest.raises(AccessError):
        book.check_ttl("reviewer", -1, "invite")
