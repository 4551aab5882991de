"""The relay-wide audit log: who accessed what, when and why, and every denial.

Each relay start writes a new file ``<audit-dir>/audit-<UTC date>-<n>.log``
(``n`` counts from 1 within the day). The file is a :mod:`relay.evidence.chain` file:
a JSON header line, then one JSON object per event with sorted keys, plus the
signed ``#warroom-checkpoint``/``#warroom-seal`` lines. So ``grep``/``jq`` work
on it directly and ``warroom verify`` proves it untouched.

Header (line 1, sorted keys)::

    {"file": "audit-2026-11-27-1.log", "format": "warroom-audit", "key": "warroom-ed25519:...",
     "previous": null | {"file": ..., "n": ..., "hash": ..., "sealed": ...},
     "started": 1795000000.0, "version": 1}

``key`` is the relay's public key, which signs the file (a file whose
signatures are by another key is reported, see :mod:`relay.evidence.verifier`).
``previous`` links the files into one chain: at start the newest existing file
is verified and its last proven state (``final_n``/``final_hash`` of its
report: its seal after a clean stop) copied here, where the new file's own
chain binds it. Deleting, renaming or later editing a whole file therefore
breaks a link that ``warroom audit --verify`` names (:mod:`relay.evidence.verdicts`). A
previous file that was not cleanly sealed (a crash) or fails to verify is
still linked, and the new file's first event is ``audit.previous_problem``
saying so. The start of each file, each checkpoint and the seal also go to the
witness (:mod:`relay.evidence.witness`), outside the data directory, so that deleting
the *newest* file, which no later link protects, is found too.

Event line::

    {"event": "control.grant", "reason": "INC-1: check slow queries", "session": "s1",
     "t": 1795000012.25, "user": "alice", ...}

``t`` is the relay clock (unix seconds). Fields are free-form keyword
arguments of ``str | int | float | bool | None``; by convention ``user``,
``session`` and ``reason`` keep their names across events. Never pass a secret
(token, invite, key): the log is meant to be read widely.

Events
------
=========================  =====================================================
event                      when
=========================  =====================================================
``auth.ok``                an engineer authenticated (key or invite)
``auth.failed``            authentication was refused, with the reason
``session.open``           a lead opened a session on a target
``session.open_failed``    opening the SSH session to the target failed
``session.close``          a session ended, with the reason
``session.join``           a participant joined a session
``session.leave``          a participant left (or was dropped), with the reason
``control.request``        a viewer asked to drive, with the reason
``control.grant``          a lead gave the keyboard to someone
``control.deny``           a lead refused a control request
``control.release``        the driver gave the keyboard back
``control.take``           a lead took the keyboard back
``control.expired``        a driver's time-limited control ran out
``control.revoked``        a driver's control ended because their grant was revoked
``session.join_denied``    someone without access to a session tried to join it
``session.paused``         four-eyes: input paused, too few others watching
``session.resumed``        four-eyes: enough watchers again
``access.grant``           a lead granted a temporary role (TTL, scope, reason)
``access.revoke``          a lead revoked a grant
``access.expire``          a grant ran out
``access.request``         an engineer asked for a role, with the reason
``access.approve``         a lead approved a request (with its TTL)
``access.deny``            a lead denied a request, with the reason
``access.invite``          a lead made an invite link
``secret.masked``          output or chat matched a secret pattern (the kind, never the secret)
``input.denied``           input from a non-driver was refused (throttled; counted)
``chat.denied``            a chat message was refused (length or rate)
``protocol.error``         a client sent a malformed or illegal frame
``recording.fetch``        someone downloaded or replayed a recording
``recording.denied``       a recording fetch was refused (role, scope or path)
``audit.previous_problem`` the previous audit file was unsealed or did not verify
``recording.start``        a recording file was created (``file``, ``n`` 0, ``hash``)
``recording.checkpoint``   a recording's signed state (``file``, ``n``, ``hash``), at most
                           once a second while it grows
``recording.seal``         a recording was sealed (``file``, ``n``, ``hash``, ``reason``)
=========================  =====================================================
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from relay.evidence.chain import ChainWriter, Checkpoint
from relay.evidence.verifier import VerifyReport, verify_file
from relay.evidence.witness import Witness, WitnessRecord
from relay.trust.keys import SigningKey

AUDIT_FORMAT = "warroom-audit"
AUDIT_VERSION = 1
FILE_PATTERN = re.compile(r"audit-(\d{4}-\d{2}-\d{2})-(\d+)\.log")

AuditValue = str | int | float | bool | None


class Replica(Protocol):
    """Where else the file goes (:class:`relay.storage.Replica`: the bucket)."""

    def checkpoint(self, size: int, sealed: bool) -> None: ...


class AuditCopy(Protocol):
    """Where each event is copied besides the file (the cluster's database)."""

    def copy(self, file: str, n: int, event: dict[str, Any]) -> None:
        """Line ``n`` of audit file ``file`` was ``event``; must not block."""
        ...


class AuditLog:
    """The append-only audit log of one relay run.

    ``record`` is synchronous and cheap (a JSON dump, a hash, one ``write``):
    each event reaches the OS at once, so readers (``read_events``, tests, an
    operator's ``tail -f``) see it immediately and a relay crash loses none.
    Audit traffic is small (denials are throttled by the session core), so
    the per-line write that the recording hot path avoids is affordable here.
    Signed checkpoints come at least once a second while events arrive;
    ``tick`` (call it from the relay's 1 s timer) covers quiet periods, so at
    most the last second is left unverified after a crash.
    """

    def __init__(
        self,
        dir: Path,
        signing_key: SigningKey,
        clock: Callable[[], float] = time.time,
        *,
        checkpoint_every_seconds: float = 1.0,
        witness: Witness | None = None,
        replicate: Callable[[Path], Replica] | None = None,
        copy: AuditCopy | None = None,
    ) -> None:
        """``replicate`` (the relay's object storage) gets the file's size after each
        checkpoint and the seal."""
        dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._clock = clock
        self._witness = witness
        self._copy = copy
        self._relay = signing_key.public.text()
        now = clock()
        link, previous_report = _link_to_newest(dir)
        self._writer = _create(
            dir, now, signing_key, link, checkpoint_every_seconds, self._witnessed
        )
        self._replica = replicate(self._writer.path) if replicate is not None else None
        self._witness_state(0, self._writer.hash, False, now)
        if previous_report is not None and not previous_report.ok:
            self.record(
                "audit.previous_problem",
                file=previous_report.path.name,
                finding=str(previous_report.finding),
                problem=previous_report.problem,
            )
        elif previous_report is not None and previous_report.signer != self._relay:
            self.record(
                "audit.previous_problem",
                file=previous_report.path.name,
                finding="wrong-key",
                problem=f"It is signed by {previous_report.signer}, not by this relay's key "
                f"({self._relay}): a key rotation, or a file someone else signed.",
            )

    @property
    def path(self) -> Path:
        """The file this run writes."""
        return self._writer.path

    def record(self, event: str, **fields: AuditValue) -> None:
        """Append one event; raise ``ValueError`` on a field named ``t`` or after ``close``."""
        if "t" in fields:
            raise ValueError("'t' is the audit log's own timestamp field")
        if self._writer.closed:
            raise ValueError(f"audit log {self.path} is closed; {event} was not recorded")
        now = self._clock()
        entry = {"t": now, "event": event, **fields}
        line = json.dumps(entry, sort_keys=True, ensure_ascii=False, allow_nan=False)
        self._writer.append(line, now)
        self._writer.flush()
        if self._copy is not None:
            self._copy.copy(self.path.name, self._writer.lines, entry)

    def _witnessed(self, checkpoint: Checkpoint) -> None:
        if self._replica is not None:
            self._replica.checkpoint(self._writer.size, checkpoint.is_seal)
        self._witness_state(checkpoint.n, checkpoint.hash, checkpoint.is_seal, checkpoint.t)

    def _witness_state(self, n: int, hash: str, seal: bool, t: float) -> None:
        if self._witness is not None:
            record = WitnessRecord(self._relay, "audit", self.path.name, n, hash, seal, t)
            self._witness.witness(record)

    def tick(self) -> None:
        """Checkpoint (and so flush) events older than the checkpoint interval."""
        if not self._writer.closed:
            self._writer.maybe_checkpoint(self._clock())

    def close(self, reason: str) -> None:
        """Seal the file; later calls do nothing."""
        if not self._writer.closed:
            self._writer.seal(reason, self._clock())


def audit_files(dir: Path) -> list[Path]:
    """The audit files in ``dir``, oldest first (by date, then number)."""
    found: list[tuple[str, int, Path]] = []
    for path in dir.glob("audit-*.log"):
        match = FILE_PATTERN.fullmatch(path.name)
        if match:
            found.append((match[1], int(match[2]), path))
    return [path for _, _, path in sorted(found)]


def read_events(dir: Path) -> Iterator[dict[str, Any]]:
    """Every recorded event, oldest first, across all files; no verification.

    An incomplete last line (a crash mid-write, or a file being written right
    now) is skipped; any other line that is not JSON raises ``ValueError``
    naming it, because silently skipping audit records would hide them.
    """
    for path in audit_files(dir):
        yield from _events_in(path)


def _events_in(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        handle.readline()
        for number, raw in enumerate(handle, 2):
            if not raw.endswith(b"\n"):
                return
            if raw.startswith(b"#"):
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                raise ValueError(f"{path}:{number}: not a JSON audit record") from None
            if not isinstance(event, dict):
                raise ValueError(f"{path}:{number}: not a JSON object")
            yield event


def _link_to_newest(dir: Path) -> tuple[dict[str, Any] | None, VerifyReport | None]:
    """Verify the newest existing file and describe its last proven state for the new header.

    It is checked against the key it names, not this relay's: after a key
    rotation the link must still bind what the previous run signed (the
    change of key is recorded, and ``warroom audit --verify`` flags it).
    """
    existing = audit_files(dir)
    if not existing:
        return None, None
    report = verify_file(existing[-1], None)
    link = {
        "file": report.path.name,
        "n": report.final_n,
        "hash": report.final_hash,
        "sealed": report.sealed,
    }
    return link, report


def _create(
    dir: Path,
    now: float,
    signing_key: SigningKey,
    link: dict[str, Any] | None,
    checkpoint_every_seconds: float,
    on_checkpoint: Callable[[Checkpoint], None],
) -> ChainWriter:
    """Create the next free ``audit-<date>-<n>.log``; a racing relay just pushes ``n`` up."""
    day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
    taken = [FILE_PATTERN.fullmatch(p.name) for p in dir.glob(f"audit-{day}-*.log")]
    number = max((int(m[2]) for m in taken if m), default=0) + 1
    for attempt in range(number, number + 100):
        path = dir / f"audit-{day}-{attempt}.log"
        header = {
            "format": AUDIT_FORMAT,
            "version": AUDIT_VERSION,
            "file": path.name,
            "key": signing_key.public.text(),
            "started": now,
            "previous": link,
        }
        try:
            return ChainWriter(
                path,
                signing_key,
                json.dumps(header, sort_keys=True),
                checkpoint_every_seconds=checkpoint_every_seconds,
                on_checkpoint=on_checkpoint,
            )
        except FileExistsError:
            continue
    raise FileExistsError(f"no free audit file name for {day} in {dir}")
