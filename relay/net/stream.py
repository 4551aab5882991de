"""The session's output as one byte stream addressed by absolute offset.

Every client reads the same stream through its own cursor, so the relay keeps
one copy of the output however many viewers there are, and a viewer's backlog
is just ``end - cursor``: no per-client queue of copied frames can grow. The
stream keeps at least the last ``capacity`` bytes; a cursor that falls behind
``start`` has lost bytes and must be resynced from a screen snapshot.

One reader may not lose bytes: the driver (see :mod:`relay.net.live`). ``floor``
names the offset of its cursor, and eviction never passes it. The relay stops
reading the target long before that matters, so the stream exceeds
``capacity`` by at most what was already in flight when it stopped.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable

PIECE = 64 * 1024
"""Appends are kept in pieces of at most this size: eviction drops whole pieces,
so the stream never holds more than ``capacity + PIECE`` (plus the driver's floor)."""


class OutputStream:
    """A bounded window ``[start, end)`` over everything the target printed."""

    def __init__(self, capacity: int, base: int = 0) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._offsets: list[int] = []  # absolute offset of each chunk
        self._chunks: list[bytes] = []
        self._head = 0  # chunks before this index are evicted
        self._size = 0  # bytes held in chunks[head:]
        self.start = base  # offsets may start anywhere: see relay.net.output.RAW_BASE
        self.end = base
        self.floor: Callable[[], int | None] | None = None  # the oldest offset still owed

    def append(self, data: bytes) -> int:
        """Add output; return the offset of its first byte."""
        offset = self.end
        if not data:
            return offset
        for start in range(0, len(data), PIECE):
            piece = data[start : start + PIECE] if len(data) > PIECE else data
            self._offsets.append(self.end)
            self._chunks.append(piece)
            self._size += len(piece)
            self.end += len(piece)
        self._evict()
        return offset

    def _evict(self) -> None:
        """Drop whole chunks from the front while the rest still holds ``capacity``,
        never one that holds a byte at or after ``floor``."""
        floor = self.floor() if self.floor is not None else None
        while self._size - len(self._chunks[self._head]) >= self.capacity:
            if (
                floor is not None
                and self._offsets[self._head] + len(self._chunks[self._head]) > floor
            ):
                break
            self._size -= len(self._chunks[self._head])
            self._chunks[self._head] = b""
            self._head += 1
        self.start = self._offsets[self._head]
        if self._head > 1024 and self._head * 2 > len(self._chunks):
            del self._offsets[: self._head]
            del self._chunks[: self._head]
            self._head = 0

    def read(self, offset: int, limit: int) -> bytes:
        """Up to ``limit`` bytes from ``offset``; ``b""`` at the end.

        Raises ``LookupError`` when ``offset`` was evicted (the caller resyncs)
        and ``ValueError`` when it lies in the future.
        """
        if offset < self.start:
            raise LookupError(f"offset {offset} was evicted (stream starts at {self.start})")
        if offset > self.end:
            raise ValueError(f"offset {offset} is past the end of the stream ({self.end})")
        if offset == self.end:
            return b""
        index = bisect_right(self._offsets, offset, lo=self._head) - 1
        parts: list[bytes] = []
        wanted = limit
        skip = offset - self._offsets[index]
        while wanted > 0 and index < len(self._chunks):
            chunk = self._chunks[index]
            piece = chunk[skip : skip + wanted] if skip or len(chunk) - skip > wanted else chunk
            parts.append(piece)
            wanted -= len(piece)
            skip = 0
            index += 1
        return parts[0] if len(parts) == 1 else b"".join(parts)
