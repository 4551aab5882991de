"""Reading evidence files back from the bucket: one sealed object, or a growing file's segments.

:func:`locate` finds what the bucket holds of a file (:mod:`relay.storage.layout`),
:func:`download` copies it to a local file, in requests of at most
:data:`READ_PIECE` bytes. A segment can be merged or deleted between the
listing and its download (the relay is still writing the file, or sealing
it): the download then locates the file again and goes on from where it was.

:class:`Mirror` keeps local copies of recordings that are only in the bucket
(another relay recorded them), so that the archive's listing, summaries,
search and ``fetch_recording`` read a local file, as they do for this
relay's own. A growing copy is extended by what was appended since; a sealed
object is downloaded whole once (so the copy is the bucket's, byte for
byte, whatever was read of it while it grew). The cache is emptied at start
and kept under ``cache_size`` bytes by dropping the copies read longest ago.

Blocking: call from a thread.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from relay.storage.bucket import Bucket, NotFound, StorageError
from relay.storage.layout import SEGMENTS, Segment, chain, parse_segment, recording_key

READ_PIECE = 8 << 20
HEADER_BYTES = 64 << 10  # a recording's header line is far shorter (a reason is ≤ 500 chars)
_RETRIES = 3  # re-locations while the writer merges or seals under a download


@dataclass(frozen=True)
class Stored:
    """What the bucket holds of one file: its sealed object, or the chain of its segments."""

    key: str
    size: int
    sealed: bool
    segments: tuple[Segment, ...] = ()

    def spans(self, start: int, end: int) -> Iterator[tuple[str, int, int]]:
        """``(object key, start, end)`` within objects, covering file bytes ``[start, end)``."""
        if self.sealed:
            for at in range(start, end, READ_PIECE):
                yield self.key, at, min(at + READ_PIECE, end)
            return
        for segment in self.segments:
            low, high = max(start, segment.start), min(end, segment.end)
            for at in range(low, high, READ_PIECE):
                stop = min(at + READ_PIECE, high)
                yield segment.key(self.key), at - segment.start, stop - segment.start


def locate(bucket: Bucket, key: str) -> Stored | None:
    """The sealed object if there is one (leftover segments are ignored), else the segments."""
    size = bucket.size(key)
    if size is not None:
        return Stored(key, size, True)
    objects, _ = bucket.list(key + SEGMENTS)
    found = chain(s for k, _ in objects if (s := parse_segment(key, k)) is not None)
    if not found:
        return None
    return Stored(key, found[-1].end, False, found)


def read(bucket: Bucket, key: str, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of the file (fewer if the bucket holds less)."""
    out = bytearray()
    for piece in _Pieces(bucket, key, start):
        out += piece[: end - start - len(out)]
        if len(out) >= end - start:
            break
    return bytes(out)


def download(bucket: Bucket, key: str, dest: Path, start: int = 0) -> Stored:
    """Write the file from ``start`` on into ``dest`` (created, or cut to ``start`` and extended).

    Returns what was found; raises :class:`NotFound` when the bucket holds nothing of it.
    """
    pieces = _Pieces(bucket, key, start)
    with dest.open("r+b" if start else "wb") as out:
        out.truncate(start)
        out.seek(start)
        for piece in pieces:
            out.write(piece)
    return pieces.stored


class _Pieces:
    """The file's bytes from ``start`` on, piece by piece, re-locating when a segment vanished."""

    def __init__(self, bucket: Bucket, key: str, start: int) -> None:
        self.bucket, self.key, self.at = bucket, key, start
        self.stored = Stored(key, 0, False)

    def __iter__(self) -> Iterator[bytes]:
        for attempt in range(_RETRIES + 1):
            stored = locate(self.bucket, self.key)
            if stored is None:
                raise NotFound(f"nothing of s3://{self.bucket.name}/{self.key} is in the bucket")
            self.stored = stored
            try:
                for object_key, low, high in stored.spans(self.at, stored.size):
                    piece = self.bucket.get(object_key, low, high)
                    if len(piece) != high - low:
                        raise StorageError(
                            f"s3://{self.bucket.name}/{object_key} is shorter than its name says"
                        )
                    self.at += len(piece)
                    yield piece
                return
            except NotFound:
                if attempt == _RETRIES:
                    raise


class Mirror:
    """Local copies of the recordings that are only in the bucket; safe to use from threads."""

    def __init__(self, bucket: Bucket, prefix: str, directory: Path, cache_size: int) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.directory = directory
        self.cache_size = cache_size
        self._lock = threading.Lock()
        self._names: dict[str, threading.Lock] = {}
        self._copies: OrderedDict[str, Stored] = OrderedDict()  # by name, least recent first
        self._headers: dict[str, bytes] = {}
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        directory.chmod(0o700)
        for stale in directory.iterdir():  # a cache: what an earlier run kept is not trusted
            if stale.is_file():
                stale.unlink()

    def listing(self) -> dict[str, Stored]:
        """Every recording in the bucket, by name (a growing one costs a listing of its own)."""
        base = recording_key(self.prefix, "")
        objects, prefixes = self.bucket.list(base, "/")
        found = {key[len(base) :]: Stored(key, size, True) for key, size in objects}
        for prefix in prefixes:
            name = prefix[len(base) :].removesuffix(SEGMENTS)
            if name in found or not prefix.endswith(SEGMENTS):
                continue
            stored = locate(self.bucket, base + name)
            if stored is not None:
                found[name] = stored
        return found

    def names(self, start: str) -> set[str]:
        """The names of the recordings in the bucket that begin with ``start``."""
        base = recording_key(self.prefix, "")
        objects, prefixes = self.bucket.list(base + start, "/")
        found = {key[len(base) :] for key, _ in objects}
        found.update(
            p[len(base) :].removesuffix(SEGMENTS) for p in prefixes if p.endswith(SEGMENTS)
        )
        return found

    def header(self, name: str) -> bytes:
        """The recording's first line (its header), read once."""
        with self._lock:
            cached = self._headers.get(name)
        if cached is not None:
            return cached
        head = read(self.bucket, recording_key(self.prefix, name), 0, HEADER_BYTES)
        line = head.split(b"\n", 1)[0]
        with self._lock:
            self._headers[name] = line
        return line

    def path(self, name: str) -> Path:
        return self.directory / name

    def copy(self, name: str, refresh: bool = True) -> tuple[Path, Stored]:
        """A local copy of ``name`` as the bucket holds it now (``refresh``) or as last copied.

        A growing copy is extended; a sealed one is final. Raises
        :class:`NotFound` when the bucket has no such recording.
        """
        with self._lock:
            lock = self._names.setdefault(name, threading.Lock())
        with lock:
            path = self.path(name)
            with self._lock:
                have = self._copies.get(name)
            if have is not None and not path.exists():
                have = None
            if have is not None and (have.sealed or not refresh):
                self._touch(name)
                return path, have
            key = recording_key(self.prefix, name)
            stored = locate(self.bucket, key)
            if stored is None:
                raise NotFound(f"no recording named {name!r} in {self.bucket.config.url}")
            if stored.sealed or have is None or have.size > stored.size:
                stored = download(self.bucket, key, path)
            elif have.size < stored.size:
                stored = download(self.bucket, key, path, have.size)
            with self._lock:
                self._copies[name] = stored
                self._copies.move_to_end(name)
        self._evict(keep=name)
        return path, stored

    def _touch(self, name: str) -> None:
        with self._lock:
            if name in self._copies:
                self._copies.move_to_end(name)

    def _evict(self, keep: str) -> None:
        """Drop the copies read longest ago while the cache holds more than ``cache_size``.

        A copy being made or extended right now (its lock is held) is kept.
        """
        with self._lock:
            total = sum(stored.size for stored in self._copies.values())
            for name in list(self._copies):
                if total <= self.cache_size:
                    break
                lock = self._names[name]
                if name == keep or not lock.acquire(blocking=False):
                    continue
                try:
                    total -= self._copies.pop(name).size
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path(name))
                finally:
                    lock.release()
