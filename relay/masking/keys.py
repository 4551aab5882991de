"""Private keys however a program lays them out: ``cat -n``, ``less -N``, nano, ``grep -rn``.

A PEM or OpenSSH private key is a block: a ``-----BEGIN ... PRIVATE KEY-----``
line, lines of base64, an ``-----END ...`` line. Programs do not print it as
bare lines: ``cat -n`` and ``less -N`` put a number before each, ``grep -rn``
a file name and number, a log a timestamp, and nano or vim draw each line at a
position of the screen with cursor addressing instead of a line feed. So the
block is followed line by line, where a *line* ends at a line feed, a carriage
return or any sequence that moves the cursor to another row (CUP, VPA, CUU,
CUD, IND, NEL, RI), and what is masked in a line is its base64, never the
prefix a program added.

From the header on, a line is a *body* line if it holds a run of 16 or more
base64 characters (all of them are masked), a *header* line (``Proc-Type:``,
``DEK-Info:``, RFC 1421) or blank. The last body line of a key is short: a
line that ends in a shorter run right after body lines is masked too, and
then only the ``END`` line may follow. Any other line ends the block without
being masked: the prompt after ``cat``, nano's status bar, less's ``(END)``.
When the screen is shorter than the key, the block ends at the first such
line and its ``END`` is never seen; the key lines shown were masked.

A line is classified when it is complete: the masker holds back the last,
unfinished line of a block (bounded by :data:`LINE_MAX`), so a key line split
across frames is masked whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["KIND", "LINE_MAX", "KeyBlocks"]

KIND = "private-key"
LINE_MAX = 8192
"""A key line longer than this is classified without waiting for its end."""

_HEADER = re.compile(rb"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----")
_END = re.compile(rb"-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----")
_LONG_RUN = re.compile(rb"[A-Za-z0-9+/=]{16,}")
# A short last line: a run of base64 at the end of the line (nano may draw a '>' or
# '$' after a line it cut), with a letter or padding in it (a bare number is a line
# number or a time).
_TAIL_RUN = re.compile(
    rb"(?<![A-Za-z0-9+/=])(?=[0-9+/]*[A-Za-z=])(=?[A-Za-z0-9+/]{1,15}={0,2})[ \t>$]*\Z"
)
_FIELD = re.compile(rb"(?:^|[ \t:])[A-Za-z][A-Za-z0-9-]*:[ \t]")
_LINE_ENDS = re.compile(rb"[\r\n\x0b\x0c]")

_OFF, _BODY, _TAIL = 0, 1, 2

Span = tuple[int, int, bool]
"""(start, end, counted): text to mask, and whether it is the first span of its key."""


class KeyBlocks:
    """The private-key state of one output stream (see the module docstring)."""

    def __init__(self) -> None:
        self._state = _OFF
        self._counted = False
        self._current = 0  # where the current line begins, in the last text scanned
        self._back = 0  # ... as a distance back from the end of what was released

    @property
    def active(self) -> bool:
        """Inside a block: the masker must pass the positions of cursor moves."""
        return self._state != _OFF

    def scan(
        self, text: bytes, base: int, moves: Sequence[int], final: bool, spans: list[Span]
    ) -> int:
        """Follow blocks through ``text[base:]``; add what to mask; return where to hold back.

        ``text[:base]`` is context already released (the current line so far).
        ``moves`` are the positions in ``text`` of cursor moves to another row
        (sorted). Nothing is held back on a flush (``final``).
        """
        n = len(text)
        if self._state == _OFF:
            header = self._header(text, base, 0)
            if header < 0:
                return n
            self._enter()
            start = self._line_start(text, header, moves, 0)
        else:
            start = self._line_start(text, base, moves, max(0, base - self._back))
        breaks = sorted(
            {m.start() for m in _LINE_ENDS.finditer(text, start)} | {p for p in moves if p > start}
        )
        breaks.append(n)
        line_start = start
        for brk in breaks:
            if brk < line_start:
                continue
            if brk == n and not final and self._state != _OFF and n - line_start <= LINE_MAX:
                self._current = line_start
                if text[line_start:n].strip():
                    return line_start  # an unfinished line of a block: wait for its end
                return n
            self._line(text, line_start, brk, spans)
            if self._state == _OFF:
                header = self._header(text, base, brk)
                if header < 0:
                    return n
                self._enter()
                line_start = self._line_start(text, header, moves, brk)
                continue
            line_start = brk + 1 if brk < n and text[brk] in b"\r\n\x0b\x0c" else brk
        self._current = line_start
        return n

    def released(self, end: int) -> None:
        """The masker released ``text[:end]``: remember where the current line began."""
        self._back = max(0, end - self._current)

    @staticmethod
    def _header(text: bytes, base: int, start: int) -> int:
        """Where a header that ends after ``base`` begins, from ``start`` on (-1: none)."""
        pos = max(start, base - 100, 0)
        while True:
            m = _HEADER.search(text, pos)
            if m is None:
                return -1
            if m.end() > base:
                return m.start()
            pos = m.end()

    @staticmethod
    def _line_start(text: bytes, pos: int, moves: Sequence[int], floor: int) -> int:
        """Where the line that ``text[pos]`` is on begins (not before ``floor``)."""
        newline = max(text.rfind(c, floor, pos) for c in (b"\r", b"\n", b"\x0b", b"\x0c"))
        start = max(newline + 1, floor)
        for p in moves:
            if start <= p <= pos:
                start = p
        return start

    def _line(self, text: bytes, start: int, end: int, spans: list[Span]) -> None:
        """Classify the line ``text[start:end]`` and mask its base64 if it belongs to a key."""
        line = text[start:end]
        if not line.strip():
            return
        header = _HEADER.search(line)
        after = 0
        if header is not None:
            self._enter()
            after = header.end()
        m = _END.search(line, after)
        runs = list(_LONG_RUN.finditer(line, after, m.start() if m is not None else len(line)))
        for run in runs:
            self._mask(start + run.start(), start + run.end(), spans)
        if m is not None:
            self._state = _OFF
        elif header is not None or runs:
            self._state = _BODY
        elif self._state == _BODY and self._counted and (tail := _TAIL_RUN.search(line)):
            self._mask(start + tail.start(1), start + tail.end(1), spans)
            self._state = _TAIL
        elif not (self._state == _BODY and not self._counted and _FIELD.search(line)):
            self._state = _OFF  # not Proc-Type: / DEK-Info: before the body either

    def _enter(self) -> None:
        """A header: a new block begins (one more key to count)."""
        self._state = _BODY
        self._counted = False

    def _mask(self, start: int, end: int, spans: list[Span]) -> None:
        spans.append((start, end, not self._counted))
        self._counted = True
