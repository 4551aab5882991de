"""The second line of defence: what the viewers' screen shows after masking.

The streaming masker (:mod:`relay.masking.stream`) reads the byte stream in
order. Programs do not always draw in order: bash wraps a long command line
with `` \\r`` and goes on drawing, readline redraws the rest of a line when a
key is typed in the middle of it, a backspace lets the next character
overwrite the last one, a full-screen program draws a key's lines bottom-up
or a token cell by cell. The screen then shows a secret that never was one
piece of the byte stream. So after masking, the relay renders the masked
stream (the same :class:`relay.terminal.TerminalModel` late joiners get their
snapshots from, brought up to date at once for this), looks for secrets on the
screen, and when it finds one, sends a *correction* right behind the frame:
bytes that overwrite those cells with ``*`` in their own colours and put the
cursor and pen back where they were. Viewers, snapshots and the recording get
the frame and its correction together, so no rendering of the masked stream
between two frames shows it.

The screen is read as text row by row; a row whose last cell is not blank
continues on the next one (a wrapped line). Stars already on the screen are
read both as stars and as secret characters, so that the rest of a secret
whose first part was masked (``PGPASSWORD=**********rse-battery-staple``)
is found too.

Checking costs a walk over the screen's cells, so it is skipped when it
cannot find anything new: when the frame only appends text (text, line
feeds, colours, erase-to-the-right) to a row that a line feed started and
only appending filled since, with nothing after the cursor. Then the screen
shows what the byte stream said, in order, and the streaming masker has seen
it, and the model is left to be fed in the background as before. Floods of
log lines take that path; after anything else (a prompt that
sets a mode, a cursor move, a lone carriage return) every frame is checked
until a line feed starts a fresh row again. A frame may end between the
carriage return and the line feed of a CRLF (frames are cut where socket
reads end): that carriage return passes, and the next frame is checked
unless it begins with the line feed. The carriage return alone draws
nothing; what the next frame draws over the row is checked.

Whether a frame only appends is one pass of a compiled scanner
(:data:`relay.masking.prefilter.AVAILABLE`; Python's own passes otherwise,
:func:`appends_only_reference`, which the tests hold it to), several times
faster than the passes of ``bytes.translate`` and ``bytes.count`` it
replaced on the hot path.

What this does not do: a secret that scrolls off the screen within the frame
that drew it out of order is not on the screen to find (the scrollback is not
searched), and a program that repeats the last character (REP) right after a
correction repeats a star.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pyte import modes as mo

from relay.masking.patterns import DEFAULT_PATTERNS, SecretPattern
from relay.masking.prefilter import BlockScanner
from relay.masking.stream import Masking, OutputMasker
from relay.terminal import BLANK, TerminalModel
from relay.terminal.snapshot import _cup, _Renderer

__all__ = ["ScreenCheck", "appends_only", "appends_only_reference", "correct"]

# Bytes that only append at the cursor: printable text, tab, line feed, non-ASCII.
_APPENDING = bytes(range(0x20, 0x7F)) + b"\t\n" + bytes(range(0x80, 0x100))
# Escape sequences that do not move the cursor or reveal anything: SGR, EL 0.
_OTHER_ESCAPE = re.compile(rb"\x1b(?!\[[0-9;:]*m|\[0?K)")
_C1 = re.compile(rb"\xc2[\x80-\x9f]")
# What makes a frame more than appending, for the compiled scanner: a control other than
# TAB, LF, CR and ESC; CR not followed by LF; a C1 control; an escape sequence other than
# SGR and EL 0 (an ESC or CSI unterminated at the frame's end is checked apart).
_NOT_APPENDING = BlockScanner(
    (
        rb"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]",
        rb"\r[^\n]",
        rb"\xc2[\x80-\x9f]",
        rb"\x1b(?:[^\[]|\[[0-9;:]*[^0-9;:mK]|\[(?:[0-9;:]{2,}|[1-9;:])K)",
    )
)

Span = tuple[int, int, int]
"""(row, first column, end column) of cells to mask."""


class ScreenCheck:
    """Finds secrets on a model's screen and writes the bytes that mask them.

    One per masked output stream. :meth:`check` is called with each frame
    after the model was fed it; it returns the correction to send after the
    frame (fed to the model too) and the maskings done.
    """

    def __init__(self, patterns: Iterable[SecretPattern] = DEFAULT_PATTERNS) -> None:
        self.patterns = tuple(patterns)
        self._clean = True  # nothing on the screen after the cursor: appending is safe
        self._after_cr = False  # the last frame passed ended with a CR its LF may follow
        self.checks = 0  # how many frames were checked (the rest took the fast path)

    def wants(self, frame: bytes) -> bool:
        """Whether ``frame`` must be checked on the screen (else it only appends).

        A frame that does not need it leaves the model to be fed later, in
        the background (:mod:`relay.net.output`): a flood of log lines costs no
        synchronous rendering. Call it once per frame, in order: a frame
        that passes with a CR at its end has the next one begin with LF.
        """
        after_cr, self._after_cr = self._after_cr, False
        if not self._clean or (after_cr and not frame.startswith(b"\n")):
            return True
        if not appends_only(frame, trailing_cr=True):
            return True
        self._after_cr = frame.endswith(b"\r")
        return False

    def check(self, model: TerminalModel, frame: bytes) -> tuple[bytes, list[Masking]]:
        """After ``model`` was fed ``frame``: the correction for what it shows, and maskings.

        A frame that only appends (:meth:`wants`) is not checked.
        """
        if not self.wants(frame):
            return b"", []
        return self.check_now(model, frame)

    def check_now(self, model: TerminalModel, frame: bytes) -> tuple[bytes, list[Masking]]:
        """:meth:`check` for a frame :meth:`wants` already said must be checked."""
        self.checks += 1
        spans, maskings = self.find(model)
        correction = correct(model, spans) if spans else b""
        if correction:
            model.feed(correction)
        # Appending is safe again once a line feed started a fresh row, only appended
        # to since, with nothing after the cursor: the row then holds exactly the
        # byte stream's current line, which the streaming masker sees whole.
        newline = frame.rfind(b"\n")
        self._clean = (
            newline >= 0 and appends_only(frame[newline + 1 :]) and _nothing_after_cursor(model)
        )
        return correction, maskings

    def find(self, model: TerminalModel) -> tuple[list[Span], list[Masking]]:
        """The cells of ``model``'s screen that show a secret not masked yet."""
        chars: list[str] = []
        where: list[tuple[int, int] | None] = []
        for y in range(model.rows):
            cells = model.line_cells(y)
            for x, cell in enumerate(cells):
                if not cell.data:
                    continue  # the right half of a wide character
                ch = cell.data[0]
                chars.append(ch if " " <= ch <= "~" else "x")  # non-ASCII: a token character
                where.append((y, x))
            if cells[-1].data in ("", " "):
                chars.append("\n")  # a row that does not run into the next one
                where.append(None)
        text = "".join(chars)
        found, maskings = self._masked_positions(text)
        if "*" in text:  # stars read as secret characters: the rest of a half-masked secret
            more, _ = self._masked_positions(text.replace("*", "x"))
            found |= {i for i in more if text[i] != "*"}
        spans: list[Span] = []
        for i in sorted(found):
            position = where[i]
            if position is None:
                continue
            y, x = position
            width = 2 if _wide(model, y, x) else 1
            if spans and spans[-1][0] == y and spans[-1][2] == x:
                spans[-1] = (y, spans[-1][1], x + width)
            else:
                spans.append((y, x, x + width))
        return spans, maskings

    def _masked_positions(self, text: str) -> tuple[set[int], list[Masking]]:
        masker = OutputMasker(self.patterns)
        data = text.encode("ascii")
        out, maskings = masker.feed(data)
        rest, more = masker.flush(end_of_stream=True)
        out += rest
        return {i for i in range(min(len(out), len(data))) if out[i] == 42 != data[i]}, [
            *maskings,
            *more,
        ]


def appends_only(frame: bytes, trailing_cr: bool = False) -> bool:
    """Whether ``frame`` only appends: text, tabs, CRLF, line feeds, SGR and EL 0.

    With ``trailing_cr``, a CR at the very end passes too (its LF may begin
    the next frame). Same answer as :func:`appends_only_reference`, faster.
    """
    if not _NOT_APPENDING.available:
        if trailing_cr and frame.endswith(b"\r"):
            frame = frame[:-1]
        return appends_only_reference(frame)
    if _NOT_APPENDING.search(frame):
        return False
    if frame.endswith(b"\r") and not trailing_cr:
        return False
    escape = frame.rfind(b"\x1b")  # the last escape may be cut short by the frame's end
    return escape < 0 or _OTHER_ESCAPE.match(frame, escape) is None


def appends_only_reference(frame: bytes) -> bool:
    """:func:`appends_only` by Python's byte passes: what the compiled scanner must agree with."""
    rest = frame.translate(None, _APPENDING)
    if rest:
        # carriage returns only as part of CRLF; ESC only for SGR and EL 0
        if rest.replace(b"\r", b"").replace(b"\x1b", b""):
            return False
        if b"\r" in rest and rest.count(b"\r") != frame.count(b"\r\n"):
            return False
        if b"\x1b" in rest and _OTHER_ESCAPE.search(frame):
            return False
    return not (b"\xc2" in frame and _C1.search(frame))


def _wide(model: TerminalModel, y: int, x: int) -> bool:
    cells = model.line_cells(y)
    return x + 1 < len(cells) and cells[x + 1].data == "" and cells[x].data != ""


def _nothing_after_cursor(model: TerminalModel) -> bool:
    """Whether every cell after the cursor is blank (so that appending hides nothing)."""
    screen: Any = model.screen
    x, y = int(screen.cursor.x), int(screen.cursor.y)
    cells = model.line_cells(y)
    if any(cell.data not in ("", " ") for cell in cells[x:]):
        return False
    return all(
        all(cell.data in ("", " ") for cell in model.line_cells(row))
        for row in range(y + 1, model.rows)
    )


def correct(model: TerminalModel, spans: list[Span]) -> bytes:
    """Bytes that draw ``*`` over ``spans`` in their cells' colours and restore the state.

    The cursor, its pending-wrap state and the pen are put back as they
    were, with the same sequences the snapshot renderer uses. Insert mode is
    switched off around the stars, and origin mode, so that every row can be
    addressed. DECSC is not used: its one slot may hold the program's own
    saved cursor.
    """
    screen: Any = model.screen
    renderer = _Renderer(screen)
    renderer.pen = screen.cursor.attrs[1:]
    out = renderer.out
    insert = mo.IRM in screen.mode
    origin = mo.DECOM in screen.mode
    if insert:
        out.append("\x1b[4l")
    if origin:
        out.append("\x1b[?6l")
    for y, start, end in spans:
        out.append(_cup(y, start))
        x = start
        while x < end:
            cell = model.line_cells(y)[x]
            width = 2 if _wide(model, y, x) else 1
            renderer.set_pen(cell if cell.data else BLANK)
            out.append("*" * width)
            x += width
    if origin:
        out.append("\x1b[?6h")
    x, y, cols = int(screen.cursor.x), int(screen.cursor.y), int(screen.columns)
    last = cols - 2 if cols > 1 and model.line_cells(y)[cols - 1].data == "" else cols - 1
    if x >= cols and any(row == y and a <= last < b for row, a, b in spans):
        # Pending wrap over a masked last cell: rewriting that cell, as a star, is
        # what puts a terminal back in that state.
        top = screen.margins.top if origin and screen.margins is not None else 0
        out.append(_cup(max(0, y - top), last))
        renderer.set_pen(model.line_cells(y)[last])
        out.append("*" * (cols - last))
    else:
        renderer.move(screen.cursor.x, screen.cursor.y, screen.buffer, origin)
    renderer.set_pen(screen.cursor.attrs)
    if insert:
        out.append("\x1b[4h")
    return "".join(out).encode()
