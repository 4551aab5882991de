"""The rules of one shared session, as a pure state machine.

Nothing here touches a socket, a task or a clock: every method takes the
current time and returns the list of :data:`Action` values the I/O layers
must carry out (send a message, forward bytes to the shell, write an audit
entry, record an event...). This is how ``h11`` and the sans-I/O core of
``websockets`` are built: every rule can be unit-tested in microseconds and
the adapters stay thin enough to trust.

Invariants the methods keep:

* at most one participant drives (``driver``), and only the driver's input
  is ever forwarded to the target;
* a driver is always a present participant with the lead or viewer role;
* control moves only by grant (answering a pending request), release,
  take-back by a lead, or the driver leaving or expiring;
* a driver whose connection drops (``drop``, not ``leave``) stays driver,
  *away*, for ``Limits.driver_grace`` seconds: the same credential joining
  again within it drives again (``join`` with the same ``key``); otherwise
  control returns to the owner at the first ``tick`` after the grace ends.
  Both are announced (a ``notice`` to everyone) and audited. Nobody types
  for an away driver: input comes only from connections, and a lead can
  still take control;
* once the session is ``ENDED`` every event is refused, nobody drives and no
  request waits.

:meth:`Session.check_invariants` checks these (and the bookkeeping they rest
on) on the live state; ``tests/relay/core/test_session_walk.py`` runs it after every
step of random walks through every role's events.

Participants are identified by connection id (``pid``), not by user name: one
engineer may have two windows open, and each is a separate participant.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any, Unpack

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
    error,
)
from relay.core.errors import ErrorCode
from relay.core.handoff import HandOff
from relay.core.messages import ChatLine, ControlExpired, Ended, EndedExtra, Roster, SessionSummary
from relay.core.roles import Role
from relay.core.state import NOBODY, Control, ControlRequest, FourEyes, Limits, Participant, State
from relay.core.text import clean


class Session(HandOff):
    """One shared shell: who is in it, who drives, who asked for control."""

    def __init__(
        self,
        session_id: str,
        target: str,
        owner: str,
        now: float,
        limits: Limits | None = None,
        reason: str = "",
        recording: bool = False,
        pty: tuple[int, int] = (80, 24),
        four_eyes: FourEyes | None = None,
    ) -> None:
        self.session_id = session_id
        self.target = target
        self.owner = owner
        self.opened_at = now
        self.reason = reason
        self.limits = limits or Limits()
        self.state = State.OPEN
        self.participants: dict[str, Participant] = {}
        self.control = NOBODY
        self.requests: dict[str, ControlRequest] = {}
        self.recording = recording
        self.four_eyes = four_eyes or FourEyes()
        self.paused: str | None = None  # why input is paused, if it is
        self._four_eyes_met = False
        self.last_activity = now  # when someone last joined or left (empty sessions time out)
        self.pty = pty  # (cols, rows): always the driver's window, once someone drives
        self.not_reading: frozenset[str] = frozenset()  # pids whose connection is not reading

    # ------------------------------------------------------------ queries

    @property
    def driver(self) -> str | None:
        """The pid of the participant who drives, if anyone does."""
        return self.control.driver

    @property
    def control_expires_at(self) -> float | None:
        return self.control.expires_at

    @property
    def control_origin(self) -> str | None:
        return self.control.origin

    def check_invariants(self) -> None:
        """Raise :class:`AssertionError` naming every invariant the state breaks.

        The invariants listed at the top of this module, plus the bookkeeping
        they rest on. Tests call it after every event; it costs a pass over
        the participants.
        """
        broken: list[str] = []
        control, driver = self.control, self.control.driver
        if driver is None and control != NOBODY:
            broken.append(f"nobody drives but control has an expiry or origin: {control}")
        if driver is not None:
            p = self.participants.get(driver)
            if p is None:
                broken.append(f"the driver {driver} is not a participant")
            elif p.role not in (Role.LEAD, Role.VIEWER):
                broken.append(f"the driver {driver} is a {p.role.value}")
            elif self.pty != (p.cols, p.rows):
                broken.append(f"the pty {self.pty} is not the driver's window {(p.cols, p.rows)}")
        if self.state is State.ENDED and (driver is not None or self.requests):
            broken.append("the session ended but someone drives or a request waits")
        for pid, request in self.requests.items():
            asker = self.participants.get(pid)
            if request.pid != pid or asker is None:
                broken.append(f"the request {pid} is not from a participant")
            elif asker.role is Role.REVIEWER:
                broken.append(f"the reviewer {pid} has a control request")
        if len(self.participants) > self.limits.participants:
            broken.append(f"{len(self.participants)} participants, over the limit")
        for p in self.participants.values():
            if len(p.chat_times) > self.limits.chat_rate:
                broken.append(f"{p.pid} has more chat messages in the window than the rate")
        if self.paused is not None and self.four_eyes.watchers <= 0:
            broken.append("input is paused without a four-eyes policy")
        if broken:
            raise AssertionError(f"session {self.session_id}: " + "; ".join(broken))

    def roster(self) -> Roster:
        """Everything a client shows about the room, in one message."""
        return {
            "type": "roster",
            "session": self.session_id,
            "target": self.target,
            "owner": self.owner,
            "state": self.state.value,
            "recording": self.recording,
            "pty": {"cols": self.pty[0], "rows": self.pty[1]},
            "paused": self.paused,
            "four_eyes": self.four_eyes.watchers,
            "driver": self.driver,
            "control_expires_at": self.control_expires_at,
            "participants": [p.public() for p in self.participants.values()],
            "requests": [
                {"id": r.pid, "reason": r.reason, "at": r.at} for r in self.requests.values()
            ],
        }

    def summary(self) -> SessionSummary:
        """What the lobby lists about this session."""
        driver = self.participants.get(self.driver) if self.driver else None
        return {
            "id": self.session_id,
            "target": self.target,
            "owner": self.owner,
            "opened_at": self.opened_at,
            "reason": self.reason,
            "participants": len(self.participants),
            "driver": driver.user if driver else None,
        }

    def _audit(self, event: str, p: Participant | None, **fields: Any) -> Audit:
        base: dict[str, Any] = {"session": self.session_id, "target": self.target}
        if p is not None:
            base.update(user=p.user, participant=p.pid, role=p.role.value)
        base.update(fields)
        return Audit(event, base)

    def _deny(self, pid: str, code: ErrorCode, message: str, ref: str) -> list[Action]:
        """Refuse; a refusal of what the participant's role does not allow is audited."""
        actions: list[Action] = [Send(pid, error(code, message, ref=ref))]
        if code is ErrorCode.FORBIDDEN:
            actions.append(self._audit("denied", self.participants.get(pid), ref=ref))
        return actions

    def _is_lead(self, p: Participant) -> bool:
        return p.role is Role.LEAD

    def _lookup(self, pid: str, ref: str) -> Participant | list[Action]:
        """The participant ``pid``, or the refusal to send when it cannot act."""
        if self.state is State.ENDED:
            return self._deny(pid, ErrorCode.SESSION_ENDED, "the session has ended", ref)
        p = self.participants.get(pid)
        if p is None:
            return self._deny(pid, ErrorCode.NO_SUCH_PARTICIPANT, "join the session first", ref)
        return p

    # ------------------------------------------------------------ membership

    def join(
        self,
        pid: str,
        user: str,
        role: Role,
        now: float,
        expires_at: float | None = None,
        cols: int = 80,
        rows: int = 24,
        person: str | None = None,
        invited_by: str | None = None,
        key: str | None = None,
    ) -> list[Action]:
        """Admit a participant the relay has already authenticated.

        ``key`` identifies the credential: a driver away in their grace
        period who joins again with the same one drives again.
        """
        if self.state is State.ENDED:
            return self._deny(pid, ErrorCode.SESSION_ENDED, "the session has ended", "join")
        if pid in self.participants:
            return self._deny(pid, ErrorCode.ALREADY_JOINED, "already in this session", "join")
        limit = self.limits.participants
        if role is not Role.LEAD:
            limit -= self.limits.lead_slots
        if len(self.participants) >= limit:
            kept = " (the rest are kept for leads)" if role is not Role.LEAD else ""
            return self._deny(
                pid,
                ErrorCode.SESSION_FULL,
                f"the session is full ({limit} participants{kept})",
                "join",
            )
        p = Participant(
            pid, user, role, now, expires_at, cols, rows, person or user, invited_by, key=key
        )
        away = self._away_with(key, user)
        self.participants[pid] = p
        self.last_activity = now
        actions: list[Action] = [
            self._audit("session.join", p, expires_at=expires_at),
            Record("j", {"user": user, "role": role.value, "id": pid}),
        ]
        if away is not None:
            actions += self._come_back(away, p, now)
        elif self.driver is None and role is Role.LEAD and user == self.owner:
            self.control = Control(pid)
            self.pty = (cols, rows)
            actions += [Resize(cols, rows), Record("h", {"driver": user, "how": "owner"})]
        actions += self._check_four_eyes()
        actions += [
            Send(
                pid,
                {
                    "type": "welcome_session",
                    "you": pid,
                    "role": role.value,
                    "recording": self.recording,
                },
            ),
            Broadcast(self.roster()),
        ]
        return actions

    def _away_with(self, key: str | None, user: str) -> Participant | None:
        """The away participant this credential may take the place of, if any."""
        if key is None:
            return None
        return next(
            (
                q
                for q in self.participants.values()
                if q.away_since is not None and q.key == key and q.user == user
            ),
            None,
        )

    def _come_back(self, away: Participant, new: Participant, now: float) -> list[Action]:
        """The driver whose link dropped is back within the grace period: they drive again."""
        del self.participants[away.pid]
        self.requests.pop(away.pid, None)
        actions: list[Action] = [
            Record("l", {"user": away.user, "id": away.pid, "reason": "came back"}),
        ]
        if self.driver != away.pid:
            return actions
        if new.role not in (Role.LEAD, Role.VIEWER):  # their access changed meanwhile
            return [*actions, *self._pass_control_back(away, how="link lost")]
        gone = now - (away.away_since or now)
        after = f" after {gone:.0f} s" if gone >= 1 else ""
        text = f"{new.user} is back{after} and drives again"
        self.control = replace(self.control, driver=new.pid)  # same expiry and origin
        self.pty = (new.cols, new.rows)
        return [
            *actions,
            self._audit("control.back", new, away=round(gone, 3), previous=away.pid),
            Resize(new.cols, new.rows),
            Record("h", {"driver": new.user, "how": "back"}),
            self._notice(text, now),
        ]

    def _notice(self, text: str, now: float) -> Broadcast:
        """Something everyone should read in the chat (the relay says it, nobody typed it)."""
        return Broadcast({"type": "notice", "text": text, "t": now})

    def drop(self, pid: str, now: float) -> list[Action]:
        """A participant's connection was lost (not a leave): a driver keeps control a while."""
        p = self.participants.get(pid)
        if p is None:
            return []
        grace = self.limits.driver_grace
        if self.driver != pid or self.state is State.ENDED:
            return self.leave(pid, now, reason="disconnected")
        twin = self._rejoined(p)
        if twin is not None:  # they reconnected before the relay saw the old link die
            return self._hand_to_rejoined(p, twin, now)
        if grace <= 0:
            return self.leave(pid, now, reason="disconnected")
        p.away_since = now
        self.requests.pop(pid, None)
        text = (
            f"{p.user}'s connection dropped; they keep control for {grace:g} s "
            "in case they come back"
        )
        return [
            self._audit("control.away", p, grace=grace),
            Record("h", {"away": p.user, "grace": grace}),
            self._notice(text, now),
            Broadcast(self.roster()),
        ]

    def _rejoined(self, p: Participant) -> Participant | None:
        """Another connection of the same credential that is already back in the session."""
        if p.key is None:
            return None
        return next(
            (
                q
                for q in self.participants.values()
                if q.pid != p.pid
                and q.away_since is None
                and q.key == p.key
                and q.user == p.user
                and q.role in (Role.LEAD, Role.VIEWER)
            ),
            None,
        )

    def _hand_to_rejoined(self, old: Participant, new: Participant, now: float) -> list[Action]:
        del self.participants[old.pid]
        self.requests.pop(old.pid, None)  # as leave() does: no request outlives its link
        self.requests.pop(new.pid, None)
        return [
            self._audit("session.leave", old, reason="disconnected"),
            Record("l", {"user": old.user, "id": old.pid, "reason": "disconnected"}),
            self._audit("control.back", new, away=0, previous=old.pid),
            *self._set_driver(new, "back", old.user, self.control_expires_at, self.control_origin),
            self._notice(f"{new.user} is back and drives again", now),
        ]

    def _grace_over(self, now: float) -> list[Action]:
        """Away participants whose grace period ran out leave; control goes back."""
        actions: list[Action] = []
        grace = self.limits.driver_grace
        for p in [q for q in self.participants.values() if q.away_since is not None]:
            if now < (p.away_since or now) + grace:
                continue
            drove = self.driver == p.pid
            actions += self.leave(p.pid, now, reason="link lost")
            if drove:
                holder = self.participants.get(self.driver) if self.driver else None
                to = f"control returns to {holder.user}" if holder else "nobody drives now"
                actions += [
                    self._audit(
                        "control.lapsed", p, grace=grace, to=holder.user if holder else None
                    ),
                    self._notice(f"{p.user} did not come back within {grace:g} s: {to}", now),
                ]
        return actions

    def leave(self, pid: str, now: float, reason: str = "left") -> list[Action]:
        """A participant's connection closed (or it was removed)."""
        p = self.participants.pop(pid, None)
        if p is None:
            return []
        self.last_activity = now
        self.requests.pop(pid, None)
        actions: list[Action] = [
            self._audit("session.leave", p, reason=reason),
            Record("l", {"user": p.user, "id": pid, "reason": reason}),
        ]
        if self.driver == pid:
            actions += self._pass_control_back(p, how=reason)
        actions += self._check_four_eyes()
        if self.state is State.OPEN:
            actions.append(Broadcast(self.roster()))
        return actions

    def remove(self, pid: str, reason: str, now: float) -> list[Action]:
        """Take a participant out (access revoked or expired) and tell them why."""
        if pid not in self.participants:
            return []
        return [Disconnect(pid, ErrorCode.AUTH_FAILED, reason), *self.leave(pid, now, reason)]

    def tick(self, now: float) -> list[Action]:
        """Remove participants whose access expired; called at least once a second."""
        actions: list[Action] = []
        expired = [
            p
            for p in self.participants.values()
            if p.expires_at is not None and p.expires_at <= now
        ]
        for p in expired:
            actions.append(Disconnect(p.pid, ErrorCode.AUTH_FAILED, "your access expired"))
            actions += self.leave(p.pid, now, reason="expired")
        if self._control_expired(now):
            actions += self._expire_control()
        if self.state is State.OPEN:
            actions += self._grace_over(now)
        return actions

    def _control_expired(self, now: float) -> bool:
        return (
            self.driver is not None
            and self.control_expires_at is not None
            and now >= self.control_expires_at
        )

    def _expire_control(self) -> list[Action]:
        """A time-limited control grant ran out: control drops at once."""
        assert self.driver is not None
        p = self.participants[self.driver]
        notice: ControlExpired = {
            "type": "control_expired",
            "message": "your time-limited control has ended",
        }
        return [
            self._audit("control.expired", p),
            Send(p.pid, notice),
            *self._pass_control_back(p, how="expired"),
        ]

    # ------------------------------------------------------------ the shell

    def input(
        self, pid: str, data: bytes, now: float, not_reading: Collection[str] | None = None
    ) -> list[Action]:
        """Keystrokes from a participant: forwarded only if they drive.

        ``not_reading``: the participants whose connection is not reading at
        this instant (the live session checks their sockets); the four-eyes
        rule is decided again here, at the moment of forwarding.
        """
        found = self._lookup(pid, "input")
        if not isinstance(found, Participant):
            return found
        p = found
        if len(data) > self.limits.input_bytes:
            return self._deny(
                pid,
                ErrorCode.INPUT_TOO_LARGE,
                f"input frames are limited to {self.limits.input_bytes} bytes",
                "input",
            )
        if self._control_expired(now):
            return [*self._expire_control(), *self._deny_input(p, now)]
        if self.driver != pid:
            return self._deny_input(p, now)
        actions: list[Action] = []
        if self.four_eyes.watchers > 0 and not_reading is not None:
            actions = self.watching(not_reading)
            if self.state is State.ENDED:
                return actions
        if self.paused is not None:
            return [
                *actions,
                Send(pid, error(ErrorCode.PAUSED, f"input is paused: {self.paused}", ref="input")),
                self._audit("input.denied", p, code=ErrorCode.PAUSED.value, why=self.paused),
            ]
        return [*actions, Forward(data, pid, p.user)]

    def watching(self, not_reading: Collection[str]) -> list[Action]:
        """The live session's view of which connections are not reading changed."""
        readers = frozenset(pid for pid in not_reading if pid in self.participants)
        if readers == self.not_reading:
            return []
        self.not_reading = readers
        before = self.paused
        actions = self._check_four_eyes()
        if self.paused != before and self.state is State.OPEN:
            actions.append(Broadcast(self.roster()))
        return actions

    def _deny_input(self, p: Participant, now: float) -> list[Action]:
        """Refuse a non-driver's input, audited (the relay aggregates repeats)."""
        holder = self.participants.get(self.driver) if self.driver else None
        who = f"{holder.user} is driving" if holder else "nobody is driving"
        return [
            Send(
                p.pid,
                error(
                    ErrorCode.NOT_DRIVER,
                    f"you are not driving ({who}); request control first",
                    ref="input",
                ),
            ),
            self._audit("input.denied", p, code=ErrorCode.NOT_DRIVER.value),
        ]

    def resize(self, pid: str, cols: int, rows: int, now: float) -> list[Action]:
        """A participant's window changed; only the driver's sets the PTY."""
        found = self._lookup(pid, "resize")
        if not isinstance(found, Participant):
            return found
        found.cols, found.rows = cols, rows
        if self.driver != pid or self.pty == (cols, rows):
            return []
        self.pty = (cols, rows)
        return [Resize(cols, rows), Broadcast(self.roster())]

    def target_exited(self, status: int | None, now: float) -> list[Action]:
        """The shell on the target ended by itself."""
        if self.state is State.ENDED:
            return []
        reason = f"the shell exited with status {status}"
        audit = Audit("session.close", {"session": self.session_id, "reason": reason})
        return [audit, *self._end(reason, exit_status=status)]

    # ------------------------------------------------------------ control

    # ------------------------------------------------------------ four eyes

    # ------------------------------------------------------------ chat and end

    def chat(
        self, pid: str, text: str, now: float, mask: Callable[[str], str] | None = None
    ) -> list[Action]:
        """A chat message, bounded in rate and length per participant.

        The cheap checks come first and every attempt counts against the rate,
        refused ones too: a participant sending huge or empty messages is
        slowed like any other, and ``mask`` (the costly step) only ever sees
        text that will be sent.
        """
        found = self._lookup(pid, "chat")
        if not isinstance(found, Participant):
            return found
        p = found
        refusal = self._check_chat_rate(p, now)
        if refusal is None:
            p.chat_times.append(now)  # at most chat_rate entries: refused-for-rate do not count
            text = clean(text)
            refusal = self._check_chat(text)
        if refusal is not None:
            return [
                Send(pid, error(refusal[0], refusal[1], ref="chat")),
                self._audit("chat.denied", p, code=refusal[0].value),
            ]
        if mask is not None:
            text = mask(text)
        message: ChatLine = {"type": "chat", "id": pid, "user": p.user, "text": text, "t": now}
        return [Record("c", {"user": p.user, "text": text}), Broadcast(message)]

    def _check_chat_rate(self, p: Participant, now: float) -> tuple[ErrorCode, str] | None:
        while p.chat_times and p.chat_times[0] <= now - self.limits.chat_window:
            p.chat_times.popleft()
        if len(p.chat_times) >= self.limits.chat_rate:
            return (
                ErrorCode.CHAT_RATE,
                f"at most {self.limits.chat_rate} messages per "
                f"{self.limits.chat_window:g} s; wait a moment",
            )
        return None

    def _check_chat(self, text: str) -> tuple[ErrorCode, str] | None:
        if not text:
            return ErrorCode.CHAT_EMPTY, "empty chat message"
        if len(text) > self.limits.chat_length:
            return (
                ErrorCode.CHAT_TOO_LONG,
                f"chat messages are limited to {self.limits.chat_length} characters",
            )
        return None

    def end(self, pid: str, reason: str, now: float) -> list[Action]:
        """A lead ends the session for everyone."""
        found = self._lookup(pid, "end")
        if not isinstance(found, Participant):
            return found
        if not self._is_lead(found):
            return self._deny(pid, ErrorCode.FORBIDDEN, "only a lead can end the session", "end")
        reason = reason.strip() or "ended by the lead"
        return [
            self._audit("session.close", found, reason=reason),
            *self._end(reason, by=found.user),
        ]

    def shutdown(self, reason: str, now: float) -> list[Action]:
        """The relay is stopping: end the session without a participant's request."""
        if self.state is State.ENDED:
            return []
        return [
            Audit("session.close", {"session": self.session_id, "reason": reason}),
            *self._end(reason),
        ]

    def _end(self, reason: str, **extra: Unpack[EndedExtra]) -> list[Action]:
        self.state = State.ENDED
        self.control = NOBODY
        self.requests.clear()
        message: Ended = {"type": "ended", "reason": reason, **extra}
        return [Record("x", {"reason": reason, **extra}), Broadcast(message), End(reason)]
