"""What a reviewer sees of a recording before opening it, and searching what it says.

The recordings listing (``list_recordings``) gives, for each file, what its
header says (session, target, owner, start) and what only reading it can
tell: how long it lasted, who drove, who was there, how it ended and whether
its hash chain and signatures hold. :func:`summarize` reads a file once for
all of that; :class:`Catalog` keeps each answer until the file changes (its
size or modification time), so a listing costs one read of each new or
growing recording (verifying runs at ≈ 200 MB/s) and nothing for the rest.

:func:`search` finds text in a recording: in what the terminal showed (escape
sequences and control characters left out, matching across output events,
case ignored) and in the chat. Recordings hold masked output only, so a
search cannot find a secret the masker hid.

No sockets and no clock: the relay calls these from a worker thread, after
checking on its event loop who may see which recordings (:mod:`relay.net.archive`).
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from relay.core.protocol import ListRecordings
from relay.evidence.asciicast import CastError, CastHeader, iter_events, read_header
from relay.evidence.replay import plain_text
from relay.evidence.verdicts import Verdict, check_recording
from relay.trust.keys import VerifyKey

SNIPPET = 80  # characters of context returned around a match
_CACHED = 4096  # summaries kept (a few hundred bytes each)


class Verification(StrEnum):
    """How far a recording can be trusted, as ``warroom verify`` would say."""

    VERIFIED = "verified"  # sealed, every line proven by the relay's key
    RECORDING = "recording"  # the session is still open: no seal yet, by design
    INTERRUPTED = "interrupted"  # no seal: the relay stopped, or the file was cut
    TAMPERED = "tampered"  # an edit, a dropped or reordered line, a bad signature


@dataclass(frozen=True)
class Summary:
    """What reading a recording once tells about it."""

    duration: float
    drivers: tuple[str, ...]  # who drove, in the order they first did
    participants: tuple[str, ...]  # who joined, in the order they first did
    ended: str | None  # why the session ended, if the recording says
    verification: Verification
    damaged_at: int | None = None  # byte offset of the first line that is not an event

    def fields(self) -> dict[str, Any]:
        """The listing's fields for this summary (``docs/protocol.md``)."""
        return {
            "duration": round(self.duration, 3),
            "drivers": list(self.drivers),
            "participants": list(self.participants),
            "ended": self.ended,
            "verification": self.verification.value,
        }


def summarize(path: Path, key: VerifyKey | None, live: bool = False) -> Summary:
    """Read ``path`` once: events for the summary, then the chain for the verdict.

    ``live``: the session is still open, so a missing seal is expected.
    Raises ``OSError`` or :class:`CastError` when the file cannot be read at all.
    """
    header = read_header(path)
    duration = 0.0
    drivers: dict[str, None] = {}
    people: dict[str, None] = {}
    ended: str | None = None
    damaged: int | None = None
    try:
        for event in iter_events(path, header):
            duration = event.time
            if event.code not in ("h", "j", "e"):
                continue
            fields = _fields(event.data)
            if event.code == "h" and isinstance(fields.get("driver"), str):
                drivers.setdefault(fields["driver"])
            elif event.code == "j" and isinstance(fields.get("user"), str):
                people.setdefault(fields["user"])
            elif event.code == "e":
                ended = str(fields.get("reason") or "ended")
    except CastError as exc:
        damaged = _offset(str(exc))
    return Summary(
        duration,
        tuple(drivers),
        tuple(people),
        ended,
        _verdict(path, key, live),
        damaged,
    )


def _verdict(path: Path, key: VerifyKey | None, live: bool) -> Verification:
    """``warroom verify``'s verdict (:mod:`relay.evidence.verdicts`), by the relay's key."""
    verdict = check_recording(path, [key] if key else []).verdict
    if verdict is Verdict.INTACT:
        return Verification.VERIFIED
    if verdict is Verdict.INTERRUPTED:
        return Verification.RECORDING if live else Verification.INTERRUPTED
    return Verification.TAMPERED


def _fields(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _offset(message: str) -> int | None:
    """The byte offset a :class:`CastError` names (``"byte 212836: …"``)."""
    head, _, _ = message.partition(":")
    number = head.removeprefix("byte ").strip()
    return int(number) if number.isdigit() else None


@dataclass(frozen=True)
class Match:
    """Where a search text first appears in a recording."""

    at: float  # seconds into the recording
    snippet: str  # the text around it, on one line


def search(path: Path, header: CastHeader, text: str) -> Match | None:
    """The first place ``text`` appears in the output or the chat (case ignored)."""
    needle = text.casefold()
    if not needle:
        return None
    tail = ""  # the end of the output so far, for matches across events
    try:
        for event in iter_events(path, header):
            if event.code == "c":
                said = str(_fields(event.data).get("text", ""))
                if needle in said.casefold():
                    return Match(event.time, _snippet(said, said.casefold().index(needle), needle))
                continue
            if event.code != "o":
                continue
            shown = tail + plain_text(event.data)
            folded = shown.casefold()
            found = folded.find(needle)
            if found != -1:
                return Match(event.time, _snippet(shown, found, needle))
            tail = shown[-max(len(needle) - 1, SNIPPET) :]
    except CastError:
        return None  # a damaged recording is searched up to the damage
    return None


def _snippet(text: str, index: int, needle: str) -> str:
    """The line around a match, cut to :data:`SNIPPET` characters."""
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n", index + len(needle))
    line = text[start : end if end != -1 else len(text)].replace("\r", "")
    at = index - start
    if len(line) > SNIPPET:
        first = max(0, min(at - SNIPPET // 3, len(line) - SNIPPET))
        line = line[first : first + SNIPPET]
    return line.strip()


class Catalog:
    """Summaries of the recordings, kept until a file changes; safe to use from threads."""

    def __init__(self, key: VerifyKey | None) -> None:
        self.key = key
        self._lock = threading.Lock()
        self._summaries: OrderedDict[str, tuple[tuple[int, int, bool], Summary]] = OrderedDict()

    def summary(self, path: Path, live: bool = False) -> Summary | None:
        """The summary of ``path``, from the cache while the file is unchanged."""
        try:
            stat = path.stat()
        except OSError:
            return None
        stamp = (stat.st_size, stat.st_mtime_ns, live)
        with self._lock:
            cached = self._summaries.get(path.name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            summary = summarize(path, self.key, live)
        except (OSError, CastError):
            return None
        with self._lock:
            self._summaries[path.name] = (stamp, summary)
            self._summaries.move_to_end(path.name)
            while len(self._summaries) > _CACHED:
                self._summaries.popitem(last=False)
        return summary


@dataclass(frozen=True)
class Filters:
    """What a reviewer narrows the listing to (every field optional)."""

    user: str | None = None  # the owner, a driver or a participant
    target: str | None = None
    since: float | None = None  # started at or after (unix seconds)
    until: float | None = None  # started before
    text: str | None = None  # appears in the output or the chat

    @classmethod
    def of(cls, message: ListRecordings) -> Filters:
        def number(value: float | None) -> float | None:
            return float(value) if value is not None else None

        return cls(
            message.get("user") or None,
            message.get("target") or None,
            number(message.get("since")),
            number(message.get("until")),
            message.get("text") or None,
        )

    def keeps(self, entry: dict[str, Any]) -> bool:
        """Whether a listing entry (with its summary fields) passes every filter but text."""
        if self.target is not None and entry.get("target") != self.target:
            return False
        started = entry.get("started_at")
        if self.since is not None and (started is None or started < self.since):
            return False
        if self.until is not None and (started is None or started >= self.until):
            return False
        if self.user is not None:
            who = self.user.casefold()
            names = [entry.get("owner"), *entry.get("drivers", ()), *entry.get("participants", ())]
            if not any(isinstance(n, str) and who in _names(n) for n in names):
                return False
        return True


def _names(user: str) -> set[str]:
    """A user as a filter may name them: ``guest:maya`` is also ``maya``."""
    folded = user.casefold()
    return {folded, folded.removeprefix("guest:")}


def enrich(
    catalog: Catalog,
    path_of: Callable[[str], Path],
    entries: list[dict[str, Any]],
    filters: Filters,
    live: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Add each entry's summary, keep those the filters pass, and search their text.

    ``entries`` are the listing's, already limited to what the caller may see;
    ``path_of`` gives the file to read for a name (the recordings directory's,
    or a copy from the bucket); ``live`` names the sessions still open (their
    recordings have no seal yet).
    """
    kept = []
    for entry in entries:
        path = path_of(str(entry["name"]))
        summary = catalog.summary(path, entry.get("session") in live)
        full = {**entry, **(summary.fields() if summary else {"verification": None})}
        if not filters.keeps(full):
            continue
        if filters.text is not None:
            try:
                found = search(path, read_header(path), filters.text)
            except (OSError, CastError):
                found = None
            if found is None:
                continue
            # Rounded up: a player seeking there must include the matching event.
            full["match_at"] = math.ceil(found.at * 1000) / 1000
            full["match"] = found.snippet
        kept.append(full)
    return kept
