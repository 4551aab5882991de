"""Escape sequences in the output: where they end, and text positions mapped back to bytes."""

from __future__ import annotations

import re
from collections.abc import Iterable

_ESC_MAX = 4096
"""An unfinished escape sequence longer than this is released as it is."""

# --------------------------------------------------------------------------
# Escape sequences

# ECMA-48: CSI, OSC (ended by BEL or ST), DCS/SOS/PM/APC strings (ended by ST),
# and two- or three-byte escapes (ESC 7, ESC ( B ...).
_ESC = re.compile(
    rb"\x1b(?:\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
    rb"|\][^\x07\x1b]*(?:\x07|\x1b\\)"
    rb"|[PX^_][^\x1b]*\x1b\\"
    rb"|[\x20-\x2f]*[\x30-\x7e])"
)
# The escape sequence that begins at the last ESC, when the end of the data cuts it short.
_ESC_TAIL = re.compile(
    rb"\x1b(?:\[[\x30-\x3f]*[\x20-\x2f]*|\][^\x07\x1b]*|[PX^_][^\x1b]*|[\x20-\x2f]*)\Z"
)
_STRING_STARTS = (b"]", b"P", b"X", b"^", b"_")  # OSC, DCS, SOS, PM, APC: ended by ST (ESC \\)


def _escape_cut(data: bytes) -> int:
    """Where an unfinished escape sequence at the end of ``data`` starts (or ``len(data)``).

    Only the last ESC needs a look: an ESC ends any string sequence before it,
    so an earlier sequence can only be unfinished if the last ESC is a lone
    ESC at the very end, the first byte of the ST that will end it.
    """
    low = max(0, len(data) - _ESC_MAX)
    last = data.rfind(b"\x1b", low)
    if last < 0:
        return len(data)
    if last == len(data) - 1:
        before = data.rfind(b"\x1b", low, last)
        if before >= 0 and data[before + 1 : before + 2] in _STRING_STARTS:
            osc = data[before + 1 : before + 2] == b"]"
            if not (osc and b"\x07" in data[before:last]):
                return before
        return last
    return last if _ESC_TAIL.match(data, last) else len(data)


class _TextMap:
    """Maps positions in the text of ``raw`` (escapes removed) back to bytes of ``raw``."""

    def __init__(self, raw: bytes) -> None:
        self.raw_starts: list[int] = []
        self.text_starts: list[int] = []
        self.text_len = 0
        self.raw_len = len(raw)
        previous = 0
        for m in _ESC.finditer(raw):
            if m.start() > previous:
                self.raw_starts.append(previous)
                self.text_starts.append(self.text_len)
                self.text_len += m.start() - previous
            previous = m.end()
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
        """Byte intervals of ``raw`` holding text ``[start, end)`` (escapes skipped)."""
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
