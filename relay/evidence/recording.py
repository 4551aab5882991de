"""Session recordings: asciicast v3, written as it happens, hash-chained and signed.

asciinema's own tools read the file as it is: a v3 header line, then events
``[interval, code, data]`` with the standard codes ``o`` (output), ``i``
(input), ``r`` (resize, ``"COLSxROWS"``) and ``x`` (exit), and warroom's own
one-character codes whose data is a compact JSON string (the asciinema player
ignores codes it does not know):

====  ==================================================================
code  meaning
====  ==================================================================
c     chat: ``{"user", "text"}``
e     the session ended: ``{"reason"}`` plus ``by`` or ``exit_status``
h     hand-off: control requested, granted, denied, released, taken
j     a participant joined: ``{"user", "role", "id"}``
l     a participant left: ``{"user", "id", "reason"}``
s     a redaction marker (written by the redactor through :meth:`event`)
====  ==================================================================

``x`` (the standard exit event) is written only when the shell exited with a
status, as asciinema expects a number there; ``e`` comes just before it and
says why the session ended in every case. Input carries no user: only the
driver's input is ever forwarded, and every change of driver is an ``h``
event before it, so the typist is always known.
Output and input are bytes, event data is text: bytes that are not valid
UTF-8 are recorded as U+FFFD, as asciinema's own recorder does. A JSON
string cannot carry raw bytes, and smuggling them as lone-surrogate escapes
(``surrogateescape``) would make lines that asciinema 3's reader (serde_json)
refuses. Event lines are encoded by :func:`event_line`.
Tamper evidence comes from :mod:`relay.evidence.chain` (``#warroom-`` comment lines).
``docs/recording.md`` documents the format.

What a crash can cost: output reaches the file and a signed checkpoint
within ``max_loss`` seconds (0.1 by default) of its arrival, so after a
SIGKILL everything older is in the verified prefix. Two things keep that
bound: every call with new output first proves what is older than
``max_loss`` (so whatever viewers were sent later implies the older output is
proven), and :meth:`Recording.due` tells the session when to call
:meth:`Recording.tick` while output is quiet. The audit log gets the file's
start, its signed state about once a second (``recording.checkpoint``) and
its seal, so that ``warroom verify --audit`` can tell a file that was cut
short from one whose relay crashed.

The chain's hashing and writing run on the chain writer's own thread
(:class:`relay.evidence.chain.ChainWriter` ``background``), overlapping the
event loop; every checkpoint waits for it, so the bound above holds as
without it. A write that fails there (a full disk) is raised by the
recorder's next call, which ends the session (:class:`relay.net.live.LiveSession`).
"""

from __future__ import annotations

import codecs
import functools
import json
import logging
import math
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any, Protocol

import orjson

from relay.core.session import Session
from relay.evidence.chain import ChainWriter, Checkpoint
from relay.trust.keys import SigningKey

log = logging.getLogger(__name__)

TERM_TYPE = "xterm-256color"
COALESCE_SECONDS = 0.02  # output within 20 ms becomes one event (a frame at 50 fps)
COALESCE_BYTES = 256 * 1024
MAX_LOSS = 0.1  # seconds: older output is proven on disk even if the relay is killed
AUDIT_EVERY = 1.0  # seconds between a recording's checkpoints copied to the audit log


class Auditor(Protocol):
    def record(self, event: str, **fields: str | int | float | bool | None) -> None: ...


class Replica(Protocol):
    """Where else the file goes (:class:`relay.storage.Replica`: the bucket), told its size
    after each signed checkpoint and the seal."""

    def checkpoint(self, size: int, sealed: bool) -> None: ...


class Replicator(Protocol):
    """Makes a recording's replica (:meth:`relay.storage.Uploader.recording`)."""

    def __call__(self, path: Path, session: str) -> Replica: ...


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json_string(text: str) -> bytes:
    """``text`` as a JSON string literal, in UTF-8.

    orjson escapes what JSON requires (``"``, ``\\``, U+0000..U+001F) and
    writes every other character as UTF-8, at ~10x the speed of json's C
    encoder (whose ASCII escaping ran at 190-390 MB/s on log lines and was
    most of the recorder's cost on the output hot path). It refuses lone
    surrogates, which are not UTF-8: decoded output never holds one (the
    decoder replaces what is not UTF-8), but any other text may, so that
    goes to json's ASCII encoder, which writes them as ``\\udXXX`` escapes.
    """
    try:
        return orjson.dumps(text)
    except orjson.JSONEncodeError:
        return encode_basestring_ascii(text).encode()


def event_line(interval: float, code: str, data: str) -> bytes:
    """One asciicast v3 event line, ``\\n`` included: ``[0.500000, "o", "$ "]``.

    Any JSON reader gets back exactly ``[round(interval, 6), code, data]``
    (``tests/relay/evidence/test_recording_encoding.py`` checks it against the json module).
    """
    return b"[%.6f, %s, %s]\n" % (interval, _json_string(code), _json_string(data))


class Recording:
    """One session's recording file; implements :class:`relay.net.live.Recorder`."""

    def __init__(
        self,
        path: Path,
        signing_key: SigningKey,
        session: Session,
        cols: int,
        rows: int,
        now: float,
        *,
        audit: Auditor | None = None,
        max_loss: float = MAX_LOSS,
        replicate: Callable[[Path], Replica] | None = None,
        background: bool = True,
    ) -> None:
        header = {
            "version": 3,
            "term": {"cols": cols, "rows": rows, "type": TERM_TYPE},
            "timestamp": int(now),
            "title": f"warroom {session.session_id} on {session.target}",
            "warroom": {
                "session": session.session_id,
                "target": session.target,
                "owner": session.owner,
                "reason": session.reason,
                "key": signing_key.public.text(),
                # The v3 timestamp is whole seconds; this lets a reviewer map
                # recording time to wall-clock time (and the audit log) exactly.
                "started_at": round(now, 6),
            },
        }
        self.path = path
        self._session = session.session_id
        self._audit = audit
        self._audited_at = -math.inf
        self._coalesce = min(COALESCE_SECONDS, max_loss / 2)
        self._chain = ChainWriter(
            path,
            signing_key,
            _dumps(header),
            checkpoint_every_seconds=max_loss,
            on_checkpoint=self._checkpointed,
            background=background,  # hashing and writing overlap the event loop
        )
        self._replica = replicate(path) if replicate is not None else None
        self._audit_state("recording.start", 0, self._chain.hash, key=signing_key.public.text())
        self._last = now
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending: list[str] = []  # output not written yet (coalesced)
        self._pending_size = 0
        self._pending_at = now

    def _event(self, code: str, data: str, now: float) -> None:
        if code != "o":
            self._write_output()  # keep the order: output first, then the event
        self._line(code, data, now)

    def _line(self, code: str, data: str, now: float) -> None:
        interval = max(0.0, now - self._last)
        self._last = max(self._last, now)
        self._chain.append(event_line(interval, code, data), now)

    def output(self, data: bytes, now: float) -> None:
        """Coalesce output for up to ``COALESCE_SECONDS``: a flood becomes a few large
        events instead of one per SSH packet (each costs a JSON encoding and a hash)."""
        text = self._decoder.decode(data)
        if not text:
            return
        if self._pending and (
            now - self._pending_at > self._coalesce or self._pending_size > COALESCE_BYTES
        ):
            self._write_output()
        self._chain.maybe_checkpoint(now)  # what viewers saw more than max_loss ago is proven
        if not self._pending:
            self._pending_at = now
        self._pending.append(text)
        self._pending_size += len(text)

    def _write_output(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._pending_size = 0
            self._line("o", text, self._pending_at)

    def input(self, data: bytes, user: str, now: float) -> None:
        self._event("i", data.decode("utf-8", "replace"), now)

    def resize(self, cols: int, rows: int, now: float) -> None:
        self._event("r", f"{cols}x{rows}", now)

    def event(self, kind: str, data: dict[str, Any], now: float) -> None:
        """Record a session event; ``x`` becomes ``e`` (+ ``x`` with an exit status)."""
        if kind == "x":
            self._flush_decoder(now)
            self._event("e", _dumps(data), now)
            status = data.get("exit_status")
            if isinstance(status, int) and not isinstance(status, bool):
                self._event("x", str(status), now)
        else:
            self._event(kind, _dumps(data), now)

    def _flush_decoder(self, now: float) -> None:
        """Write out pending output and a UTF-8 character cut by its end (as U+FFFD)."""
        text = self._decoder.decode(b"", final=True)
        if text:
            if not self._pending:
                self._pending_at = now
            self._pending.append(text)
        self._write_output()

    def tick(self, now: float) -> None:
        """Write coalesced output and checkpoint what is due (call it at :meth:`due`)."""
        if self._pending and now >= self._pending_at + self._coalesce:  # the sum `due` gives
            self._write_output()
        self._chain.maybe_checkpoint(now)

    def due(self) -> float | None:
        """When :meth:`tick` must next run for the loss bound to hold (None: nothing waits)."""
        if self._pending:
            return self._pending_at + self._coalesce
        return self._chain.due

    def _checkpointed(self, checkpoint: Checkpoint) -> None:
        """Copy the seal, and a checkpoint about once a second, to the audit log; hand the
        file's new signed length to its replica."""
        if self._replica is not None:
            self._replica.checkpoint(self._chain.size, checkpoint.is_seal)
        if checkpoint.is_seal:
            self._audit_state(
                "recording.seal", checkpoint.n, checkpoint.hash, reason=checkpoint.reason
            )
        elif checkpoint.t - self._audited_at >= AUDIT_EVERY:
            self._audited_at = checkpoint.t
            self._audit_state("recording.checkpoint", checkpoint.n, checkpoint.hash)

    def _audit_state(self, event: str, n: int, hash: str, **extra: str | None) -> None:
        if self._audit is None:
            return
        try:
            self._audit.record(
                event, session=self._session, file=self.path.name, n=n, hash=hash, **extra
            )
        except ValueError as exc:  # the audit log closed first: the file is still sealed
            log.warning("recording %s: %s not audited: %s", self.path.name, event, exc)

    def close(self, reason: str, now: float) -> None:
        """Seal the file: from here on a missing line or a new one is detected."""
        if not self._chain.closed:
            self._flush_decoder(now)
            self._write_output()
            self._chain.seal(reason, now)


def recorder_factory(
    directory: Path,
    signing_key: SigningKey,
    clock: Callable[[], float] = time.time,
    *,
    audit: Auditor | None = None,
    max_loss: float = MAX_LOSS,
    replicate: Replicator | None = None,
) -> Callable[[Session, int, int], Recording]:
    """Make the relay's per-session recorder: ``<directory>/<session>-<UTC time>.cast``
    (``-2``, ``-3``… added if that name is taken; a recording is never appended to).

    With ``audit``, each recording's start, signed states and seal are audited;
    with ``replicate`` (path, session id: the relay's object storage), each
    signed state and the seal are also uploaded.
    The directory is made private (0700) here and before each recording:
    recordings hold everything typed and shown, so only the relay's user may
    list or read them (reviewers fetch them through the relay).
    """
    private_directory(directory)

    def make(session: Session, cols: int, rows: int) -> Recording:
        private_directory(directory)
        now = clock()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        path = directory / f"{session.session_id}-{stamp}.cast"
        again = 2  # the demo reopens its session id "demo" at every start, maybe within a second
        while path.exists():
            path, again = directory / f"{session.session_id}-{stamp}-{again}.cast", again + 1
        replica: Callable[[Path], Replica] | None = None
        if replicate is not None:
            replica = functools.partial(replicate, session=session.session_id)
        return Recording(
            path,
            signing_key,
            session,
            cols,
            rows,
            now,
            audit=audit,
            max_loss=max_loss,
            replicate=replica,
        )

    return make


def private_directory(directory: Path) -> None:
    """Create ``directory`` if needed and make it 0700, whatever it was before."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if directory.stat().st_mode & 0o777 != 0o700:
        directory.chmod(0o700)
