"""Skimming: whole lines of shell output that scroll off unseen, kept undrawn.

A shell session (prompts with a title and bracketed-paste toggles, commands
echoed with corrections, ``ls`` with tabs, CJK and emoji file names, progress
bars redrawn with CR) is not the plain run :mod:`relay.terminal.fastpath`
takes, yet most of it also scrolls off before anyone can look. When output
of the kind :data:`SHELL_RUN` matches holds enough whole lines, each
provably drawn on one row of its own, the model draws none but the last
screenful: the lines before go to the scrollback as a
:class:`~relay.terminal.scrollback.Block` that replays their text through
the model on a scratch screen when first read, the titles and modes they set
are applied in order, and the pen follows their SGRs.

A line can be skimmed when it starts at column 0 on a row the line feed before
it scrolled in (blank in that pen's background), ends with CR LF, and no stretch
of it between CRs can reach the last column: its printable characters
are counted as two cells unless they surely take one, tabs to the next
default stop. Then where each line ends, and what it
leaves behind, does not depend on its text. The result is, cell for cell, what
the fast path and the reference path draw (tests/relay/terminal/test_terminal_skim.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from relay.terminal.cells import Cell, Line, erased_with, wcwidth
from relay.terminal.fastpath import SGR_PARAMS, reset_at
from relay.terminal.scrollback import Block

if TYPE_CHECKING:
    from relay.terminal.screen import TerminalScreen

#: What a shell prints besides full-screen programs: text (no C0 control but BS,
#: HT, LF and CR; no C1; no byte that was not UTF-8), SGR, EL 0, bracketed-paste
#: toggles and OSC strings (titles, the shell's own marks). Whole sequences only.
SHELL_RUN = re.compile(
    r"(?:[^\x00-\x07\x0b\x0c\x0e-\x1f\x7f-\x9f\udc80-\udcff]+"
    r"|\x1b\[[0-9;:]*m|\x1b\[0?K|\x1b\[\?2004[hl]"
    r"|\x1b\][0-9]{1,4};[^\x00-\x1f\x7f-\x9f]*(?:\x07|\x1b\\))+"
)


def shell_run_end(text: str) -> int:
    """Where the longest start of ``text`` that :data:`SHELL_RUN` matches ends (greedy:
    ``fullmatch`` would backtrack for ever)."""
    run = SHELL_RUN.match(text)
    return 0 if run is None else run.end()


#: The start of one of those sequences cut by the end of a feed (held for the next).
UNFINISHED = re.compile(
    r"\x1b(?:\[[0-9;:]{0,64}|\[\?[0-9]{0,4}|\][0-9]{0,4}(?:;[^\x00-\x1f\x7f-\x9f]{0,256}\x1b?)?)?"
)
_PASTE = 2004

#: Lines in a row a skim needs, in screenfuls: fewer are drawn as they come (a
#: skim draws its last screenful anyway).
MIN_SCREENS = 2

#: Draws decoded text on a fresh model of (columns, rows, scrollback) with a pen,
#: the cursor on the bottom row of a row blank in that pen's background; returns
#: the screen it drew on (:meth:`relay.terminal.model.TerminalModel.scratch`).
Scratch = Callable[[int, int, int, Cell, str], "TerminalScreen"]


def ready(screen: TerminalScreen) -> bool:
    """Whether lines can be skimmed on ``screen`` now: the fast path's conditions, the
    main screen, the default tab stops, the cursor at column 0 of the bottom row, and
    that row blank in the pen's background, as a line feed scrolls it in."""
    cursor = screen.cursor
    rows, cols = screen.lines, screen.columns
    if cursor.x or cursor.y != rows - 1 or screen.alternate or not screen.fast_ready():
        return False
    if len(screen.tabstops) != (cols - 1) // 8 or screen.tabstops != set(range(8, cols, 8)):
        return False
    return screen.buffer[rows - 1].count(erased_with(cursor.attrs)) == cols


#: The cells counted for each character from U+1100 on, by blocks of 256 (filled as
#: met): 1 where ``wcwidth`` says one, else 2 (a lookup per character was half the cost).
_PAGES: list[bytes | None] = [None] * (0x110000 >> 8)


def _page(block: int) -> bytes:
    first = block << 8
    return bytes(1 if wcwidth(chr(first + i)) == 1 else 2 for i in range(256))


def skimmable(text: str, pos: int, cols: int) -> tuple[int, int]:
    """How many whole lines of ``text`` (a shell run) from ``pos`` may be skimmed, and
    where they end: up to the first line that may not.

    A line may if it ends with CR (sequences aside) and, counting every
    character as two cells unless it surely takes one (below U+1100, or one cell
    by ``wcwidth``: █, ✓) and tabs to the next default stop, no stretch of it
    from a CR reaches the last column. Backspaces count nothing: the count
    stays at or above the cursor's column. (A loop over ``ord``: compiled, a few
    instructions a character.)
    """
    count = 0
    end = pos
    n = len(text)
    x = 0
    after_cr = False
    i = pos
    while i < n:
        code = ord(text[i])
        if code == 0x1B:  # a whole SGR, EL, mode or OSC (a shell run has no other): skip it
            i += 1
            if i < n and ord(text[i]) == 0x5B:  # [
                i += 1
                while i < n and not 0x40 <= ord(text[i]) <= 0x7E:
                    i += 1
            else:  # ] ... BEL or ESC \
                while i < n and ord(text[i]) not in (0x07, 0x1B):
                    i += 1
                if i < n and ord(text[i]) == 0x1B:
                    i += 1
            i += 1
            continue
        if code == 0x0A:
            if not after_cr:
                break
            count += 1
            end = i + 1
        elif code == 0x0D:
            x = 0
            after_cr = True
        else:
            after_cr = False
            if code == 0x09:
                x = (x // 8 + 1) * 8
            elif code == 0x08:
                pass
            elif code < 0x1100:
                x += 1
            else:
                page = _PAGES[code >> 8]
                if page is None:
                    page = _PAGES[code >> 8] = _page(code >> 8)
                x += page[code & 0xFF]
            if x >= cols:
                break
        i += 1
    return count, end


def skim(
    screen: TerminalScreen,
    text: str,
    start: int,
    end: int,
    count: int,
    osc: Callable[[str], None],
    scratch: Scratch,
) -> int:
    """Skim all but the last ``rows - 1`` of the ``count`` lines ``text[start:end]``
    (see :func:`skimmable`) on ``screen``, :func:`ready` given; returns where the
    rest starts.

    As those lines would: the rows above the cursor, then the skimmed lines
    (undrawn, a :class:`Block`) go to the scrollback, the pen follows their SGRs,
    the titles and bracketed paste are as they left them, and the cursor is at
    column 0 of a fresh bottom row. The caller draws the rest (one row each) with
    the scrollback off: the rows they scroll off are the ones kept here.
    """
    rows, cols = screen.lines, screen.columns
    tail = end
    for _ in range(rows - 1):
        tail = text.rfind("\n", start, tail - 1) + 1
    skipped = count - (rows - 1)
    screen.skimmed += skipped
    head = text[start:tail]
    pen = screen.cursor.attrs
    if screen.scrollback:
        history = screen.history
        for y in range(rows - 1):
            history.append(screen.buffer[y])

        def drawn() -> list[Line]:
            return _replay(scratch, pen, head, cols, skipped)

        history.extend_block(Block(drawn), 0, skipped)
    for params in SGR_PARAMS.findall(head, reset_at(head)):
        screen.sgr(params)
    for body in _last_titles(head):
        osc(body)
    on, off = head.rfind("\x1b[?2004h"), head.rfind("\x1b[?2004l")
    if on > off:
        screen.set_mode(_PASTE, private=True)
    elif off > on:
        screen.reset_mode(_PASTE, private=True)
    screen.buffer[rows - 1] = [erased_with(screen.cursor.attrs)] * cols
    screen.dirty.update(range(rows))
    return tail


def _last_titles(head: str) -> list[str]:
    """The bodies of the last OSCs in ``head`` that set the title and the icon name (0,
    1, 2), in order: they decide both (other OSCs change nothing on the screen)."""
    bodies: list[str] = []
    title = icon = False
    i = len(head)
    while not (title and icon):
        i = head.rfind("\x1b]", 0, i)
        if i < 0:
            break
        stop = head.find("\x07", i)
        escape = head.find("\x1b", i + 2)
        if stop < 0 or 0 <= escape < stop:
            stop = escape
        body = head[i + 2 : stop]
        code = body.partition(";")[0]
        if (code in ("0", "2") and not title) or (code in ("0", "1") and not icon):
            bodies.append(body)
            title = title or code in ("0", "2")
            icon = icon or code in ("0", "1")
    bodies.reverse()
    return bodies


def _replay(scratch: Scratch, pen: Cell, text: str, cols: int, count: int) -> list[Line]:
    """The ``count`` rows ``text`` (whole skimmed lines) draws from a row blank in ``pen``."""
    drew = scratch(cols, 1, count + 1, pen, "\n" + text)  # the LF scrolls that row in
    history = drew.history
    assert len(history) == count + 1, (len(history), count)
    return [history.row(i) for i in range(1, count + 1)]
