"""How control of a session changes hands, and the four-eyes rule on input.

Control moves only by grant (answering a pending request), release,
take-back by a lead, a just-in-time driver grant, revocation, or the driver
leaving or expiring; every move is audited and announced in the roster. The
four-eyes policy pauses input (or ends the session) while too few other
people watch. :class:`HandOff` is the part of :class:`relay.core.session.Session`
holding these rules, kept apart by concept: the state it reads is the
session's, and the invariants at the top of :mod:`relay.core.session` hold here too.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Unpack

from relay.core.actions import Action, Audit, Broadcast, Record, Resize, Send
from relay.core.errors import ErrorCode
from relay.core.messages import ControlExpired, ControlRequested, EndedExtra, Roster
from relay.core.roles import Role
from relay.core.state import NOBODY, Control, ControlRequest, FourEyes, Limits, Participant, State


class HandOff:
    """Control and the four-eyes rule, for :class:`Session`."""

    if TYPE_CHECKING:  # the session's state, and the helpers every rule uses
        session_id: str
        target: str
        owner: str
        limits: Limits
        state: State
        participants: dict[str, Participant]
        control: Control
        requests: dict[str, ControlRequest]
        four_eyes: FourEyes
        paused: str | None
        _four_eyes_met: bool
        pty: tuple[int, int]
        not_reading: frozenset[str]

        @property
        def driver(self) -> str | None: ...
        @property
        def control_expires_at(self) -> float | None: ...
        @property
        def control_origin(self) -> str | None: ...
        def roster(self) -> Roster: ...
        def _audit(self, event: str, p: Participant | None, **fields: Any) -> Audit: ...
        def _deny(self, pid: str, code: ErrorCode, message: str, ref: str) -> list[Action]: ...
        def _is_lead(self, p: Participant) -> bool: ...
        def _lookup(self, pid: str, ref: str) -> Participant | list[Action]: ...
        def _end(self, reason: str, **extra: Unpack[EndedExtra]) -> list[Action]: ...

    def request_control(self, pid: str, reason: str, now: float) -> list[Action]:
        """Ask the lead or driver for control, saying why."""
        found = self._lookup(pid, "request_control")
        if not isinstance(found, Participant):
            return found
        p = found
        refusal = self._check_request(p, reason)
        if refusal is not None:
            return self._deny(pid, refusal[0], refusal[1], "request_control")
        reason = reason.strip()
        self.requests[pid] = ControlRequest(pid, reason, now)
        notice: ControlRequested = {
            "type": "control_request",
            "id": pid,
            "user": p.user,
            "reason": reason,
        }
        actions: list[Action] = [
            self._audit("control.request", p, reason=reason),
            Record("h", {"request": p.user, "reason": reason}),
        ]
        actions += [Send(q.pid, notice) for q in self._deciders()]
        actions.append(Broadcast(self.roster()))
        return actions

    def _check_request(self, p: Participant, reason: str) -> tuple[ErrorCode, str] | None:
        if p.role is Role.REVIEWER:
            return ErrorCode.FORBIDDEN, "reviewers watch and replay; they cannot take control"
        if self.driver == p.pid:
            return ErrorCode.ALREADY_DRIVER, "you are already driving"
        if p.pid in self.requests:
            return ErrorCode.ALREADY_REQUESTED, "your request is already waiting for an answer"
        if not reason.strip():
            return ErrorCode.REASON_REQUIRED, "say why you need control"
        if len(reason) > self.limits.reason_length:
            return (
                ErrorCode.REASON_TOO_LONG,
                f"reasons are limited to {self.limits.reason_length} characters",
            )
        return None

    def _deciders(self) -> list[Participant]:
        """Who may answer a control request: every lead, and the current driver."""
        return [q for q in self.participants.values() if self._is_lead(q) or q.pid == self.driver]

    def _may_decide(self, p: Participant) -> bool:
        return self._is_lead(p) or p.pid == self.driver

    def grant(self, pid: str, requester: str, now: float, ttl: float | None = None) -> list[Action]:
        """Answer a pending request with yes: the requester drives, for ``ttl`` s if given."""
        found = self._lookup(pid, "grant")
        if not isinstance(found, Participant):
            return found
        p = found
        if not self._may_decide(p):
            return self._deny(
                pid, ErrorCode.FORBIDDEN, "only a lead or the driver can grant control", "grant"
            )
        if ttl is not None and not (math.isfinite(ttl) and ttl > 0):
            return self._deny(pid, ErrorCode.BAD_FRAME, "ttl must be a positive number", "grant")
        request = self.requests.pop(requester, None)
        if request is None:
            return self._deny(pid, ErrorCode.NO_REQUEST, "no pending request from them", "grant")
        new = self.participants[requester]
        expires = now + ttl if ttl is not None else None
        origin = None
        if not self._is_lead(p):  # a driver hands on no more than they hold
            origin = self.control_origin
            held = [t for t in (self.control_expires_at, p.expires_at) if t is not None]
            if held:
                expires = min(held) if expires is None else min(expires, *held)
        return [
            self._audit(
                "control.grant",
                p,
                to=new.user,
                to_participant=new.pid,
                reason=request.reason,
                ttl=ttl,
            ),
            *self._set_driver(new, "grant", p.user, expires, origin),
        ]

    def assign_control(self, user: str, by: str, now: float, ttl: float | None) -> list[Action]:
        """A just-in-time driver grant: ``user`` (if present) drives now, until ``ttl``."""
        if self.state is State.ENDED:
            return []
        p = next((q for q in self.participants.values() if q.user == user), None)
        if p is None or p.role is Role.REVIEWER:
            return []
        self.requests.pop(p.pid, None)
        expires = now + ttl if ttl is not None else None
        return [
            self._audit("control.grant", p, by=by, ttl=ttl, how="access-grant"),
            *self._set_driver(p, "access-grant", by, expires, origin=user),
        ]

    def revoke_control(self, pid: str, reason: str, now: float) -> list[Action]:
        """The relay withdrew the driver's access: control drops at once."""
        if self.driver != pid:
            return []
        p = self.participants[pid]
        notice: ControlExpired = {"type": "control_expired", "message": reason}
        return [
            self._audit("control.revoked", p, reason=reason),
            Send(pid, notice),
            *self._pass_control_back(p, how="revoked"),
        ]

    def revoke_grant(self, user: str, reason: str, now: float) -> list[Action]:
        """``user``'s just-in-time grant was revoked: control resting on it drops at once.

        That includes control the grantee handed on to someone else: it was
        never more than theirs to lend.
        """
        if self.driver is None or self.control_origin != user:
            return []
        return self.revoke_control(self.driver, reason, now)

    def extend(self, pid: str, expires_at: float) -> None:
        """A new grant lets a participant stay longer than they were admitted for."""
        p = self.participants.get(pid)
        if p is not None and p.expires_at is not None and expires_at > p.expires_at:
            p.expires_at = expires_at

    def deny(self, pid: str, requester: str, reason: str, now: float) -> list[Action]:
        """Answer a pending request with no."""
        found = self._lookup(pid, "deny")
        if not isinstance(found, Participant):
            return found
        p = found
        if not self._may_decide(p):
            return self._deny(
                pid, ErrorCode.FORBIDDEN, "only a lead or the driver can deny control", "deny"
            )
        request = self.requests.pop(requester, None)
        if request is None:
            return self._deny(pid, ErrorCode.NO_REQUEST, "no pending request from them", "deny")
        asker = self.participants[requester]
        return [
            self._audit(
                "control.deny", p, to=asker.user, request_reason=request.reason, reason=reason
            ),
            Record("h", {"deny": asker.user, "by": p.user, "reason": reason}),
            Send(requester, {"type": "control_denied", "by": p.user, "reason": reason}),
            Broadcast(self.roster()),
        ]

    def release(self, pid: str, now: float) -> list[Action]:
        """The driver gives control back (to the owner if present, else nobody)."""
        found = self._lookup(pid, "release")
        if not isinstance(found, Participant):
            return found
        if self.driver != pid:
            return self._deny(pid, ErrorCode.NOT_DRIVER, "you are not driving", "release")
        return [self._audit("control.release", found), *self._pass_control_back(found, "release")]

    def take(self, pid: str, now: float) -> list[Action]:
        """A lead takes control, whoever holds it."""
        found = self._lookup(pid, "take")
        if not isinstance(found, Participant):
            return found
        p = found
        if not self._is_lead(p):
            return self._deny(pid, ErrorCode.FORBIDDEN, "only a lead can take control", "take")
        if self.driver == pid:
            return self._deny(pid, ErrorCode.ALREADY_DRIVER, "you are already driving", "take")
        previous = self.participants.get(self.driver) if self.driver else None
        self.requests.pop(pid, None)
        return [
            self._audit("control.take", p, previous=previous.user if previous else None),
            *self._set_driver(p, "take", p.user),
        ]

    def _pass_control_back(self, old: Participant, how: str) -> list[Action]:
        """The driver left or released: the owner drives again if present."""
        owner = next(
            (
                q
                for q in self.participants.values()
                if q.user == self.owner and q.role is Role.LEAD and q.pid != old.pid
            ),
            None,
        )
        if owner is not None:
            return self._set_driver(owner, how, old.user)
        self.control = NOBODY
        return [
            Record("h", {"driver": None, "how": how, "by": old.user}),
            *self._check_four_eyes(),
            Broadcast(self.roster()),
        ]

    def _set_driver(
        self,
        new: Participant,
        how: str,
        by: str,
        expires_at: float | None = None,
        origin: str | None = None,
    ) -> list[Action]:
        """``new`` drives; ``origin`` is the user whose just-in-time grant this rests on."""
        self.control = Control(new.pid, expires_at, origin)
        self.pty = (new.cols, new.rows)
        return [
            Resize(new.cols, new.rows),
            Record("h", {"driver": new.user, "how": how, "by": by}),
            *self._check_four_eyes(),
            Broadcast(self.roster()),
        ]

    def _check_four_eyes(self) -> list[Action]:
        """Pause or resume input (or end) as watchers come and go."""
        needed = self.four_eyes.watchers
        if needed <= 0 or self.state is State.ENDED:
            return []
        watching = self._eyes()
        if watching >= needed:
            self._four_eyes_met = True
            if self.paused is None:
                return []
            self.paused = None
            return [
                Audit("session.resumed", {"session": self.session_id, "watchers": watching}),
                Record("h", {"resumed": True, "watchers": watching}),
            ]
        reason = f"four-eyes policy: {needed} other participant(s) must watch; {watching} present"
        if self.four_eyes.action == "end" and self._four_eyes_met:
            audit = Audit("session.close", {"session": self.session_id, "reason": reason})
            return [audit, *self._end(reason)]
        if self.paused is not None:
            self.paused = reason
            return []
        self.paused = reason
        return [
            Audit("session.paused", {"session": self.session_id, "reason": reason}),
            Record("h", {"paused": reason}),
        ]

    def _eyes(self) -> int:
        """Other people reading now, who may count as a second pair of eyes."""
        driver = self.participants.get(self.driver) if self.driver else None
        people = set()
        for p in self.participants.values():
            if p.pid == self.driver or p.pid in self.not_reading:
                continue
            if p.role.value not in self.four_eyes.roles:
                continue
            if driver is not None and (p.person == driver.person or p.invited_by == driver.user):
                continue  # the driver's other window, or a guest the driver invited
            people.add(p.person)
        return len(people)
