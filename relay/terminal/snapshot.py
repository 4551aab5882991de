"""Screen snapshots: the bytes that rebuild a terminal model's state elsewhere.

A client that joins late or fell behind its queue is sent a snapshot instead of
the output it missed, then the stream continues from the snapshot's offset. The
receiver is either our own :class:`relay.terminal.TerminalModel` (the TUI) or a
real terminal (a plain viewer), so a snapshot only uses sequences both apply
the same way, and it is exact: after it, the same continuation bytes produce
the same screen, cursor, modes and saved cursors on both sides.

Order, and why:

1. ``ESC c`` (RIS). xterm and the model both return to power-on: main screen,
   cleared, default modes, pen, charsets, tab stops, margins and saved cursors,
   no scrollback. An explicit list of resets would have to name every mode a
   previous program might have left on the receiver (mouse, alternate screen,
   keypad, ...).
1b. Scrollback lines, if asked for: drawn and scrolled off the top with line
   feeds, so that they land in the receiver's scrollback (see ``history``).
2. Tab stops, if not the default ones, and the scroll region (DECSTBM homes the
   cursor, so it goes before anything positions it).
3. The screens. When the alternate screen is active, the main screen is drawn
   first and the alternate after ``CSI ? 47 h`` (which switches without
   clearing or saving), so that a later ``CSI ? 1049 l`` finds the main screen
   and its saved cursor intact. An inactive alternate screen that still holds
   something (``?1049l`` leaves it) is drawn in a ``?47h`` … ``?47l`` bracket
   first: a later ``?47h`` would show it again.
4. Each screen's DECSC slot (xterm keeps one per screen), if not the power-on one.
5. The final state: modes, title, charsets, pen, then the cursor. Right after
   printed text (REP repeats the cell before the cursor, a zero-width character
   joins it, as in xterm.js), the snapshot ends by printing that cell again;
   in the pending-wrap state after the last column it prints the last cell
   (only writing there gets a terminal into that state).

Bytes are kept low: each row starts with one CUP, an SGR is sent only when the
pen changes (a diff or a reset, whichever is shorter), runs of blank cells are
skipped with CUF, trailing blanks are not sent, and a tail erased with a colour
is one EL.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

from relay.terminal.cells import ANSI_COLOURS, BLANK, Cell, Line, is_wide
from relay.terminal.modes import DECOM, DEFAULT_MODES, FLAG_MODES, IRM, LNM
from relay.terminal.screen import SavedCursor, TerminalScreen

Pen = tuple[Any, ...]  # a Cell without its data
_PLAIN: Pen = BLANK[1:]
_FLAG_CODES = {"bold": "1", "dim": "2", "italics": "3", "underscore": "4"}
_FLAG_CODES |= {"blink": "5", "reverse": "7", "conceal": "8", "strikethrough": "9"}
_OFF_CODES = {"italics": "23", "underscore": "24", "blink": "25", "reverse": "27"}
_OFF_CODES |= {"conceal": "28", "strikethrough": "29"}


class Snapshotable(Protocol):
    """What :func:`render` reads: a :class:`relay.terminal.TerminalModel`."""

    @property
    def screen(self) -> TerminalScreen: ...

    def unfinished(self) -> bytes: ...


def render(model: Snapshotable, history_lines: int = 0) -> bytes:
    """The snapshot of ``model``, with up to ``history_lines`` of its scrollback first.

    It ends with the parser's unfinished input (a sequence cut by the end of
    the last feed), so that the receiver continues exactly as the model does.
    """
    screen = model.screen
    lines = list(screen.history)[-history_lines:] if history_lines > 0 else []
    return _Renderer(screen).render(lines).encode() + model.unfinished()


def _colour(colour: str, base: int) -> str:
    """SGR parameters for a colour in :class:`Cell` syntax; ``base`` is 30 or 40."""
    if colour.startswith("#"):
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
        return f"{base + 8};2;{r};{g};{b}"
    if colour.startswith("color("):
        return f"{base + 8};5;{colour[6:-1]}"
    if colour.startswith("bright_"):
        return str(base + 60 + ANSI_COLOURS.index(colour[7:]))
    return str(base + ANSI_COLOURS.index(colour))


def _params(cell: Cell) -> list[str]:
    params = [code for name, code in _FLAG_CODES.items() if getattr(cell, name)]
    if cell.fg != "default":
        params.append(_colour(cell.fg, 30))
    if cell.bg != "default":
        params.append(_colour(cell.bg, 40))
    return params


@lru_cache(maxsize=1024)
def _transition(old: Pen, new: Pen) -> str:
    """The shortest SGR taking the receiver's pen from ``old`` to ``new``."""
    a, b = Cell._make(("", *old)), Cell._make(("", *new))
    full = "\x1b[" + ";".join(["0", *_params(b)]) + "m" if new != _PLAIN else "\x1b[m"
    diff: list[str] = []
    if (a.bold and not b.bold) or (a.dim and not b.dim):
        diff.append("22")  # turns off both
        a = a._replace(bold=False, dim=False)
    for name, off in _OFF_CODES.items():
        if getattr(a, name) and not getattr(b, name):
            diff.append(off)
    diff += [
        code for name, code in _FLAG_CODES.items() if getattr(b, name) and not getattr(a, name)
    ]
    if a.fg != b.fg:
        diff.append(_colour(b.fg, 30) if b.fg != "default" else "39")
    if a.bg != b.bg:
        diff.append(_colour(b.bg, 40) if b.bg != "default" else "49")
    short = "\x1b[" + ";".join(diff) + "m"
    return short if len(short) < len(full) else full


def _fit(cells: list[Cell], cols: int) -> list[Cell]:
    """A scrollback line as ``cols`` cells: padded with blanks, or cut (a cut wide one blanked)."""
    if len(cells) <= cols:
        return cells + [BLANK] * (cols - len(cells))
    fitted = cells[:cols]
    if fitted[-1].data and cells[cols].data == "":  # its right half was cut off
        fitted[-1] = fitted[-1]._replace(data=" ")
    return fitted


def _cup(y: int, x: int) -> str:
    if x == 0:
        return f"\x1b[{y + 1}H" if y else "\x1b[H"
    return f"\x1b[{y + 1};{x + 1}H"


def _has_content(buffer: list[Line]) -> bool:
    return any(c != BLANK for line in buffer for c in line)


class _Renderer:
    def __init__(self, screen: TerminalScreen) -> None:
        self.s = screen
        self.cols = int(screen.columns)
        self.rows = int(screen.lines)
        self.out: list[str] = []
        self.pen: Pen = _PLAIN  # what the receiver's pen is now
        self.charsets = ("B", "B", 0)

    def render(self, history: list[list[Cell]]) -> str:
        s, out = self.s, self.out
        out.append("\x1bc")
        if history:
            self.history(history)
        if s.tabstops != set(range(8, self.cols, 8)):
            out.append("\x1b[3g")
            out.extend(_cup(0, t) + "\x1bH" for t in sorted(s.tabstops))
        if s.margins is not None:
            out.append(f"\x1b[{s.margins.top + 1};{s.margins.bottom + 1}r")
        main, alt = (s.inactive, s.buffer) if s.alternate else (s.buffer, s.inactive)
        main_saved, alt_saved = s.saved
        if not s.alternate and (_has_content(alt) or alt_saved != SavedCursor()):
            out.append("\x1b[?47h")  # (the pen is still the plain one after RIS)
            self.screen(alt, alt_saved)
            out.append("\x1b[?47l")
        self.screen(main, main_saved)
        if s.alternate:
            # xterm.js clears the alternate screen it shows with the pen's background
            self.set_pen(BLANK)
            # the row the main screen's cursor had when the alternate screen came
            out.append(_cup(s.main_cursor_y, 0) + "\x1b[?47h")
            self.screen(alt, alt_saved)
        self.final_state()
        return "".join(out)

    # ------------------------------------------------------------ pieces

    def history(self, lines: list[list[Cell]]) -> None:
        """Scrollback lines, drawn from the top and scrolled off with line feeds.

        Each line is drawn on the row the cursor is on, then CR LF: once the
        cursor reaches the bottom row every CR LF scrolls the top row into the
        receiver's scrollback. The lines still on the screen at the end are
        scrolled off with line feeds from the bottom row, with the plain pen so
        that the blank rows they leave have no colour.
        """
        rows = self.rows
        for i, cells in enumerate(lines):
            self.row(min(i, rows - 1), _fit(cells, self.cols))
            self.set_pen(BLANK)
            self.out.append("\r\n")
        self.out.append(_cup(rows - 1, 0) + "\n" * min(len(lines), rows - 1))

    def set_pen(self, cell: Cell) -> None:
        pen = cell[1:]
        if pen != self.pen:
            self.out.append(_transition(self.pen, pen))
            self.pen = pen

    def draw(self, text: str) -> None:
        self.out.append(text)

    def set_charsets(self, g0: str, g1: str, shift: int) -> None:
        old_g0, old_g1, old_shift = self.charsets
        if g0 != old_g0:
            self.out.append("\x1b(" + g0)
        if g1 != old_g1:
            self.out.append("\x1b)" + g1)
        if shift != old_shift:
            self.out.append("\x0e" if shift else "\x0f")
        self.charsets = (g0, g1, shift)

    def move(self, x: int, y: int, buffer: list[Line], origin: bool) -> None:
        """Put the receiver's cursor at (x, y); under DECOM, CUP counts from the top margin."""
        top = self.s.margins.top if origin and self.s.margins is not None else 0
        if x < self.cols:
            self.out.append(_cup(max(0, y - top), x))
            return
        # Pending wrap: only writing the last column gets a terminal there.
        line = buffer[y]
        x = self.cols - 1
        if line[x].data == "" and x:
            x -= 1
        cell = line[x]
        self.out.append(_cup(max(0, y - top), x))
        self.set_pen(cell)
        self.draw(cell.data)

    def screen(self, buffer: list[Line], saved: SavedCursor) -> None:
        for y, line in enumerate(buffer):
            self.row(y, line)
        if saved != SavedCursor():
            if saved.origin:
                self.out.append("\x1b[?6h")
            self.move(saved.x, saved.y, buffer, saved.origin)
            self.set_pen(saved.attrs)
            self.set_charsets(saved.g0, saved.g1, saved.shift)
            self.out.append("\x1b7")
            if saved.origin:
                self.out.append("\x1b[?6l")
            self.set_charsets("B", "B", 0)

    def row(self, y: int, cells: list[Cell]) -> None:
        out, cols = self.out, self.cols
        end = cols
        while end and cells[end - 1] == BLANK:
            end -= 1
        if not end:
            return
        # A tail erased with a colour (xterm's bce) is cheaper as EL with that pen.
        tail = end
        last = cells[-1]
        if end == cols and last == Cell(" ", bg=last.bg):
            while tail and cells[tail - 1] == last:
                tail -= 1
            if cols - tail < 3:
                tail = end
        x = 0
        while cells[x] == BLANK:
            x += 1
        out.append(_cup(y, x))
        while x < tail:
            cell = cells[x]
            if cell == BLANK:
                gap = x + 1
                while gap < tail and cells[gap] == BLANK:
                    gap += 1
                gap -= x
                if self.pen == _PLAIN and gap < 4:
                    out.append(" " * gap)
                else:
                    out.append(f"\x1b[{gap}C" if gap > 1 else "\x1b[C")
                x += gap
                continue
            x += 1
            if not cell.data:
                continue  # right half of the wide character just drawn
            self.set_pen(cell)
            if is_wide(cell) and (x == cols or cells[x].data):
                self.draw(" ")  # a wide character without its right half cannot be drawn
            else:
                self.draw(cell.data)
        if tail < end:
            self.set_pen(last)
            out.append("\x1b[K")

    def final_state(self) -> None:
        """Modes, title, charsets and pen, then the cursor: last, as it may need a print.

        Right after printed text, REP repeats (and a zero-width character joins)
        the cell before the cursor, so the receiver must end the same way: the
        snapshot then ends by printing that cell again. Otherwise, a print that
        put the cursor in the pending-wrap state is followed by a NUL, which
        every terminal ignores but which ends that readiness, as any control does.
        IRM comes after that print, which must not insert.
        """
        s, out = self.s, self.out
        origin = DECOM in s.mode
        if origin:
            out.append("\x1b[?6h")
        on = [m for m in sorted(FLAG_MODES) if m << 5 in s.mode and m << 5 not in DEFAULT_MODES]
        on += [m for m in (s.mouse_protocol, s.mouse_encoding) if m]
        off = [m for m in (7, 25) if m << 5 not in s.mode]
        if on:
            out.append("\x1b[?" + ";".join(map(str, on)) + "h")
        if off:
            out.append("\x1b[?" + ";".join(map(str, off)) + "l")
        if LNM in s.mode:
            out.append("\x1b[20h")
        if s.keypad_app:
            out.append("\x1b=")
        if s.cursor_style:
            out.append(f"\x1b[{s.cursor_style} q")
        title, icon = s.title, s.icon_name
        if title and title == icon:
            out.append(f"\x1b]0;{title}\x07")
        else:
            if title:
                out.append(f"\x1b]2;{title}\x07")
            if icon:
                out.append(f"\x1b]1;{icon}\x07")
        self.set_charsets(s.g0, s.g1, s.charset)
        self.set_pen(s.cursor.attrs)
        x, y = s.cursor.x, s.cursor.y
        top = s.margins.top if origin and s.margins is not None else 0
        cell = repeatable(s)
        if cell is not None:
            out.append(_cup(max(0, y - top), x - s.rep_width))
            self.draw(cell.data)
        else:
            self.move(x, y, s.buffer, origin)
            if x >= self.cols:  # move() printed: end the receiver's readiness for REP
                if self.pen != s.cursor.attrs[1:]:
                    self.set_pen(s.cursor.attrs)
                else:
                    out.append("\x00")
        if IRM in s.mode:
            out.append("\x1b[4h")


def repeatable(s: TerminalScreen) -> Cell | None:
    """The cell REP would repeat now, if a snapshot can leave the receiver ready to."""
    x = s.cursor.x - s.rep_width
    if not s.rep_width or x < 0 or IRM in s.mode:
        return None
    cell = s.buffer[s.cursor.y][x]
    if not cell.data or cell[1:] != s.cursor.attrs[1:]:
        return None
    return cell
