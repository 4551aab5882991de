"""The streaming masker: secrets in a terminal output stream become stars.

:class:`OutputMasker` replaces secrets by ``*`` before the bytes leave it,
also when a secret is split across frames or has escape sequences inside it.
Each masking is reported as a :class:`Masking` (the kind and how many, never
the secret) so that the relay can write a marker event to the recording and
the audit log. It is pure: no I/O, no clock (the caller owns timers).

How masking looks
-----------------
Every printable character of a secret becomes ``*`` (a double-width character
becomes ``**``); escape sequences and control characters inside it are kept.
A fixed label such as ``[masked:github-token]`` would be easier to read in a
log, but it changes the number of columns, and a full-screen program (vim,
less, top) that positions its cursor by column would then draw the rest of the
screen in the wrong place for every viewer and in the recording. Stars keep
every later cell where the program put it. The kind is not lost: it is in the
:class:`Masking` marker, and most patterns leave a well-known, non-secret
prefix visible (``ghp_************``, ``AKIA****************``,
``password=*******``), which tells a reader what was there.

How a stream is masked
----------------------
Patterns are matched on the *text* of the output, what a terminal draws:
sequences and controls that draw nothing are removed first, by the terminal
parser's own rules (:mod:`relay.masking.sequences`), so ``ghp_\\x1b[31mABC``
and ``AKIA\\x00IOSF`` are the texts ``ghp_ABC`` and ``AKIAIOSF``. Matches are
mapped back to byte positions, and only text bytes are replaced.

String sequences carry text too. The body of every OSC, DCS, SOS, PM and APC
(a window title, an OSC 8 link target) is masked like text; an OSC 52
clipboard write is removed from the stream (a viewer's terminal must never set
its clipboard from someone else's session), and so is a string sequence that
grows past :data:`relay.masking.sequences.STRING_MAX` unterminated.

A secret can arrive split over several frames, so :meth:`OutputMasker.feed`
holds back the end of a frame when, and only when, it could be the beginning
of a secret that is not complete yet. "Could be" is exact, not a guess: for
every pattern the masker derives a second regex that matches the *prefixes*
of its matches (:func:`relay.masking.prefix._prefix_regex`), and holds back
from where such a prefix of the secret part starts at the end of the text. So
ordinary output, and the echo of ordinary typing, is released at once;
``ghp_`` followed by three token characters is held until the token is
complete (and masked) or proves not to be one (and is released unchanged).
The caller should call :meth:`OutputMasker.flush` when the output has been
idle for a short while (50 ms is plenty): a held candidate is then masked if it
is a secret or a prefix of one (failing closed), so that nothing is delayed
for long.

A secret masked up to the end of what was released (by a flush, or because it
outgrew ``max_holdback``) stays *open*: the next frame's characters of the
secret's class (:class:`SecretPattern` tail) are masked as its continuation,
so a password typed key by key shows ``*`` for every key.

Multi-line private keys are followed by :mod:`relay.masking.keys`, which knows
about line numbers, prefixes and cursor addressing.

This masker sees the byte stream. What a full-screen program draws out of
order (a password edited with the arrow keys, a line that wraps with bash's
`` \\r``, a key drawn cell by cell) is caught by the second line of defence
on the rendered screen, :mod:`relay.masking.screen`.

Limits and cost
---------------
Work per frame is bounded by the frame's size plus a constant: the masker
keeps :data:`CONTEXT` bytes of released text to match the leads of secrets
that straddle frames, and holds back at most ``max_holdback`` bytes (2 KiB
by default). A candidate that grows longer than that is masked, released and
left open. A line of nothing but near-matches (``passwordpassword...``)
arriving a byte per frame costs each frame one pass over at most
``CONTEXT + max_holdback`` bytes per pattern, never the whole line:
:attr:`OutputMasker.scanned` counts the bytes handed to the regex engine,
and the tests bound it.

Every default pattern begins with a literal (``ghp_``, ``AKIA``, ``://``,
``token``...), which the re module finds by fast substring search, so plain
output costs little: see ``bench/redaction.py``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from relay.masking.keys import KIND as KEY_KIND
from relay.masking.keys import KeyBlocks
from relay.masking.patterns import DEFAULT_PATTERNS, SecretPattern
from relay.masking.prefilter import BlockScanner, Prefilter, prefilter_for
from relay.masking.sequences import (
    STRING_MAX,
    StringSequence,
    TextMap,
    open_sequence,
    scan,
    unfinished,
)
from relay.terminal.parser import APC, CSI, DCS, MAX_HELD, OSC, PM, SOS, STRINGS

__all__ = ["CONTEXT", "DEFAULT_MAX_HOLDBACK", "SECRET_INPUT", "Masking", "OutputMasker"]

DEFAULT_MAX_HOLDBACK = 2048
"""Bytes of text a masker may hold back for a candidate before masking it (failing closed)."""

CONTEXT = 512
"""Bytes of released text kept to recognise a secret whose lead came in an earlier frame."""

LOOKBEHIND = 32
"""How far before new text a pattern's lookbehinds and word boundaries may look."""

SECRET_INPUT = "secret-input"
"""The kind of a :class:`Masking` for input that was kept out of the record."""

_VISIBLE_ASCII = re.compile(rb"[\x20-\x7e]")
# Bytes that never start a sequence or a control that draws nothing: a chunk made only
# of them is its own text (bytes.translate deletes them at memory speed).
_PLAIN_BYTES = bytes(range(0x08, 0x0E)) + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
_C1 = re.compile(rb"\xc2[\x80-\x9f]")
_CLIPBOARD = re.compile(rb"52;")

_Span = tuple[int, int, int, bool]
"""(start, end, rank, counted): text to mask, the index of the pattern that found it
(-1 for a private-key block, len(patterns) for an open secret's continuation), and
whether it is a new secret rather than the continuation of one released before."""


def _stars(chunk: bytes) -> bytes:
    """One ``*`` per column the characters of ``chunk`` take; control characters kept."""
    if chunk.isascii():
        return _VISIBLE_ASCII.sub(b"*", chunk)
    out: list[str] = []
    for ch in chunk.decode("utf-8", "replace"):
        if ch < " " or "\x7f" <= ch < "\xa0":
            out.append(ch)
        elif unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            out.append("**")
        else:
            out.append("*")
    return "".join(out).encode()


@dataclass(frozen=True)
class Masking:
    """``count`` secrets of ``kind`` were masked in a piece of output.

    What the relay writes as a marker event in the recording and the audit
    log: the kind of secret, never the secret.
    """

    kind: str
    count: int = 1

    def marker(self) -> dict[str, Any]:
        """The data of the recording's ``s`` (redaction) event, see docs/recording.md."""
        return {"what": self.kind, "count": self.count}


class OutputMasker:
    """Masks secrets in a terminal output stream, frame by frame.

    ``feed(data)`` returns the bytes that are safe to release now and the
    maskings done in them; bytes that could be the beginning of a secret are
    held back and come out of a later ``feed`` or of ``flush``. Concatenated,
    the released bytes are the input with secrets masked, clipboard writes and
    overlong string sequences removed: nothing else is lost, reordered or
    doubled. Call ``flush()`` at the end of the stream and when the output has
    been idle for a short while (see :attr:`pending`).

    The masked stream is not the raw stream with some bytes changed: it comes
    out later (held bytes), and a masked non-ASCII character becomes as many
    ``*`` bytes as it has columns. A relay that gives the driver raw output and
    everyone else masked output must address the two by their own offsets.

    Not thread-safe; one masker per output stream.
    """

    def __init__(
        self,
        patterns: Iterable[SecretPattern] = DEFAULT_PATTERNS,
        *,
        private_key_blocks: bool = True,
        max_holdback: int = DEFAULT_MAX_HOLDBACK,
        prefilter: bool = True,
    ) -> None:
        """``prefilter=False`` runs every pattern on every frame: the same result,
        slower (:mod:`relay.masking.prefilter`); for proving exactly that."""
        if max_holdback < 64:
            raise ValueError("max_holdback must be at least 64 bytes")
        self.patterns = tuple(patterns)
        self.private_key_blocks = private_key_blocks
        self.max_holdback = max_holdback
        self.scanned = 0
        """Bytes handed to regex searches so far: the masker's work, for tests and benches."""
        self._needs_lower = any(p._lowered for p in self.patterns)
        self._held = b""  # raw bytes not released yet
        self._context = b""  # released text (its last CONTEXT bytes), unmasked, for matching
        self._open: re.Pattern[bytes] | None = None  # the tail of a secret cut by a release
        self._open_kind = ""
        self._dropping = ""  # the kind of an overlong string sequence dropped to its end
        self._held_open = ""  # the kind of the unfinished sequence that is all of _held
        self._keys = KeyBlocks()
        self._resume = [p._lead + LOOKBEHIND for p in self.patterns]  # see _process
        self._prefilter = (
            prefilter_for(self.patterns, (_KEY_ANCHOR,))
            if prefilter
            else Prefilter(self.patterns, (_KEY_ANCHOR,), compiled=False)
        )
        self._key_id = len(self.patterns)

    @property
    def pending(self) -> bool:
        """Whether output is held back; the caller should ``flush`` after an idle delay.

        An unfinished escape sequence alone does not count: it is invisible,
        and an idle flush keeps it (see :meth:`flush`).
        """
        return bool(self._held) and not self._dropping and unfinished(self._held) > 0

    def mask_echo(self) -> None:
        """Mask what comes next up to a line break: the echo of a secret typed at a prompt.

        The relay calls this before each frame while the input guard is armed
        (a recognised secret prompt that reads with echo on).
        """
        self._open = _ECHO
        self._open_kind = SECRET_INPUT

    def feed(self, data: bytes) -> tuple[bytes, list[Masking]]:
        """Add output; return what may be released now and the maskings in it."""
        raw = self._held + data if self._held else data
        # An unfinished sequence that is all that is held, and stays unfinished: it is not
        # read again (an overlong one arriving a byte per frame would cost its length each).
        known = None
        kind, self._held_open = self._held_open, ""
        if kind and self._held[-1] < 0x80 and self._held[-1] != 0x1B:
            goes_on = _GOES_ON.get(kind)
            if (
                goes_on is not None
                and goes_on.fullmatch(data)
                and (kind != CSI or len(raw) <= MAX_HELD)
            ):
                known = (0, kind)
        self._held = b""
        return self._process(raw, final=False, known=known)

    def flush(self, end_of_stream: bool = False) -> tuple[bytes, list[Masking]]:
        """Release what is held, masking any secret and any beginning of one (fail closed).

        For an idle flush an unfinished escape sequence at the very end stays
        held: it shows nothing, and releasing it would hide from the patterns a
        secret that continues after the rest of the sequence. At the end of the
        stream (``end_of_stream=True``) everything is released, but an
        unterminated string sequence, which could hold anything, is dropped.
        """
        raw, self._held = self._held, b""
        if not raw:
            return b"", []
        return self._process(raw, final=True, end_of_stream=end_of_stream)

    # -- internals --------------------------------------------------------

    def _process(
        self,
        raw: bytes,
        final: bool,
        end_of_stream: bool = False,
        known: tuple[int, str] | None = None,
    ) -> tuple[bytes, list[Masking]]:
        """Mask and release ``raw``; ``final`` masks candidates instead of holding them."""
        if self._dropping:
            raw = self._skip_string(raw, end_of_stream)
            if self._dropping:
                return b"", []
        cut, kind = open_sequence(raw) if known is None else known
        if cut < len(raw) and (end_of_stream or len(raw) - cut > STRING_MAX):
            # An unfinished sequence that will never end, or too long to hold. A string
            # sequence could carry anything: it is dropped (to its terminator, if one
            # comes). A runaway CSI or ESC draws nothing: it goes as it is.
            if kind in _STRING_KINDS:
                raw = raw[:cut]
                self._dropping = "" if end_of_stream else kind
            cut = len(raw)
        work = raw[:cut]

        plain = is_plain(work)
        # Where the sequences are, by the terminal model's tokenizer (relay.masking.sequences).
        found = None if plain else scan(work)
        text = work if found is None else found.text
        mapping: TextMap | None = None

        base = len(self._context)
        whole = self._context + text if base else text
        maybe = self._prefilter.scan(whole)  # the patterns that may match: one pass
        self.scanned += len(whole)
        lowered_needed = self._needs_lower and any(
            self.patterns[i]._lowered for i in maybe if i < self._key_id
        )
        lower = whole.lower() if lowered_needed else whole
        spans: list[_Span] = []
        hold = len(whole)

        if self._open is not None:  # the continuation of a secret released open
            m = self._open.match(whole, base)
            if m is not None and m.end() > base:
                spans.append((base, m.end(), len(self.patterns), False))
            if (m is None or m.end() < len(whole)) and text:
                self._open = None

        if self.private_key_blocks:
            moves: list[int] = []
            if found is not None and (self._keys.active or self._key_id in maybe):
                mapping = TextMap(work, found, moves=True)
                moves = [base + p for p in mapping.moves]
            key_spans: list[tuple[int, int, bool]] = []
            if self._keys.active or self._key_id in maybe:
                self.scanned += len(whole) - base
                hold = min(hold, self._keys.scan(whole, base, moves, final, key_spans))
            spans += [(a, b, -1, counted) for a, b, counted in key_spans]

        # Where each pattern's searches begin. A match that ends in the new text but
        # starts before it was a candidate (a match cut short) at the end of the last
        # frame, so it starts no earlier than that pattern's leftmost candidate did;
        # with no candidate, only a lookbehind reaches back. So each frame searches a
        # bounded window, not the whole line again (a line of near-matches arriving
        # a byte at a time stays linear).
        resume = [max(0, base - back) for back in self._resume]
        size = len(whole)
        for priority, pattern in enumerate(self.patterns):
            if priority not in maybe:
                continue  # none of its anchors is here (candidates are checked below)
            subject = lower if pattern._lowered else whole
            begin = resume[priority]
            group = pattern._group
            tail = pattern._tail
            for full in pattern._full:
                self.scanned += size - begin
                for m in full.finditer(subject, begin):
                    start, end = m.span(group)
                    if tail is not None and end < size:
                        more = tail.match(subject, end)
                        if more is not None:
                            end = more.end()
                    if end > base and end > start:
                        # A match that starts in the released context continues one
                        # that was released masked (and counted) before.
                        spans.append((start, end, priority, start >= base))

        # Candidates: matches that the end of the text may cut short. They are held
        # back, unless this is a flush or the earliest has grown past max_holdback:
        # then they are all masked (fail closed) and left open for the next frame.
        candidates: list[_Span] = []
        leads = [size] * len(self.patterns)
        last_line = whole.rfind(b"\n") + 1
        line_starts = (0, last_line, whole.rfind(b"\n", 0, max(last_line - 1, 0)) + 1)
        for priority, pattern in enumerate(self.patterns):
            subject = lower if pattern._lowered else whole
            search_from = max(line_starts[pattern._lines], size - pattern._reach, resume[priority])
            for partial in pattern._partial:
                self.scanned += size - search_from
                cut_short = partial.search(subject, search_from)
                if cut_short is None:
                    continue
                leads[priority] = min(leads[priority], cut_short.start())
                start = cut_short.start("s")
                if start < size:  # the secret part has begun: hold it back
                    candidates.append((start, size, priority, start >= base))
        cut_ranks: set[int] = set()  # patterns whose candidates were masked: they may go on
        if candidates:
            first = min(c[0] for c in candidates)
            if final or size - first > self.max_holdback:
                spans += candidates
                cut_ranks = {c[2] for c in candidates}
            else:
                hold = min(hold, first)
        hold = max(hold, base)
        if self.private_key_blocks:
            self._keys.released(hold)

        # Release whole[base:hold] (= text[:hold - base]) with the spans inside it masked.
        release_text_end = hold - base
        maskings: dict[str, int] = {}
        intervals: list[tuple[int, int]] = []  # in `text` coordinates
        open_rank = -2
        for start, end, rank, counted in _merge(spans):
            if end <= base or start >= hold:
                continue
            if counted:
                kind = KEY_KIND if rank < 0 else self.patterns[rank].name
                maskings[kind] = maskings.get(kind, 0) + 1
            # A secret masked up to the end may go on in the next frame: one cut
            # short, or one whose pattern ends in a repeated class (see _tail).
            if (
                end >= hold == size
                and 0 <= rank < len(self.patterns)
                and (rank in cut_ranks or self.patterns[rank]._tail is not None)
            ):
                open_rank = rank
            a, b = max(start, base) - base, min(end, hold) - base
            while a > 0 and 0x80 <= text[a] < 0xC0:
                a -= 1
            while b < len(text) and 0x80 <= text[b] < 0xC0 and b < release_text_end:
                b += 1
            intervals.append((a, b))
        # (An open secret's own continuation that ran to the end stays open as it is.)
        if 0 <= open_rank < len(self.patterns):
            pattern = self.patterns[open_rank]
            self._open = pattern._tail or _ANY_TOKEN
            self._open_kind = pattern.name

        edits: list[tuple[int, int, bytes]] = []  # (start, end, replacement) in `work`
        if found is not None and found.strings:
            edits = self._string_edits(work, found.strings, maskings)
        if found is not None and (intervals or release_text_end < len(text)):
            mapping = mapping or TextMap(work, found)
            raw_release = mapping.position(release_text_end)
            edits += [(a, b, b"") for a, b in _raw(mapping, intervals)]
        else:  # nothing held back and nothing masked, or no sequences: positions agree
            raw_release = len(work) if release_text_end == len(text) else release_text_end
            edits += [(a, b, b"") for a, b in intervals]
        out = _apply(work, raw_release, edits)
        self._held = raw[raw_release:]
        self._held_open = kind if raw_release == cut < len(raw) and not final else ""

        # Keep the last CONTEXT bytes of released text to match the next frame against.
        released = whole[:hold]
        self._context = released[-CONTEXT:]
        self._resume = [
            (hold - lead if lead < hold else 0) if lead < size else pattern._lead + LOOKBEHIND
            for lead, pattern in zip(leads, self.patterns, strict=True)
        ]
        return out, [Masking(kind, count) for kind, count in maskings.items()]

    def _string_edits(
        self, work: bytes, strings: list[StringSequence], maskings: dict[str, int]
    ) -> list[tuple[int, int, bytes]]:
        """Mask inside string sequences; remove clipboard writes (OSC 52)."""
        edits: list[tuple[int, int, bytes]] = []
        for seq in strings:
            body = work[seq.body : seq.end]
            if seq.kind == "]" and _CLIPBOARD.match(body):
                edits.append((seq.start, seq.stop, b"\x00"))  # removed whole
                maskings["clipboard-write"] = maskings.get("clipboard-write", 0) + 1
                continue
            if not body:
                continue
            masker = OutputMasker(self.patterns, private_key_blocks=self.private_key_blocks)
            # What a terminal keeps of a body: its controls are ignored (or data).
            masked, found = masker.feed(_STRING_CONTROLS.sub(b"", body))
            rest, more = masker.flush(end_of_stream=True)
            self.scanned += masker.scanned
            masked += rest
            if found or more:
                edits.append((seq.body, seq.end, masked))
                for m in (*found, *more):
                    maskings[m.kind] = maskings.get(m.kind, 0) + m.count
        return edits

    def _skip_string(self, raw: bytes, end_of_stream: bool) -> bytes:
        """Drop the rest of an overlong string sequence; return what follows it.

        Where it ends is the tokenizer's rule for its kind: BEL ends only an
        OSC; CAN, SUB, ST and (SOS, PM, APC) a character from U+00A0 end it with
        them; an ESC or another C1 control ends it before them.
        """
        m = _STRING_END[self._dropping].search(raw)
        if m is None:
            # A character cut short at the end may be a C1 ST or U+00A0 and up.
            cut = len(raw) if end_of_stream else _partial_character(raw)
            self._held = raw[cut:]
            return b""
        self._dropping = ""
        end = m.group()
        return raw[
            m.start() if end == b"\x1b" or (_C1.match(end) and end != b"\xc2\x9c") else m.end() :
        ]


_KEY_ANCHOR = b"PRIVATE KEY"
_ECHO = re.compile(rb"[^\r\n]+")
_ANY_TOKEN = re.compile(rb"[^\s'\"`;,&)}\]<>]+")
"""The continuation of a secret whose pattern names no tail class: up to a blank or quote."""
_STRING_KINDS = frozenset(STRINGS)
# Bytes that leave an unfinished sequence of each kind unfinished, whatever came before
# (no terminator, abort, ESC, C1 control or non-ASCII character; for a CSI, parameters
# and intermediates), so that it begins where it began.
_GOES_ON = {
    OSC: re.compile(rb"[^\x07\x18\x1a\x1b\x80-\xff]*"),
    CSI: re.compile(rb"[\x20-\x3f]*"),
}
_GOES_ON[DCS] = _GOES_ON[SOS] = _GOES_ON[PM] = _GOES_ON[APC] = re.compile(
    rb"[^\x18\x1a\x1b\x80-\xff]*"
)
_STRING_CONTROLS = re.compile(rb"[\x00-\x1f\x7f]")
# A character from U+00A0 up, in well-formed UTF-8.
_FROM_A0 = (
    rb"\xc2[\xa0-\xbf]|[\xc3-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]"
    rb"|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_STRING_END = {
    OSC: re.compile(rb"[\x07\x18\x1a\x1b]|\xc2[\x80-\x9f]"),
    DCS: re.compile(rb"[\x18\x1a\x1b]|\xc2[\x80-\x9f]"),
}
_STRING_END[SOS] = _STRING_END[PM] = _STRING_END[APC] = re.compile(
    rb"[\x18\x1a\x1b]|\xc2[\x80-\x9f]|" + _FROM_A0
)
_LEAD = re.compile(rb"(?:[\xc2-\xdf]|[\xe0-\xef][\x80-\xbf]?|[\xf0-\xf4][\x80-\xbf]{0,2})\Z")


# What keeps a chunk from being its own text, for the compiled scanner (see is_plain).
_NOT_PLAIN = BlockScanner((rb"[\x00-\x07\x0e-\x1f\x7f]", rb"\xc2[\x80-\x9f]", rb" \r"))


def is_plain(work: bytes) -> bool:
    """Whether ``work`` is its own text: no control that starts a sequence or draws
    nothing, no C1 control, no readline wrap (`` \\r``). One compiled pass (~5 GB/s
    here) where hyperscan is there; ``bytes.translate`` and a search for `` \\r``
    (~2.5 GB/s and ~0.9 GB/s on log lines: space is everywhere) otherwise."""
    if _NOT_PLAIN.available:
        return not _NOT_PLAIN.search(work)
    return is_plain_reference(work)


def is_plain_reference(work: bytes) -> bool:
    """:func:`is_plain` by Python's byte passes: what the compiled scanner must agree with."""
    if work.translate(None, _PLAIN_BYTES):
        return False
    if b"\xc2" in work and _C1.search(work) is not None:
        return False
    return b" \r" not in work


def _partial_character(data: bytes) -> int:
    """Where a UTF-8 character that the end of ``data`` cuts short begins (or its end)."""
    m = _LEAD.search(data, max(0, len(data) - 3))
    return len(data) if m is None else m.start()


def _raw(mapping: TextMap, intervals: list[tuple[int, int]]) -> Iterable[tuple[int, int]]:
    for a, b in intervals:
        yield from mapping.intervals(a, b)


def _merge(spans: list[_Span]) -> list[_Span]:
    """Overlapping spans become one, of the most specific kind (lowest rank) among them.

    Rank -1 is a private-key block, which outranks every pattern; the merged
    span is counted if any of its parts is a new secret.
    """
    merged: list[_Span] = []
    for start, end, rank, counted in sorted(spans):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), min(last[2], rank), last[3] or counted)
        else:
            merged.append((start, end, rank, counted))
    return merged


def _apply(work: bytes, release: int, edits: list[tuple[int, int, bytes]]) -> bytes:
    """``work[:release]`` with every edit applied: ``b""`` means stars, ``b"\\x00"`` removal."""
    if not edits:
        return work[:release]
    parts: list[bytes] = []
    previous = 0
    for start, end, replacement in sorted(edits):
        start = max(start, previous)
        if start >= release:
            break
        end = min(end, release)
        if end <= start:
            continue
        parts.append(work[previous:start])
        if replacement == b"":
            parts.append(_stars(work[start:end]))
        elif replacement != b"\x00":
            parts.append(replacement)
        previous = end
    parts.append(work[previous:release])
    return b"".join(parts)
