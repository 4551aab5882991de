"""Control and escape sequences in the output, cut where the terminal model cuts them.

The masker matches patterns on the *text* a terminal would draw, so it must
agree with the terminal about where every sequence begins and ends. A
disagreement is a leak: if the masker thought the OSC in
``ESC ] 0 ; CAN AKIA...EXAMPLE BEL`` ran to the BEL while the terminal ends it
at the CAN and draws the key, the key would pass unmasked. So there is one
definition of those boundaries, the terminal model's tokenizer
(:mod:`relay.terminal.parser`: CAN/SUB abort, ESC ends a string, BEL ends only
an OSC, C1 controls as UTF-8 code points U+0080-U+009F, C0 controls executed
inside an escape sequence, ...), and this module reads a chunk with it:

* :func:`scan` says which bytes of a chunk are not text (sequences, and the
  controls that draw nothing) and where its string sequences (OSC, DCS, SOS,
  PM, APC: a window title, a link target, a clipboard write) and their bodies
  are. Controls that move the cursor (BS, HT, LF, VT, FF, CR), also those
  executed inside an ``ESC`` or CSI sequence, stay in the text: they end a
  line for the patterns as they do on the screen.
* :func:`unfinished` says where a sequence that the end of a chunk cuts short
  begins, so that the masker holds it for the next chunk
  (:func:`open_sequence` also says what kind it is).

Speed: most chunks hold only well-formed CSI, ``ESC`` and OSC sequences with
nothing odd inside, which are single tokens of the tokenizer's own
:data:`relay.terminal.parser.SIMPLE` forms. :data:`_FAST` is those forms over
bytes; when removing its matches leaves no ESC and the chunk holds no C1
control, its matches are exactly the tokenizer's sequences and the chunk is
done in one regex pass. Anything else (a C1 control, CAN inside a sequence, a
DCS, a control inside a CSI) is read token by token by the tokenizer itself.
tests/relay/masking/test_masking_tokenizer.py checks on generated streams that both roads
give the tokenizer's answer.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass

from relay.terminal.parser import CONTROL, CSI, DCS, ESC, OSC, STRINGS, TEXT, Token, Tokenizer

__all__ = [
    "STRING_MAX",
    "Scan",
    "StringSequence",
    "TextMap",
    "open_sequence",
    "scan",
    "text_of",
    "unfinished",
]

STRING_MAX = 16384
"""Bytes of an unfinished sequence held back; a string sequence longer is dropped whole."""

#: Controls that move the cursor: kept in the masker's text, as line ends and gaps.
_DRAWING = "\x08\t\n\x0b\x0c\r"
_DRAWING_BYTES = frozenset(_DRAWING.encode())

# bash/readline at the right margin: the next character wraps, then " \r" puts the
# cursor on the new row's first column and the line goes on there. On the screen the
# line is one piece; for the patterns it is too.
_WRAP = rb" \r(?=[^\s])"

# The tokenizer's SIMPLE forms over bytes, for a chunk without C1 controls: a CSI
# without controls inside, an ESC sequence, an OSC whose body has no controls, a run
# of controls that draw nothing. (Without C1 controls every non-ASCII byte of an OSC
# body is a character it holds or an invalid byte it keeps.)
_FAST_FORMS = (
    rb"\x1b\[[<=>?]?[0-;]*[ -/]*[@-~]",
    rb"\x1b(?![\[\]PX^_])[ -/]*[0-~]",
    rb"\x1b\][\x20-\x7e\x80-\xff]*(?:\x07|\x1b\\)",
    rb"[\x00-\x07\x0e-\x1a\x1c-\x1f\x7f]+",
)
_FAST = re.compile(b"|".join(_FAST_FORMS))
_ESCAPES = re.compile(b"\x1b(?:" + b"|".join(f[4:] for f in _FAST_FORMS[:3]) + b")")
_FAST_OSC = re.compile(_FAST_FORMS[2])
_FAST_AND_WRAPS = re.compile(_FAST.pattern + b"|" + _WRAP)
_ESCAPES_AND_WRAPS = re.compile(_ESCAPES.pattern + b"|" + _WRAP)
_WRAPS = re.compile(_WRAP)
_C1 = re.compile(rb"\xc2[\x80-\x9f]")
_KINDS = {OSC: "]", DCS: "P", "sos": "X", "pm": "^", "apc": "_"}


@dataclass(frozen=True)
class StringSequence:
    """A string sequence in a chunk: ``data[start:stop]``, its body ``data[body:end]``.

    ``kind`` is the introducer's final character: ``]`` OSC, ``P`` DCS, ``X``
    SOS, ``^`` PM, ``_`` APC. The body is everything between the introducer
    and the terminator (a DCS's header included); ``stop`` is ``end`` when an
    ESC or a C1 control ended the string (it belongs to the next token), else
    after the terminator.
    """

    start: int
    body: int
    end: int
    stop: int
    kind: str


class Scan:
    """What a chunk holds: its text, the byte spans that are not text, its string sequences.

    Read by the fast road when it can (then the spans and strings are only
    worked out if asked for), else by the tokenizer.
    """

    def __init__(self, data: bytes, wraps: bool = True, fast: bool = True) -> None:
        self._data = data
        self._removed: list[tuple[int, int]] | None = None
        self._strings: list[StringSequence] | None = None
        self._grammar: re.Pattern[bytes] | None = None
        if fast and _C1.search(data) is None:
            # With ESC the only control, a literal search finds each match's start.
            only_esc = not data.translate(None, _PLAIN_BYTES).strip(b"\x1b")
            grammar = _ESCAPES if only_esc else _FAST
            if wraps and b" \r" in data:
                grammar = _ESCAPES_AND_WRAPS if only_esc else _FAST_AND_WRAPS
            text = grammar.sub(b"", data)
            if b"\x1b" not in text:  # every ESC began one of the fast forms
                self._grammar = grammar
                self.text = text
                return
        self._removed, self._strings = _tokenized(data, wraps)
        self.text = _without(data, self._removed)

    @property
    def removed(self) -> list[tuple[int, int]]:
        """``(start, end)`` byte spans that draw nothing, in order, not overlapping."""
        if self._removed is None:
            assert self._grammar is not None
            self._removed = [m.span() for m in self._grammar.finditer(self._data)]
        return self._removed

    @property
    def strings(self) -> list[StringSequence]:
        """The string sequences, in order."""
        if self._strings is None:
            self._strings = []
            if b"\x1b]" in self._data:  # on the fast road, only an OSC can be one
                for m in _FAST_OSC.finditer(self._data):
                    start, end = m.span()
                    body_end = end - (1 if self._data[end - 1] == 7 else 2)
                    self._strings.append(StringSequence(start, start + 2, body_end, end, "]"))
        return self._strings

    def __repr__(self) -> str:
        return f"Scan(removed={self.removed!r}, strings={self.strings!r})"


def scan(data: bytes, wraps: bool = True, fast: bool = True) -> Scan:
    """Read ``data`` (cut at :func:`unfinished` first) by the tokenizer's rules.

    ``wraps`` also removes readline's `` \\r`` at the margin. ``fast=False``
    reads it by the tokenizer even where the fast road could: the same
    result, slower; for proving exactly that.
    """
    return Scan(data, wraps, fast)


def _without(data: bytes, removed: list[tuple[int, int]]) -> bytes:
    """``data`` without the ``removed`` spans."""
    if not removed:
        return data
    parts: list[bytes] = []
    previous = 0
    for start, end in removed:
        parts.append(data[previous:start])
        previous = end
    parts.append(data[previous:])
    return b"".join(parts)


def _tokenized(data: bytes, wraps: bool) -> tuple[list[tuple[int, int]], list[StringSequence]]:
    """The removed spans and the string sequences of ``data``, by the tokenizer."""
    removed: list[tuple[int, int]] = []
    strings: list[StringSequence] = []
    tokenizer = Tokenizer()
    pos = 0
    for token in tokenizer.feed(data):
        raw = token.raw
        end = pos + len(raw)
        kind = token.kind
        if kind == TEXT or (kind == CONTROL and token.text in _DRAWING):
            pass
        elif kind in (ESC, CSI) and any(c in _DRAWING for c in token.controls):
            # Controls executed inside it move the cursor: they stay text.
            start = pos
            for i, byte in enumerate(raw):
                if byte in _DRAWING_BYTES:
                    if pos + i > start:
                        removed.append((start, pos + i))
                    start = pos + i + 1
            if end > start:
                removed.append((start, end))
        else:
            removed.append((pos, end))
            if kind in STRINGS:
                strings.append(_string(token, pos, end))
        pos = end
    if pos < len(data) and _SEQUENCE_START.match(data, pos):
        # An unfinished sequence (the caller should have cut it off) draws nothing; a
        # character cut short by the end of the chunk is text.
        removed.append((pos, len(data)))
    if wraps and b" \r" in data:
        removed = _with_wraps(data, removed)
    return removed, strings


def _string(token: Token, start: int, stop: int) -> StringSequence:
    """The :class:`StringSequence` of a string token at ``data[start:stop]``."""
    text = token.text
    if text[0] == "\x1b":
        # ESC, the controls or ignored bytes before the introducer (one byte each), the
        # introducer: the first printable ASCII character.
        body = start + next(i for i in range(1, len(text)) if " " <= text[i] <= "~") + 1
    else:
        body = start + 2  # a C1 introducer: two bytes in UTF-8
    end = stop - len(token.terminator.encode("utf-8", "surrogateescape"))
    return StringSequence(start, body, max(end, body), stop, _KINDS[token.kind])


def _with_wraps(data: bytes, removed: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``removed`` and readline's wraps that are not inside a removed span, in order."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(removed + [m.span() for m in _WRAPS.finditer(data)]):
        if merged and start < merged[-1][1]:
            continue  # a wrap's space in a sequence
        merged.append((start, end))
    return merged


def text_of(data: bytes, wraps: bool = True) -> bytes:
    """The text of ``data``: what :func:`scan` does not remove."""
    if not data.translate(None, _PLAIN_BYTES) and _C1.search(data) is None:
        return _WRAPS.sub(b"", data) if wraps and b" \r" in data else data
    return Scan(data, wraps).text


# Bytes that never start a sequence or a control that draws nothing.
_PLAIN_BYTES = bytes(range(0x08, 0x0E)) + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))

#: Where a token begins that the end of a chunk may leave open: ESC or a C1 introducer.
_SEQUENCE_START = re.compile(rb"\x1b|\xc2[\x90\x98\x9b\x9d\x9e\x9f]")
_STR_INTRODUCER = re.compile("[\x1b\x90\x98\x9b\x9d\x9e\x9f]")
_STRING_INTRODUCERS = {"]": OSC, "P": DCS, "X": "sos", "^": "pm", "_": "apc"}
_C1_KINDS = {"\x9b": CSI, "\x9d": OSC, "\x90": DCS, "\x98": "sos", "\x9e": "pm", "\x9f": "apc"}


def open_sequence(data: bytes) -> tuple[int, str]:
    """Where the sequence that the end of ``data`` leaves open begins, and its kind.

    ``(len(data), "")`` when there is none. A lone ``\\xc2`` at the end counts,
    with kind ``""``: it may be the first byte of a C1 control. A string
    sequence longer than the tokenizer holds (which it hands out in pieces)
    is open too, until its terminator.

    Every ESC ends or aborts the sequence before it (an ESC ``\\`` ends a
    string with it), so only a sequence that begins at the last ESC, or at a
    C1 introducer after it, can be open; unless ``data`` ends with that ESC,
    which may be the first byte of the ST ending the string before it (the
    tokenizer decides on characters: an ESC followed by only the first bytes
    of a character is the end, too): then the search begins at the ESC before.
    """
    size = len(data)
    lone = size - 1 if data.endswith(b"\xc2") else size
    last = data.rfind(b"\x1b")
    if last >= 0 and (last == size - 1 or (size - last <= 4 and _cut_short(data[last + 1 :]))):
        before = data.rfind(b"\x1b", 0, last)
        if before >= 0:
            last = before
        elif b"\xc2" in data:
            last = 0
    elif last < 0:
        if b"\xc2" not in data:
            return size, ""
        last = 0
    m = _SEQUENCE_START.search(data, last)
    if m is None:
        return lone, ""
    start = m.start()
    tokenizer = Tokenizer()
    text = tokenizer.decode(data[start:])
    pos = 0
    while True:
        found = tokenizer.next(text, pos)
        if found is None or found[0].partial:
            at = start + len(text[:pos].encode("utf-8", "surrogateescape"))
            return at, _kind(text[pos:]) if found is None else found[0].kind
        more = _STR_INTRODUCER.search(text, found[1])
        if more is None:
            return lone, ""
        pos = more.start()


def _cut_short(data: bytes) -> bool:
    """Whether ``data`` is only the first bytes of a UTF-8 character (a decoder holds it)."""
    return codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(data) == ""


def _kind(held: str) -> str:
    """The kind of the sequence a tokenizer holds, from its first characters."""
    if held[0] != "\x1b":
        return _C1_KINDS[held[0]]
    for char in held[1:]:
        if char in _STRING_INTRODUCERS:
            return _STRING_INTRODUCERS[char]
        if char == "[":
            return CSI
        if not (char < "\x20" or char == "\x7f" or "\udc80" <= char <= "\udcff"):
            break
    return ESC


def unfinished(data: bytes) -> int:
    """Where a sequence that the end of ``data`` cuts short begins (``len(data)`` if none).

    A lone ``\\xc2`` at the end counts: it may be the first byte of a C1 control.
    """
    return open_sequence(data)[0]


# Sequences that put the cursor on another row: line boundaries for private-key blocks.
_MOVES = re.compile(
    rb"(?:\x1b\[|\xc2\x9b)[\x30-\x3f]*[ABEFHdf]\Z|\x1b[DEM]\Z|\xc2[\x84\x85\x8d]\Z|\x1bc\Z"
)


class TextMap:
    """Maps positions in the text of ``raw`` (what :func:`scan` leaves) back to its bytes."""

    def __init__(self, raw: bytes, found: Scan, moves: bool = False) -> None:
        self.moves: list[int] = []
        """With ``moves``: the text positions of the removed sequences that put the cursor
        on another row (line boundaries for private-key blocks)."""
        self.raw_starts: list[int] = []
        self.text_starts: list[int] = []
        self.text_len = 0
        self.raw_len = len(raw)
        previous = 0
        for start, end in found.removed:
            if start > previous:
                self.raw_starts.append(previous)
                self.text_starts.append(self.text_len)
                self.text_len += start - previous
            previous = end
            if moves and _MOVES.search(raw, start, end) is not None:
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
