"""Uploading growing evidence files to the bucket, off the event loop, failing closed.

The writers (:class:`relay.evidence.recording.Recording`, :class:`relay.evidence.audit.AuditLog`)
report their file's size after every signed checkpoint and at the seal
(:meth:`Replica.checkpoint`): a dictionary update under a lock, nothing
else, so the event loop never waits for S3. Worker threads do the requests
(:mod:`relay.storage.layout` says which), reading the bytes back from the
local file, which stays the staging area: the queue holds one entry per
file, not bytes, so its memory is bounded by the number of open files
(sessions and the audit log), and a worker holds at most one 16 MiB piece.

Rules:

* A file gets at most one upload round per ``interval`` (1 s by default);
  later checkpoints are coalesced into the next round. A seal is uploaded at
  once, and so is everything when the relay stops (:meth:`Uploader.close`
  waits up to its ``timeout`` for that).
* A failed round is retried after 0.5, 1, 2, 4 then every 5 s; a successful
  health probe (``HeadBucket``, sent when no request was made for
  :data:`PROBE_EVERY` seconds) retries every waiting file at once.
* **Lag** is the age of a file's oldest checkpoint that is not in the
  bucket yet. A recording whose lag passes ``max_lag`` (30 s by default) can
  no longer be recorded: :meth:`Uploader.overdue` names its session, and the
  relay ends that session. The bucket then misses at most ``max_lag`` (plus
  the recorder's ``max_loss``) of it even if the relay's machine is lost.
* **Health** is the outcome of the latest request (an upload or a probe):
  while it failed, the relay opens no new session (:meth:`Uploader.health`).
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from relay.storage.bucket import Bucket, NotFound, StorageError
from relay.storage.layout import (
    SEGMENTS,
    Segment,
    audit_key,
    chain,
    parse_segment,
    plan_final,
    plan_round,
    recording_key,
)

log = logging.getLogger(__name__)

PROBE_EVERY = 5.0  # seconds without any request before the bucket is probed
BACKOFF = (0.5, 1.0, 2.0, 4.0, 5.0)  # seconds before retrying a failed round, then the last
WORKERS = 2


@dataclass
class _File:
    """One file being uploaded; every field is guarded by the uploader's lock."""

    path: Path
    key: str
    session: str | None  # the recording's session; None for an audit file
    size: int = 0  # the file's size after its latest checkpoint
    sealed: bool = False
    chain: tuple[Segment, ...] = ()
    known: bool = True  # False: the bucket's segments must be listed first (a resumed file)
    uploaded: int = 0  # bytes proven in the bucket
    done: bool = False
    busy: bool = False
    waiting_since: float | None = None  # when the oldest checkpoint not in the bucket came
    newer_since: float | None = None  # the first checkpoint after the running round began
    last_round: float = -math.inf
    retry_at: float = -math.inf
    failures: int = 0
    error: str | None = None

    def has_work(self) -> bool:
        return not self.done and (self.size > self.uploaded or self.sealed or not self.known)


@dataclass(frozen=True)
class Overdue:
    """A recording whose signed state waits for the bucket longer than ``max_lag``."""

    session: str
    path: Path
    lag: float
    error: str | None


@dataclass(frozen=True)
class Health:
    """What ``/healthz`` says about the bucket."""

    ok: bool
    error: str | None  # the latest failure, while failing
    failing_for: float | None  # seconds since requests began to fail
    files: int  # files with bytes or a seal not in the bucket yet
    backlog: int  # bytes of them
    lag: float  # seconds the oldest checkpoint not in the bucket has waited
    where: str = ""

    def fields(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "where": self.where,
            "error": self.error,
            "failing_for": None if self.failing_for is None else round(self.failing_for, 1),
            "files_waiting": self.files,
            "backlog_bytes": self.backlog,
            "lag": round(self.lag, 1),
        }


class Replica:
    """A writer's handle on its file's upload: call :meth:`checkpoint` after each checkpoint."""

    def __init__(self, uploader: Uploader, file: _File) -> None:
        self._uploader = uploader
        self._file = file

    @property
    def key(self) -> str:
        return self._file.key

    def checkpoint(self, size: int, sealed: bool) -> None:
        """The file is ``size`` bytes, ending with a signed checkpoint (or the seal)."""
        self._uploader._notify(self._file, size, sealed)


@dataclass
class _Probe:
    pass


@dataclass
class _Job:
    file: _File
    size: int
    sealed: bool
    chain: tuple[Segment, ...] = field(default=())
    known: bool = True


class Uploader:
    """Worker threads that keep the bucket up to date with the files they are told about."""

    def __init__(
        self,
        bucket: Bucket,
        *,
        prefix: str,
        relay: str,
        interval: float = 1.0,
        max_lag: float = 30.0,
        workers: int = WORKERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.relay = relay
        self.interval = interval
        self.max_lag = max_lag
        self._workers = workers
        self._clock = clock
        self._cond = threading.Condition()
        self._files: dict[str, _File] = {}  # by key
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._deadline = math.inf
        self._probing = False
        self._last_request = -math.inf
        self._error: str | None = None
        self._failing_since: float | None = None

    # ------------------------------------------------------------ the writers' side

    def recording(self, path: Path, session: str) -> Replica:
        """Track a recording file from its first checkpoint on."""
        return self._track(path, recording_key(self.prefix, path.name), session)

    def audit(self, path: Path) -> Replica:
        """Track an audit file (under this relay's name in the bucket)."""
        return self._track(path, audit_key(self.prefix, self.relay, path.name), None)

    def resume(self, path: Path, key: str, size: int, sealed: bool) -> None:
        """Finish uploading a file an earlier run left (its segments are listed first).

        It counts in the backlog, not in the lag: no session waits for it.
        """
        with self._cond:
            if key in self._files:
                return
            file = _File(path, key, None, size=size, sealed=sealed, known=False)
            self._files[key] = file
            self._cond.notify()

    def _track(self, path: Path, key: str, session: str | None) -> Replica:
        with self._cond:
            file = self._files.get(key)
            if file is None:
                file = self._files[key] = _File(path, key, session)
            return Replica(self, file)

    def _notify(self, file: _File, size: int, sealed: bool) -> None:
        now = self._clock()
        with self._cond:
            if file.done or (size <= file.size and sealed == file.sealed):
                return
            file.size = max(file.size, size)
            file.sealed = file.sealed or sealed
            if file.waiting_since is None:
                file.waiting_since = now
            if file.busy and file.newer_since is None:
                file.newer_since = now
            self._cond.notify()

    # ------------------------------------------------------------ the relay's side

    def overdue(self) -> list[Overdue]:
        """Recordings that can no longer be recorded: their lag passed ``max_lag``."""
        now = self._clock()
        with self._cond:
            return [
                Overdue(f.session, f.path, now - f.waiting_since, f.error or self._error)
                for f in self._files.values()
                if f.session is not None
                and f.waiting_since is not None
                and now - f.waiting_since > self.max_lag
            ]

    def health(self) -> Health:
        now = self._clock()
        with self._cond:
            waiting = [f for f in self._files.values() if f.has_work()]
            since = [f.waiting_since for f in waiting if f.waiting_since is not None]
            return Health(
                ok=self._failing_since is None,
                error=self._error,
                failing_for=None if self._failing_since is None else now - self._failing_since,
                files=len(waiting),
                backlog=sum(max(0, f.size - f.uploaded) for f in waiting),
                lag=now - min(since) if since else 0.0,
                where=self.bucket.config.url,
            )

    def start(self) -> None:
        for number in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"s3-upload-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self, timeout: float = 10.0) -> list[str]:
        """Upload what is left (within ``timeout``), stop; return the keys not finished."""
        with self._cond:
            self._stopping = True
            self._deadline = self._clock() + timeout
            for file in self._files.values():
                file.retry_at = -math.inf
            self._cond.notify_all()
        end = time.monotonic() + timeout + 1.0
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        with self._cond:
            self._deadline = -math.inf  # a worker still in a request stops after it
            left = [f.key for f in self._files.values() if f.has_work()]
        if left:
            log.warning("object storage: %d file(s) not fully uploaded: %s", len(left), left)
        return left

    # ------------------------------------------------------------ workers

    def _work(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                return
            if isinstance(job, _Probe):
                self._probe()
            else:
                self._round(job)

    def _next_job(self) -> _Job | _Probe | None:
        with self._cond:
            while True:
                now = self._clock()
                if self._stopping and (now >= self._deadline or not self._pending()):
                    return None
                wake = math.inf
                best: _File | None = None
                for file in self._files.values():
                    if file.busy or not file.has_work():
                        continue
                    ready = file.retry_at
                    if not (file.sealed or self._stopping):
                        ready = max(ready, file.last_round + self.interval)
                    if ready > now:
                        wake = min(wake, ready)
                    elif best is None or _age(file) < _age(best):
                        best = file
                if best is not None:
                    best.busy = True
                    best.newer_since = None
                    return _Job(best, best.size, best.sealed, best.chain, best.known)
                if not self._stopping and not self._probing:
                    probe_at = self._last_request + PROBE_EVERY
                    if probe_at <= now:
                        self._probing = True
                        return _Probe()
                    wake = min(wake, probe_at)
                if self._stopping:
                    wake = min(wake, self._deadline)
                self._cond.wait(None if wake == math.inf else max(0.01, wake - now))

    def _pending(self) -> bool:
        return any(f.has_work() or f.busy for f in self._files.values())

    def check(self) -> None:
        """Probe the bucket now (blocking) and let :meth:`health` say the outcome;
        raise :class:`StorageError` if it does not answer."""
        try:
            self.bucket.probe()
        except StorageError as exc:
            self._outcome(str(exc))
            raise
        self._outcome(None)
        with self._cond:
            for file in self._files.values():
                file.retry_at = -math.inf  # the bucket is back: retry now
            self._cond.notify_all()

    def _probe(self) -> None:
        try:
            self.check()
        except StorageError:
            pass
        finally:
            with self._cond:
                self._probing = False
                self._cond.notify_all()

    def _round(self, job: _Job) -> None:
        file = job.file
        new_chain: tuple[Segment, ...]
        try:
            current = job.chain if job.known else self._listed(file, job)
            if current is None:  # a resumed file that is already complete in the bucket
                new_chain, uploaded = (), job.size
            elif job.sealed:
                self._seal(file, current, job.size)
                new_chain, uploaded = (), job.size
            else:
                new_chain, uploaded = self._grow(file, current, job.size), job.size
        except (StorageError, OSError, ValueError) as exc:
            self._failed(file, exc)
            return
        now = self._clock()
        with self._cond:
            file.busy = False
            file.known = True
            file.chain = new_chain
            file.uploaded = max(file.uploaded, uploaded)
            file.last_round = now
            file.failures, file.error, file.retry_at = 0, None, -math.inf
            file.waiting_since, file.newer_since = file.newer_since, None
            if job.sealed:
                file.done = True
                del self._files[file.key]
            self._cond.notify_all()
        self._outcome(None)

    def _listed(self, file: _File, job: _Job) -> tuple[Segment, ...] | None:
        """A resumed file: what the bucket already holds of it (None: all there is to hold).

        A sealed object in the bucket is never replaced from the disk: the
        bucket's copy is evidence too, and a local file that differs from it
        is for ``warroom verify`` to judge.
        """
        stored = self.bucket.size(file.key)
        if stored is not None:
            if stored != job.size:
                log.warning(
                    "object storage: %s has %d bytes in the bucket and %d on disk; kept as it is",
                    file.key,
                    stored,
                    job.size,
                )
            return None
        objects, _ = self.bucket.list(file.key + SEGMENTS)
        found = [s for key, _ in objects if (s := parse_segment(file.key, key)) is not None]
        return chain(s for s in found if s.end <= job.size)

    def _grow(self, file: _File, current: tuple[Segment, ...], size: int) -> tuple[Segment, ...]:
        plan = plan_round(current, size)
        for piece in plan.puts:
            self.bucket.put(piece.key(file.key), _read(file.path, piece))
        self._delete(file, plan.deletes)
        return plan.chain

    def _seal(self, file: _File, current: tuple[Segment, ...], size: int) -> None:
        plan = plan_final(current, size)
        if plan.single:
            self.bucket.put(file.key, _read(file.path, Segment(0, size)))
        else:
            self.bucket.compose(
                file.key,
                [segment.key(file.key) for segment in plan.copies],
                [functools.partial(_read, file.path, piece) for piece in plan.uploads],
            )
        self._delete(file, plan.deletes)

    def _delete(self, file: _File, segments: tuple[Segment, ...]) -> None:
        """Delete replaced segments; a failure leaves garbage that readers skip, not an error."""
        if not segments:
            return
        try:
            self.bucket.delete([segment.key(file.key) for segment in segments])
        except NotFound:
            pass
        except StorageError as exc:
            log.warning("object storage: %s", exc)

    def _failed(self, file: _File, exc: Exception) -> None:
        """Retry later; an object that vanished (a segment to copy) means listing the
        bucket again rather than trusting what this run believed was there."""
        message = str(exc) if isinstance(exc, StorageError) else f"{file.path}: {exc}"
        log.warning("object storage: upload of %s failed: %s", file.key, message)
        with self._cond:
            file.busy = False
            if isinstance(exc, NotFound):
                file.known = False
            file.failures += 1
            file.error = message
            file.retry_at = self._clock() + BACKOFF[min(file.failures, len(BACKOFF)) - 1]
            file.newer_since = None  # the round's snapshot is still waiting: waiting_since
            self._cond.notify_all()
        self._outcome(message)

    def _outcome(self, error: str | None) -> None:
        now = self._clock()
        with self._cond:
            self._last_request = now
            if error is None:
                self._error, self._failing_since = None, None
            else:
                self._error = error
                if self._failing_since is None:
                    self._failing_since = now


def _age(file: _File) -> float:
    return file.waiting_since if file.waiting_since is not None else math.inf


def _read(path: Path, segment: Segment) -> bytes:
    """Bytes ``[start, end)`` of the local file, which must hold them (it only grows)."""
    with path.open("rb") as handle:
        handle.seek(segment.start)
        data = handle.read(segment.size)
    if len(data) != segment.size:
        raise ValueError(
            f"the file has {segment.start + len(data)} bytes, not the {segment.end} it had "
            "at its checkpoint: it was cut short on disk"
        )
    return data
