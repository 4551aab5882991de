"""Rate limits, with time passed in: how one client is kept from costing everyone.

Two small tools. :class:`TokenBucket` bounds how often a connection may send
control messages (join, leave, resize, requests...): every one of them makes
the relay write an audit entry or tell every participant. :class:`Throttle`
bounds how often a repeated refusal is *audited*, counting the ones it left
out, so that a client cannot fill the audit log by misbehaving.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """``burst`` messages at once, then ``rate`` per second."""

    rate: float
    burst: float
    _tokens: float = field(init=False)
    _last: float = field(init=False, default=float("-inf"))

    def __post_init__(self) -> None:
        self._tokens = self.burst

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
