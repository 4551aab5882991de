"""Where an evidence file lives in the bucket while it grows, after a crash, and once sealed.

S3 objects are immutable and an unfinished multipart upload cannot be read,
so a file that only ever grows at its end is kept as **segments**: immutable
objects, each holding one byte range of the file, that together are its
verified prefix at every moment. At the seal one multipart upload composes
the whole file into a single object and the segments are deleted.

Keys (``P`` is ``[storage] s3.prefix``)::

    P recordings/<name>.cast                           the sealed recording, whole
    P recordings/<name>.cast.segments/<start>-<end>    bytes [start, end) while it grows
    P audit/<relay>/<audit file>.log                   the same for each audit file
    P audit/<relay>/<audit file>.log.segments/...

``start`` and ``end`` are decimal byte offsets padded to 15 digits (so the
bucket lists them in file order). Each upload round ends at a signed
checkpoint (the writer reports its size after each one), so the segments
always hold a prefix that ``warroom verify`` proves up to its last line.

Sizes, set by S3's multipart rules (every part but the last at least 5 MiB,
at most 10,000 parts, a copied part at most 5 GiB):

* a segment holds at most :data:`PIECE` (16 MiB): one request, bounded memory;
* a segment of at least :data:`PART_MIN` (5 MiB) is **big**: at the seal it
  becomes a part of the final object by a server-side copy (UploadPartCopy),
  so its bytes are uploaded once;
* **small** segments (a quiet session uploads a few hundred bytes a round)
  after the last big one are merged, re-uploaded as one segment from the
  local file, when they reach 5 MiB together or :data:`ROLLUP_COUNT` of
  them: a file never has more than that many small segments, and re-uploads
  cost less than 5 MiB each;
* at the seal the part after the last big segment is uploaded from the local
  file; a file without a big segment (under 16 MiB) is one ``PutObject``.
  So a file may have 10,000 parts of 5 to 16 MiB: 50 GB at the least.

What a crash leaves, whatever the moment (every step writes new objects
before it deletes old ones):

* while growing or after a crash of the relay: segments whose furthest chain
  from offset 0 (:func:`chain`) is the file up to a checkpoint no older than
  the last upload round (``interval`` plus the time of one request, or
  ``max_lag`` at the most: the relay ends the session past it); a crash in
  the middle of a round of several pieces (a backlog over 16 MiB) can leave
  it a little further, inside a line, which ``warroom verify`` reports as an
  incomplete last line after the proven prefix;
* during a merge: the merged segment beside those it replaces; the chain
  takes the longer one, and the bytes are the same;
* during the seal: the segments, and maybe an unfinished multipart upload,
  which nobody can read (a bucket lifecycle rule aborting incomplete
  multipart uploads after a day clears it);
* after the seal: the final object, and maybe segments not yet deleted,
  which readers ignore once the final object exists.

Pure: no I/O. :mod:`relay.storage.bucket` makes the requests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from relay.core.errors import WarroomError

MiB = 1 << 20
PART_MIN = 5 * MiB  # S3: every part of a multipart upload but the last is at least this
PIECE = 16 * MiB  # the most one segment (one request) holds: a worker's memory bound
ROLLUP_COUNT = 32  # small segments after the last big one before they are merged
MAX_PARTS = 10_000  # S3: parts of one multipart upload
SEGMENTS = ".segments/"
_SEGMENT = re.compile(r"(\d{1,20})-(\d{1,20})")


def recording_key(prefix: str, name: str) -> str:
    return f"{prefix}recordings/{name}"


def audit_key(prefix: str, relay: str, name: str) -> str:
    """Each relay's audit files under its name: two relays both write ``audit-<date>-1.log``."""
    return f"{prefix}audit/{quote(relay, safe='')}/{name}"


@dataclass(frozen=True, order=True)
class Segment:
    """Bytes ``[start, end)`` of a file, as one object."""

    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def big(self) -> bool:
        """Big enough to be a part of the final object other than the last."""
        return self.size >= PART_MIN

    def key(self, key: str) -> str:
        return f"{key}{SEGMENTS}{self.start:015d}-{self.end:015d}"


def parse_segment(key: str, object_key: str) -> Segment | None:
    """The segment of ``key`` that ``object_key`` names, or None if it names none."""
    head = key + SEGMENTS
    if not object_key.startswith(head):
        return None
    match = _SEGMENT.fullmatch(object_key[len(head) :])
    if match is None:
        return None
    start, end = int(match[1]), int(match[2])
    return Segment(start, end) if start < end else None


def chain(segments: Iterable[Segment]) -> tuple[Segment, ...]:
    """The segments that hold the longest prefix of the file, in order.

    From offset 0, each step takes a segment that starts where the previous
    one ended; of several, the path that reaches furthest (a merged segment
    and the ones it replaced both start there while a merge is under way).
    """
    by_start: dict[int, list[Segment]] = {}
    for segment in set(segments):
        by_start.setdefault(segment.start, []).append(segment)
    # offset -> (furthest end reachable from it, -segments to get there, the first of them),
    # filled from the highest offset down (a segment always ends after it starts)
    best: dict[int, tuple[int, int, Segment]] = {}

    def score(segment: Segment) -> tuple[int, int, int]:
        after = best.get(segment.end)
        reached, steps = (after[0], after[1] - 1) if after else (segment.end, -1)
        return reached, steps, segment.end

    for offset in sorted(by_start, reverse=True):
        first = max(by_start[offset], key=score)
        reached, steps, _ = score(first)
        best[offset] = (reached, steps, first)
    path: list[Segment] = []
    offset = 0
    while offset in best:
        path.append(best[offset][2])
        offset = path[-1].end
    return tuple(path)


def pieces(start: int, end: int) -> tuple[Segment, ...]:
    """``[start, end)`` cut into segments of :data:`PIECE` bytes, the last one shorter."""
    return tuple(Segment(at, min(at + PIECE, end)) for at in range(start, end, PIECE))


@dataclass(frozen=True)
class Round:
    """One upload round of a growing file: new segments, then what they replace."""

    puts: tuple[Segment, ...]  # uploaded from the local file, in order
    deletes: tuple[Segment, ...]  # deleted after every put succeeded
    chain: tuple[Segment, ...]  # the file's segments afterwards


def plan_round(current: tuple[Segment, ...], size: int) -> Round:
    """Bring the segments up to ``size`` bytes (the file's size after a checkpoint)."""
    end = current[-1].end if current else 0
    if size <= end:
        return Round((), (), current)
    small = 0
    while small < len(current) and not current[len(current) - small - 1].big:
        small += 1
    smalls = current[len(current) - small :] if small else ()
    pending = sum(s.size for s in smalls) + size - end
    if smalls and (pending >= PART_MIN or len(smalls) + 1 > ROLLUP_COUNT):
        kept = current[: len(current) - small]
        puts = pieces(smalls[0].start, size)
        return Round(puts, tuple(smalls), kept + puts)
    puts = pieces(end, size)
    return Round(puts, (), current + puts)


@dataclass(frozen=True)
class Final:
    """How the sealed file becomes one object.

    ``single``: one ``PutObject`` of the whole local file. Otherwise one
    multipart upload: ``copies`` (big segments, copied in the bucket) then
    ``uploads`` (ranges of the local file), as parts 1, 2, ... in that order.
    """

    single: bool
    copies: tuple[Segment, ...]
    uploads: tuple[Segment, ...]
    deletes: tuple[Segment, ...]  # every segment, once the final object exists


class TooLarge(WarroomError, ValueError):
    """The file needs more parts than one multipart upload may have."""


def plan_final(current: tuple[Segment, ...], size: int) -> Final:
    """Compose the sealed file of ``size`` bytes from its segments and the local file."""
    copies: list[Segment] = []
    for segment in current:
        if not segment.big or segment.end > size:
            break
        copies.append(segment)
    start = copies[-1].end if copies else 0
    uploads = pieces(start, size)
    if not copies and len(uploads) <= 1:
        return Final(True, (), (), current)
    if len(copies) + len(uploads) > MAX_PARTS:
        raise TooLarge(f"{size} bytes need more than {MAX_PARTS} parts")
    return Final(False, tuple(copies), uploads, current)
