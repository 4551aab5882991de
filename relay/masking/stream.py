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
Patterns are matched on the *text* of the output: escape sequences are
stripped first (``ghp_\\x1b[31mABC...`` is the text ``ghp_ABC...``), matches
are mapped back to byte positions, and only the text bytes are replaced.

A secret can arrive split over several frames, so :meth:`OutputMasker.feed`
holds back the end of a frame when, and only when, it could be the beginning
of a secret that is not complete yet. "Could be" is exact, not a guess: for
every pattern the masker derives a second regex that matches the *prefixes*
of its matches (see :func:`relay.masking.prefix._prefix_regex`), and holds back from where such a
prefix of the secret part starts at the end of the text. So ordinary output,
and the echo of ordinary typing, is released at once; ``ghp_`` followed by
three token characters is held until the token is complete (and masked) or
proves not to be one (and is released unchanged). The caller should call
:meth:`OutputMasker.flush` when the output has been idle for a short while
(50 ms is plenty): a held candidate is then masked if it is a secret or a
prefix of one (failing closed), so that nothing is delayed for long.

Patterns match within one line; multi-line private keys are handled by a
small state machine (the ``-----BEGIN ... PRIVATE KEY-----`` line switches it
on, every following base64 or header line is masked until the ``END`` line or
a line that cannot belong to a key).

Limits and cost
---------------
``max_holdback`` (8 KiB by default) bounds the text held back. A candidate
that grows longer than that (a JWT with a very large payload) is masked and
released in pieces rather than held whole, and the masker keeps up to 64 KiB
of it as context to recognise its continuation: only a secret longer than
64 KiB on one line, split across frames, could have its tail released
unmasked.

Every default pattern begins with a literal (``ghp_``, ``AKIA``, ``://``,
``token``...), which the re module finds by fast substring search, so plain
output costs little: see ``bench/redaction.py`` (plain logs well above 100
MB/s, coloured logs above 50 MB/s on the development machine). A line crafted
to be nothing but near-matches (``eyJeyJeyJ...``) is slower, a few MB/s at
worst; the masker is pure and per-stream, so a relay that must bound that can
run it off its event loop.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from relay.masking.patterns import CONTEXT_MAX, DEFAULT_PATTERNS, SecretPattern
from relay.masking.prefix import _parser, _Writer
from relay.masking.sequences import _ESC, _escape_cut, _TextMap

__all__ = ["DEFAULT_MAX_HOLDBACK", "SECRET_INPUT", "Masking", "OutputMasker"]

DEFAULT_MAX_HOLDBACK = 8192
"""Bytes of text a masker may hold back, and how far back on a line a secret may start."""

_BODY_LINE_MAX = 8192
"""A private-key body line longer than this is masked and released without its end."""


_VISIBLE_ASCII = re.compile(rb"[\x20-\x7e]")


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


# --------------------------------------------------------------------------
# Multi-line private keys

_KEY_HEADER = re.compile(rb"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----")
_KEY_END_SOURCE = r"[ \t]*-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[ \t]*\r?"
# RFC 7468 / RFC 1421 body lines: base64, "Proc-Type: ..." style headers, blank lines.
_KEY_BODY_SOURCE = r"[ \t]*(?:[A-Za-z0-9+/=]+|[A-Za-z][A-Za-z0-9-]*:[^\r\n]*)?[ \t]*\r?"
_KEY_END = re.compile(_KEY_END_SOURCE.encode())
_KEY_BODY = re.compile(_KEY_BODY_SOURCE.encode())


def _prefix_of(source: str) -> re.Pattern[bytes]:
    writer = _Writer("", None, lowered=False)
    return re.compile(writer.prefix(list(_parser.parse(source, 0))).encode() + rb"\Z")


_KEY_END_PREFIX = _prefix_of(_KEY_END_SOURCE)
_KEY_BODY_PREFIX = _prefix_of(_KEY_BODY_SOURCE)

_NONE, _HEADER_LINE, _BODY = 0, 1, 2
_KEY_KIND = "private-key"

_Span = tuple[int, int, int, bool, int]
"""(start, end, rank, counted, origin): text to mask, the index of the pattern that
found it (-1 for a private-key block), whether it is a new secret rather than the
continuation of one released before, and where its match began (the lead, such as
``eyJ``, that the next frame needs to see to recognise a continuation)."""


# --------------------------------------------------------------------------
# The streaming masker


SECRET_INPUT = "secret-input"
"""The kind of a :class:`Masking` for input the :class:`InputGuard` kept out of the record."""


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
    the released bytes are the input with secrets masked: nothing is lost,
    reordered or doubled. Call ``flush()`` at the end of the stream and when
    the output has been idle for a short while (see :attr:`pending`).

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
    ) -> None:
        if max_holdback < 64:
            raise ValueError("max_holdback must be at least 64 bytes")
        self.patterns = tuple(patterns)
        self.private_key_blocks = private_key_blocks
        self.max_holdback = max_holdback
        self._needs_lower = any(p._lowered for p in self.patterns)
        self._held = b""  # raw bytes not released yet
        self._context = b""  # released text of the current line, unmasked (for matching only)
        self._block = _NONE
        self._block_counted = False

    @property
    def pending(self) -> bool:
        """Whether output is held back; the caller should ``flush`` after an idle delay.

        An unfinished escape sequence alone does not count: it is invisible,
        and an idle flush keeps it (see :meth:`flush`).
        """
        return bool(self._held) and _escape_cut(self._held) > 0

    def feed(self, data: bytes) -> tuple[bytes, list[Masking]]:
        """Add output; return what may be released now and the maskings in it."""
        raw = self._held + data if self._held else data
        self._held = b""
        return self._process(raw, final=False)

    def flush(self, end_of_stream: bool = False) -> tuple[bytes, list[Masking]]:
        """Release what is held, masking any secret and any beginning of one (fail closed).

        For an idle flush an unfinished escape sequence at the very end stays
        held: it shows nothing, and releasing it would hide from the patterns a
        secret that continues after the rest of the sequence. At the end of the
        stream (``end_of_stream=True``) everything is released.
        """
        raw, self._held = self._held, b""
        if not raw:
            return b"", []
        return self._process(raw, final=True, end_of_stream=end_of_stream)

    # -- internals --------------------------------------------------------

    def _process(
        self, raw: bytes, final: bool, end_of_stream: bool = False
    ) -> tuple[bytes, list[Masking]]:
        """Mask and release ``raw``; ``final`` masks candidates instead of holding them."""
        cut = len(raw) if end_of_stream else _escape_cut(raw)
        work = raw[:cut]
        has_escapes = b"\x1b" in work
        text = _ESC.sub(b"", work) if has_escapes else work
        base = len(self._context)
        whole = self._context + text if base else text
        lower = whole.lower() if self._needs_lower else whole
        spans: list[_Span] = []
        hold = len(whole)

        if self.private_key_blocks:
            hold = min(hold, self._key_blocks(whole, base, final, spans))

        seen: dict[tuple[bool, bytes], bool] = {}  # each literal is looked for once per frame

        def present(lowered: bool, literal: bytes, subject: bytes) -> bool:
            key = (lowered, literal)
            if key not in seen:
                seen[key] = literal in subject
            return seen[key]

        for priority, pattern in enumerate(self.patterns):
            subject = lower if pattern._lowered else whole
            lowered = pattern._lowered
            if pattern.triggers and not any(present(lowered, t, subject) for t in pattern.triggers):
                continue  # no match is possible in this text (candidates are checked below)
            group = pattern._group
            for full in pattern._full:
                for m in full.finditer(subject):
                    start, end = m.span(group)
                    if end > base and end > start:
                        # A match that starts in the released context continues one
                        # that was released masked (and counted) before.
                        spans.append((start, end, priority, start >= base, m.start()))

        # Candidates: matches that the end of the text may cut short (on the last
        # line: no pattern spans lines). They are held back, unless this is a
        # flush or the earliest has grown past max_holdback: then they are all
        # masked (fail closed), and their continuation is in the next frames.
        line_start = whole.rfind(b"\n") + 1
        candidates: list[_Span] = []
        for priority, pattern in enumerate(self.patterns):
            subject = lower if pattern._lowered else whole
            search_from = max(line_start, len(whole) - pattern._reach)
            for partial in pattern._partial:
                cut_short = partial.search(subject, search_from)
                if cut_short is not None and cut_short.start("s") < len(whole):
                    start = cut_short.start("s")
                    candidates.append(
                        (start, len(whole), priority, start >= base, cut_short.start())
                    )
        if candidates:
            first = min(c[0] for c in candidates)
            if final or len(whole) - first > self.max_holdback:
                spans += candidates
            else:
                hold = min(hold, first)
        hold = max(hold, base)

        # Release whole[base:hold] (= text[:hold - base]) with the spans inside it masked.
        release_text_end = hold - base
        maskings: dict[str, int] = {}
        intervals: list[tuple[int, int]] = []  # in `text` coordinates
        for start, end, rank, counted, _origin in _merge(spans):
            if end <= base or start >= hold:
                continue
            if counted:
                kind = _KEY_KIND if rank < 0 else self.patterns[rank].name
                maskings[kind] = maskings.get(kind, 0) + 1
            a, b = max(start, base) - base, min(end, hold) - base
            while a > 0 and 0x80 <= text[a] < 0xC0:
                a -= 1
            while b < len(text) and 0x80 <= text[b] < 0xC0 and b < release_text_end:
                b += 1
            intervals.append((a, b))

        if has_escapes and (intervals or release_text_end < len(text)):
            mapping = _TextMap(work)
            raw_release = mapping.position(release_text_end)
            raw_intervals = [iv for a, b in intervals for iv in mapping.intervals(a, b)]
        else:  # no escapes, or nothing held back and nothing masked: release it all
            raw_release = len(work) if release_text_end == len(text) else release_text_end
            raw_intervals = intervals
        out = _apply(work, raw_release, raw_intervals)
        self._held = raw[raw_release:]

        # Keep the released text of the current line as context for the next frame:
        # its last max_holdback bytes, and more if a secret runs up to the release
        # point (it was too long to hold back whole), so that its continuation is
        # still recognised, from its lead on.
        released = whole[:hold]
        line_start = released.rfind(b"\n") + 1
        keep = max(line_start, len(released) - self.max_holdback)
        for start, end, _rank, _counted, origin in spans:
            if start < hold <= end and origin >= line_start:
                keep = min(keep, max(origin, len(released) - CONTEXT_MAX))
        self._context = released[keep:]
        return out, [Masking(kind, count) for kind, count in maskings.items()]

    def _key_blocks(self, whole: bytes, base: int, final: bool, spans: list[_Span]) -> int:
        """Mask the body lines of multi-line private keys; return where to hold back from."""
        n = len(whole)
        pos = base
        while True:
            if self._block == _NONE:
                m = _KEY_HEADER.search(whole, max(pos - 200, 0) if pos == base else pos)
                while m is not None and m.end() <= base:
                    m = _KEY_HEADER.search(whole, m.end())
                if m is None:
                    return n
                self._block = _HEADER_LINE
                self._block_counted = False
                pos = m.end()
            if self._block == _HEADER_LINE:
                newline = whole.find(b"\n", pos)
                rest = whole[pos : newline if newline >= 0 else n]
                if rest.strip():
                    self._block = _NONE  # the one-line form, left to the regex pattern
                    continue
                if newline < 0:
                    return n
                self._block = _BODY
                pos = newline + 1
            # _BODY: pos is at the start of a line
            while True:
                newline = whole.find(b"\n", pos)
                if newline < 0:
                    line = whole[pos:]
                    if not line:
                        return n
                    if _KEY_END_PREFIX.match(line) and not final:
                        return pos
                    if _KEY_BODY_PREFIX.match(line):
                        if final or len(line) > _BODY_LINE_MAX:
                            self._mask_line(whole, pos, n, spans)
                            return n
                        return pos
                    self._block = _NONE
                    break
                line = whole[pos:newline]
                if _KEY_END.fullmatch(line):
                    self._block = _NONE
                    pos = newline + 1
                    break
                if _KEY_BODY.fullmatch(line):
                    self._mask_line(whole, pos, newline, spans)
                    pos = newline + 1
                    continue
                self._block = _NONE
                break

    def _mask_line(self, whole: bytes, start: int, end: int, spans: list[_Span]) -> None:
        """Mask one body line (not its line end); a key counts once, at its first line."""
        while end > start and whole[end - 1] in b"\r":
            end -= 1
        if end > start:
            spans.append((start, end, -1, not self._block_counted, start))
            self._block_counted = True


def _merge(spans: list[_Span]) -> list[_Span]:
    """Overlapping spans become one, of the most specific kind (lowest rank) among them.

    Rank -1 is a private-key block, which outranks every pattern; the merged
    span is counted if any of its parts is a new secret.
    """
    merged: list[_Span] = []
    for start, end, rank, counted, origin in sorted(spans):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (
                last[0],
                max(last[1], end),
                min(last[2], rank),
                last[3] or counted,
                min(last[4], origin),
            )
        else:
            merged.append((start, end, rank, counted, origin))
    return merged


def _apply(work: bytes, release: int, intervals: list[tuple[int, int]]) -> bytes:
    """``work[:release]`` with every interval replaced by stars."""
    if not intervals:
        return work[:release]
    parts: list[bytes] = []
    previous = 0
    for start, end in sorted(intervals):
        start = max(start, previous)
        if start >= release:
            break
        end = min(end, release)
        if end <= start:
            continue
        parts.append(work[previous:start])
        parts.append(_stars(work[start:end]))
        previous = end
    parts.append(work[previous:release])
    return b"".join(parts)
