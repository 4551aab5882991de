"""The fast path: a run of one-cell text, CR, LF, SGR and EL applied at once.

That is what scrolling output (``cat``, logs, builds) is made of, and most of it
scrolls off before anyone can see it. :func:`draw_run` splits the run into
lines and follows the cursor along virtual rows (row ``v`` of the run ends on
screen row ``v - scrolled``): the rows still on screen at the end are written,
the screen is scrolled once by the total, and the rows that scrolled off go to
the scrollback without being drawn (as their writes, built when read). The
middle of a long run (lines that start at column 0 on rows the run scrolled
in, and scroll off again) is not followed line by line at all: a few string
operations count the rows it takes and apply its SGRs to the pen, and the
scrollback gets it as a :class:`~relay.terminal.scrollback.Block` that replays
the text on a scratch screen when read.

Only called while :meth:`TerminalScreen.fast_ready`; the result is cell for
cell, cursor, pen, REP state, scrollback and dirty rows what the
character-by-character path gives (tests/relay/terminal/test_terminal_properties.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from relay.terminal.cells import Cell, Line, PenCells, erased_with, wcwidth
from relay.terminal.modes import LNM
from relay.terminal.scrollback import Block

if TYPE_CHECKING:
    from relay.terminal.screen import TerminalScreen

#: A run's writes to one row: (column, text, the pen's cells); no text is an EL.
Writes = list[tuple[int, str, PenCells]]


def _narrow(blocks: tuple[tuple[int, int], ...]) -> str:
    """A regex class body of the characters in ``blocks`` that take exactly one cell.

    Latin, Greek, Cyrillic, punctuation, arrows and box drawing: what logs,
    ``ls``, ``tree`` and ``systemctl`` print besides ASCII. The reference path
    draws them as it draws ASCII (one cell each, nothing to combine), so the
    fast path may too; wide and zero-width ones are left to the reference.
    """
    spans: list[str] = []
    for first, last in blocks:
        start = None
        for code in range(first, last + 2):
            if code <= last and wcwidth(chr(code)) == 1:
                start = code if start is None else start
            elif start is not None:
                spans.append(re.escape(chr(start)) + "-" + re.escape(chr(code - 1)))
                start = None
    return "".join(spans)


_TEXT_1 = "\x20-\x7e" + _narrow(((0xA0, 0x52F), (0x2010, 0x205E), (0x2190, 0x25FF)))
#: What the fast path takes: whole tokens only (tests/relay/terminal/test_terminal_parser.py).
RUN = re.compile(rf"(?:[{_TEXT_1}\r\n]+|\x1b\[[0-9;:]*m|\x1b\[0?K)+")
#: One token of a run. Its kind is the group that matched, never a look at its
#: characters: text may end in any CSI final byte (``OK``, ``BACK``, ``200 m``).
_RUN_TOKEN = re.compile(
    rf"(?P<text>[{_TEXT_1}]+)|(?P<cr>\r)|\x1b\[(?P<sgr>[0-9;:]*)m|(?P<el>\x1b\[0?K)"
)
#: An SGR, its parameters the group (runs and shell output: :mod:`relay.terminal.skim`).
SGR_PARAMS = re.compile(r"\x1b\[([0-9;:]*)m")
#: One-cell text, as :func:`draw_run` and the model's fast path draw it.
ONE_CELL = re.compile(f"[{_TEXT_1}]+")
#: Where an OSC's body stops: its terminator (BEL, C1 ST) or a control that is not.
_STRING_END = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def sequence_end(piece: str, following: str) -> int:
    """Where the sequence at the start of ``piece`` (what followed an ESC) ends; 0 if none.

    A sequence in the form :data:`relay.terminal.parser.SIMPLE` matches whole (CSI,
    ESC, an OSC ended by BEL, C1 ST or ESC \\); anything else (a DCS, a sequence
    cut short or malformed) is 0, for the tokenizer's state machine. ``following``
    is the piece after the next ESC: an OSC ended by ESC \\ ends in it, and the
    result is then past ``piece``'s end (``len(piece) + 2``).
    """
    m = len(piece)
    if m == 0:
        return 0
    c = ord(piece[0])  # (ord of an index: mypyc reads the character as an int)
    i = 1
    if c == 0x5B:  # [
        if i < m and 0x3C <= ord(piece[i]) <= 0x3F:  # a private marker
            i += 1
        while i < m and 0x30 <= ord(piece[i]) <= 0x3B:  # parameters
            i += 1
        while i < m and 0x20 <= ord(piece[i]) <= 0x2F:  # intermediates
            i += 1
        return i + 1 if i < m and 0x40 <= ord(piece[i]) <= 0x7E else 0
    if c == 0x5D:  # ]
        stop = _STRING_END.search(piece, 1)
        if stop is None:
            return m + 2 if following[:1] == "\\" else 0
        return stop.end() if stop.group() in ("\x07", "\x9c") else 0
    if c in (0x50, 0x58, 0x5E, 0x5F):  # P X ^ _
        return 0
    i = 0
    while i < m and 0x20 <= ord(piece[i]) <= 0x2F:
        i += 1
    return i + 1 if i < m and 0x30 <= ord(piece[i]) <= 0x7E else 0


def cup(piece: str, end: int) -> tuple[int, int]:
    """A CUP's parameters as the parser reads them (the first two, no sub-parameters;
    empty is 0, past four digits 9999), from ``piece[:end]``, its text after the ESC
    (``[12;1H``). Read by character code: a repaint moves a few dozen times a frame,
    and slicing and hashing the text to look it up cost more than reading it.
    """
    value = digits = 0
    sub = False
    for i in range(1, end - 1):
        code = ord(piece[i])
        if code == 0x3B:  # ; (the line ends: the column follows)
            return 9999 if digits > 4 else value, _column(piece, i + 1, end - 1)
        if code == 0x3A:  # : (a sub-parameter: ignored)
            sub = True
        elif not sub:
            value = value * 10 + code - 0x30
            digits += 1
    return (9999 if digits > 4 else value), 0


def _column(piece: str, start: int, stop: int) -> int:
    """The digits of ``piece[start:stop]`` up to a ``;`` or ``:``, as :func:`cup` reads."""
    value = digits = 0
    for i in range(start, stop):
        code = ord(piece[i])
        if code == 0x3B or code == 0x3A:
            break
        value = value * 10 + code - 0x30
        digits += 1
    return 9999 if digits > 4 else value


#: Texts a pen remembers having written once (``PenCells.seen``), until the next.
SEEN_MAX = 1024
#: Cells of whole texts a screen's pens keep (``PenCells.runs``): ~128 KiB of references.
RUN_CELLS_MAX = 16_384


def write_cells(
    screen: TerminalScreen, cells: PenCells, text: str, row: Line, x: int, ascii: bool
) -> None:
    """Write the cells ``cells`` gives ``text`` (one-cell characters, ``ascii`` or not)
    into ``row`` from column ``x``; keep them if the pen wrote that text before.

    Repaints and prompts write the same texts with the same pens again and again
    (a ``top`` heading, a prompt, ``ls`` names): copying kept cells into a row
    costs a fifth of building them. Texts seen once (a clock, a PID, a counter:
    most of a repaint's new texts never come again) are only remembered, not
    kept. At most :data:`RUN_CELLS_MAX` cells are kept per screen; past that all
    are forgotten. (The caller looked in ``cells.runs`` first.) ASCII goes from
    the pen's table by code straight into the row: a loop over ``ord`` compiles
    to a few instructions a character, where a dict lookup per character, or a
    list built and then copied, costs several times that.
    """
    end = x + len(text)
    if ascii:
        table = cells.ascii
        for i in range(len(text)):
            code = ord(text[i])
            cell = table[code]
            if cell is None:
                cell = table[code] = cells.by_char[chr(code)]
            row[x + i] = cell
    else:
        row[x:end] = map(cells.by_char.__getitem__, text)
    seen = cells.seen
    if text not in seen:  # (its hash is computed already: the caller looked it up)
        if len(seen) >= SEEN_MAX:
            seen.clear()
        seen.add(text)
        return
    seq = row[x:end]
    screen.run_cells += len(seq)
    if screen.run_cells > RUN_CELLS_MAX:
        for cache in screen.pen_caches():
            cache.runs.clear()
        screen.run_cells = len(seq)
    cells.runs[text] = seq


def _ends_a_wrap(stretch: str, cols: int) -> bool:
    """Whether an EL in ``stretch`` (text from column 0) meets the pending-wrap state."""
    column = 0
    for text in stretch.split("\x1b[K")[:-1]:
        column += len(text)
        if column and column % cols == 0:
            return True
    return False


def draw_run(screen: TerminalScreen, text: str, skip: bool = True) -> None:
    """Apply ``text`` (a match of :data:`RUN`) to ``screen`` as the parser would.

    ``skip``: the middle of a long run may be skipped (not when replaying it).
    """
    cols, rows = screen.columns, screen.lines
    cursor = screen.cursor
    lnm = LNM in screen.mode
    keep = bool(screen.scrollback) and not screen.alternate
    lines = text.split("\n")
    last = len(lines) - 1
    x, v = cursor.x, cursor.y
    cells = screen.pen_cells()
    # virtual row -> (the blank it was scrolled in with, or None for a row
    # already on screen; its writes (x, text, cells) in order)
    touched: dict[int, tuple[Cell | None, Writes]] = {v: (None, [])}
    writes = touched[v][1]
    printed = False  # whether the last token of the run was text (REP, joining)
    blocks: list[tuple[int, Block, int]] = []  # (first virtual row, skipped lines, rows)

    def advance() -> None:
        nonlocal v, writes
        v += 1
        if v >= rows:  # scrolls: the new row is erased with the pen's colours (bce)
            if not keep:  # and that row can no longer be on screen
                touched.pop(v - rows, None)
            writes = []
            touched[v] = (erased_with(cursor.attrs), writes)
        else:
            writes = touched.setdefault(v, (None, []))[1]

    def put(seg: str) -> None:
        nonlocal x
        n, p = len(seg), 0
        while p < n:
            if x >= cols:  # pending wrap
                x = 0
                advance()
            take = min(n - p, cols - x)
            writes.append((x, seg if take == n else seg[p : p + take], cells))
            x += take
            p += take

    i = 0
    while i <= last:
        line = lines[i]
        # (without a scrollback, rows from before the run that scroll off vanish)
        if skip and x == 0 and (v >= rows or not keep) and last - i > rows + 2:
            skipped = _skip_lines(screen, text, lines, i, last - rows, lnm)
            if skipped is not None:
                end, down, block = skipped
                if keep and block is not None:
                    blocks.append((v, block, down))
                v += down
                i = end
                cells = screen.pen_cells()
                writes = []
                touched[v] = (erased_with(cursor.attrs), writes)
                continue
        if "\x1b" not in line and "\r" not in line[:-1]:
            if line[-1:] == "\r":
                if len(line) > 1:
                    put(line[:-1])
                x = 0
                printed = False
            elif line:
                put(line)
                printed = True
        else:
            for m in _RUN_TOKEN.finditer(line):
                kind = m.lastgroup
                if kind == "text":
                    put(m.group())
                    printed = True
                    continue
                printed = False
                if kind == "cr":
                    x = 0
                elif kind == "sgr":
                    screen.sgr(m.group("sgr"))
                    cells = screen.pen_cells()
                else:  # EL 0 ends a pending wrap, as erase_in_line
                    x = min(x, cols - 1)
                    writes.append((x, "", cells))
        if i < last:  # the line feed
            if x >= cols:
                x = cols - 1
            advance()
            if lnm:
                x = 0
            printed = False
        i += 1

    screen.rep_width = 1 if printed else 0
    _commit(screen, touched, blocks, v, x, keep)


def _skip_lines(
    screen: TerminalScreen, text: str, lines: list[str], first: int, end: int, lnm: bool
) -> tuple[int, int, Block | None] | None:
    """Skip lines ``first`` .. ``end - 1`` of a run, which scroll off without a trace.

    The caller guarantees they start on a row the run scrolled in and scroll
    off again (``end`` is a screenful and more before the last line). They can
    be skipped if each starts at column 0 (the cursor is there at ``first``,
    and every line ends with CR, or LNM is set): then the rows they take follow
    from the lengths of the stretches between CRs, and all else they leave is
    the pen (their SGRs are applied). Returns ``end``, how many rows they took
    and a :class:`Block` that draws them, or None when they must be followed
    one by one.
    """
    start = sum(map(len, lines[:first])) + first
    stop = start + sum(map(len, lines[first:end])) + end - first
    middle = text[start:stop]
    stripped = middle
    params: list[str] = []
    cols = screen.columns
    if "\x1b" in stripped:
        params = SGR_PARAMS.findall(middle, reset_at(middle))
        stripped = SGR_PARAMS.sub("", stripped)
        if "\x1b" in stripped:  # ELs: nothing to keep, unless one ends a pending wrap
            stripped = stripped.replace("\x1b[0K", "\x1b[K")
            for stretch in stripped.replace("\r", "\n").split("\n"):
                if "\x1b" in stretch and _ends_a_wrap(stretch, cols):
                    return None
            stripped = stripped.replace("\x1b[K", "")
    if not lnm and stripped.count("\n") != stripped.count("\r\n"):
        return None
    lengths = list(map(len, stripped.replace("\r", "\n").split("\n")))
    wraps = 0
    if max(lengths) > cols:  # a stretch of n characters from column 0 wraps (n-1)//cols times
        wraps = sum([(n - 1) // cols for n in lengths if n > cols])
    down = end - first + wraps
    pen = screen.cursor.attrs
    block = None
    if screen.scrollback and not screen.alternate:

        def drawn() -> list[Line]:
            return _replay(pen, middle, cols, down, lnm)

        block = Block(drawn)
    sgr = screen.sgr
    for p in params:
        sgr(p)
    return end, down, block


def reset_at(text: str) -> int:
    """Where the last SGR in ``text`` that sets every attribute starts (0: none does).

    ``0``, ``00`` or nothing before the first ``;`` sets every attribute, so the
    pen after ``text`` follows from the SGRs from there on (a colon form, ``0:1``,
    is not a reset). Logs reset after each coloured word: most SGRs of a skipped
    stretch need not be read. ``text`` holds whole CSI sequences only.
    """
    i = len(text)
    while True:
        i = text.rfind("\x1b[", 0, i)
        if i < 0:
            return 0
        j = i + 2
        while ord(text[j]) in _PARAMETERS:
            j += 1
        if text[j] == "m":
            first = text[i + 2 : j].partition(";")[0]
            if len(first) <= 4 and not first.strip("0"):
                return i


_PARAMETERS = frozenset(b"0123456789;:")


def _replay(pen: Cell, text: str, cols: int, count: int, lnm: bool) -> list[Line]:
    """The ``count`` rows ``text`` draws from column 0 of a row scrolled in with ``pen``."""
    from relay.terminal.screen import TerminalScreen  # (that module imports this one)

    scratch = TerminalScreen(cols, 1, count + 1)
    scratch.cursor.attrs = pen
    if lnm:
        scratch.mode.add(LNM)
    draw_run(scratch, "\n" + text, skip=False)  # the first LF scrolls a row in, as here
    history = scratch.history
    assert len(history) == count + 1, (len(history), count)
    return [history.row(i) for i in range(1, count + 1)]


def _commit(
    screen: TerminalScreen,
    touched: dict[int, tuple[Cell | None, Writes]],
    blocks: list[tuple[int, Block, int]],
    v: int,
    x: int,
    keep: bool,
) -> None:
    """Scroll once by what the run scrolled, then write the rows still on screen.

    With ``keep``, what scrolled off goes to the scrollback in order: rows that
    were on screen before the run (with the run's writes), rows the run
    scrolled in and out (built when read), and the skipped blocks.
    """
    rows, cols = screen.lines, screen.columns
    buf = screen.buffer
    dirty = screen.dirty
    scrolled = v - rows + 1 if v >= rows else 0
    if keep and scrolled:
        history = screen.history
        first = max(0, scrolled - history.maxlen)
        history.dropped += first  # lines that would only pass through: counted, never kept
        tv, b = first, 0
        while tv < scrolled:
            while b < len(blocks) and blocks[b][0] + blocks[b][2] <= tv:
                b += 1  # (blocks come in order)
            if b < len(blocks) and blocks[b][0] <= tv:
                start, block, count = blocks[b]
                history.extend_block(block, tv - start, count)
                tv = start + count
                continue
            blank, writes = touched.get(tv, (None, []))
            if blank is not None:
                history.append(_build_row(blank, writes, cols))
            else:  # a row that was on screen before the run
                row = buf[tv]
                _apply_writes(row, cols, writes)
                history.append(row)
            tv += 1
    if scrolled:
        new: list[Line | None] = [*buf[scrolled:], *[None] * min(scrolled, rows)]
        for tv, (blank, writes) in touched.items():
            y = tv - scrolled
            if y >= 0 and blank is not None:  # scrolled in: only the run's text on it
                new[y] = _build_row(blank, writes, cols)
        fallback = erased_with(screen.cursor.attrs)
        buf[:] = [[fallback] * cols if row is None else row for row in new]
        dirty.update(range(rows))
    for tv, (blank, writes) in touched.items():  # rows from before the run
        y = tv - scrolled
        if blank is None and y >= 0 and writes:
            _apply_writes(buf[y], cols, writes)
            dirty.add(y)
    screen.cursor.x = x
    screen.cursor.y = v - scrolled


def _build_row(blank: Cell, writes: Writes, cols: int) -> Line:
    """A row the run scrolled in: its blank (bce), then the run's writes."""
    row = [blank] * cols
    for x0, seg, cells in writes:
        if seg:
            row[x0 : x0 + len(seg)] = map(cells.by_char.__getitem__, seg)
        else:  # EL
            row[x0:] = [erased_with(cells.attrs)] * (cols - x0)
    return row


def _apply_writes(row: Line, cols: int, writes: Writes) -> None:
    """A run's writes to a row that was on screen before it (wide characters may be cut)."""
    for x0, seg, cells in writes:
        if not seg:  # EL
            blank = erased_with(cells.attrs)
            if x0 and row[x0].data == "":
                row[x0 - 1] = blank
            row[x0:] = [blank] * (cols - x0)
            continue
        stop = x0 + len(seg)
        if x0 and row[x0].data == "":
            row[x0 - 1] = cells.by_char[" "]
        if stop < cols and row[stop].data == "":
            row[stop] = cells.by_char[" "]
        row[x0:stop] = map(cells.by_char.__getitem__, seg)
