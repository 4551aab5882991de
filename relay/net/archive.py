"""Recordings on the relay, for reviewers: list them and fetch them in chunks, audited.

Two protocol messages (``docs/protocol.md``), answered by :meth:`Archive.handle`:

* ``list_recordings {session?, user?, target?, since?, until?, text?}`` →
  ``recordings {recordings: [...]}``, newest first. What the header says comes
  from here; what only reading the file tells (duration, drivers, the
  verification state, a text search) from :mod:`relay.evidence.catalog`, in a worker
  thread (:meth:`Archive.details`), after the checks here ran on the event loop;
* ``fetch_recording {name, offset?}`` → ``recording_chunk {name, offset, size,
  data (base64), eof}``: at most :data:`CHUNK` bytes from ``offset``. The client
  asks for the next offset until ``eof``: transfer is pulled, so a 100 MB file
  never piles up in a send queue, and an interrupted download resumes.

Who may: reviewers and leads, within a :class:`Scope`: a credential bound to
one session (an invite) sees that session's recordings only, and a reviewer
grant limited to a session or a target sees only the recordings it covers.
The scope is checked on every listing and every chunk. A name is a bare file name in the
recordings directory; anything that would resolve elsewhere (``..``, a slash,
a symbolic link out) is refused, and every refusal is audited like every
fetch. A fetch is audited once when it starts (``offset`` 0, or a connection
resuming a file it was not just reading), not once per chunk.

With object storage (:class:`relay.storage.reader.Mirror`), the recordings
other relays put in the bucket are listed and fetched too: their header is
read from the bucket for the listing (and the scope check), and a local copy
is made for what needs the whole file (summaries, search, the chunks of a
fetch). A recording this relay has on disk is served from its disk. Bucket
requests run in worker threads; a bucket that fails makes the listing or the
fetch fail with ``unavailable``, never return less than there is.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

from relay.core.errors import ErrorCode, ProtocolError
from relay.core.messages import RecordingChunk, Recordings
from relay.core.protocol import FetchRecording, ListRecordings, RecordingRequest
from relay.core.roles import Role
from relay.evidence.asciicast import CastError, CastHeader, parse_header, read_header
from relay.evidence.catalog import Catalog, Filters, enrich
from relay.evidence.chain import SEAL_PREFIX
from relay.trust.keys import VerifyKey

if TYPE_CHECKING:
    from relay.storage.reader import Mirror

CHUNK = 256 * 1024  # 342 KiB of base64 per frame: well under a client's 4 MiB frame limit
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.cast")
ALLOWED = frozenset({Role.REVIEWER, Role.LEAD})
_TRACKED = 1024  # connections whose position in a download is remembered
T = TypeVar("T")


class Auditor(Protocol):
    def record(self, event: str, **fields: str | int | float | bool | None) -> None: ...


@dataclass(frozen=True)
class Scope:
    """Which recordings someone may read: every one (``covers`` is None), or those
    whose (session, target) one of the ``covers`` pairs matches (None matches any)."""

    covers: frozenset[tuple[str | None, str | None]] | None = None

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    @classmethod
    def session(cls, session: str) -> Scope:
        return cls(frozenset({(session, None)}))

    def allows(self, session: Any, target: Any) -> bool:
        if self.covers is None:
            return True
        return any(s in (None, session) and t in (None, target) for s, t in self.covers)

    def excludes_session(self, session: str) -> bool:
        """Whether no recording of ``session`` can be in scope, whatever its target."""
        return self.covers is not None and all(
            s is not None and s != session for s, _ in self.covers
        )

    def describe(self) -> str:
        if self.covers is None:
            return "every recording"
        parts = [
            f"session {s}" if s else f"target {t}" if t else "every recording"
            for s, t in sorted(self.covers, key=str)
        ]
        return " and ".join(parts)


class Archive:
    """The recordings directory (and the bucket) as reviewers see them.

    Holds no state but download positions; the bucket's side is cached by
    the :class:`relay.storage.reader.Mirror`.
    """

    def __init__(
        self,
        directory: Path,
        audit: Auditor,
        key: VerifyKey | None = None,
        mirror: Mirror | None = None,
    ) -> None:
        self.directory = directory
        self.audit = audit
        self.catalog = Catalog(key)
        self.mirror = mirror
        self._reading: OrderedDict[str, tuple[str, int]] = OrderedDict()  # pid -> (name, next)

    async def handle(
        self, message: RecordingRequest, user: str, role: Role, scope: Scope, pid: str
    ) -> Recordings | RecordingChunk:
        """Answer a ``list_recordings`` or ``fetch_recording`` message (validated already)."""
        if role not in ALLOWED:
            self._deny(user, message, "only reviewers and leads can read recordings")
        if message["type"] == "list_recordings":
            return await self.listing(message.get("session"), scope, user)
        assert message["type"] == "fetch_recording"
        return await self.fetch(message["name"], message.get("offset", 0), user, scope, pid)

    # ------------------------------------------------------------ list

    async def listing(self, session: str | None, scope: Scope, user: str = "") -> Recordings:
        """The recordings this credential may see, newest first."""
        if session is not None and scope.excludes_session(session):
            request: ListRecordings = {"type": "list_recordings", "session": session}
            self._deny(user, request, f"your access covers {scope.describe()} only")
        entries = [e for e in map(self.describe, self._files()) if e is not None]
        if self.mirror is not None:
            here = {e["name"] for e in entries}
            entries += await asyncio.to_thread(self._stored_entries, self.mirror, here)
        visible = [
            e
            for e in entries
            if (session is None or e["session"] == session)
            and scope.allows(e["session"], e["target"])
        ]
        visible.sort(key=lambda e: (e["started_at"] or 0, e["name"]), reverse=True)
        return {"type": "recordings", "recordings": visible}

    async def recorded(self, session: str | None) -> bool:
        """Whether a recording of ``session`` is here or in the bucket (reviewer invites
        outlive sessions)."""
        if not session:
            return False
        name = re.compile(re.escape(session) + r"-\d{8}T\d{6}Z\.cast")
        if any(name.fullmatch(p.name) for p in self._files()):
            return True
        if self.mirror is None:
            return False
        names = await asyncio.to_thread(_bucket, self.mirror.names, f"{session}-")
        return any(name.fullmatch(n) for n in names)

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [p for p in self.directory.iterdir() if NAME.fullmatch(p.name) and p.is_file()]

    @staticmethod
    def describe(path: Path) -> dict[str, Any] | None:
        """What a reviewer needs to pick a recording, from its header and its last line."""
        try:
            header = read_header(path)
            size = path.stat().st_size
        except (OSError, CastError):
            return None
        return _entry(path.name, header, size, _sealed(path, size))

    def _stored_entries(self, mirror: Mirror, here: set[str]) -> list[dict[str, Any]]:
        """The recordings only the bucket has, described from their headers (in a thread)."""
        entries = []
        for name, stored in _bucket(mirror.listing).items():
            if name in here or not NAME.fullmatch(name):
                continue
            try:
                header = parse_header(_bucket(mirror.header, name))
            except CastError:
                continue  # not a recording: listed nowhere, as on disk
            entries.append(_entry(name, header, stored.size, stored.sealed))
        return entries

    def details(
        self, entries: list[dict[str, Any]], message: ListRecordings, live: frozenset[str]
    ) -> list[dict[str, Any]]:
        """The listing's entries with their summaries, filtered and searched (thread-safe).

        ``entries`` come from :meth:`listing`, which checked what the caller may see.
        A recording only in the bucket is copied here first (extended if it grew).
        """
        paths: dict[str, Path] = {}
        for entry in entries:
            name = str(entry["name"])
            local = self.directory / name
            if local.is_file() or self.mirror is None:
                paths[name] = local
                continue
            try:
                paths[name] = _bucket(self.mirror.copy, name)[0]
            except ProtocolError:
                paths[name] = self.mirror.path(name)  # no summary: verification unknown
        return enrich(self.catalog, paths.__getitem__, entries, Filters.of(message), live)

    # ------------------------------------------------------------ fetch

    async def fetch(
        self, name: str, offset: int, user: str, scope: Scope, pid: str
    ) -> RecordingChunk:
        """One chunk of a recording; audits the start of each download."""
        request: FetchRecording = {"type": "fetch_recording", "name": name, "offset": offset}
        path = self.resolve(name, user, request)
        mirror = self.mirror if path is None else None
        if path is not None:
            entry = self.describe(path)
        elif mirror is not None:
            entry = await asyncio.to_thread(self._stored_entry, mirror, name)
        else:
            entry = None
        if entry is None and path is None:
            raise ProtocolError(ErrorCode.NO_SUCH_RECORDING, f"no recording named {name!r}")
        session = entry["session"] if entry else None
        target = entry["target"] if entry else None
        if not scope.allows(session, target) or (entry is None and scope.covers is not None):
            self._deny(user, request, f"your access covers {scope.describe()} only")
        if offset < 0:
            raise ProtocolError(ErrorCode.BAD_FRAME, "fetch_recording: offset must not be negative")
        if mirror is not None:
            path = await asyncio.to_thread(self._copy, mirror, name, offset)
        assert path is not None
        if self._reading.get(pid) != (name, offset) or offset == 0:
            where = {"stored": "bucket"} if mirror is not None else {}
            self.audit.record(
                "recording.fetch",
                user=user,
                session=session,
                recording=name,
                offset=offset,
                **where,
            )
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(min(offset, size))
            data = handle.read(CHUNK)
        self._remember(pid, name, offset + len(data))
        return {
            "type": "recording_chunk",
            "name": name,
            "offset": offset,
            "size": size,
            "data": base64.b64encode(data).decode(),
            "eof": offset + len(data) >= size,
        }

    @staticmethod
    def _stored_entry(mirror: Mirror, name: str) -> dict[str, Any] | None:
        """A bucket-only recording's header, for the scope check before anything is copied."""
        try:
            header = parse_header(_bucket(mirror.header, name))
        except CastError:
            return None
        except ProtocolError as exc:
            if exc.code is ErrorCode.NO_SUCH_RECORDING:
                return None
            raise
        return _entry(name, header, 0, False)

    @staticmethod
    def _copy(mirror: Mirror, name: str, offset: int) -> Path:
        """The local copy to read this chunk from: fresh at the start of a download, and
        whenever the reader reached the end of a copy that may have grown since."""
        path, stored = _bucket(mirror.copy, name, False)
        if offset == 0 or (not stored.sealed and offset >= stored.size):
            path, stored = _bucket(mirror.copy, name, True)
        return path

    def resolve(self, name: str, user: str, request: RecordingRequest) -> Path | None:
        """The file ``name`` names inside the directory (None: not here, maybe in the bucket);
        refuse (and audit) a name that is not a bare recording name."""
        base = self.directory.resolve()
        if not NAME.fullmatch(name):
            self._deny(user, request, "a recording is named by its bare file name (*.cast)")
        path = (base / name).resolve()
        if path.parent != base:
            self._deny(user, request, "that path is outside the recordings directory")
        if not path.is_file():
            if self.mirror is None:
                raise ProtocolError(ErrorCode.NO_SUCH_RECORDING, f"no recording named {name!r}")
            return None
        return path

    def _remember(self, pid: str, name: str, next_offset: int) -> None:
        self._reading[pid] = (name, next_offset)
        self._reading.move_to_end(pid)
        while len(self._reading) > _TRACKED:
            self._reading.popitem(last=False)

    def _deny(self, user: str, request: RecordingRequest, why: str) -> NoReturn:
        self.audit.record(
            "recording.denied",
            user=user,
            request=request["type"],
            recording=request["name"] if request["type"] == "fetch_recording" else None,
            reason=why,
        )
        raise ProtocolError(ErrorCode.FORBIDDEN, why)


def _entry(name: str, header: CastHeader, size: int, sealed: bool) -> dict[str, Any]:
    info = header.warroom or {}
    return {
        "name": name,
        "session": info.get("session"),
        "target": info.get("target"),
        "owner": info.get("owner"),
        "reason": info.get("reason"),
        "started_at": info.get("started_at"),
        "size": size,
        "sealed": sealed,
    }


def _bucket(request: Callable[..., T], *args: Any) -> T:
    """Run a bucket request (in a worker thread); its failure becomes the client's error."""
    from relay.storage.bucket import NotFound, StorageError

    try:
        return request(*args)
    except NotFound as exc:
        raise ProtocolError(ErrorCode.NO_SUCH_RECORDING, str(exc)) from None
    except StorageError as exc:
        raise ProtocolError(
            ErrorCode.UNAVAILABLE, f"the recordings' object storage fails: {exc}"
        ) from None


def _sealed(path: Path, size: int) -> bool:
    """Whether the last line is a seal: cheap, not a verification (``warroom verify`` is)."""
    with path.open("rb") as handle:
        handle.seek(max(0, size - 4096))
        tail = handle.read()
    last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return last.startswith(SEAL_PREFIX.encode())
