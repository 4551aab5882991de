"""Verdicts on the evidence: a recording, the audit log, an export's source.

:mod:`relay.evidence.verifier` judges one chain file by itself. This module adds what
only several sources together can tell, and turns it into the verdicts and exit
codes the review commands share:

=====  ============  ==========================================================
exit   verdict       meaning
=====  ============  ==========================================================
0      intact        everything checked out
1      tampered      an edit, a dropped/inserted/reordered line, a bad or
                     foreign signature, a missing or cut-short file
2      cannot check  a file, a key or the cross-check's source cannot be read
3      interrupted   a file ends without a seal and nothing says it was cut:
                     a crash; its verified prefix is trustworthy
=====  ============  ==========================================================

When several apply, the first in the order tampered, cannot check,
interrupted wins, and every problem is listed, not only the first.

* **The audit log** (:func:`check_audit`): every file, the links between
  them, who signed each (a change of key is flagged unless every key was
  given), whether the newest unsealed file is still being written (a running
  relay holds its lock: that is not damage), and, with a witness export, every
  file or checkpoint the witness saw and the directory no longer has.
* **A recording against the audit log** (:func:`check_recording`): the audit
  log records each recording's start, its signed state about once a second and
  its seal, so an unsealed recording that still matches its last audited state
  was interrupted, and one that is shorter than that, or lost an audited seal,
  was cut.
* **An export's source** (:func:`provenance`): the verdict and the SHA-256 of
  the file an export was made from, for its header.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from relay.evidence.audit import AUDIT_FORMAT, audit_files, read_events
from relay.evidence.chain import is_being_written
from relay.evidence.verifier import Finding, Issue, VerifyReport, read_header, verify_file
from relay.evidence.witness import WitnessRecord
from relay.trust.keys import VerifyKey


class Verdict(IntEnum):
    """A verdict and its exit code (module docstring)."""

    INTACT = 0
    TAMPERED = 1
    CANNOT_CHECK = 2
    INTERRUPTED = 3

    @property
    def word(self) -> str:
        return _WORDS[self]


_WORDS = {
    Verdict.INTACT: "OK",
    Verdict.TAMPERED: "TAMPERED",
    Verdict.CANNOT_CHECK: "CANNOT CHECK",
    Verdict.INTERRUPTED: "INTERRUPTED",
}
_SEVERITY = (Verdict.INTACT, Verdict.INTERRUPTED, Verdict.CANNOT_CHECK, Verdict.TAMPERED)


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    return max(verdicts, key=_SEVERITY.index, default=Verdict.INTACT)


def issues_verdict(issues: Iterable[Issue]) -> Verdict:
    """Tampered if any issue is more than a missing seal; interrupted if that is all."""
    found = [issue.finding for issue in issues]
    if not found:
        return Verdict.INTACT
    if all(finding is Finding.UNSEALED for finding in found):
        return Verdict.INTERRUPTED
    return Verdict.TAMPERED


def _signed_by(report: VerifyReport) -> str:
    """Only a key that signed is ever named as the signer."""
    if report.signer is None:
        return "no valid signature"
    checked = "" if report.signer_ok else " (not independently checked: no --key)"
    return f"signed by {report.signer}{checked}"


def _bullets(issues: Iterable[Issue], notes: Iterable[str] = ()) -> list[str]:
    return [f"  - {issue.message}" for issue in issues] + [f"  note: {note}" for note in notes]


# ---------------------------------------------------------------- the audit log


@dataclass(frozen=True)
class AuditFileCheck:
    """One audit file: its chain report plus what the directory and witness say of it."""

    report: VerifyReport
    open: bool  # a running relay holds it: its missing seal is not damage
    issues: tuple[Issue, ...]
    notes: tuple[str, ...] = ()

    @property
    def verdict(self) -> Verdict:
        return issues_verdict(self.issues)

    def lines(self) -> list[str]:
        report, name = self.report, self.report.path.name
        if self.open and not self.issues:
            head = (
                f"{name}: OPEN (a running relay is writing it): {report.lines} line(s) "
                f"verified so far, {_signed_by(report)}."
            )
        elif self.verdict is Verdict.INTACT:
            head = (
                f"{name}: OK: {report.lines} line(s) verified, sealed ({report.seal_reason}), "
                f"{_signed_by(report)}."
            )
        elif self.verdict is Verdict.INTERRUPTED:
            head = (
                f"{name}: INTERRUPTED (no seal, and no writer holds it: the relay crashed, or "
                f"the file was cut short): the first {report.verified_prefix_lines} line(s) "
                "are verified."
            )
        else:
            head = f"{name}: TAMPERED at line {self.issues[0].line}: {self.issues[0].finding}"
            head += " (a running relay is writing it)." if self.open else "."
        return [head, *_bullets(self.issues, self.notes)]


@dataclass(frozen=True)
class AuditCheck:
    """The whole audit directory (:func:`check_audit`)."""

    directory: Path
    files: tuple[AuditFileCheck, ...]
    issues: tuple[Issue, ...] = ()  # beyond any one file: files that are gone
    notes: tuple[str, ...] = ()
    cannot_check: str | None = None

    @property
    def verdict(self) -> Verdict:
        verdicts = [f.verdict for f in self.files] + [issues_verdict(self.issues)]
        if self.cannot_check is not None:
            verdicts.append(Verdict.CANNOT_CHECK)
        return worst(verdicts)

    @property
    def problems(self) -> int:
        return sum(len(f.issues) for f in self.files) + len(self.issues)

    def text(self) -> str:
        lines = [line for f in self.files for line in f.lines()]
        lines += [f"{issue.message}" for issue in self.issues]
        if self.cannot_check is not None:
            lines.append(f"Cannot check: {self.cannot_check}")
        lines += [f"note: {note}" for note in self.notes]
        verdict = self.verdict
        tail = f"{self.problems} problem(s) in {len(self.files)} file(s)"
        lines.append(f"{self.directory}: {verdict.word} (exit {int(verdict)}): {tail}.")
        return "\n".join(lines)


def check_audit(
    directory: Path,
    keys: Sequence[VerifyKey] = (),
    witness: Sequence[WitnessRecord] | None = None,
) -> AuditCheck:
    """Verify every audit file, the links, the signers and (given) the witness's record."""
    paths = audit_files(directory)
    seen_by_witness = _by_file(witness or ())
    reports = [
        verify_file(path, keys or None, watch=[r.n for r in seen_by_witness.get(path.name, ())])
        for path in paths
    ]
    given = {key.text() for key in keys}
    relays = given or {k for r in reports for k in (*r.signers, r.claimed_key) if k}
    files: list[AuditFileCheck] = []
    previous: VerifyReport | None = None
    notes: list[str] = []
    for report in reports:
        open_ = not report.sealed and is_being_written(report.path)
        issues = [i for i in report.issues if not (open_ and i.finding is Finding.UNSEALED)]
        issues += _link_issues(report, previous)
        key_issue, key_note = _key_change(report, previous, given)
        issues += [key_issue] if key_issue else []
        file_notes = [key_note] if key_note else []
        records = [r for r in seen_by_witness.get(report.path.name, ()) if r.relay in relays]
        issues += _witness_issues(report, records)
        files.append(AuditFileCheck(report, open_, tuple(issues), (*report.notes, *file_notes)))
        previous = report
    missing: list[Issue] = []
    cannot: str | None = None
    if witness is None:
        notes.append(
            "Without --witness, a deleted newest file (or one cut back to an earlier "
            "checkpoint) cannot be told from a log that ends there."
        )
    else:
        mine = {name: [r for r in rs if r.relay in relays] for name, rs in seen_by_witness.items()}
        if not any(mine.values()):
            cannot = "the witness export holds no record of this relay's audit log" + (
                " (for the given key)" if given else ""
            )
        present = {path.name for path in paths}
        for name, records in sorted(mine.items()):
            if records and name not in present:
                missing.append(_missing_file(directory, name, records))
        unwitnessed = sorted(present - {name for name, rs in mine.items() if rs})
        if unwitnessed and cannot is None:
            notes.append(
                f"Not in the witness export: {', '.join(unwitnessed)} (the export does not "
                "cover their time, or no witness was configured then)."
            )
    if not paths and not missing and cannot is None:
        cannot = f"no audit files in {directory}"
    return AuditCheck(directory, tuple(files), tuple(missing), tuple(notes), cannot)


def _by_file(records: Iterable[WitnessRecord]) -> dict[str, list[WitnessRecord]]:
    found: dict[str, list[WitnessRecord]] = {}
    for record in records:
        if record.log == "audit":
            found.setdefault(record.file, []).append(record)
    return found


def _audit_header(report: VerifyReport) -> dict[str, Any] | None:
    try:
        header = json.loads(read_header(report.path))
    except (ValueError, OSError):
        return None
    if not isinstance(header, dict) or header.get("format") != AUDIT_FORMAT:
        return None
    return header


def _link_issues(report: VerifyReport, previous: VerifyReport | None) -> list[Issue]:
    """A BROKEN_LINK issue when this file's header does not continue ``previous``."""
    header = _audit_header(report)
    if header is None:
        return [_broken(report, "line 1 is not a warroom audit header")]
    if header.get("file") != report.path.name:
        return [_broken(report, f"the file was renamed (its header calls it {header.get('file')})")]
    link = header.get("previous")
    named = link.get("file") if isinstance(link, dict) else None
    if previous is None:
        if named is None:
            return []
        return [
            _broken(
                report,
                f"it continues {named}, which is not in this directory: the older file(s) "
                "were deleted or moved away",
            )
        ]
    expected = previous.path.name
    if not isinstance(link, dict) or named != expected:
        return [_broken(report, f"it continues {named} instead of {expected}: a file is missing")]
    if (link.get("n"), link.get("hash")) != (previous.final_n, previous.final_hash):
        state = f"n={link.get('n')}" + (", sealed" if link.get("sealed") else "")
        return [
            _broken(
                report,
                f"{expected} changed after this file was started (it was then at {state}; "
                f"it now proves n={previous.final_n}): it was cut short or rewritten",
            )
        ]
    return []


def _broken(report: VerifyReport, why: str) -> Issue:
    message = f"The audit chain is broken at {report.path.name}: {why}."
    return Issue(Finding.BROKEN_LINK, message, 1)


def _key_change(
    report: VerifyReport, previous: VerifyReport | None, given: set[str]
) -> tuple[Issue | None, str | None]:
    """Flag a file signed by another key than the one before it, unless both were given."""
    if previous is None or report.signer is None or previous.signer is None:
        return None, None
    if report.signer == previous.signer:
        return None, None
    change = (
        f"{report.path.name} is signed by {report.signer}, {previous.path.name} before it by "
        f"{previous.signer}"
    )
    if report.signer in given and previous.signer in given:
        return None, f"The relay's key changed: {change} (both keys were given with --key)."
    message = (
        f"The signing key changed: {change}. If the relay's key was rotated, give every key "
        "it has had with --key; otherwise the files were signed by someone else."
    )
    return Issue(Finding.WRONG_KEY, message, 1), None


def _runs(records: list[WitnessRecord]) -> list[list[WitnessRecord]]:
    """Split one file name's records into runs: each file's start (n 0) opens one.

    A name can be used twice: a relay that starts after its newest file was
    deleted takes that file's name again.
    """
    runs: list[list[WitnessRecord]] = []
    for record in records:
        if record.n == 0 or not runs:
            runs.append([record])
        else:
            runs[-1].append(record)
    return runs


def _witness_issues(report: VerifyReport, records: list[WitnessRecord]) -> list[Issue]:
    """The file must be a run the witness saw start, and hold every state it saw."""
    if not records:
        return []
    name, start = report.path.name, report.states.get(0)
    runs = _runs(records)
    mine = [run for run in runs if run[0].n != 0 or run[0].hash == start]
    gone = [run for run in runs if run[0].n == 0 and run[0].hash != start]
    if gone and not any(run[0].n == 0 for run in mine):
        first = gone[-1][0]
        return [
            Issue(
                Finding.EDITED,
                f"{name} is not the file the witness saw start at t={first.t:.3f}: its header "
                "differs, so the whole file was replaced.",
                1,
            )
        ]
    issues = [
        Issue(
            Finding.MISSING,
            f"An earlier {name} (started t={run[0].t:.3f}, witnessed up to "
            f"n={run[-1].n}) is gone: it was deleted, and the next run took its name.",
            None,
        )
        for run in gone
    ]
    records = [record for run in mine for record in run]
    if not records:
        return issues
    for record in sorted(records, key=lambda r: r.n):
        state = report.states.get(record.n)
        if state is not None and state != record.hash:
            issues.append(
                Issue(
                    Finding.EDITED,
                    f"{name} differs from what the witness saw: its chain at n={record.n} is "
                    f"not the state witnessed at t={record.t:.3f}.",
                    None,
                )
            )
            break
    last = max(records, key=lambda r: r.n)
    sealed_record = next((r for r in records if r.seal), None)
    if last.n not in report.states:
        seal = " and its seal" if sealed_record is not None else ""
        issues.append(
            Issue(
                Finding.TRUNCATED,
                f"{name} was cut short: the witness saw {last.n} line(s){seal} "
                f"(t={last.t:.3f}); the file holds fewer (it proves {report.final_n}).",
                None,
            )
        )
    elif sealed_record is not None and not report.sealed:
        issues.append(
            Issue(
                Finding.TRUNCATED,
                f"{name} lost its seal: the witness saw it sealed at n={sealed_record.n} "
                f"(t={sealed_record.t:.3f}); the file was cut after a clean stop.",
                None,
            )
        )
    return issues


def _missing_file(directory: Path, name: str, records: list[WitnessRecord]) -> Issue:
    last = max(records, key=lambda r: r.n)
    state = "sealed" if any(r.seal for r in records) else f"at n={last.n}"
    return Issue(
        Finding.MISSING,
        f"{name} is missing from {directory}: the witness saw it ({state}, last at "
        f"t={last.t:.3f}); the file was deleted.",
        None,
    )


# ---------------------------------------------------------------- a recording


@dataclass(frozen=True)
class RecordingCheck:
    """A recording's chain report, plus what the audit log says of it (``--audit``)."""

    report: VerifyReport
    issues: tuple[Issue, ...]
    notes: tuple[str, ...] = ()
    cannot_check: str | None = None
    about: tuple[str, ...] = field(default=())

    @property
    def verdict(self) -> Verdict:
        verdict = issues_verdict(self.issues)
        if self.cannot_check is not None:
            verdict = worst([verdict, Verdict.CANNOT_CHECK])
        return verdict

    def text(self) -> str:
        report, verdict = self.report, self.verdict
        wrong = [i for i in self.issues if i.finding is Finding.WRONG_KEY]
        if wrong and all(i.finding in (Finding.WRONG_KEY, Finding.UNSEALED) for i in self.issues):
            return self._wrong_key_line(wrong)
        if verdict is Verdict.INTACT:
            head = (
                f"{report.path}: OK, {report.lines} lines verified, sealed "
                f"({report.seal_reason}), {_signed_by(report)}."
            )
        elif verdict is Verdict.INTERRUPTED:
            head = (
                f"{report.path}: INTERRUPTED (no seal): the first "
                f"{report.verified_prefix_lines} line(s) verified ({report.lines} event "
                f"line(s), {report.checkpoints} signed checkpoint(s)); what follows is unproven."
            )
        elif verdict is Verdict.CANNOT_CHECK and not any(
            i.finding is not Finding.UNSEALED for i in self.issues
        ):
            head = f"{report.path}: CANNOT CHECK: {self.cannot_check}"
        else:
            bad = next(i for i in self.issues if i.finding is not Finding.UNSEALED)
            head = f"{report.path}: TAMPERED at line {bad.line}: {bad.finding.value}."
        lines = [head, *_bullets(self.issues, self.notes)]
        if self.cannot_check is not None and not head.endswith(self.cannot_check):
            lines.append(f"  cannot check: {self.cannot_check}")
        return "\n".join([*lines, *self.about])

    def _wrong_key_line(self, wrong: list[Issue]) -> str:
        """One line, not one per checkpoint (nor "no seal": the seal is there, by that key)."""
        per_signature = [i for i in wrong if i.checkpoint_line is not None] or wrong
        first, more = per_signature[0], len(per_signature) - 1
        same = "by the same key" if len(self.report.signers) == 1 else "wrong-key too"
        line = f"{self.report.path}: TAMPERED at line {first.line}: wrong-key. {first.message}"
        line += f" The other {more} signature(s) are {same}." if more else ""
        claims = [i.message for i in wrong if i.checkpoint_line is None and i is not first]
        return " ".join([line, *claims])


def check_recording(
    path: Path, keys: Sequence[VerifyKey] = (), audit_dir: Path | None = None
) -> RecordingCheck:
    """Verify a recording; with ``audit_dir``, also against the audit log's record of it.

    Raises ``OSError`` when the recording cannot be read.
    """
    records: list[dict[str, Any]] = []
    cannot: str | None = None
    notes: list[str] = []
    if audit_dir is not None:
        records, cannot, audit_note = _audit_records(audit_dir, path.name, keys)
        notes += [audit_note] if audit_note else []
    watch = [r["n"] for r in records]
    report = verify_file(path, keys or None, watch=watch)
    issues = list(report.issues)
    if records:
        found, note = _against_audit(report, records)
        issues += found
        notes += [note] if note else []
    return RecordingCheck(
        report, tuple(issues), (*report.notes, *notes), cannot, tuple(_describe(report))
    )


def _audit_records(
    audit_dir: Path, name: str, keys: Sequence[VerifyKey]
) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """The audit log's records of one recording, and whether the audit log can be relied on."""
    directory = audit_dir / "audit" if (audit_dir / "audit").is_dir() else audit_dir
    audit = check_audit(directory, keys)
    if audit.cannot_check is not None:
        return [], f"the audit log: {audit.cannot_check}", None
    try:
        events = list(read_events(directory))
    except (OSError, ValueError) as exc:
        return [], f"the audit log cannot be read: {exc}", None
    records = [
        e
        for e in events
        if str(e.get("event", "")).startswith("recording.")
        and e.get("file") == name
        and isinstance(e.get("n"), int)
        and isinstance(e.get("hash"), str)
    ]
    note = None
    if audit.verdict is Verdict.TAMPERED:
        note = (
            f"The audit log in {directory} does not verify itself ({audit.problems} "
            "problem(s); run warroom audit --verify): this cross-check rests on it."
        )
    if not records:
        return [], f"the audit log in {directory} has no record of {name}", note
    return records, None, note


def _against_audit(
    report: VerifyReport, records: list[dict[str, Any]]
) -> tuple[list[Issue], str | None]:
    """Tell a cut file from a crashed session by the audit log's last record of it."""
    name = report.path.name
    for record in records:
        state = report.states.get(record["n"])
        if state is not None and state != record["hash"]:
            return [
                Issue(
                    Finding.EDITED,
                    f"{name} does not match the audit log: its chain at n={record['n']} differs "
                    f"from the state recorded at t={record.get('t')}.",
                    None,
                )
            ], None
    seal = next((r for r in records if r["event"] == "recording.seal"), None)
    last = seal or max(records, key=lambda r: int(r["n"]))
    if seal is not None and report.sealed and report.final_n == seal["n"]:
        return [], f"The audit log recorded this seal (n={seal['n']}); the file matches it."
    if seal is not None:
        held = report.final_n if report.sealed else max(report.states, default=0)
        return [
            Issue(
                Finding.TRUNCATED,
                f"{name} was cut short after it was sealed: the audit log recorded its seal at "
                f"n={seal['n']} ({seal.get('reason')}); the file holds {held} line(s) "
                f"{'and another seal' if report.sealed else 'and no seal'}.",
                None,
            )
        ], None
    if last["n"] not in report.states:
        return [
            Issue(
                Finding.TRUNCATED,
                f"{name} was cut short: the audit log recorded it at n={last['n']} "
                f"(t={last.get('t')}); the file holds fewer lines. Not a crash alone.",
                None,
            )
        ], None
    if report.sealed:
        return [], (
            "The audit log has no record of this seal (the relay stopped before auditing it); "
            f"its last record (n={last['n']}) matches."
        )
    return [], (
        f"The audit log's last record of this recording (n={last['n']}, t={last.get('t')}) "
        "matches the file: the session's relay stopped without sealing it (a crash), and "
        "the file was not cut before that point."
    )


def _describe(report: VerifyReport) -> list[str]:
    """For a recording: whose session it was, from the header the chain just proved."""
    from relay.evidence.asciicast import CastError
    from relay.evidence.asciicast import read_header as read_cast_header

    try:
        header = read_cast_header(report.path)
    except (CastError, OSError):
        return []
    info = header.warroom or {}
    if not info:
        return []
    return [
        f"session {info.get('session')} on {info.get('target')}, opened by "
        f"{info.get('owner')} ({info.get('reason')}), {_signed_by(report)}"
    ]


# ---------------------------------------------------------------- an export's source


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def provenance(path: Path, keys: Sequence[VerifyKey] = ()) -> tuple[Verdict, dict[str, Any]]:
    """The verdict on an export's source and the header object that records it."""
    check = check_recording(path, keys)
    report, verdict = check.report, check.verdict
    plain = report.checkpoints == 0 and report.claimed_key is None and not report.signers
    word = "unsigned" if plain else verdict.name.lower()
    record: dict[str, Any] = {
        "source": path.name,
        "source_sha256": file_sha256(path),
        "verdict": word,
        "signed_by": report.signer,
        "key_checked": bool(report.signer_ok),
        "lines_verified": report.lines,
        "sealed": report.sealed,
    }
    if check.issues:
        record["problem"] = check.issues[0].message
    return (Verdict.CANNOT_CHECK if plain else verdict), record
