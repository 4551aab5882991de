"""The screen: cells, both buffers, cursor, modes, and what each control does to them.

:class:`TerminalScreen` is :class:`pyte.Screen` with the fixes listed in
:mod:`relay.terminal`; :class:`relay.terminal.TerminalModel` drives it.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Collection, Iterable, Iterator
from typing import Any, NamedTuple

import pyte
from pyte import charsets
from pyte import modes as mo
from pyte.screens import Margins, StaticDefaultDict, wcwidth

#: Colour names of SGR 30-37 / 40-47; SGR 90-97 / 100-107 add ``bright_``.
ANSI_COLOURS = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")


class Cell(NamedTuple):
    """One character cell: the character and the pen it was written with.

    Field names and order follow :class:`pyte.screens.Char` (so code written for
    pyte keeps working) plus ``dim`` and ``conceal``. Colours use Rich's syntax so
    a renderer can hand them to ``rich.style.Style`` unchanged: ``"default"``, a
    name from :data:`ANSI_COLOURS` (``"bright_"``-prefixed for 90-97),
    ``"color(N)"`` for the 256-colour palette, ``"#rrggbb"`` for truecolor. The
    right half of a double-width character is a cell whose ``data`` is ``""``.
    """

    data: str
    fg: str = "default"
    bg: str = "default"
    bold: bool = False
    italics: bool = False
    underscore: bool = False
    strikethrough: bool = False
    reverse: bool = False
    blink: bool = False
    dim: bool = False
    conceal: bool = False


BLANK = Cell(" ")
#: One row; missing columns read as its ``default`` (BLANK, or the colour it was erased with).
Line = StaticDefaultDict[int, Cell]


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


class _Cursor:
    """pyte's cursor, with a :class:`Cell` pen (pyte's is typed as its own Char)."""

    __slots__ = ("attrs", "hidden", "x", "y")

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.attrs = BLANK
        self.hidden = False


#: Private modes kept as plain flags in ``TerminalScreen.mode`` (pyte's encoding:
#: ``n << 5``) and replayed by the snapshot. 1 DECCKM, 5 DECSCNM, 7 DECAWM,
#: 12 cursor blink, 25 DECTCEM, 1004 focus events, 1007 alternate scroll,
#: 2004 bracketed paste. Others (6, mouse, screens) have their own handling.
FLAG_MODES = frozenset({1, 5, 7, 12, 25, 1004, 1007, 2004})
#: Where the model deliberately departs from xterm.js, following xterm: docs/terminal.md
#: lists and explains each. ``TerminalScreen(xtermjs=...)`` gives some up for the oracle
#: test (the others are on the oracle's side, or need input the test never sends).
DEVIATIONS = frozenset(
    {
        "el-pending-wrap",
        "sgr-colon-rgb",
        "sd-bce",
        "alternate-kept",
        "cpr-origin",
        "cpr-pending-wrap",
        "mouse-encodings",
        "osc8-links",
        "invalid-utf8",
        "zero-width-alone",
    }
)

#: Mouse tracking protocols: X10 (9), normal (1000), button-event (1002), any-event (1003).
#: 1001 (highlight tracking) needs the terminal's cooperation and is ignored, as by xterm.js.
MOUSE_PROTOCOLS = frozenset({9, 1000, 1002, 1003})
#: Mouse coordinate encodings: UTF-8 (1005), SGR (1006), urxvt (1015). SGR-pixels (1016)
#: is ignored: a character-cell client has no pixel positions to send.
MOUSE_ENCODINGS = frozenset({1005, 1006, 1015})
DEFAULT_MODES = frozenset({mo.DECAWM, mo.DECTCEM})
DECCKM = 1 << 5
FOCUS_EVENTS = 1004 << 5
BRACKETED_PASTE = 2004 << 5

_FG = {30 + i: name for i, name in enumerate(ANSI_COLOURS)}
_FG |= {90 + i: "bright_" + name for i, name in enumerate(ANSI_COLOURS)}
_FG[39] = "default"
_BG = {code + 10: name for code, name in _FG.items()}
_SGR_FLAGS: dict[int, tuple[tuple[str, bool], ...]] = {
    1: (("bold", True),),
    2: (("dim", True),),
    3: (("italics", True),),
    4: (("underscore", True),),
    5: (("blink", True),),
    6: (("blink", True),),
    7: (("reverse", True),),
    8: (("conceal", True),),
    9: (("strikethrough", True),),
    21: (("underscore", True),),  # double underline on xterm; we keep one kind
    22: (("bold", False), ("dim", False)),
    23: (("italics", False),),
    24: (("underscore", False),),
    25: (("blink", False),),
    27: (("reverse", False),),
    28: (("conceal", False),),
    29: (("strikethrough", False),),
}
_SGR_RESET = BLANK._asdict()
del _SGR_RESET["data"]


def _num(text: str) -> int:
    """One CSI parameter: empty is 0, anything huge is 9999 (as pyte and VTs cap)."""
    if not text:
        return 0
    if len(text) > 4 or not text.isdigit():
        return 9999 if text.isdigit() else 0
    return int(text)


def _rgb(parts: list[str]) -> str | None:
    if len(parts) < 3:
        return None
    r, g, b = (_num(p) for p in parts[:3])
    if max(r, g, b) > 255:
        return None
    return f"#{r:02x}{g:02x}{b:02x}"


def _palette(text: str) -> str | None:
    n = _num(text)
    return f"color({n})" if n < 256 else None


class _CellCache(dict[str, Cell]):
    """The cells one pen produces, keyed by character: drawing becomes a dict lookup."""

    __slots__ = ("attrs",)

    def __init__(self, attrs: Cell) -> None:
        super().__init__()
        self.attrs = attrs

    def __missing__(self, char: str) -> Cell:
        cell = self[char] = self.attrs._replace(data=char)
        return cell


def printable(text: str) -> str:
    """``text`` without C0/C1 controls: a title is stored as a snapshot can resend it.

    Bytes that were not UTF-8 (lone surrogates from the tokenizer) become U+FFFD.
    """
    kept = (c for c in text if c >= " " and not "\x7f" <= c <= "\x9f")
    return "".join("\ufffd" if "\udc80" <= c <= "\udcff" else c for c in kept)


def _blank_line() -> Line:
    line: Line = StaticDefaultDict(BLANK)
    return line


def _new_buffer() -> defaultdict[int, Line]:
    return defaultdict(_blank_line)


def _is_wide(cell: Cell) -> bool:
    return bool(cell.data) and wcwidth(cell.data[0]) == 2


_ASCII_RUN = re.compile(r"[\x20-\x7e]+|[^\x20-\x7e]+")


def _erased_with(pen: Cell) -> Cell:
    """The cell an erase (or a scroll) leaves with ``pen``: blank in its background (bce).

    Only the background: a blank shows no foreground, and xterm.js keeps none.
    """
    if pen.bg == "default":
        return BLANK
    return Cell(" ", bg=pen.bg)


def _ends_a_wrap(stretch: str, cols: int) -> bool:
    """Whether an EL in ``stretch`` (text from column 0) meets the pending-wrap state."""
    column = 0
    for text in stretch.split("\x1b[K")[:-1]:
        column += len(text)
        if column and column % cols == 0:
            return True
    return False


#: The fast path's writes to one row: (column, text, the pen's cells); no text is an EL.
_Writes = list[tuple[int, str, _CellCache]]
#: What :meth:`TerminalScreen.draw_run` takes: one-cell text, CR, LF, SGR and EL 0.


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
_RUN = re.compile(rf"(?:[{_TEXT_1}\r\n]+|\x1b\[[0-9;:]*m|\x1b\[0?K)+")
#: One token of a run. Its kind is the group that matched, never a look at its
#: characters: text may end in any CSI final byte (``OK``, ``BACK``, ``200 m``).
_RUN_TOKEN = re.compile(
    rf"(?P<text>[{_TEXT_1}]+)|(?P<cr>\r)|\x1b\[(?P<sgr>[0-9;:]*)m|(?P<el>\x1b\[0?K)"
)
_RUN_SGR = re.compile(r"\x1b\[([0-9;:]*)m")


class Scrollback:
    """The lines that scrolled off the top, oldest first, at most ``maxlen`` of them.

    A line is a list of cells without its trailing blanks. The fast path hands
    in the lines it scrolled in and out within one run as their writes, and
    they are only built into cells when read: most of a flood is never looked at.
    """

    def __init__(self, maxlen: int) -> None:
        self._lines: deque[list[Cell] | tuple[Cell, _Writes, int]] = deque(maxlen=maxlen)

    def __len__(self) -> int:
        return len(self._lines)

    def __getitem__(self, index: int) -> list[Cell]:
        line = self._lines[index]
        if isinstance(line, tuple):
            line = self._lines[index] = self._build(*line)
        return line

    def __iter__(self) -> Iterator[list[Cell]]:
        return (self[i] for i in range(len(self._lines)))

    def append(self, line: list[Cell]) -> None:
        self._lines.append(line)

    def extend(self, lines: Iterable[list[Cell]]) -> None:
        self._lines.extend(lines)

    def append_writes(self, blank: Cell, writes: _Writes, columns: int) -> None:
        self._lines.append((blank, writes, columns))

    def pop(self) -> list[Cell]:
        line = self[-1]
        self._lines.pop()
        return line

    def clear(self) -> None:
        self._lines.clear()

    @staticmethod
    def _build(blank: Cell, writes: _Writes, cols: int) -> list[Cell]:
        """A line written by the fast path on a row it scrolled in (one-cell text, EL)."""
        cells = [blank] * cols
        for x0, seg, pen_cells in writes:
            if seg:
                cells[x0 : x0 + len(seg)] = map(pen_cells.__getitem__, seg)
            else:  # EL
                cells[x0:] = [_erased_with(pen_cells.attrs)] * (cols - x0)
        end = cols
        while end and cells[end - 1] == BLANK:
            end -= 1
        del cells[end:]
        return cells


class TerminalScreen(pyte.Screen):
    """pyte's screen with the fixes listed in the module docstring.

    Renderers read it through :class:`TerminalModel`; :mod:`relay.terminal.snapshot` reads
    the state below directly. ``buffer`` is the active buffer, ``inactive`` the
    other one (the main screen's content while ``alternate`` is true).
    """

    # pyte derives default_char from DECSCNM and rewrites every cell; here DECSCNM is a flag.
    default_char = BLANK  # type: ignore[assignment]
    buffer: defaultdict[int, Line]  # type: ignore[assignment]
    cursor: _Cursor  # type: ignore[assignment]

    def __init__(
        self,
        columns: int,
        lines: int,
        scrollback: int = 10_000,
        xtermjs: Collection[str] = (),
    ) -> None:
        #: How many lines :attr:`history` keeps (0: none).
        self.scrollback = max(0, scrollback)
        unknown = set(xtermjs) - DEVIATIONS
        if unknown:
            raise ValueError(f"no such deviation from xterm.js: {sorted(unknown)}")
        #: Deviations (docs/terminal.md) to give up, behaving as xterm.js does:
        #: only the oracle test asks for that.
        self.xtermjs = frozenset(xtermjs)
        super().__init__(columns, lines)

    # ------------------------------------------------------------ state

    def reset(self) -> None:
        """RIS: everything back to power-on, both buffers and the scrollback cleared."""
        self.dirty.update(range(self.lines))
        #: Lines scrolled off the top of the main screen, oldest first, as
        #: :meth:`history_line` made them (trailing blanks left out).
        self.history = Scrollback(self.scrollback)
        self.buffer = _new_buffer()
        self.inactive = _new_buffer()
        self.alternate = False
        self.margins: Margins | None = None
        self.mode = set(DEFAULT_MODES)
        self.title = ""
        self.icon_name = ""
        self.g0 = "B"
        self.g1 = "B"
        self.charset = 0
        self._table: str | None = None
        self.tabstops = set(range(8, self.columns, 8))
        self.cursor = _Cursor()
        self.saved = [SavedCursor(), SavedCursor()]  # [main, alternate], as xterm
        self.mouse_protocol = 0
        self.mouse_encoding = 0
        self.keypad_app = False
        self.cursor_style = 0
        #: Width of what the previous token printed, 0 if it was not text: REP
        #: repeats that cell and a zero-width character joins it (xterm.js's
        #: ``precedingJoinState``). The model resets it after every other token.
        self.rep_width = 0
        self._caches: dict[Cell, _CellCache] = {}
        self._sgr_cache: dict[tuple[Cell, str], Cell] = {}

    def soft_reset(self) -> None:
        """DECSTR (``CSI ! p``): modes, pen, margins and charsets, not the screen."""
        self.mode -= {mo.IRM, mo.DECOM, DECCKM}
        self.mode.add(mo.DECTCEM)
        self.cursor.hidden = False
        self.keypad_app = False
        self.margins = None
        self.g0 = self.g1 = "B"
        self.charset = 0
        self._table = None
        self.cursor.attrs = BLANK
        self.saved[self.alternate] = SavedCursor()

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        """Resize both buffers; when shrinking, keep the cursor's line on screen.

        Lines are dropped from the top only as far as needed to keep the cursor
        visible (pyte always dropped from the top); the margins are reset and the
        pending-wrap state is cleared, as in xterm.
        """
        lines = lines or self.lines
        columns = columns or self.columns
        if lines == self.lines and columns == self.columns:
            return
        old_lines = self.lines
        old_columns = self.columns
        drop = max(0, self.cursor.y - lines + 1)
        main = self.inactive if self.alternate else self.buffer
        self.history.extend(self.history_line(main.get(y)) for y in range(drop))
        for buf in (self.buffer, self.inactive):
            kept = {y - drop: line for y, line in buf.items() if drop <= y < drop + lines}
            buf.clear()
            buf.update(kept)
            for line in kept.values():
                self._fit_line(line, old_columns, columns)
        self.lines, self.columns = lines, columns
        self.margins = None
        self.tabstops = {t for t in self.tabstops if t < columns}
        self.tabstops.update(range((old_columns + 7) // 8 * 8, columns, 8))
        cursor = self.cursor
        cursor.x = min(cursor.x, old_columns - 1, columns - 1)
        cursor.y = max(0, min(cursor.y - drop, lines - 1))
        self.saved = [
            s._replace(x=min(s.x, columns - 1), y=max(0, min(s.y - drop, lines - 1)))
            for s in self.saved
        ]
        self._pull_history(lines - old_lines)
        self.rep_width = 0  # the cell before the cursor is no longer what was printed
        self.dirty.update(range(lines))

    def _pull_history(self, added: int) -> None:
        """Rows added to a main screen whose cursor is on its last row come from the scrollback.

        As xterm.js (and xterm): the screen grows upwards into the lines that
        scrolled off, so that output above the prompt comes back; with the cursor
        higher up, the new rows are blank rows at the bottom.
        """
        if self.alternate or added <= 0 or not self.history:
            return
        if self.cursor.y + added != self.lines - 1:
            return
        pulled = min(added, len(self.history))
        buf = self.buffer
        for y in range(self.lines - 1, pulled - 1, -1):
            line = buf.pop(y - pulled, None)
            if line is None:
                buf.pop(y, None)
            else:
                buf[y] = line
        for y in range(pulled - 1, -1, -1):
            line = _blank_line()
            line.update(enumerate(self.history.pop()[: self.columns]))
            self._fit_line(line, self.columns + 1, self.columns)
            buf[y] = line
        self.cursor.y += pulled

    @staticmethod
    def _fit_line(line: Line, old: int, new: int) -> None:
        if new < old:
            for x in [x for x in line if x >= new]:
                del line[x]
            if _is_wide(line[new - 1]):  # its right half was cut off
                line[new - 1] = line[new - 1]._replace(data=" ")
        elif line.default != BLANK:
            # An erased-with-colour line: new columns start blank, as in xterm.
            for x in range(old):
                line[x] = line[x]
            line.default = BLANK

    def _show_alternate(self, on: bool) -> None:
        """Modes 47 and 1047: as xterm, what the alternate screen held shows again."""
        clear = on and not self.alternate and "alternate-kept" in self.xtermjs
        self.switch_buffer(on)
        if clear:  # xterm.js clears it whenever it is shown, in the pen's background
            self._erase_rows(range(self.lines))

    def switch_buffer(self, alternate: bool) -> None:
        if alternate != self.alternate:
            self.buffer, self.inactive = self.inactive, self.buffer
            self.alternate = alternate
            self.dirty.update(range(self.lines))

    # ------------------------------------------------------------ modes

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        self._set_modes(modes, bool(kwargs.get("private")), True)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        self._set_modes(modes, bool(kwargs.get("private")), False)

    def _set_modes(self, modes: tuple[int, ...], private: bool, on: bool) -> None:
        """SM/RM and their DEC private forms; unknown modes are ignored, as by xterm."""
        for mode in modes:
            if not private:
                if mode in (4, 20):  # IRM, LNM
                    self._flag(mode, on)
            elif mode in FLAG_MODES:
                self._flag(mode << 5, on)
                if mode == 25:
                    self.cursor.hidden = not on
                elif mode == 5:
                    self.dirty.update(range(self.lines))
            elif mode == 6:  # DECOM homes the cursor
                self._flag(mo.DECOM, on)
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
                    self._erase_rows(range(self.lines))
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
                        self._erase_rows(range(self.lines))
                else:
                    self.switch_buffer(False)
                    self.restore_cursor()
            # 3 (DECCOLM) is ignored, as by xterm unless allowColumnMode is set:
            # pyte resized the model to 132 columns while the PTY stayed as it was.

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
        """DECSC into this buffer's single slot (pyte kept a stack and popped it)."""
        c = self.cursor
        origin = mo.DECOM in self.mode
        self.saved[self.alternate] = SavedCursor(
            c.x, c.y, c.attrs, self.g0, self.g1, self.charset, origin
        )

    def restore_cursor(self) -> None:
        """DECRC; with nothing saved it restores the power-on state, as xterm."""
        s = self.saved[self.alternate]
        self._flag(mo.DECOM, s.origin)
        self.cursor.x = min(s.x, self.columns)
        self.cursor.y = min(s.y, self.lines - 1)
        self.cursor.attrs = s.attrs
        self.g0, self.g1, self.charset = s.g0, s.g1, s.shift
        self._select_table()

    # ------------------------------------------------------------ drawing

    def draw(self, data: str) -> None:
        """Write text at the cursor; wide characters take two cells.

        ASCII runs (the bulk of any output) are written a line-slice at a time
        from a per-pen cell cache, which is what keeps the model faster than pyte.
        """
        if self._table is not None:
            data = data.translate(self._table)
        if mo.IRM in self.mode:
            self._draw_chars(data)
        elif data.isascii():
            self._draw_ascii(data)
        else:
            for run in _ASCII_RUN.findall(data):
                if run.isascii():
                    self._draw_ascii(run)
                else:
                    self._draw_chars(run)

    def _pen_cells(self) -> _CellCache:
        attrs = self.cursor.attrs
        cache = self._caches.get(attrs)
        if cache is None:
            if len(self._caches) > 256:
                self._caches.clear()
            cache = self._caches[attrs] = _CellCache(attrs)
        return cache

    def _draw_ascii(self, data: str) -> None:
        cursor = self.cursor
        columns = self.columns
        cells = self._pen_cells().__getitem__
        autowrap = mo.DECAWM in self.mode
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
            line = self.buffer[cursor.y]
            self._split_wide(line, x, cells(" "))
            self._split_wide(line, x + take, cells(" "))
            line.update(zip(range(x, x + take), map(cells, data[pos : pos + take]), strict=True))
            self.dirty.add(cursor.y)
            cursor.x = x + take
            pos += take
        if end:
            self.rep_width = 1

    def _draw_chars(self, data: str) -> None:
        cursor = self.cursor
        columns = self.columns
        cells = self._pen_cells()
        autowrap = mo.DECAWM in self.mode
        insert = mo.IRM in self.mode
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
                        line = self.buffer[cursor.y]  # in the pen's colours (xterm.js)
                        self._split_wide(line, cursor.x, cells[" "])
                        line.update(dict.fromkeys(range(cursor.x, columns), cells[" "]))
                    cursor.x = 0
                    self.index()
                else:
                    cursor.x = columns - width
            if insert:
                self.insert_characters(width)
            x = cursor.x
            line = self.buffer[cursor.y]
            self._split_wide(line, x, cells[" "])
            self._split_wide(line, x + width, cells[" "])
            line[x] = cells[char]
            if width == 2:
                line[x + 1] = cells[""]
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
        line = self.buffer[self.cursor.y]
        x -= 1
        if x and line[x].data == "":
            x -= 1
        cell = line[x]
        line[x] = cell._replace(data=cell.data + char)
        self.dirty.add(self.cursor.y)

    def _split_wide(self, line: Line, x: int, blank: Cell) -> None:
        """Blank a wide character that a write or erase starting at ``x`` cuts in half.

        Both halves become ``blank``: the pen's blank for a write, the erased
        cell for an erase, as xterm.js leaves them.
        """
        if 0 < x < self.columns:
            stub = line.get(x)
            if stub is not None and stub.data == "":
                line[x] = line[x - 1] = blank

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
        e = Cell("E")
        self.buffer.clear()
        for y in range(self.lines):
            line = self.buffer[y]
            line.update(dict.fromkeys(range(self.columns), e))
        self.margins = None
        self.cursor.x = self.cursor.y = 0
        self.dirty.update(range(self.lines))

    # ------------------------------------------------------------ the fast path

    def fast_ready(self) -> bool:
        """Whether :meth:`draw_run` applies now: no margins, no charset, autowrap, no IRM."""
        mode = self.mode
        return (
            not self.xtermjs  # the oracle test compares the reference path
            and self.margins is None
            and self._table is None
            and mo.DECAWM in mode
            and mo.IRM not in mode
        )

    def draw_run(self, text: str) -> None:
        """Apply one-cell text, CR, LF, SGR and EL (``CSI K``) at once, as the parser would.

        This is what scrolling output (``cat``, logs, builds) is made of, and
        most of it scrolls off before anyone can see it. The run is split into
        lines and the cursor is followed along virtual rows (row ``v`` of the run
        ends on screen row ``v - scrolled``): only the writes to rows that are
        still on screen at the end are kept, the screen is scrolled once by the
        total, and the middle of a long run (lines that start at column 0, never
        wrap and scroll off) is skipped with a few string operations, keeping
        only its SGRs for the pen and its line count. Only called while
        :meth:`fast_ready`; the result is cell for cell, cursor, pen, REP
        state and dirty rows what the character-by-character path gives,
        which tests/test_terminal_properties.py checks.
        """
        cols, rows = self.columns, self.lines
        cursor = self.cursor
        lnm = mo.LNM in self.mode
        # Rows that scroll off go to the scrollback: they are followed to the end.
        keep = bool(self.scrollback) and not self.alternate
        lines = text.split("\n")
        last = len(lines) - 1
        x, v = cursor.x, cursor.y
        cells = self._pen_cells()
        # virtual row -> (the blank it was scrolled in with, or None for a row
        # already on screen; its writes (x, text, cells) in order)
        touched: dict[int, tuple[Cell | None, _Writes]] = {v: (None, [])}
        writes = touched[v][1]
        printed = False  # whether the last token of the run was text (REP, joining)

        def advance() -> None:
            nonlocal v, writes
            v += 1
            if v >= rows:  # scrolls: the new row is erased with the pen's colours (bce)
                if not keep:  # and that row can no longer be on screen
                    touched.pop(v - rows, None)
                writes = []
                touched[v] = (_erased_with(cursor.attrs), writes)
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
            if i == 1 and x == 0 and last - rows >= 3 and not keep:
                skipped = self._skip_lines(text, lines, last - rows, lnm)
                if skipped is not None:
                    end, down = skipped
                    touched.clear()
                    i = end
                    v += down
                    cells = self._pen_cells()
                    writes = []
                    touched[v] = (
                        (_erased_with(cursor.attrs), writes) if v >= rows else (None, writes)
                    )
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
                        self.sgr(m.group("sgr"))
                        cells = self._pen_cells()
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

        self.rep_width = 1 if printed else 0
        self._commit_run(touched, v, x, keep)

    def _skip_lines(
        self, text: str, lines: list[str], end: int, lnm: bool
    ) -> tuple[int, int] | None:
        """Skip lines 1 .. ``end - 1`` of a run, which scroll off without a trace.

        The caller guarantees they scroll off (``end`` is a screenful and more
        before the last line). They can be skipped if each starts at column 0
        (the cursor is there after line 0, and every line ends with CR, or LNM
        is set): then the rows they take follow from the lengths of the
        stretches between CRs, and all else they leave is the pen (their SGRs
        are applied). Returns ``end`` and how many rows the cursor moved down,
        or None when the lines must be followed one by one.
        """
        start = len(lines[0]) + 1
        stop = start + sum(map(len, lines[1:end])) + end - 1
        middle = text[start:stop]
        params: list[str] = []
        cols = self.columns
        if "\x1b" in middle:
            params = _RUN_SGR.findall(middle)
            middle = _RUN_SGR.sub("", middle)
            if "\x1b" in middle:  # ELs: nothing to keep, unless one ends a pending wrap
                middle = middle.replace("\x1b[0K", "\x1b[K")
                for stretch in middle.replace("\r", "\n").split("\n"):
                    if "\x1b" in stretch and _ends_a_wrap(stretch, cols):
                        return None
                middle = middle.replace("\x1b[K", "")
        if not lnm and middle.count("\n") != middle.count("\r\n"):
            return None
        lengths = list(map(len, middle.replace("\r", "\n").split("\n")))
        wraps = 0
        if max(lengths) > cols:  # a stretch of n characters from column 0 wraps (n-1)//cols times
            wraps = sum([(n - 1) // cols for n in lengths if n > cols])
        sgr = self.sgr
        for p in params:
            sgr(p)
        return end, end - 1 + wraps

    def _commit_run(
        self, touched: dict[int, tuple[Cell | None, _Writes]], v: int, x: int, keep: bool
    ) -> None:
        """Scroll once by what the run scrolled, then write the rows still on screen.

        With ``keep``, the rows that scrolled off are written too, and kept in
        the scrollback (only the last ``scrollback`` of them are built).
        """
        rows = self.lines
        buf = self.buffer
        dirty = self.dirty
        scrolled = v - rows + 1 if v >= rows else 0
        if keep and scrolled:
            for tv in range(max(0, scrolled - self.scrollback), scrolled):
                blank, writes = touched.get(tv, (None, []))
                if blank is not None:  # scrolled in and out by this run: built when read
                    self.history.append_writes(blank, writes, self.columns)
                    continue
                gone = buf.get(tv)
                if gone is None:
                    gone = _blank_line()
                self._apply_writes(gone, True, writes)
                self.history.append(self.history_line(gone))
        if scrolled:
            if scrolled < rows:
                for y in range(rows - scrolled):
                    line = buf.pop(y + scrolled, None)
                    if line is None:
                        buf.pop(y, None)
                    else:
                        buf[y] = line
                for y in range(rows - scrolled, rows):
                    buf.pop(y, None)
            else:
                buf.clear()
            dirty.update(range(rows))
        for tv, (blank, writes) in touched.items():
            y = tv - scrolled
            if y < 0:
                continue
            if blank is not None:  # scrolled in by this run: only its own text on it
                line = StaticDefaultDict(blank)
                buf[y] = line
            elif writes:
                line = buf[y]
            else:
                continue
            self._apply_writes(line, blank is None, writes)
            if writes:
                dirty.add(y)
        self.cursor.x = x
        self.cursor.y = v - scrolled

    def _apply_writes(self, line: Line, old: bool, writes: _Writes) -> None:
        """A run's writes to one row; ``old``: the row was on screen before the run."""
        split_wide = self._split_wide
        for x0, seg, cells in writes:
            if not seg:  # EL
                self._erase(line, x0, self.columns, _erased_with(cells.attrs))
                continue
            if old:  # wide characters are only on rows from before the run
                split_wide(line, x0, cells[" "])
                split_wide(line, x0 + len(seg), cells[" "])
            line.update(zip(range(x0, x0 + len(seg)), map(cells.__getitem__, seg), strict=True))

    # ------------------------------------------------------------ erasing

    def _erased(self) -> Cell:
        """The cell an erase leaves: blank with the pen's colours (xterm's bce)."""
        return _erased_with(self.cursor.attrs)

    def _erase(self, line: Line, start: int, end: int, blank: Cell | None = None) -> None:
        blank = blank or self._erased()
        self._split_wide(line, start, blank)
        self._split_wide(line, end, blank)
        if blank == line.default:
            for x in [x for x in line if start <= x < end]:
                del line[x]
        else:
            line.update(dict.fromkeys(range(start, end), blank))

    def _erase_rows(self, rows: range) -> None:
        blank = self._erased()
        for y in rows:
            if blank is BLANK:
                self.buffer.pop(y, None)
            else:
                self.buffer[y] = StaticDefaultDict(blank)
        self.dirty.update(rows)

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
            self._erase_rows(range(y, y + 1))
        self.dirty.add(y)

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        """ED; ``ED 3`` clears the scrollback only (of the main screen, while it is shown)."""
        y = self.cursor.y
        if how == 1 and y == self.lines - 1 and self.cursor.x >= self.columns - 1:
            how = 2  # xterm takes this for a full clear, pending wrap included
        if how == 0:
            self.erase_in_line(0)
            self._erase_rows(range(y + 1, self.lines))
        elif how == 1:
            self.erase_in_line(1)
            self._erase_rows(range(y))
        elif how == 2:
            self.cursor.x = min(self.cursor.x, self.columns - 1)
            self._erase_rows(range(self.lines))
        elif how == 3 and not self.alternate:
            self.history.clear()

    def erase_characters(self, count: int | None = None) -> None:
        self.cursor.x = x = min(self.cursor.x, self.columns - 1)  # ends a pending wrap
        self._erase(self.buffer[self.cursor.y], x, min(x + (count or 1), self.columns))
        self.dirty.add(self.cursor.y)

    def insert_characters(self, count: int | None = None) -> None:
        """ICH; ends a pending wrap, as xterm.js."""
        self.cursor.x = x = min(self.cursor.x, self.columns - 1)
        cells = self._row(self.cursor.y)
        cells[x:x] = [self._erased()] * min(count or 1, self.columns)
        self._store(self.cursor.y, cells[: self.columns])

    def delete_characters(self, count: int | None = None) -> None:
        """DCH; ends a pending wrap, as xterm.js."""
        self.cursor.x = x = min(self.cursor.x, self.columns - 1)
        cells = self._row(self.cursor.y)
        del cells[x : x + (count or 1)]
        cells += [self._erased()] * (self.columns - len(cells))
        self._store(self.cursor.y, cells)

    def _row(self, y: int) -> list[Cell]:
        line = self.buffer[y]
        return [line[x] for x in range(self.columns)]

    def _store(self, y: int, cells: list[Cell]) -> None:
        """Write a shifted row back, blanking wide characters that lost a half."""
        last = len(cells) - 1
        for x, cell in enumerate(cells):
            data = cell.data
            if data == "":
                if x == 0 or not _is_wide(cells[x - 1]):
                    cells[x] = cell._replace(data=" ")
            # (nothing below U+1100 is wide: most cells need no wcwidth call)
            elif data >= "\u1100" and _is_wide(cell) and (x == last or cells[x + 1].data != ""):
                cells[x] = cell._replace(data=" ")
        line = _blank_line()
        line.update((x, c) for x, c in enumerate(cells) if c != BLANK)
        self.buffer[y] = line
        self.dirty.add(y)

    # ------------------------------------------------------------ scrolling

    def _region(self) -> tuple[int, int]:
        return (self.margins.top, self.margins.bottom) if self.margins else (0, self.lines - 1)

    def history_line(self, line: Line | None) -> list[Cell]:
        """Row ``line`` as the scrollback keeps it: its cells, trailing blanks left out."""
        if not line:
            return [] if line is None or line.default == BLANK else [line.default] * self.columns
        default = line.default
        end = max(line) + 1 if default == BLANK else self.columns
        get = line.get
        cells = [get(x, default) for x in range(end)]
        while end and cells[end - 1] == BLANK:
            end -= 1
        del cells[end:]
        return cells

    def _scroll_up(self, top: int, bottom: int, count: int, keep: bool = False) -> None:
        """Scroll the region up; with ``keep``, lines leaving the main screen's top are kept.

        As xterm.js: only a line feed (IND, NEL, wrap) at the bottom margin keeps
        them, and only when the region starts at the top row; SU and DL do not.
        """
        buf = self.buffer
        count = min(count, bottom - top + 1)
        if keep and top == 0 and not self.alternate and self.scrollback:
            self.history.extend(self.history_line(buf.get(y)) for y in range(count))
        for y in range(top, bottom + 1 - count):
            line = buf.pop(y + count, None)
            if line is None:
                buf.pop(y, None)
            else:
                buf[y] = line
        self._erase_rows(range(bottom + 1 - count, bottom + 1))
        self.dirty.update(range(top, bottom + 1))

    def _scroll_down(self, top: int, bottom: int, count: int, plain: bool = False) -> None:
        """Scroll the region down; new lines blank in the pen's background (or ``plain``)."""
        buf = self.buffer
        count = min(count, bottom - top + 1)
        for y in range(bottom, top + count - 1, -1):
            line = buf.pop(y - count, None)
            if line is None:
                buf.pop(y, None)
            else:
                buf[y] = line
        if plain:
            for y in range(top, top + count):
                buf.pop(y, None)
        else:
            self._erase_rows(range(top, top + count))
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
        """SU (``CSI n S``), missing from pyte."""
        self._scroll_up(*self._region(), count or 1)

    def scroll_down(self, count: int | None = None) -> None:
        """SD (``CSI n T``), missing from pyte; new lines in the pen's background, as xterm."""
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

    # ------------------------------------------------------------ cursor motion

    def cursor_up(self, count: int | None = None) -> None:
        """CUU stops at the top margin only from inside or below the region."""
        top = self.margins.top if self.margins and self.cursor.y >= self.margins.top else 0
        self.cursor.y = max(self.cursor.y - (count or 1), top)
        self.cursor.x = min(self.cursor.x, self.columns - 1)

    def cursor_down(self, count: int | None = None) -> None:
        """CUD stops at the bottom margin only from inside or above the region."""
        region = self.margins
        bottom = region.bottom if region and self.cursor.y <= region.bottom else self.lines - 1
        self.cursor.y = min(self.cursor.y + (count or 1), bottom)
        self.cursor.x = min(self.cursor.x, self.columns - 1)

    def cursor_position(self, line: int | None = None, column: int | None = None) -> None:
        """CUP; under DECOM, relative to and clamped into the region (pyte ignored it)."""
        y = (line or 1) - 1
        if self.margins is not None and mo.DECOM in self.mode:
            y = min(y + self.margins.top, self.margins.bottom)
        self.cursor.y = min(y, self.lines - 1)
        self.cursor.x = min((column or 1) - 1, self.columns - 1)

    def cursor_to_line(self, line: int | None = None) -> None:
        """VPA (pyte asserted margins existed under DECOM)."""
        self.cursor_position(line, min(self.cursor.x, self.columns - 1) + 1)

    def set_tab_stop(self) -> None:
        if self.cursor.x < self.columns:
            self.tabstops.add(self.cursor.x)

    def tab(self) -> None:
        """HT: to the next tab stop, or the last column; nothing in the pending-wrap state.

        (As xterm.js; pyte moved a pending wrap back to the last column.)
        """
        x = self.cursor.x
        if x < self.columns:
            self.cursor.x = min((t for t in self.tabstops if t > x), default=self.columns - 1)

    def tab_forward(self, count: int | None = None) -> None:
        """CHT (``CSI I``)."""
        for _ in range(min(count or 1, self.columns)):
            self.tab()

    def tab_back(self, count: int | None = None) -> None:
        """CBT (``CSI Z``), missing from pyte; nothing in the pending-wrap state (xterm.js)."""
        if self.cursor.x >= self.columns:
            return
        for _ in range(min(count or 1, self.columns)):
            x = self.cursor.x
            self.cursor.x = max((t for t in self.tabstops if t < x), default=0)

    # ------------------------------------------------------------ SGR

    def select_graphic_rendition(self, *attrs: int) -> None:
        self.sgr(";".join(map(str, attrs)))

    def sgr(self, params: str) -> None:
        """SGR from its raw parameter string, colon sub-parameters included."""
        key = (self.cursor.attrs, params)
        pen = self._sgr_cache.get(key)
        if pen is None:
            if len(self._sgr_cache) > 1024:
                self._sgr_cache.clear()
            pen = self._apply_sgr(self.cursor.attrs, params, "sgr-colon-rgb" in self.xtermjs)
            self._sgr_cache[key] = pen
        self.cursor.attrs = pen

    @staticmethod
    def _apply_sgr(pen: Cell, params: str, colon_rgb_needs_id: bool = False) -> Cell:
        changes: dict[str, Any] = {}
        parts = params.split(";")
        i, n = 0, len(parts)
        while i < n:
            part = parts[i]
            i += 1
            if ":" in part:  # ITU T.416 form: 38:2:<space>:r:g:b, 38:5:n, 4:3 ...
                sub = part.split(":")
                code = _num(sub[0])
                if code in (38, 48):
                    kind, rest = _num(sub[1]), sub[2:]
                    colour = _palette(rest[0]) if kind == 5 and rest else None
                    if kind == 2 and len(rest) < 4 and colon_rgb_needs_id:
                        colour = _rgb([*rest[1:], "0", "0", "0"][:3])  # xterm.js
                    elif kind == 2:  # 38:2:<id>:r:g:b, or 38:2:r:g:b (xterm)
                        colour = _rgb(rest[1:] if len(rest) >= 4 else rest)
                    if colour:
                        changes["fg" if code == 38 else "bg"] = colour
                elif code == 4:
                    changes["underscore"] = _num(sub[1]) != 0
                elif code in _SGR_FLAGS:
                    changes.update(_SGR_FLAGS[code])
                continue  # 58:... (underline colour) and the rest are ignored
            code = _num(part)
            if code == 0:
                changes.update(_SGR_RESET)
            elif code in _SGR_FLAGS:
                changes.update(_SGR_FLAGS[code])
            elif code in _FG:
                changes["fg"] = _FG[code]
            elif code in _BG:
                changes["bg"] = _BG[code]
            elif code in (38, 48, 58) and i < n:
                kind = _num(parts[i])
                colour = None
                if kind == 5 and i + 1 < n:
                    colour = _palette(parts[i + 1])
                    i += 2
                elif kind == 2 and i + 3 < n:
                    colour = _rgb(parts[i + 1 : i + 4])
                    i += 4
                elif kind in (2, 5):
                    i = n  # truncated: xterm drops the rest too
                if colour and code != 58:
                    changes["fg" if code == 38 else "bg"] = colour
        return pen._replace(**changes) if changes else pen
