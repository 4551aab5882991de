"""Just-in-time grants and access requests: the pure rules."""

from __future__ import annotations

import pytest

from relay.core.access import AccessError, AccessPolicy, admission
from relay.core.roles import Role

T0 = 1_000.0


def test_grant_respects_max_ttl_per_role() -> None:
    policy = AccessPolicy(max_ttl={"viewer": 3600, "driver": 600, "reviewer": 7200})
    grant = policy.grant("bob", "driver", 600, by="alice", now=T0)
    assert (grant.user, grant.role, grant.expires_at, grant.granted_by) == (
        "bob",
        "driver",
        T0 + 600,
        "alice",
    )
    with pytest.raises(AccessError, match="at most 10 min"):
        policy.grant("bob", "driver", 601, by="alice", now=T0)
    with pytest.raises(AccessError, match="unknown role"):
        policy.grant("bob", "lead", 60, by="alice", now=T0)
    with pytest.raises(AccessError):
        policy.grant("bob", "viewer", 0, by="alice", now=T0)


def test_admission_takes_the_higher_of_standing_role_and_grants() -> None:
    policy = AccessPolicy()
    assert admission([], None, "s1", "db", T0) == (None, None, None)
    grants = [policy.grant("dave", "viewer", 60, by="alice", now=T0, session="s1")]
    role, until, driver = admission(grants, Role.REVIEWER, "s1", "db", T0)
    assert role is Role.VIEWER and until == T0 + 60 and driver is None
    # the grant covers s1 only, and only until it expires
    assert admission(grants, Role.REVIEWER, "s2", "db", T0)[0] is Role.REVIEWER
    assert admission(grants, Role.REVIEWER, "s1", "db", T0 + 60)[0] is Role.REVIEWER
    # a standing role as high as the grant does not expire with it
    assert admission(grants, Role.VIEWER, "s1", "db", T0)[1] is None
    assert admission(grants, Role.LEAD, "s1", "db", T0)[0] is Role.LEAD


def test_driver_grant_joins_as_viewer_and_is_returned() -> None:
    g = AccessPolicy().grant("bob", "driver", 600, by="alice", now=T0, target="db")
    role, _until, driver = admission([g], None, "any", "db", T0)
    assert role is Role.VIEWER and driver == g
    assert admission([g], None, "any", "web", T0) == (None, None, None)


def test_the_later_of_two_grants_decides_how_long_a_role_lasts() -> None:
    policy = AccessPolicy()
    short = policy.grant("bob", "viewer", 60, by="alice", now=T0, session="s1")
    long = policy.grant("bob", "viewer", 120, by="alice", now=T0, target="db")
    assert admission([short, long], None, "s1", "db", T0)[:2] == (Role.VIEWER, T0 + 120)


def test_requests_need_a_reason() -> None:
    policy = AccessPolicy()
    with pytest.raises(AccessError, match="say why"):
        policy.request("bob", "driver", "  ", T0)
    with pytest.raises(AccessError, match="limited to 500"):
        policy.request("bob", "driver", "x" * 501, T0)
    request = policy.request("bob", "driver", " INC-4211: slow queries ", T0, session="s1")
    assert (request.reason, request.session, request.at) == ("INC-4211: slow queries", "s1", T0)


def test_invites_obey_the_same_maximum_lifetimes() -> None:
    policy = AccessPolicy(max_ttl={"viewer": 3600, "driver": 600, "reviewer": 7200})
    policy.check_ttl("viewer", 3600, "invite")
    with pytest.raises(AccessError, match="lead invite lasts at most 10 min"):
        policy.check_ttl("lead", 601, "invite")  # a lead invite is limited like a driver grant
    with pytest.raises(AccessError):
        policy.check_ttl("reviewer", -1, "invite")
