"""Control and escape sequences in the output, as the terminal model reads them.

The masker matches patterns on the *text* a terminal would draw, so it must
agree with the terminal parser (:mod:`relay.terminal`) about where every
sequence begins and ends. A disagreement is a leak: if the masker thought the
OSC in ``ESC ] 0 ; CAN AKIA...EXAMPLE BEL`` ran to the BEL while the terminal
ends it at the CAN and draws the key, the key would pass unmasked. The rules
below are the terminal model's, byte for byte (UTF-8 in, C1 controls as their
UTF-8 code points U+0080..U+009F):

* CSI (``ESC [`` or U+009B): parameters ``0-?``, intermediates `` -/``, a
  final ``@-~``. Any other character ends it early: CAN and SUB are consumed
  with it, anything else is then read as usual.
* OSC (``ESC ]`` or U+009D) ends at BEL, CAN, SUB, ST (U+009C) or any ESC
  (``ESC \\`` is then read as a sequence of its own). DCS, SOS, PM and APC
  (``ESC P X ^ _``, U+0090 U+0098 U+009E U+009F) end the same way but not at
  BEL. Their bodies are *strings*: text the terminal does not draw but may
  show elsewhere (a window title, a link target) or act on (a clipboard).
* ``ESC`` + intermediates + a final ``0-~``; anything else ends it early.
* C0 controls other than BS, HT, LF, VT, FF and CR, DEL, and the C1 controls
  draw nothing: they are not text (``AKIA\\x00IOSF...`` is drawn ``AKIAIOSF...``).

:data:`NOT_TEXT` matches one such piece; removing every match from a chunk
leaves its text. :func:`unfinished` says where a sequence that the end of a
chunk cuts short begins, so that the masker holds it for the next chunk.
:func:`strings` lists the string sequences with their bodies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "ESCAPES",
    "ESCAPES_AND_WRAPS",
    "NOT_TEXT",
    "STRING_MAX",
    "StringSequence",
    "TextMap",
    "strings",
    "unfinished",
]

STRING_MAX = 16384
"""Bytes of an unfinished sequence held back; a string sequence longer is dropped whole."""

_CSI = rb"(?:\x1b\[|\xc2\x9b)[\x30-\x3f]*[\x20-\x2f]*(?:[\x40-\x7e]|[\x18\x1a])?"
_OSC_BODY = rb"(?:[^\x07\x18\x1a\x1b\xc2]|\xc2(?!\x9c))*"
_STRING_BODY = rb"(?:[^\x18\x1a\x1b\xc2]|\xc2(?!\x9c))*"
_OSC = rb"(?:\x1b\]|\xc2\x9d)" + _OSC_BODY + rb"(?:[\x07\x18\x1a]|\xc2\x9c|(?=\x1b))"
_STRING = (
    rb"(?:\x1b[PX^_]|\xc2[\x90\x98\x9e\x9f])" + _STRING_BODY + rb"(?:[\x18\x1a]|\xc2\x9c|(?=\x1b))"
)
_ESCAPE = rb"\x1b(?![\[\]PX^_])[\x20-\x2f]*[\x30-\x7e]?"
_CONTROL = rb"[\x00-\x07\x0e-\x1a\x1c-\x1f\x7f]+|\xc2[\x80-\x8f\x91-\x97\x99\x9a\x9c]"

# bash/readline at the right margin: the next character wraps, then " \r" puts the
# cursor on the new row's first column and the line goes on there. On the screen the
# line is one piece; for the patterns it is too.
_WRAP = rb" \r(?=[^\s])"
NOT_TEXT = re.compile(b"|".join((_CSI, _OSC, _STRING, _ESCAPE, _CONTROL, _WRAP)))
"""One sequence or run of controls that draws nothing (in a chunk without an unfinished tail),
or readline's wrap at the margin."""

ESCAPES = re.compile(
    rb"\x1b(?:\[[\x30-\x3f]*[\x20-\x2f]*(?:[\x40-\x7e]|[\x18\x1a])?"
    rb"|\]" + _OSC_BODY + rb"(?:[\x07\x18\x1a]|\xc2\x9c|(?=\x1b))"
    rb"|[PX^_]" + _STRING_BODY + rb"(?:[\x18\x1a]|\xc2\x9c|(?=\x1b))"
    rb"|(?![\[\]PX^_])[\x20-\x2f]*[\x30-\x7e]?)"
)
""":data:`NOT_TEXT` for a chunk whose only control is ESC and that holds no readline wrap:
the same matches, found faster (the regex engine skips to each ESC by a literal search)."""

ESCAPES_AND_WRAPS = re.compile(ESCAPES.pattern + b"|" + _WRAP)
""":data:`ESCAPES` and readline's wraps, for a chunk that holds `` \r``."""

# From an introducer to the end of the data, with no end in between.
_OPEN = re.compile(
    rb"(?:(?:\x1b\[|\xc2\x9b)[\x30-\x3f]*[\x20-\x2f]*"
    rb"|(?:\x1b\]|\xc2\x9d)"
    + _OSC_BODY
    + rb"|(?:\x1b[PX^_]|\xc2[\x90\x98\x9e\x9f])"
    + _STRING_BODY
    + rb"|\x1b[\x20-\x2f]*|\xc2)\Z"
)
_INTRODUCER = re.compile(rb"\x1b|\xc2[\x90\x98\x9b\x9d\x9e\x9f]|\xc2\Z")
_STRING_START = re.compile(rb"\x1b[\]PX^_]|\xc2[\x9d\x90\x98\x9e\x9f]")


def unfinished(data: bytes) -> int:
    """Where a sequence that the end of ``data`` cuts short begins (``len(data)`` if none).

    A lone ``\\xc2`` at the end counts: it may be the first byte of a C1 control.
    Only the sequence that begins at the last ESC, or at a C1 introducer after
    it, can be unfinished: every ESC ends the string sequence before it.
    """
    last = data.rfind(b"\x1b")
    if last < 0 and b"\xc2" not in data:
        return len(data)
    pos = max(last, 0)
    while True:
        m = _INTRODUCER.search(data, pos)
        if m is None:
            return len(data)
        start = m.start()
        if _OPEN.match(data, start):
            return start
        whole = NOT_TEXT.match(data, start)
        pos = whole.end() if whole is not None and whole.end() > start else m.end()


@dataclass(frozen=True)
class StringSequence:
    """A string sequence in a chunk: ``data[start:stop]``, its body ``data[body:end]``.

    ``kind`` is the introducer's final character: ``]`` OSC, ``P`` DCS, ``X``
    SOS, ``^`` PM, ``_`` APC. ``stop`` is ``end`` when an ESC ended the string
    (the ESC belongs to the next sequence), else after the terminator.
    """

    start: int
    body: int
    end: int
    stop: int
    kind: str


_C1_KINDS = {
    b"\xc2\x9d": "]",
    b"\xc2\x90": "P",
    b"\xc2\x98": "X",
    b"\xc2\x9e": "^",
    b"\xc2\x9f": "_",
}
_STRING_SEQUENCE = re.compile(
    rb"(?P<osc>\x1b\]|\xc2\x9d)" + _OSC_BODY + rb"(?P<osc_end>[\x07\x18\x1a]|\xc2\x9c|(?=\x1b))"
    rb"|(?P<string>\x1b[PX^_]|\xc2[\x90\x98\x9e\x9f])"
    + _STRING_BODY
    + rb"(?P<string_end>[\x18\x1a]|\xc2\x9c|(?=\x1b))"
)


def strings(data: bytes) -> Iterator[StringSequence]:
    """The complete string sequences of ``data`` (cut at :func:`unfinished` first).

    An introducer inside another string's body is part of that body, as for
    the terminal: the search goes on after the end of each sequence found.
    """
    pos = 0
    while True:
        m = _STRING_START.search(data, pos)
        if m is None:
            return
        whole = _STRING_SEQUENCE.match(data, m.start())
        if whole is None:  # unterminated: the caller cut the chunk before it
            return
        intro = whole.group("osc") or whole.group("string")
        end = whole.start("osc_end" if whole.group("osc") else "string_end")
        kind = intro[1:].decode() if intro[0] == 0x1B else _C1_KINDS[intro]
        yield StringSequence(whole.start(), whole.start() + len(intro), end, whole.end(), kind)
        pos = max(whole.end(), m.end())


class TextMap:
    """Maps positions in the text of ``raw`` (what :data:`NOT_TEXT` leaves) back to its bytes."""

    def __init__(
        self,
        raw: bytes,
        moves: re.Pattern[bytes] | None = None,
        grammar: re.Pattern[bytes] = NOT_TEXT,
    ) -> None:
        self.moves: list[int] = []
        """Text positions of the removed pieces that ``moves`` matches (cursor moves)."""
        self.raw_starts: list[int] = []
        self.text_starts: list[int] = []
        self.text_len = 0
        self.raw_len = len(raw)
        previous = 0
        for m in grammar.finditer(raw):
            if m.start() > previous:
                self.raw_starts.append(previous)
                self.text_starts.append(self.text_len)
                self.text_len += m.start() - previous
            previous = m.end()
            if moves is not None and moves.search(m.group()):
                self.moves.append(self.text_len)
        if previous < len(raw):
            self.raw_starts.append(previous)
            self.text_starts.append(self.text_len)
            self.text_len += len(raw) - previous

    def position(self, index: int) -> int:
        """The byte of ``raw`` holding text character ``index`` (the end for the text's end)."""
        if index >= self.text_len:
            return self.raw_len
        run = _bisect(self.text_starts, index)
        return self.raw_starts[run] + index - self.text_starts[run]

    def intervals(self, start: int, end: int) -> Iterable[tuple[int, int]]:
        """Byte intervals of ``raw`` holding text ``[start, end)`` (sequences skipped)."""
        run = _bisect(self.text_starts, start)
        while start < end and run < len(self.text_starts):
            run_end = (
                self.text_starts[run + 1] if run + 1 < len(self.text_starts) else self.text_len
            )
            stop = min(end, run_end)
            if stop > start:
                offset = self.raw_starts[run] - self.text_starts[run]
                yield start + offset, stop + offset
            start = stop
            run += 1


def _bisect(starts: list[int], index: int) -> int:
    low, high = 0, len(starts)
    while high - low > 1:
        mid = (low + high) // 2
        if starts[mid] <= index:
            low = mid
        else:
            high = mid
    return low
