"""Rate limits, with time passed in: how one client is kept from costing everyone.

:class:`TokenBucket` bounds how often a connection may send messages: every
one of them makes the relay parse, audit or tell every participant.
:class:`Throttle` says when a repeated event is due. :class:`KeyedBuckets`
keeps one bucket per key (failed logins per source, per user) in bounded
memory. :class:`Aggregator` and :class:`DenialAudit` write a repeated refusal
to the audit log once per interval with a count, so that an attacker cannot
write the log for us: the first refusal of a kind is written at once, the
rest of its interval as one entry with ``repeated`` (how many) and ``since``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class TokenBucket:
    """``burst`` messages at once, then ``rate`` per second."""

    rate: float
    burst: float
    _tokens: float = field(init=False)
    _last: float = field(init=False, default=float("-inf"))

    def __post_init__(self) -> None:
        self._tokens = self.burst

    def available(self, now: float) -> float:
        """Tokens there would be at ``now``, without taking one."""
        if self._last == float("-inf"):
            return self._tokens
        return min(self.burst, self._tokens + (now - self._last) * self.rate)

    def allow(self, now: float) -> bool:
        if self._last != float("-inf"):
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


@dataclass
class Throttle:
    """At most one event per ``interval``; :meth:`due` reports how many it skipped."""

    interval: float
    _last: float = field(init=False, default=float("-inf"))
    _skipped: int = field(init=False, default=0)

    def due(self, now: float) -> int | None:
        """``None`` if this event is skipped; else how many were skipped before it."""
        if now - self._last < self.interval:
            self._skipped += 1
            return None
        skipped, self._skipped, self._last = self._skipped, 0, now
        return skipped


class KeyedBuckets:
    """One :class:`TokenBucket` per key, for at most ``max_keys`` keys.

    The least recently used key is forgotten first: an attacker cycling
    through keys gets fresh buckets, but memory stays bounded, and a key
    under attack right now is the most recently used one.
    """

    def __init__(self, rate: float, burst: float, max_keys: int = 4096) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[Hashable, TokenBucket] = OrderedDict()

    def allow(self, key: Hashable, now: float) -> bool:
        """Take a token for ``key`` (False: none left)."""
        return self._bucket(key).allow(now)

    def exhausted(self, key: Hashable, now: float) -> bool:
        """Whether ``key`` has no token left, without taking one."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return False
        return bucket.available(now) < 1

    def _bucket(self, key: Hashable) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(key)
        return bucket


@dataclass
class _Window:
    since: float
    count: int = 0
    fields: dict[str, AuditValue] = field(default_factory=dict)


AuditValue = str | int | float | bool | None


class Aggregator:
    """Counts repeats of a key per ``interval`` (time passed in, no I/O).

    ``note`` says whether an occurrence opens a new interval (write it now);
    ``due`` returns, once an interval is over, the keys that repeated in it
    and how often. At most ``max_keys`` keys are tracked; past that, new keys
    share one overflow key, so memory is bounded whatever an attacker sends.
    """

    OVERFLOW = ("*",)

    def __init__(self, interval: float, max_keys: int = 1024) -> None:
        self.interval = interval
        self.max_keys = max_keys
        self._windows: dict[Hashable, _Window] = {}

    def note(self, key: Hashable, now: float, fields: dict[str, AuditValue]) -> Hashable | None:
        """The key this occurrence counts under if it is a repeat; ``None``: write it now."""
        window = self._windows.get(key)
        if window is None and len(self._windows) >= self.max_keys:
            key = self.OVERFLOW
            window = self._windows.get(key)
        if window is None:
            self._windows[key] = _Window(now)
            return None if key != self.OVERFLOW else self._repeat(key, fields)
        return self._repeat(key, fields)

    def _repeat(self, key: Hashable, fields: dict[str, AuditValue]) -> Hashable:
        window = self._windows[key]
        window.count += 1
        window.fields = fields
        return key

    def due(self, now: float) -> list[tuple[Hashable, int, float, dict[str, AuditValue]]]:
        """(key, repeats, since, last fields) for every interval that ended with repeats."""
        out = []
        for key, window in list(self._windows.items()):
            if now - window.since < self.interval:
                continue
            del self._windows[key]
            if window.count:
                out.append((key, window.count, window.since, window.fields))
        return out


class Auditor(Protocol):
    def record(self, event: str, **fields: AuditValue) -> None: ...
    def tick(self) -> None: ...


DENIAL_INTERVAL = 5.0
"""Seconds over which repeated refusals of one kind from one source become one entry."""

DENIALS: dict[str, tuple[str, ...]] = {
    # event -> the fields that say "the same refusal again" (the rest may vary)
    "auth.failed": ("peer", "code"),
    "auth.throttled": ("peer",),
    "connection.dropped": ("peer", "reason"),
    "connection.refused": ("peer", "user", "reason"),
    "denied": ("user", "peer", "participant", "code", "ref"),
    "protocol.error": ("user", "peer", "code"),
    "input.denied": ("session", "participant", "code"),
    "chat.denied": ("session", "participant", "code"),
    "recording.denied": ("user", "request", "reason"),
    "session.join_denied": ("user", "session", "peer", "code"),
}
"""Refusals a client can repeat at will: written once per interval with a count."""


MAX_AUDIT_TEXT = 1000
"""Characters of one audit field; clients' strings are bounded far below on the way in."""


def _bounded(value: AuditValue) -> AuditValue:
    """A last guard: an audit entry is never huge and always encodes, whatever reached it."""
    if not isinstance(value, str):
        return value
    if len(value) > MAX_AUDIT_TEXT:
        value = f"{value[:MAX_AUDIT_TEXT]}... ({len(value)} characters)"
    return value.encode("utf-8", "replace").decode() if not value.isascii() else value


class DenialAudit:
    """The audit log as the relay writes it: refusals aggregated, the rest as is.

    Wraps the real log (anything with ``record`` and ``tick``); ``tick``
    (the relay calls it twice a second) writes the counts of intervals that
    ended. Every other event passes straight through.
    """

    def __init__(
        self,
        log: Auditor,
        clock: Callable[[], float],
        interval: float = DENIAL_INTERVAL,
        max_keys: int = 1024,
    ) -> None:
        self.log = log
        self.clock = clock
        self.aggregator = Aggregator(interval, max_keys)

    def record(self, event: str, **fields: AuditValue) -> None:
        fields = {name: _bounded(value) for name, value in fields.items()}
        keys = DENIALS.get(event)
        if keys is None:
            self.log.record(event, **fields)
            return
        key = (event, *(fields.get(k) for k in keys))
        if self.aggregator.note(key, self.clock(), {"event": event, **fields}) is None:
            self.log.record(event, **fields)

    def tick(self) -> None:
        self.flush(self.clock())
        self.log.tick()

    def flush(self, now: float) -> None:
        """Write one entry per interval that ended with repeats: the last one's fields
        (for the overflow key, only the event), ``repeated`` and ``since``."""
        for key, count, since, last in self.aggregator.due(now):
            fields = dict(last)
            event = str(fields.pop("event"))
            if key == Aggregator.OVERFLOW:
                self.log.record("audit.overflow", repeated=count, since=since, last=event)
            else:
                self.log.record(event, **{**fields, "repeated": count, "since": since})


LOGIN_SOURCE_BURST = 10
LOGIN_SOURCE_RATE = 1 / 6  # failed logins per second per source, once the burst is spent
LOGIN_USER_BURST = 20
LOGIN_USER_RATE = 1 / 3  # per user name, whatever the source


class LoginGuard:
    """Failed logins, throttled per source address and per user name.

    Only failures take tokens; a source or user with none left is refused
    before its credentials are even checked (no signature verification, no
    audit entry beyond the aggregated ``auth.throttled``). Per user, an
    attacker can slow a user's own logins by failing as them: the user's
    bucket is larger and refills faster than a source's for that reason,
    and names that are not users share one bucket, so memory stays bounded.
    """

    def __init__(self, users: frozenset[str] | set[str] = frozenset()) -> None:
        self.users = users
        self.sources = KeyedBuckets(LOGIN_SOURCE_RATE, LOGIN_SOURCE_BURST)
        self.names = KeyedBuckets(LOGIN_USER_RATE, LOGIN_USER_BURST)

    def _name(self, user: str | None) -> str | None:
        if user is None:
            return None
        return user if user in self.users else "<unknown>"

    def throttled(self, source: str, user: str | None, now: float) -> str | None:
        """Why a login from ``source`` as ``user`` is refused unchecked (None: go ahead)."""
        if self.sources.exhausted(source, now):
            return f"too many failed logins from {source}"
        name = self._name(user)
        if name is not None and self.names.exhausted(name, now):
            return f"too many failed logins as {name}"
        return None

    def failed(self, source: str, user: str | None, now: float) -> None:
        self.sources.allow(source, now)
        name = self._name(user)
        if name is not None:
            self.names.allow(name, now)
