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

from relay.terminal.cells import Cell, CellCache, Line, erased_with, num, wcwidth
from relay.terminal.modes import LNM
from relay.terminal.scrollback import Block

if TYPE_CHECKING:
    from relay.terminal.screen import TerminalScreen

#: A run's writes to one row: (column, text, the pen's cells); no text is an EL.
Writes = list[tuple[int, str, CellCache]]


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
_RUN_SGR = re.compile(r"\x1b\[([0-9;:]*)m")
#: A run of one-cell text, SGR, EL, CUP, DEC private modes, titles (OSC ended by BEL or
#: ST), CR, BS, HT and LF (whole tokens only), up to 32 stretches and line feeds: a log
#: flood after a prompt is soon seen by ``draw_run``.
_ESCAPES = r"\x1b\[[0-9;:]*[mHK]|\x1b\[\?[0-9;]*[hl]|\x1b\][ -~]{0,1024}(?:\x07|\x1b\\)"
SEGMENT = (
    rf"(?:(?:[{_TEXT_1}]+|\x1b\[(?:[0-9;:]*[mH]|0?K|\?[0-9;]*[hl])"
    r"|\x1b\][ -~]{0,1024}(?:\x07|\x1b\\)|[\r\x08\t])+|\n){1,32}"
)
#: A segment cut into [text, sequence or control, text, ...]: one group, so that the
#: split makes one string per token (five groups made it twice as slow). Every
#: alternative starts with one literal character (the controls are not a class), so
#: that ``re`` skips the text between tokens by that set of first characters instead
#: of trying each alternative at every position: 35-40% less time in the split.
_SEGMENT_SPLIT = re.compile(rf"({_ESCAPES}|\r|\x08|\t|\n)")


#: CUP sequences seen before, by their text: their (line, column) parameters. A repaint
#: moves to the same few places every frame, and reading the parameters (four
#: partitions, two ``num``) cost more than the move.
_CUP: dict[str, tuple[int, int]] = {}


def _cup(token: str) -> tuple[int, int]:
    """A CUP's parameters as the parser reads them: the first two, no sub-parameters."""
    line, _, column = token[2:-1].partition(";")
    place = (num(line.partition(":")[0]), num(column.partition(";")[0].partition(":")[0]))
    if len(token) <= 16:  # (a hostile stream's long ones are not kept)
        if len(_CUP) >= 4096:
            _CUP.clear()
        _CUP[token] = place
    return place


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
        params = _RUN_SGR.findall(stripped)
        stripped = _RUN_SGR.sub("", stripped)
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
    for p in params[_last_reset(params) :]:
        sgr(p)
    return end, down, block


def _last_reset(params: list[str]) -> int:
    """Where the SGRs that decide the pen start: at the last that begins with a reset.

    ``0``, ``00`` or nothing before the first ``;`` sets every attribute, so the
    pen after it does not depend on the ones before (a colon form, ``0:1``, is
    not a reset). Logs reset after each coloured word: most SGRs of a skipped
    stretch need not be applied.
    """
    for i in range(len(params) - 1, -1, -1):
        first = params[i].partition(";")[0]
        if not first.strip("0") and len(first) <= 4:
            return i
    return 0


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
            row[x0 : x0 + len(seg)] = map(cells.__getitem__, seg)
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
            row[x0 - 1] = cells[" "]
        if stop < cols and row[stop].data == "":
            row[stop] = cells[" "]
        row[x0:stop] = map(cells.__getitem__, seg)


def draw_segment(screen: TerminalScreen, segment: str, plain: bool) -> None:
    """Apply ``segment`` (a match of :data:`SEGMENT`) as the parser would, token by token.

    What prompts, short command output and the repaints of ``top`` or ``vim``
    are made of: one call for what costs the parser one dispatch per token.
    Text that fits on the row (``plain``: no charset, no IRM) is written here,
    and so is an EL before the margin; anything else (a wrap, the pending-wrap
    state) is left to the screen's own methods, as are CUP, HT and LF. An SGR
    seen before with the same pen is one lookup (:attr:`CellCache.after`).
    """
    parts = _SEGMENT_SPLIT.split(segment)
    cursor = screen.cursor
    cols = screen.columns
    x, y = cursor.x, cursor.y
    row = screen.buffer[y]
    attrs = cursor.attrs
    cells = screen.pen_cells()
    printed = False
    last = len(parts) - 1
    i = 0
    while True:
        chars = parts[i]
        if chars:
            stop = x + len(chars)
            if plain and stop <= cols:
                if x and row[x].data == "":  # over the right half of a wide character
                    row[x - 1] = cells[" "]
                if stop < cols and row[stop].data == "":  # over its left half
                    row[stop] = cells[" "]
                row[x:stop] = map(cells.__getitem__, chars)
                screen.dirty.add(y)
                x = stop
            else:
                cursor.x = x
                screen.draw(chars)
                x, y = cursor.x, cursor.y
                row = screen.buffer[y]
            printed = True
        if i == last:
            break
        token = parts[i + 1]
        i += 2
        printed = False
        final = token[-1]
        if final == "m":
            after = cells.after.get(token)
            if after is None:
                screen.sgr(token[2:-1])
                after = screen.pen_cells()
                if len(cells.after) < 64:
                    cells.after[token] = after
            cells = after
            cursor.attrs = attrs = cells.attrs
        elif final == "K":  # (only CSI K and CSI 0 K are in a segment)
            if x < cols:
                blank = erased_with(attrs)
                if x and row[x].data == "":  # the right half of a wide character
                    row[x - 1] = blank
                row[x:] = [blank] * (cols - x)
                screen.dirty.add(y)
            else:
                cursor.x = x
                screen.erase_in_line(0)
                x = cursor.x
        elif final == "H":
            place = _CUP.get(token)
            if place is None:
                place = _cup(token)
            screen.cursor_position(place[0], place[1])
            x, y = cursor.x, cursor.y
            row = screen.buffer[y]
        elif final == "h" or final == "l":  # DEC private modes, as the parser sets them
            cursor.x = x
            modes = [num(p) for p in token[3:-1].split(";")]
            if final == "h":
                screen.set_mode(*modes, private=True)
            else:
                screen.reset_mode(*modes, private=True)
            x, y = cursor.x, cursor.y  # (DECOM homes it, 1049 switches screens, restores it)
            row = screen.buffer[y]
            plain = screen.plain_ascii()
            if cursor.attrs is not attrs:
                attrs = cursor.attrs
                cells = screen.pen_cells()
        elif token == "\r":
            x = 0
        elif token == "\t":
            cursor.x = x
            screen.tab()
            x = cursor.x
        elif token == "\n":
            cursor.x = x
            screen.linefeed()
            x, y = cursor.x, cursor.y
            row = screen.buffer[y]
        elif token == "\x08":  # BS, from the pending-wrap state counted from the last column
            x = max(0, min(x, cols - 1) - 1)
        else:  # a title (OSC, ended by BEL or ST)
            screen.osc(token[2:-1] if final == "\x07" else token[2:-2])
    cursor.x = x
    screen.rep_width = 1 if printed else 0
