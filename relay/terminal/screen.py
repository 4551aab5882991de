"""The screen: both buffers of rows of cells, the cursor, the modes, and what each control does.

:class:`TerminalScreen` is driven by :class:`relay.terminal.TerminalModel` (which
parses the output) and read by renderers through it, and by
:mod:`relay.terminal.snapshot`. It behaves as xterm.js does (the oracle of
tests/relay/terminal/test_terminal_oracle.py), except where docs/terminal.md lists a
deliberate deviation towards xterm (:data:`DEVIATIONS`).

A buffer is a list of ``lines`` rows; a row is a list of exactly ``columns``
:class:`~relay.terminal.cells.Cell` objects, shared between cells written with
the same pen (see :class:`~relay.terminal.cells.PenCells`). ``buffer`` is the
active buffer, ``inactive`` the other one (the main screen's content while
``alternate`` is true). A cursor at ``x == columns`` is in the pending-wrap
state: the last column was just written, and the next character wraps.

Runs of plain output (text, CR, LF, SGR, EL) take the fast path in
:mod:`relay.terminal.fastpath`, which must leave exactly the state this module's
methods leave (tests/relay/terminal/test_terminal_properties.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, NamedTuple

from pyte import charsets

from relay.terminal.cells import (
    BLANK,
    Cell,
    Line,
    PenCells,
    apply_sgr,
    erased_with,
    is_wide,
    printable,
    wcwidth,
)
from relay.terminal.fastpath import draw_run
from relay.terminal.modes import (
    DECAWM,
    DECCKM,
    DECOM,
    DECTCEM,
    DEFAULT_MODES,
    DEVIATIONS,
    FLAG_MODES,
    IRM,
    LNM,
    MOUSE_ENCODINGS,
    MOUSE_PROTOCOLS,
)
from relay.terminal.motion import Cursor, CursorMotion, Margins
from relay.terminal.scrollback import Scrollback

_ASCII_RUN = re.compile(r"[\x20-\x7e]+|[^\x20-\x7e]+")


class SavedCursor(NamedTuple):
    """What DECSC saves (DEC STD 070): position, pen, charsets, origin mode.

    ``x == columns`` records the pending-wrap state, as DECSC does on a VT.
    """

    x: int = 0
    y: int = 0
    attrs: Cell = BLANK
    g0: str = "B"
    g1: str = "B"
    shift: int = 0
    origin: bool = False


def blank_rows(count: int, columns: int, cell: Cell = BLANK) -> list[Line]:
    return [[cell] * columns for _ in range(count)]


class TerminalScreen(CursorMotion):
    """``columns`` x ``lines`` cells in two buffers, with a scrollback of ``scrollback`` lines."""

    def __init__(
        self,
        columns: int,
        lines: int,
        scrollback: int = 10_000,
        xtermjs: Collection[str] = (),
    ) -> None:
        self.columns = columns
        self.lines = lines
        #: How many lines :attr:`history` keeps (0: none).
        self.scrollback = max(0, scrollback)
        unknown = set(xtermjs) - DEVIATIONS
        if unknown:
            raise ValueError(f"no such deviation from xterm.js: {sorted(unknown)}")
        #: Deviations (docs/terminal.md) to give up, behaving as xterm.js does:
        #: only the oracle test asks for that.
        self.xtermjs = frozenset(xtermjs)
        #: Rows changed since the renderer last cleared this set.
        self.dirty: set[int] = set()
        self._every_row: frozenset[int] = frozenset()
        #: Calls of :meth:`draw_run` and the characters they took, and the lines
        #: :mod:`relay.terminal.skim` kept undrawn: the tests check that the fast path
        #: runs, and how often.
        self.runs = self.run_chars = self.skimmed = 0
        self.reset()

    # ------------------------------------------------------------ state

    def reset(self) -> None:
        """RIS: everything back to power-on, both buffers and the scrollback cleared."""
        self.dirty.update(range(self.lines))
        #: Lines scrolled off the top of the main screen, oldest first.
        old = getattr(self, "history", None)  # its lines are dropped, and counted
        self.history = Scrollback(self.scrollback, old.dropped + len(old) if old else 0)
        self.buffer = blank_rows(self.lines, self.columns)
        self.inactive = blank_rows(self.lines, self.columns)
        self.alternate = False
        #: The row of the main screen's cursor while the alternate screen is shown:
        #: where it was when the alternate screen came (xterm.js keeps a cursor per
        #: buffer), which decides what a resize keeps of the main screen meanwhile.
        self.main_cursor_y = 0
        self.margins: Margins | None = None
        self.mode = set(DEFAULT_MODES)
        self.title = ""
        self.icon_name = ""
        self.g0 = "B"
        self.g1 = "B"
        self.charset = 0
        self._table: str | None = None
        self.tabstops = set(range(8, self.columns, 8))
        self.cursor = Cursor()
        self.saved = [SavedCursor(), SavedCursor()]  # [main, alternate], as xterm
        self.mouse_protocol = 0
        self.mouse_encoding = 0
        self.keypad_app = False
        self.cursor_style = 0
        #: Width of what the previous token printed, 0 if it was not text: REP
        #: repeats that cell and a zero-width character joins it (xterm.js's
        #: ``precedingJoinState``). The model resets it after every other token.
        self.rep_width = 0
        self._caches: dict[Cell, PenCells] = {}
        #: Cells the pens' caches keep for whole texts (``PenCells.runs``, bounded).
        self.run_cells = 0
        self._sgr_cache: dict[tuple[Cell, str], Cell] = {}

    def soft_reset(self) -> None:
        """DECSTR (``CSI ! p``): modes, pen, margins and charsets, not the screen."""
        self.mode -= {IRM, DECOM, DECCKM}
        self.mode.add(DECTCEM)
        self.cursor.hidden = False
        self.keypad_app = False
        self.margins = None
        self.g0 = self.g1 = "B"
        self.charset = 0
        self._table = None
        self.cursor.attrs = BLANK
        self.saved[self.alternate] = SavedCursor()

    def set_title(self, title: str) -> None:
        self.title = title

    def set_icon_name(self, name: str) -> None:
        self.icon_name = name

    def osc(self, body: str) -> None:
        """An OSC string: the window title (0, 2) and icon name (0, 1); others are ignored."""
        code, _, value = body.partition(";")
        if code in ("0", "2"):
            self.set_title(printable(value))
        if code in ("0", "1"):
            self.set_icon_name(printable(value))

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        """Resize both buffers; when shrinking, keep the cursor's line on screen.

        Rows are dropped from the top only as far as needed to keep the cursor
        visible, into the scrollback; growing with the cursor on the last row
        pulls them back (both as xterm.js). The margins are reset and the
        pending-wrap state is cleared, as in xterm.
        """
        lines = lines or self.lines
        columns = columns or self.columns
        if lines == self.lines and columns == self.columns:
            return
        old_lines, old_columns = self.lines, self.columns
        drop = max(0, self.cursor.y - lines + 1)
        # While the alternate screen shows, the main screen keeps its own cursor's row.
        main_drop = max(0, self.main_cursor_y - lines + 1) if self.alternate else drop
        main = self.inactive if self.alternate else self.buffer
        if self.scrollback:
            self.history.extend(main[:main_drop])
        if self.alternate:
            self.buffer = self._fit_rows(self.buffer, drop, lines, columns)
            self.inactive = self._fit_rows(self.inactive, main_drop, lines, columns)
            self.main_cursor_y = max(0, min(self.main_cursor_y - main_drop, lines - 1))
        else:
            self.buffer = self._fit_rows(self.buffer, drop, lines, columns)
            self.inactive = self._fit_rows(self.inactive, drop, lines, columns)
        self.lines, self.columns = lines, columns
        self.margins = None
        # As xterm.js: stops every 8 columns again from the last stop left (or the
        # first column), so a resize undoes a TBC that cleared the stops after it.
        self.tabstops = {t for t in self.tabstops if t < columns}
        start = max(self.tabstops, default=0)
        self.tabstops.update(range(start or 8, columns, 8))
        cursor = self.cursor
        cursor.x = min(cursor.x, old_columns - 1, columns - 1)
        cursor.y = max(0, min(cursor.y - drop, lines - 1))
        # A saved cursor stays on its line of text (xterm.js saves a line of the buffer).
        self.saved = [
            s._replace(x=min(s.x, columns - 1), y=max(0, min(s.y - d, lines - 1)))
            for s, d in zip(self.saved, (main_drop, drop), strict=True)
        ]
        self._pull_history(lines - old_lines)
        self.rep_width = 0  # the cell before the cursor is no longer what was printed
        self.dirty.update(range(lines))

    @staticmethod
    def _fit_row(row: Line, columns: int) -> Line:
        if len(row) > columns:
            row = row[:columns]
            if is_wide(row[-1]):  # its right half was cut off
                row[-1] = row[-1]._replace(data=" ")
        elif len(row) < columns:
            row = row + [BLANK] * (columns - len(row))  # new columns start blank (xterm)
        return row

    def _fit_rows(self, rows: list[Line], drop: int, lines: int, columns: int) -> list[Line]:
        kept = [self._fit_row(row, columns) for row in rows[drop : drop + lines]]
        return kept + blank_rows(lines - len(kept), columns)

    def _pull_history(self, added: int) -> None:
        """Rows added to a main screen whose cursor is on its last row come from the scrollback.

        As xterm.js (and xterm): the screen grows upwards into the lines that
        scrolled off, so that output above the prompt comes back; with the cursor
        higher up, the new rows are blank rows at the bottom.
        """
        if added <= 0 or not self.history:
            return
        y = self.main_cursor_y if self.alternate else self.cursor.y
        if y + added != self.lines - 1:
            return
        pulled = min(added, len(self.history))
        back = [self._fit_row(list(self.history.pop()), self.columns) for _ in range(pulled)]
        back.reverse()
        main = self.inactive if self.alternate else self.buffer
        main[:] = back + main[: self.lines - pulled]
        if self.alternate:  # (the main screen, behind the alternate one, as xterm.js)
            self.main_cursor_y += pulled
        else:
            self.cursor.y += pulled
        main_saved = self.saved[0]
        if main_saved != SavedCursor():  # it stays on its line of text
            self.saved[0] = main_saved._replace(y=min(main_saved.y + pulled, self.lines - 1))

    def switch_buffer(self, alternate: bool) -> None:
        if alternate != self.alternate:
            if alternate:
                self.main_cursor_y = self.cursor.y
            self.buffer, self.inactive = self.inactive, self.buffer
            self.alternate = alternate
            self.dirty.update(range(self.lines))

    def _show_alternate(self, on: bool) -> None:
        """Modes 47 and 1047: as xterm, what the alternate screen held shows again."""
        clear = on and not self.alternate and "alternate-kept" in self.xtermjs
        self.switch_buffer(on)
        if clear:  # xterm.js clears it whenever it is shown, in the pen's background
            self._erase_rows(0, self.lines)

    # ------------------------------------------------------------ modes

    def set_mode(self, *modes: int, private: bool = False) -> None:
        self._set_modes(modes, private, True)

    def reset_mode(self, *modes: int, private: bool = False) -> None:
        self._set_modes(modes, private, False)

    def _set_modes(self, modes: tuple[int, ...], private: bool, on: bool) -> None:
        """SM/RM and their DEC private forms; unknown modes are ignored, as by xterm."""
        for mode in modes:
            if not private:
                if mode in (IRM, LNM):
                    self._flag(mode, on)
            elif mode in FLAG_MODES:
                self._flag(mode << 5, on)
                if mode == 25:
                    self.cursor.hidden = not on
                elif mode == 5:
                    self.dirty.update(range(self.lines))
            elif mode == 6:  # DECOM homes the cursor
                self._flag(DECOM, on)
                self.cursor_position()
            elif mode in MOUSE_PROTOCOLS:
                # One protocol at a time: the last DECSET wins, and a DECRST of any
                # of them turns tracking off (xterm's set_mousemode, xterm.js too).
                self.mouse_protocol = mode if on else 0
            elif mode in MOUSE_ENCODINGS or mode == 1016:
                self._mouse_encoding(mode, on)
            elif mode == 66:  # DECNKM, the CSI form of DECKPAM/DECKPNM
                self.keypad_app = on
            elif mode == 47:
                self._show_alternate(on)
            elif mode == 1047:
                if not on and self.alternate:
                    self._erase_rows(0, self.lines)
                self._show_alternate(on)
            elif mode == 1048:
                if on:
                    self.save_cursor()
                else:
                    self.restore_cursor()
            elif mode == 1049:
                if on:  # cleared as it is shown; already shown, it stays (xterm.js)
                    self.save_cursor()
                    if not self.alternate:
                        self.switch_buffer(True)
                        self._erase_rows(0, self.lines)
                else:
                    self.switch_buffer(False)
                    self.restore_cursor()
            # 3 (DECCOLM) is ignored, as by xterm unless allowColumnMode is set:
            # resizing the model to 132 columns would leave the PTY as it was.

    def _mouse_encoding(self, mode: int, on: bool) -> None:
        """Mutually exclusive, like the protocols, but a DECRST undoes only its own (xterm)."""
        if "mouse-encodings" in self.xtermjs:  # xterm.js: SGR and SGR-pixels only
            if mode in (1006, 1016):
                self.mouse_encoding = mode if on else 0
        elif mode == 1016:
            return  # SGR pixels: a character-cell client has no pixel positions to send
        elif on:
            self.mouse_encoding = mode
        elif self.mouse_encoding == mode:
            self.mouse_encoding = 0

    def _flag(self, flag: int, on: bool) -> None:
        if on:
            self.mode.add(flag)
        else:
            self.mode.discard(flag)

    # ------------------------------------------------------------ charsets, cursor save

    def define_charset(self, code: str, mode: str) -> None:
        """Designate G0/G1. Honoured in UTF-8 too: ncurses draws boxes with ``ESC ( 0``."""
        code = code if code in charsets.MAPS else "B"
        if mode == "(":
            self.g0 = code
        elif mode == ")":
            self.g1 = code
        self._select_table()

    def shift_in(self) -> None:
        self.charset = 0
        self._select_table()

    def shift_out(self) -> None:
        self.charset = 1
        self._select_table()

    def _select_table(self) -> None:
        code = self.g1 if self.charset else self.g0
        self._table = None if code == "B" else charsets.MAPS[code]

    def save_cursor(self) -> None:
        """DECSC into this buffer's single slot (as xterm; pyte kept a stack)."""
        c = self.cursor
        self.saved[self.alternate] = SavedCursor(
            c.x, c.y, c.attrs, self.g0, self.g1, self.charset, DECOM in self.mode
        )

    def restore_cursor(self) -> None:
        """DECRC; with nothing saved it restores the power-on state, as xterm."""
        s = self.saved[self.alternate]
        self._flag(DECOM, s.origin)
        self.cursor.x = min(s.x, self.columns)
        self.cursor.y = min(s.y, self.lines - 1)
        self.cursor.attrs = s.attrs
        self.g0, self.g1, self.charset = s.g0, s.g1, s.shift
        self._select_table()

    # ------------------------------------------------------------ drawing

    def pen_caches(self) -> list[PenCells]:
        return list(self._caches.values())

    def pen_cells(self) -> PenCells:
        """The cells the current pen writes, by character."""
        attrs = self.cursor.attrs
        cache = self._caches.get(attrs)
        if cache is None:
            if len(self._caches) > 256:
                self._caches.clear()
                self.run_cells = 0
            cache = self._caches[attrs] = PenCells(attrs)
        return cache

    def draw(self, data: str) -> None:
        """Write text at the cursor; wide characters take two cells.

        ASCII runs (the bulk of any output) are written a row-slice at a time
        from the pen's cell cache.
        """
        if self._table is not None:
            data = data.translate(self._table)
        if IRM in self.mode:
            self._draw_chars(data)
        elif data.isascii():
            self._draw_ascii(data)
        else:
            for run in _ASCII_RUN.findall(data):
                if run.isascii():
                    self._draw_ascii(run)
                else:
                    self._draw_chars(run)

    def _draw_ascii(self, data: str) -> None:
        cursor = self.cursor
        columns = self.columns
        cells = self.pen_cells()
        x = cursor.x
        stop = x + len(data)
        if stop <= columns and data:  # the commonest case: it fits on the row
            y = cursor.y
            row = self.buffer[y]
            if x and row[x].data == "":  # writing over the right half of a wide character
                row[x - 1] = cells.by_char[" "]
            if stop < columns and row[stop].data == "":  # its left half is overwritten
                row[stop] = cells.by_char[" "]
            row[x:stop] = map(cells.by_char.__getitem__, data)
            self.dirty.add(y)
            cursor.x = stop
            self.rep_width = 1
            return
        autowrap = DECAWM in self.mode
        pos, end = 0, len(data)
        while pos < end:
            if cursor.x >= columns:
                if autowrap:
                    cursor.x = 0
                    self.index()
                else:  # every character that does not fit lands on the last column
                    cursor.x = columns - 1
                    pos = end - 1
            x = cursor.x
            take = min(end - pos, columns - x)
            row = self.buffer[cursor.y]
            if row[x].data == "" and x:  # writing over the right half of a wide character
                row[x - 1] = cells.by_char[" "]
            stop = x + take
            if stop < columns and row[stop].data == "":  # its left half is overwritten
                row[stop] = cells.by_char[" "]
            row[x:stop] = map(cells.by_char.__getitem__, data[pos : pos + take])
            self.dirty.add(cursor.y)
            cursor.x = stop
            pos += take
        if end:
            self.rep_width = 1

    def _draw_chars(self, data: str) -> None:
        cursor = self.cursor
        columns = self.columns
        cells = self.pen_cells()
        autowrap = DECAWM in self.mode
        insert = IRM in self.mode
        for char in data:
            width = wcwidth(char)
            joins = width  # what a zero-width character or REP after this one may join
            if width <= 0:
                if width < 0:
                    continue
                if self.rep_width:  # it follows what was just printed: part of that cell
                    self._combine(char)
                    continue
                # Nothing to join (a control or a sequence came first): a cell of
                # its own, one column wide, as xterm.js makes it, which nothing
                # joins either. Kept after a space so that the cell's first
                # character gives its width. In the pending-wrap state xterm.js
                # writes it past the margin: it is lost.
                if cursor.x >= columns:
                    self.rep_width = 0
                    continue
                char = " " + char
                width = 1
            if width > columns:
                continue
            if cursor.x + width > columns:
                if autowrap:
                    if cursor.x < columns:  # a wide character left the last column: blank
                        row = self.buffer[cursor.y]  # in the pen's colours (xterm.js)
                        self._split_wide(row, cursor.x, cells.by_char[" "])
                        row[cursor.x :] = [cells.by_char[" "]] * (columns - cursor.x)
                    cursor.x = 0
                    self.index()
                else:
                    cursor.x = columns - 1
                    if width == 2:  # a wide character that does not fit is dropped
                        self.rep_width = joins  # (xterm.js; REP and marks still count it)
                        continue
            if insert:
                self.insert_characters(width)
            x = cursor.x
            row = self.buffer[cursor.y]
            self._split_wide(row, x, cells.by_char[" "])
            self._split_wide(row, x + width, cells.by_char[" "])
            row[x] = cells.by_char[char]
            if width == 2:
                row[x + 1] = cells.by_char[""]
            cursor.x = x + width
            self.rep_width = joins
            self.dirty.add(cursor.y)

    def _combine(self, char: str) -> None:
        """Attach a zero-width character (accent, ZWJ, VS16) to the cell before the cursor.

        Kept as printed (``e`` + U+0301 stays two code points), as xterm.js does.
        """
        x = min(self.cursor.x, self.columns)
        if x == 0:
            return
        row = self.buffer[self.cursor.y]
        x -= 1
        if x and row[x].data == "":
            x -= 1
        cell = row[x]
        row[x] = cell._replace(data=cell.data + char)
        self.dirty.add(self.cursor.y)

    def _split_wide(self, row: Line, x: int, blank: Cell) -> None:
        """Blank a wide character that a write or erase starting at ``x`` cuts in half.

        Both halves become ``blank``: the pen's blank for a write, the erased
        cell for an erase, as xterm.js leaves them.
        """
        if 0 < x < self.columns and row[x].data == "":
            row[x] = row[x - 1] = blank

    def repeat_char(self, count: int | None = None) -> None:
        """REP (``CSI n b``): ncurses emits it with TERM=xterm-256color.

        As xterm.js: only right after printed text, and it repeats the cell
        that text left before the cursor (with its combining marks).
        """
        x = self.cursor.x - self.rep_width
        if self.rep_width and x >= 0:
            data = self.buffer[self.cursor.y][x].data
            self.draw(data * min(count or 1, self.columns * self.lines))

    def alignment_display(self) -> None:
        """DECALN: fill with ``E``, reset margins, home (pyte kept attributes and margins)."""
        self.buffer[:] = blank_rows(self.lines, self.columns, Cell("E"))
        self.margins = None
        self.cursor.x = self.cursor.y = 0
        self.dirty.update(range(self.lines))

    # ------------------------------------------------------------ erasing

    def _erased(self) -> Cell:
        """The cell an erase leaves: blank with the pen's background (xterm's bce)."""
        return erased_with(self.cursor.attrs)

    def _erase(self, row: Line, start: int, end: int, blank: Cell | None = None) -> None:
        blank = blank or self._erased()
        self._split_wide(row, start, blank)
        self._split_wide(row, end, blank)
        row[start:end] = [blank] * (end - start)

    def _erase_rows(self, start: int, end: int) -> None:
        blank = self._erased()
        self.buffer[start:end] = blank_rows(end - start, self.columns, blank)
        self.dirty.update(range(start, end))

    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        """EL. As in xterm, erasing to the right ends a pending wrap, the others do not."""
        x = min(self.cursor.x, self.columns - 1)
        y = self.cursor.y
        if how == 0:
            if self.cursor.x >= self.columns and "el-pending-wrap" in self.xtermjs:
                return  # xterm.js erases nothing there and keeps the pending wrap
            self.cursor.x = x
            self._erase(self.buffer[y], x, self.columns)
        elif how == 1:
            self._erase(self.buffer[y], 0, x + 1)
        elif how == 2:
            self._erase_rows(y, y + 1)
        self.dirty.add(y)

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        """ED; ``ED 3`` clears the scrollback only (of the main screen, while it is shown)."""
        y = self.cursor.y
        if how == 1 and y == self.lines - 1 and self.cursor.x >= self.columns - 1:
            how = 2  # xterm takes this for a full clear, pending wrap included
        if how == 0:
            self.erase_in_line(0)
            self._erase_rows(y + 1, self.lines)
        elif how == 1:
            self.erase_in_line(1)
            self._erase_rows(0, y)
        elif how == 2:
            self.cursor.x = min(self.cursor.x, self.columns - 1)
            self._erase_rows(0, self.lines)
        elif how == 3 and not self.alternate:
            self.history.clear()

    def erase_characters(self, count: int | None = None) -> None:
        self.cursor.x = x = min(self.cursor.x, self.columns - 1)  # ends a pending wrap
        self._erase(self.buffer[self.cursor.y], x, min(x + (count or 1), self.columns))
        self.dirty.add(self.cursor.y)

    def insert_characters(self, count: int | None = None) -> None:
        """ICH; ends a pending wrap, as xterm.js."""
        self.cursor.x = x = min(self.cursor.x, self.columns - 1)
        row = self.buffer[self.cursor.y]
        n = min(count or 1, self.columns - x)
        blank = self._erased()
        if x and row[x].data == "":  # inserting between the halves of a wide character:
            row[x - 1] = blank  # the left half is erased, the right half (pushed right)
            row[x] = row[x]._replace(data=" ")  # keeps its colours, as in xterm.js
        row[x:x] = [blank] * n
        del row[self.columns :]
        if is_wide(row[-1]):  # pushed to the margin, its right half gone
            row[-1] = blank
        self.dirty.add(self.cursor.y)

    def delete_characters(self, count: int | None = None) -> None:
        """DCH; ends a pending wrap, as xterm.js."""
        self.cursor.x = x = min(self.cursor.x, self.columns - 1)
        row = self.buffer[self.cursor.y]
        blank = self._erased()
        del row[x : x + (count or 1)]
        row.extend([blank] * (self.columns - len(row)))
        if x and is_wide(row[x - 1]):  # its right half deleted
            row[x - 1] = blank
        if row[x].data == "":  # a right half whose wide character was deleted
            row[x] = blank
        self.dirty.add(self.cursor.y)

    # ------------------------------------------------------------ scrolling

    def _region(self) -> tuple[int, int]:
        return (self.margins.top, self.margins.bottom) if self.margins else (0, self.lines - 1)

    def _scroll_up(self, top: int, bottom: int, count: int, keep: bool = False) -> None:
        """Scroll the region up; with ``keep``, lines leaving the main screen's top are kept.

        As xterm.js: only a line feed (IND, NEL, wrap) at the bottom margin keeps
        them, and only when the region starts at the top row; SU and DL do not.
        """
        buf = self.buffer
        count = min(count, bottom - top + 1)
        keep = keep and top == 0 and not self.alternate and self.scrollback > 0
        if count == 1:  # a line feed at the bottom: no slices, no list of rows
            gone = buf.pop(top)
            buf.insert(bottom, [self._erased()] * self.columns)
            if keep:
                self.history.append(gone)
        else:
            if keep:
                self.history.extend(buf[top : top + count])
            buf[top : bottom + 1] = buf[top + count : bottom + 1] + blank_rows(
                count, self.columns, self._erased()
            )
        if top == 0 and bottom == self.lines - 1:  # (a set of every row: half the cost)
            if len(self._every_row) != self.lines:
                self._every_row = frozenset(range(self.lines))
            self.dirty |= self._every_row
        else:
            self.dirty.update(range(top, bottom + 1))

    def _scroll_down(self, top: int, bottom: int, count: int, plain: bool = False) -> None:
        """Scroll the region down; new lines blank in the pen's background (or ``plain``)."""
        buf = self.buffer
        count = min(count, bottom - top + 1)
        blank = BLANK if plain else self._erased()
        buf[top : bottom + 1] = (
            blank_rows(count, self.columns, blank) + buf[top : bottom + 1 - count]
        )
        self.dirty.update(range(top, bottom + 1))

    def index(self) -> None:
        """IND/LF: scroll at the bottom margin; below the region, stop at the last line."""
        cursor = self.cursor
        if cursor.x >= self.columns:
            cursor.x = self.columns - 1
        top, bottom = self._region()
        if cursor.y == bottom:
            self._scroll_up(top, bottom, 1, keep=True)
        elif cursor.y < self.lines - 1:
            cursor.y += 1

    def linefeed(self) -> None:
        """LF, VT, FF: IND, and CR too under LNM."""
        self.index()
        if LNM in self.mode:
            self.cursor.x = 0

    def carriage_return(self) -> None:
        self.cursor.x = 0

    def reverse_index(self) -> None:
        cursor = self.cursor
        if cursor.x >= self.columns:
            cursor.x = self.columns - 1
        top, bottom = self._region()
        if cursor.y == top:
            self._scroll_down(top, bottom, 1)
        elif cursor.y > 0:
            cursor.y -= 1

    def next_line(self) -> None:
        """NEL always returns the carriage (pyte mapped it to LF, which does only under LNM)."""
        self.carriage_return()
        self.index()

    def scroll_up(self, count: int | None = None) -> None:
        """SU (``CSI n S``)."""
        self._scroll_up(*self._region(), count or 1)

    def scroll_down(self, count: int | None = None) -> None:
        """SD (``CSI n T``); new lines in the pen's background, as xterm."""
        self._scroll_down(*self._region(), count or 1, "sd-bce" in self.xtermjs)

    def insert_lines(self, count: int | None = None) -> None:
        """IL, inside the scroll region only; ends a pending wrap anywhere, as xterm.js."""
        self.cursor.x = min(self.cursor.x, self.columns - 1)
        top, bottom = self._region()
        if top <= self.cursor.y <= bottom:
            self._scroll_down(self.cursor.y, bottom, count or 1)
            self.cursor.x = 0

    def delete_lines(self, count: int | None = None) -> None:
        """DL, inside the scroll region only; ends a pending wrap anywhere, as xterm.js."""
        self.cursor.x = min(self.cursor.x, self.columns - 1)
        top, bottom = self._region()
        if top <= self.cursor.y <= bottom:
            self._scroll_up(self.cursor.y, bottom, count or 1)
            self.cursor.x = 0

    def set_margins(self, top: int | None = None, bottom: int | None = None) -> None:
        """DECSTBM; always homes the cursor (pyte did not when the margins were reset)."""
        t = (top or 1) - 1
        b = min((bottom or self.lines), self.lines) - 1
        if t >= b:
            return
        self.margins = None if t == 0 and b == self.lines - 1 else Margins(t, b)
        self.cursor_position()

    # ------------------------------------------------------------ SGR

    def sgr(self, params: str) -> None:
        """SGR from its raw parameter string, colon sub-parameters included."""
        key = (self.cursor.attrs, params)
        pen = self._sgr_cache.get(key)
        if pen is None:
            if len(self._sgr_cache) > 1024:
                self._sgr_cache.clear()
            pen = apply_sgr(self.cursor.attrs, params, "sgr-colon-rgb" in self.xtermjs)
            self._sgr_cache[key] = pen
        self.cursor.attrs = pen

    # ------------------------------------------------------------ the fast path

    def plain_ascii(self) -> bool:
        """Whether ASCII is drawn as itself, over what was there: no charset, no IRM."""
        return self._table is None and IRM not in self.mode

    def fast_ready(self) -> bool:
        """Whether the fast path applies now: no margins, no charset, autowrap, no IRM."""
        mode = self.mode
        return (
            not self.xtermjs  # the oracle test compares the reference path
            and self.margins is None
            and self._table is None
            and DECAWM in mode
            and IRM not in mode
        )

    def draw_run(self, text: str) -> None:
        """One-cell text, CR, LF, SGR and EL at once (see :mod:`relay.terminal.fastpath`)."""
        self.runs += 1
        self.run_chars += len(text)
        draw_run(self, text)
