"""Verifying a chain file (:mod:`relay.evidence.chain`): what each kind of damage looks like.

What the verifier concludes
---------------------------
Each checkpoint whose signature holds is an anchor: the data lines since the
previous anchor (a *window*) verify when the recomputed ``n`` and hash match
it. A failing window is named with its physical line range and, thanks to the
sums, usually its exact line; verification then restarts from the signed
state, so one bad line does not discredit the rest of the file. A checkpoint
with a bad signature is reported and skipped: its window merges into the next.
A checkpoint whose ``n`` does not exceed the previous anchor's is a copied
line. Anything after a valid seal is an addition. A line cut short by a crash
is never an error in itself: it is an unverified trailing line.

Deleting a checkpoint line goes unreported on purpose: it removes no data,
it only widens a window. Deleting the *seal* (or the tail with it) is
reported as an unsealed file, which is also what a crash leaves; compare a
recording's final ``n``/``hash`` with the audit log's record of its seal to
tell the two apart (:mod:`relay.evidence.verdicts`). ``watch`` makes the verifier note
the recomputed chain hash at given line counts, so that such outside records
(the audit log, a witness) can be compared with the file whether or not a
checkpoint line stands at that count.

Whose signatures
----------------
A file has one signer. The header may name it: a JSON header object with a
``key`` field (the audit log) or a ``warroom.key`` field (a recording). The
signatures are held to, in this order: the key of the first valid signature
in the file; else a trusted key the caller gave (the one the header names, if
it is among them); else, with no key given, the key the header names; else
the key the first checkpoint names. A signature by any other key is
``wrong-key``, and so is a header that names a key which signed nothing: a
file re-signed with another key never passes as signed by the key its header
names. The report lists only keys that signed (``signers``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from relay.evidence.chain import CHAIN_DOMAIN, CONTROL_PREFIX, CRC_MODULUS, Checkpoint
from relay.trust.keys import VerifyKey

_READ_CHUNK = 4 << 20
# Past this many lines in one window the verifier stops keeping per-line sums
# (16 bytes a line) and can only name the window, not the line.
_WINDOW_DIAGNOSIS_CAP = 1 << 20
_MAX_ISSUES = 100


# ---------------------------------------------------------------- report


class Finding(StrEnum):
    """What kind of problem a verification found; each maps to a distinct cause."""

    EDITED = "edited"  # a window's bytes changed (or the header did)
    REORDERED = "reordered"  # same lines, different order
    DROPPED = "dropped"  # fewer data lines than the signed count
    INSERTED = "inserted"  # more data lines than the signed count
    DUPLICATED = "duplicated"  # an inserted line repeats another one
    BAD_SIGNATURE = "bad-signature"  # a checkpoint or seal was edited or forged
    WRONG_KEY = "wrong-key"  # validly signed, but by a key other than the expected one
    MALFORMED = "malformed"  # a control line or the header cannot be read
    AFTER_SEAL = "after-seal"  # content follows the seal
    UNSEALED = "unsealed"  # no seal: interrupted writer or truncated file
    BROKEN_LINK = "broken-link"  # a multi-file log's files do not chain together
    TRUNCATED = "truncated"  # shorter than an outside record (audit log, witness) says it was
    MISSING = "missing"  # a file an outside record names is gone


@dataclass(frozen=True)
class Issue:
    """One problem, located by 1-based physical line numbers."""

    finding: Finding
    message: str
    line: int | None
    window: tuple[int, int] | None = None
    checkpoint_line: int | None = None


@dataclass(frozen=True)
class VerifyReport:
    """The verdict on one chain file.

    ``lines`` counts data lines proven by a signed checkpoint or seal.
    ``verified_prefix_lines`` is how many physical lines, from the top, are
    proven before the first problem (``head -n`` that many keeps the proven part).
    ``unverified_lines`` counts the physical lines after the last good
    checkpoint of an unsealed file. ``signer_ok`` is True when every signature
    checked out against the key the caller supplied, False when any failed,
    and None when there was nothing to check or no independent key was
    supplied (then ``signer`` is the key the file names, see ``notes``).
    ``final_n``/``final_hash`` are the last proven chain state (``final_t``
    its signed time), for linking files and cross-checking a recording against
    the audit log. ``signers`` are the keys whose signatures checked out (a
    foreign one too: it did sign); ``claimed_key`` is the key the header
    names; ``states`` maps each watched line count the file reached to the
    chain hash recomputed there.
    """

    path: Path
    sealed: bool
    lines: int
    verified_prefix_lines: int
    checkpoints: int
    signer_ok: bool | None
    signer: str | None
    seal_reason: str | None
    final_n: int
    final_hash: str | None
    unverified_lines: int
    issues: tuple[Issue, ...]
    notes: tuple[str, ...] = ()
    signers: tuple[str, ...] = ()
    claimed_key: str | None = None
    final_t: float | None = None
    states: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def interrupted(self) -> bool:
        """No seal, and nothing worse: what a crash (or a cut after the last checkpoint) leaves."""
        return bool(self.issues) and all(i.finding is Finding.UNSEALED for i in self.issues)

    @property
    def finding(self) -> Finding | None:
        return self.issues[0].finding if self.issues else None

    @property
    def first_bad_line(self) -> int | None:
        return self.issues[0].line if self.issues else None

    @property
    def problem(self) -> str:
        """The first problem as a sentence, or ``""`` when the file verified."""
        if not self.issues:
            return ""
        more = len(self.issues) - 1
        return self.issues[0].message + (f" ({more} more problem(s) follow.)" if more else "")

    def with_issue(self, issue: Issue) -> VerifyReport:
        """Return a copy with one more problem (used by checks spanning several files)."""
        return replace(self, issues=(*self.issues, issue))

    def summary(self) -> str:
        """Every problem and note, one sentence a line, for a CLI to print."""
        if self.ok:
            head = f"{self.path}: OK, {self.lines} lines verified, sealed ({self.seal_reason})."
        else:
            head = f"{self.path}: FAILED."
        return "\n".join([head, *(i.message for i in self.issues), *self.notes])


# ---------------------------------------------------------------- verifier


def verify_file(
    path: Path,
    verify_key: VerifyKey | Sequence[VerifyKey] | None,
    *,
    watch: Iterable[int] = (),
) -> VerifyReport:
    """Verify a chain file; see the module docstring for what each finding means.

    ``verify_key`` is the trusted key, or several (a key rotation). With none
    the signatures are checked against the key the file itself names, which
    proves the file is internally consistent but not who wrote it; the report
    says so. Raises ``OSError`` if the file cannot be read; never raises on its
    content.
    """
    if verify_key is None:
        trusted: tuple[VerifyKey, ...] = ()
    elif isinstance(verify_key, VerifyKey):
        trusted = (verify_key,)
    else:
        trusted = tuple(verify_key)
    verifier = _Verifier(path, trusted, watch)
    carry = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            parts = (carry + chunk).split(b"\n")
            carry = parts.pop()
            if parts:
                verifier.feed(parts)
    return verifier.finish(carry)


@dataclass(frozen=True)
class _Anchor:
    """A trusted chain state: the genesis or a checkpoint whose signature held."""

    n: int
    hash: bytes
    crc_sum: int
    crc_wsum: int
    line: int
    t: float | None = None


class _Verifier:
    """Incremental verification state; ``feed`` is the hot loop, everything else is rare."""

    def __init__(self, path: Path, trusted: tuple[VerifyKey, ...], watch: Iterable[int]) -> None:
        self.path = path
        self.trusted = trusted
        self.trusted_texts = {key.text() for key in trusted}
        self.claimed: VerifyKey | None = None
        self.claimed_text: str | None = None
        self.first_signer: VerifyKey | None = None
        self.signers: dict[str, None] = {}  # ordered set
        self.watch = sorted(set(watch), reverse=True)
        self.states: dict[int, str] = {}
        self.next_watch = -1
        self.phys = 0
        self.hash = b""
        self.n = 0
        self.crc_sum = 0
        self.crc_wsum = 0
        self.anchor = _Anchor(0, b"", 0, 0, 0)
        self.window_crcs = array("Q")
        self.window_lines = array("Q")
        self.window_overflow = False
        self.lines = 0
        self.checkpoints = 0
        self.signer_ok: bool | None = None
        self.seal: Checkpoint | None = None
        self.stopped = False
        self.issues: list[Issue] = []
        self.prefix: int | None = None
        self.unverified = 0
        self.unlisted = 0

    def feed(self, parts: list[bytes]) -> None:
        """Process complete lines (without their ``\\n``)."""
        if self.seal is not None:
            if not self.stopped:
                self.after_seal(self.phys + 1)
            return
        start = 0
        if self.phys == 0:
            self.start(parts[0])
            start = 1
        h, n, s0, s1, phys = self.hash, self.n, self.crc_sum, self.crc_wsum, self.phys
        crcs, numbers = self.window_crcs, self.window_lines
        sha, crc32, control = hashlib.sha256, zlib.crc32, CONTROL_PREFIX.encode()
        watched = self.next_watch
        for index in range(start, len(parts)):
            part = parts[index]
            phys += 1
            if part.startswith(control):
                self.hash, self.n, self.crc_sum, self.crc_wsum, self.phys = h, n, s0, s1, phys
                self.control(part)
                if self.seal is not None:
                    if index + 1 < len(parts):
                        self.after_seal(phys + 1)
                    return
                h, n, s0, s1 = self.hash, self.n, self.crc_sum, self.crc_wsum
                crcs, numbers = self.window_crcs, self.window_lines
                watched = self.next_watch
                continue
            line = part + b"\n"
            h = sha(h + line).digest()
            c = crc32(line)
            n += 1
            s0 += c
            s1 += n * c
            crcs.append(c)
            numbers.append(phys)
            if n == watched:
                self.states[n] = h.hex()
                watched = self.advance_watch(n)
        self.hash, self.n, self.crc_sum, self.crc_wsum, self.phys = h, n, s0, s1, phys
        self.cap_window()

    def start(self, header: bytes) -> None:
        """Seed the chain from line 1, and note the key the header names, if any."""
        self.phys = 1
        self.hash = hashlib.sha256(CHAIN_DOMAIN + header + b"\n").digest()
        self.anchor = _Anchor(0, self.hash, 0, 0, 1)
        self.claimed_text = claimed_key(header)
        if self.claimed_text is not None:
            try:
                self.claimed = VerifyKey.from_text(self.claimed_text)
            except ValueError:
                self.report(
                    Finding.MALFORMED, "The header names a signing key that is not a valid key.", 1
                )
        if self.watch and self.watch[-1] == 0:
            self.states[0] = self.hash.hex()
        self.advance_watch(0)

    def advance_watch(self, n: int) -> int:
        """Drop watched counts up to ``n`` (passed, or skipped by a resync); return the next."""
        while self.watch and self.watch[-1] <= n:
            self.watch.pop()
        self.next_watch = self.watch[-1] if self.watch else -1
        return self.next_watch

    def cap_window(self) -> None:
        """Bound memory on huge windows by giving up line-level diagnosis for them."""
        if len(self.window_crcs) > _WINDOW_DIAGNOSIS_CAP:
            self.window_overflow = True
            self.window_crcs = array("Q")
            self.window_lines = array("Q")

    def control(self, raw: bytes) -> None:
        """Handle a ``#warroom-`` line: check it, then either advance the anchor or report."""
        try:
            cp = Checkpoint.parse(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            self.report(Finding.MALFORMED, f"Line {self.phys} is not a valid control line: {exc}.")
            return
        issue = self.check_signature(cp)
        if issue is not None:
            self.add(issue)
            return
        if cp.n < self.anchor.n or (cp.n == self.anchor.n and not cp.is_seal and self.anchor.n):
            self.report(
                Finding.INSERTED,
                f"The checkpoint at line {self.phys} repeats an earlier chain state "
                f"(n={cp.n}): a checkpoint line was copied.",
            )
            return
        self.checkpoints += 1
        if cp.n != self.n or cp.hash != self.hash.hex():
            self.add(self.diagnose(cp))
        else:
            self.lines += cp.n - self.anchor.n
        self.move_anchor(cp)
        if cp.is_seal:
            self.seal = cp

    def move_anchor(self, cp: Checkpoint) -> None:
        """Trust the signed state from here on, whatever the window before it held."""
        self.hash = bytes.fromhex(cp.hash)
        self.n, self.crc_sum, self.crc_wsum = cp.n, cp.crc_sum, cp.crc_wsum
        self.anchor = _Anchor(cp.n, self.hash, cp.crc_sum, cp.crc_wsum, self.phys, cp.t)
        self.window_crcs = array("Q")
        self.window_lines = array("Q")
        self.window_overflow = False
        self.advance_watch(cp.n)

    def expected_key(self, named: VerifyKey | None) -> tuple[VerifyKey | None, str]:
        """The key this signature must be by, and how to name it (module docstring)."""
        if self.trusted:
            whose = "the given key" if len(self.trusted) == 1 else "any of the given keys"
            if self.first_signer is not None:
                earlier = "the key of the earlier checkpoints"
                return self.first_signer, whose if len(self.trusted) == 1 else earlier
            for candidate in (self.claimed, named):
                if candidate is not None and candidate.text() in self.trusted_texts:
                    return candidate, whose
            return self.trusted[0], whose
        if self.first_signer is not None:
            return self.first_signer, "the key of the earlier checkpoints"
        if self.claimed is not None:
            return self.claimed, "the key the header names"
        return named, "the key the file names"

    def check_signature(self, cp: Checkpoint) -> Issue | None:
        """Return why the signature fails, distinguishing a foreign key from a broken signature."""
        what = "seal" if cp.is_seal else "checkpoint"
        try:
            signature = base64.b64decode(cp.sig, validate=True)
            named: VerifyKey | None = VerifyKey.from_text(cp.key)
        except ValueError:
            signature, named = b"", None
        if base64.b64encode(signature).decode() != cp.sig:
            signature = b""  # base64 has spare bits: only the canonical spelling counts
        message = cp.message()
        expected, whose = self.expected_key(named)
        if expected is not None and expected.verify(signature, message):
            if self.first_signer is None:
                self.first_signer = expected
                self.signers[expected.text()] = None
            if self.trusted:
                self.signer_ok = self.signer_ok is not False
            return None
        self.signer_ok = False
        where = self.phys
        if named is not None and expected is not None and named.verify(signature, message):
            self.signers[named.text()] = None
            return Issue(
                Finding.WRONG_KEY,
                f"The {what} at line {where} is signed by {named.text()}, "
                f"not by {whose} ({expected.text()}).",
                where,
                checkpoint_line=where,
            )
        return Issue(
            Finding.BAD_SIGNATURE,
            f"The {what} at line {where} has an invalid signature: it was edited or forged, "
            "so it proves nothing.",
            where,
            checkpoint_line=where,
        )

    def diagnose(self, cp: Checkpoint) -> Issue:
        """Name what happened in the window that ends at this authentic checkpoint."""
        first, last = self.anchor.line + 1, self.phys - 1
        expected, actual = cp.n - self.anchor.n, self.n - self.anchor.n
        signed = f"the {'seal' if cp.is_seal else 'checkpoint'} at line {self.phys}"
        if actual == expected:
            base = f"{signed}, which covers {_span(first, last)}, no longer matches"
        else:
            base = (
                f"{signed} was signed over {expected} data line(s) after line "
                f"{self.anchor.line}, and there are now {actual}"
            )
        window = (first, last) if first <= last else None
        d0 = (cp.crc_sum - self.crc_sum) % CRC_MODULUS
        d1 = (cp.crc_wsum - self.crc_wsum) % CRC_MODULUS
        if self.window_overflow:
            found = None
        elif actual == expected:
            found = self.diagnose_same_count(d0, d1)
        elif actual == expected - 1:
            found = self.diagnose_dropped(d0, d1)
        elif actual == expected + 1:
            found = self.diagnose_inserted(d0, d1)
        else:
            found = None
        if found is None:
            found = _window_verdict(actual - expected, first, last)
        finding, line, what = found
        sentence = f"{what[0].upper()}{what[1:]}: {base}."
        return Issue(finding, sentence, line, window, self.phys)

    def diagnose_same_count(self, d0: int, d1: int) -> tuple[Finding, int, str] | None:
        """Same number of lines: an edit (located when single) or a reordering."""
        first, last = self.anchor.line + 1, self.phys - 1
        if d0 == 0 and d1 == 0:
            if self.anchor.n == 0:
                return Finding.EDITED, 1, "line 1 (the header) was edited"
            return None
        if d0 == 0:
            what = f"{_span(first, last)} hold the same lines in a different order"
            return Finding.REORDERED, first, what
        j = d1 * pow(d0, -1, CRC_MODULUS) % CRC_MODULUS
        if self.anchor.n < j <= self.n:
            line = self.window_lines[j - self.anchor.n - 1]
            return Finding.EDITED, line, f"line {line} was edited"
        return None

    def diagnose_dropped(self, d0: int, d1: int) -> tuple[Finding, int, str] | None:
        """One line fewer: find the gap where a line of CRC ``d0`` fits the weighted sum."""
        suffix = 0
        candidates = len(self.window_crcs)
        for offset in range(candidates, -1, -1):
            if offset < candidates:
                suffix += self.window_crcs[offset]
            j = self.anchor.n + 1 + offset
            if (j * d0 + suffix - d1) % CRC_MODULUS == 0:
                line = self.window_lines[offset] if offset < candidates else self.phys
                return Finding.DROPPED, line, f"a line was dropped just before line {line}"
        return None

    def diagnose_inserted(self, d0: int, d1: int) -> tuple[Finding, int, str] | None:
        """One line more: find the line whose removal restores both sums."""
        extra = -d0 % CRC_MODULUS
        surplus = -d1 % CRC_MODULUS
        crcs, suffix = self.window_crcs, 0
        for offset in range(len(crcs) - 1, -1, -1):
            j = self.anchor.n + 1 + offset
            if crcs[offset] == extra and (j * extra + suffix - surplus) % CRC_MODULUS == 0:
                return self.name_inserted(offset)
            suffix += crcs[offset]
        return None

    def name_inserted(self, offset: int) -> tuple[Finding, int, str]:
        """Say whether the extra line repeats another line of the window."""
        line = self.window_lines[offset]
        crc = self.window_crcs[offset]
        for other, other_crc in enumerate(self.window_crcs):
            if other != offset and other_crc == crc:
                original = self.window_lines[other]
                return Finding.DUPLICATED, line, f"line {line} duplicates line {original}"
        return Finding.INSERTED, line, f"line {line} was inserted"

    def after_seal(self, line: int) -> None:
        """Anything after a valid seal is an addition to a finished file."""
        assert self.seal is not None
        self.report(
            Finding.AFTER_SEAL,
            f"Line {line} comes after the seal at line {self.anchor.line}: "
            "content was added to a sealed file.",
            line,
        )
        self.stopped = True

    def report(self, finding: Finding, message: str, line: int | None = None) -> None:
        self.add(Issue(finding, message, self.phys if line is None else line))

    def add(self, issue: Issue) -> None:
        """Keep the issue (up to a cap, so garbage cannot exhaust memory) and freeze the prefix."""
        if self.prefix is None:
            self.prefix = self.anchor.line
        if len(self.issues) < _MAX_ISSUES:
            self.issues.append(issue)
        else:
            self.unlisted += 1

    def finish(self, partial: bytes) -> VerifyReport:
        """Account for the end of the file (partial line, missing seal) and build the report."""
        if self.phys == 0:
            what = "ends inside its header line" if partial else "is empty"
            self.report(Finding.MALFORMED, f"The file {what}; it has no chain.", 1)
        elif self.seal is not None:
            if partial and not self.stopped:
                self.after_seal(self.phys + 1)
        else:
            self.report_unsealed(partial)
        return self.build()

    def report_unsealed(self, partial: bytes) -> None:
        """Distinguish an interrupted writer (or truncation) from tampering."""
        last_good = self.anchor.line
        trailing = self.phys - last_good + (1 if partial else 0)
        sentence = (
            "The file ends without a valid seal (the writer was interrupted or the file was "
            f"truncated): lines 1-{last_good} are proven up to the last good checkpoint"
        )
        if trailing:
            sentence += f"; the {trailing} line(s) after it (lines {last_good + 1}-"
            sentence += f"{last_good + trailing}) are unverified"
        if partial:
            sentence += "; the last line is incomplete (a write was cut short)"
        first_unverified = last_good + 1 if trailing else None
        self.report(Finding.UNSEALED, sentence + ".", first_unverified)
        self.unverified = trailing

    def check_claim(self) -> None:
        """A header naming a key that signed nothing (the file was re-signed) is wrong-key."""
        claim = self.claimed_text
        if self.claimed is None or claim is None or not self.signers or claim in self.signers:
            return
        self.add(
            Issue(
                Finding.WRONG_KEY,
                f"The header names {claim} as the signer, but no signature in the file is by "
                f"it (they are by {', '.join(self.signers)}): it was re-signed with another key.",
                1,
            )
        )

    def build(self) -> VerifyReport:
        self.check_claim()
        notes: list[str] = []
        if self.unlisted:
            notes.append(f"{self.unlisted} further problem(s) were found but not listed.")
        signer = self.first_signer
        if not self.trusted and signer is not None:
            notes.append(
                "No verification key was given: signatures were checked against the key the "
                f"file names ({signer.text()}), which was not independently checked."
            )
        return VerifyReport(
            path=self.path,
            sealed=self.seal is not None,
            lines=self.lines,
            verified_prefix_lines=self.anchor.line if self.prefix is None else self.prefix,
            checkpoints=self.checkpoints,
            signer_ok=self.signer_ok,
            signer=signer.text() if signer is not None else None,
            seal_reason=self.seal.reason if self.seal is not None else None,
            final_n=self.anchor.n,
            final_hash=self.anchor.hash.hex() if self.phys else None,
            unverified_lines=self.unverified,
            issues=tuple(self.issues),
            notes=tuple(notes),
            signers=tuple(self.signers),
            claimed_key=self.claimed_text,
            final_t=self.anchor.t,
            states=self.states,
        )


def _window_verdict(surplus: int, first: int, last: int) -> tuple[Finding, int, str]:
    """The fallback when no single line explains the damage: name the window."""
    span = _span(first, last)
    if surplus < 0:
        return Finding.DROPPED, first, f"{-surplus} line(s) are missing from {span}"
    if surplus > 0:
        return Finding.INSERTED, first, f"{surplus} line(s) were added in {span}"
    return Finding.EDITED, first, f"{span} were edited (or reordered and edited)"


def _span(first: int, last: int) -> str:
    if first > last:
        return f"the gap before line {first}"
    return f"line {first}" if first == last else f"lines {first}-{last}"


def claimed_key(header: bytes) -> str | None:
    """The signing key a header line names: ``key`` or ``warroom.key`` of a JSON object."""
    try:
        value = json.loads(header)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    nested = value.get("warroom")
    key = value.get("key", nested.get("key") if isinstance(nested, dict) else None)
    return key if isinstance(key, str) else None


def read_header(path: Path) -> str:
    """Return line 1 of a chain file without its ``\\n`` (``""`` for an empty file)."""
    with path.open("rb") as handle:
        return handle.readline().rstrip(b"\n").decode()
