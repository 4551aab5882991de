"""Random walks through the session core: every role's events, invariants after each step.

The unit tests in ``test_session.py`` check one rule at a time; this drives
one :class:`relay.core.session.Session` through long random sequences of joins,
drops, requests, grants, take-backs, expiries, chat, input and endings from
leads, viewers, reviewers and guests, with and without a four-eyes policy,
and after every step checks :meth:`Session.check_invariants` and what the
step returned: only the driver's input reaches the shell, control moves only
by the events allowed to move it, and nothing reaches the shell after the end.

Hypothesis picks the walks' seeds (fixed in ``make test`` by the ``ci``
profile, fresh and many more under ``make fuzz``); each seed drives a walk of
a few hundred steps, long enough to reach grace periods, expiries and
four-eyes pauses. A failure prints the walk's steps.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.core.actions import Action, Broadcast, End, Forward, Resize, Send
from relay.core.roles import Role
from relay.core.session import Session
from relay.core.state import Control, ControlRequest, FourEyes, Limits, State
from tests import shapes

T0 = 1_000.0
STEPS = 300

# Who may come in: (user, role, credential key). The guest was invited by
# bob. A small pool, so that events meet each other often.
PEOPLE = [
    ("alice", Role.LEAD, "k-alice"),
    ("bob", Role.LEAD, "k-bob"),
    ("carol", Role.VIEWER, "k-carol"),
    ("dave", Role.VIEWER, "k-dave"),
    ("rita", Role.REVIEWER, "k-rita"),
    ("guest:eve", Role.VIEWER, "k-eve"),
]

# Events that must never move control (unless the session ends meanwhile).
STILL = frozenset({"request_control", "deny", "resize", "chat", "extend"})


class Walk:
    """One session owned by alice, a clock that only moves forward, and a log."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.four_eyes = FourEyes(
            watchers=rng.choice([0, 0, 1, 2]), action=rng.choice(["pause", "end"])
        )
        limits = Limits(
            participants=6,
            lead_slots=1,
            chat_rate=3,
            driver_grace=rng.choice([0.0, 5.0, 30.0]),
        )
        self.session = Session(
            "s1", "prod-db", owner="alice", now=T0, limits=limits, four_eyes=self.four_eyes
        )
        self.now = T0
        self.pids = 0
        self.log: list[str] = [f"seed {seed}: {self.four_eyes}, grace {limits.driver_grace}"]
        self.seen: Counter[str] = Counter()

    # ------------------------------------------------------------ choices

    def tick(self) -> float:
        self.now += self.rng.choice([0.0, 0.1, 1.0, 3.0, 10.0, 40.0])
        return self.now

    def pid(self) -> str:
        """A participant's pid, or now and then one that never joined."""
        present = sorted(self.session.participants)
        if not present or self.rng.random() < 0.08:
            return f"ghost{self.rng.randrange(2)}"
        return self.rng.choice(present)

    def subset(self) -> set[str]:
        return {p for p in self.session.participants if self.rng.random() < 0.3}

    def ttl(self) -> float | None:
        return self.rng.choice([None, 0.5, 5.0, 60.0])

    # ------------------------------------------------------------ events

    def events(self) -> dict[str, Callable[[], list[Action]]]:
        s, r = self.session, self.rng
        return {
            "join": self.join,
            "leave": lambda: s.leave(self.pid(), self.tick()),
            "drop": lambda: s.drop(self.pid(), self.tick()),
            "remove": lambda: s.remove(self.pid(), "your access was revoked", self.tick()),
            "tick": lambda: s.tick(self.tick()),
            "watching": lambda: s.watching(self.subset()),
            "request_control": lambda: s.request_control(
                self.pid(), r.choice(["", "INC-1: slow queries", "x" * 501]), self.tick()
            ),
            "grant": lambda: s.grant(self.pid(), self.requester(), self.tick(), self.ttl()),
            "deny": lambda: s.deny(self.pid(), self.requester(), "not now", self.tick()),
            "release": lambda: s.release(self.pid(), self.tick()),
            "take": lambda: s.take(self.pid(), self.tick()),
            "assign_control": lambda: s.assign_control(
                r.choice(PEOPLE)[0], "bob", self.tick(), self.ttl()
            ),
            "revoke_grant": lambda: s.revoke_grant(r.choice(PEOPLE)[0], "revoked", self.tick()),
            "revoke_control": lambda: s.revoke_control(self.pid(), "revoked", self.tick()),
            "extend": self.extend,
            "input": lambda: s.input(
                self.pid(), b"ls\r", self.tick(), r.choice([None, self.subset()])
            ),
            "resize": lambda: s.resize(self.pid(), r.randint(20, 200), r.randint(5, 60), self.now),
            "chat": lambda: s.chat(self.pid(), r.choice(["hi", "", "\x1b[2J"]), self.tick()),
            "end": lambda: s.end(self.pid(), "done", self.tick()),
            "shutdown": lambda: s.shutdown("the relay is stopping", self.tick()),
            "exit": lambda: s.target_exited(0, self.tick()),
        }

    def join(self) -> list[Action]:
        user, role, key = self.rng.choice(PEOPLE)
        self.pids += 1
        now = self.tick()
        expires = self.rng.choice([None, None, 5.0, 120.0])
        guest = user.startswith("guest:")
        return self.session.join(
            f"p{self.pids}",
            user,
            role,
            now,
            expires_at=None if expires is None else now + expires,
            cols=self.rng.randint(20, 200),
            rows=self.rng.randint(5, 60),
            person="invite:1" if guest else None,
            invited_by="bob" if guest else None,
            key=key,
        )

    def requester(self) -> str:
        waiting = sorted(self.session.requests)
        return self.rng.choice(waiting) if waiting else self.pid()

    def extend(self) -> list[Action]:
        self.session.extend(self.pid(), self.now + self.rng.choice([1.0, 100.0]))
        return []

    # ------------------------------------------------------------ the walk

    def step(self) -> None:
        s = self.session
        events = self.events()
        # Joins first and more often, so that the room fills before it empties.
        weights = [6 if name == "join" else 1 for name in events]
        if s.state is State.OPEN:  # endings are rare: most of the walk is inside
            weights = [
                w / 20 if n in ("end", "shutdown", "exit") else w
                for n, w in zip(events, weights, strict=True)
            ]
        name = self.rng.choices(list(events), weights)[0]
        state, control = s.state, s.control
        actions = events[name]()
        self.log.append(f"{name}: driver {s.driver}, {len(s.participants)} in, {s.state.value}")
        s.check_invariants()
        for action in actions:
            if isinstance(action, Send | Broadcast):  # what clients get is what they are told
                assert shapes.problems(action.message) == [], action
            if isinstance(action, Forward):
                assert action.pid == s.driver, f"{action.pid} typed while {s.driver} drives"
                self.seen["forwarded"] += 1
            if state is State.ENDED:
                assert not isinstance(action, Forward | Resize | End), action
        if name in STILL and s.state is State.OPEN:
            assert s.control == control, f"{name} moved control"
        if s.control.driver != control.driver:
            self.seen[f"control by {name}"] += 1
        if s.paused is not None:
            self.seen["paused"] += 1
        if s.state is State.ENDED:
            self.seen["ended"] += 1

    def run(self, steps: int = STEPS) -> Counter[str]:
        try:
            for _ in range(steps):
                self.step()
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n" + "\n".join(self.log[-40:])) from None
        return self.seen


@given(seed=st.integers(0, 2**32 - 1))
def test_random_walks_keep_the_invariants(seed: int) -> None:
    Walk(seed).run()


def test_the_walks_reach_every_way_control_moves() -> None:
    """The walk is not vacuous: over a few fixed seeds, control moves every allowed way."""
    seen: Counter[str] = Counter()
    for seed in range(20):
        seen += Walk(seed).run()
    for how in (
        "join",  # the owner arrives, or a dropped driver comes back
        "leave",
        "drop",
        "remove",
        "tick",  # an expiry or a grace period ending
        "grant",
        "release",
        "take",
        "assign_control",
        "revoke_control",
        "input",  # control expired at the moment of typing
        "end",
    ):
        assert seen[f"control by {how}"] > 0, (how, seen)
    assert seen["forwarded"] > 0 and seen["paused"] > 0 and seen["ended"] > 0, seen


def test_check_invariants_names_what_is_broken() -> None:
    """The checker itself can fail: a driver who is not there, a reviewer's request."""
    s = Session("s1", "prod-db", owner="alice", now=T0)
    s.join("a", "alice", Role.LEAD, T0)
    s.join("r", "rita", Role.REVIEWER, T0)
    s.check_invariants()
    s.control = Control("gone")
    s.requests["r"] = ControlRequest("r", "why", T0)
    with pytest.raises(AssertionError) as broken:
        s.check_invariants()
    assert "the driver gone is not a participant" in str(broken.value)
    assert "the reviewer r has a control request" in str(broken.value)
    s.requests.clear()
    s.control = Control(None, expires_at=T0 + 5)
    with pytest.raises(AssertionError, match="nobody drives"):
        s.check_invariants()
