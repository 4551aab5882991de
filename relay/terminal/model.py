"""The terminal model: output bytes in, the screen they draw out.

:class:`TerminalModel` parses the byte stream (escape sequences, UTF-8 split
across feeds) and applies it to a :class:`relay.terminal.screen.TerminalScreen`;
renderers read the screen through the model's accessors, and
:meth:`TerminalModel.snapshot` gives the bytes that rebuild it
(:mod:`relay.terminal.snapshot`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from typing import Any

from relay.terminal.cells import Cell, erased_with, num
from relay.terminal.fastpath import ONE_CELL, RUN, cup, sequence_end, write_cells
from relay.terminal.modes import BRACKETED_PASTE, DECAWM, DECCKM, DECSCNM, DECTCEM, FOCUS_EVENTS
from relay.terminal.parser import CONTROL, CSI, ESC, OSC, TEXT, Token, Tokenizer
from relay.terminal.replies import REPLIES, REPLIES_MAX, cursor_report
from relay.terminal.screen import TerminalScreen
from relay.terminal.scrollback import History
from relay.terminal.skim import MIN_SCREENS, UNFINISHED, ready, shell_run_end, skim, skimmable
from relay.terminal.snapshot import _fit, render

log = logging.getLogger("relay.terminal")


#: Line feeds a run needs before :meth:`TerminalModel.feed` hands it to ``draw_run``:
#: a prompt and a few lines of output are cheaper token by token (one scroll per line
#: against ``draw_run``'s set-up and whole-screen commit); a log flood is not.
RUN_MIN_LINES = 16
_OSC_KEEP = 1024  # characters of an OSC body kept (titles); the rest is read and dropped
_INVALID = re.compile(r"[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)
#: C1 controls that start a sequence (CSI, OSC, DCS, SOS, PM, APC): the tokenizer's.
_C1_STARTS = frozenset({0x90, 0x98, 0x9B, 0x9D, 0x9E, 0x9F})
_INTERMEDIATES = " !\"#$%&'()*+,-./"  # CSI intermediate bytes (0x20-0x2F)


#: Characters of plain output :meth:`TerminalModel.feed` may keep undrawn: the relay's
#: 64 KiB feeds are drawn as they come, 4 KiB writes wait for about 16 of them.
PENDING_MAX = 65_536


class TerminalModel:
    """A terminal of ``cols`` x ``rows`` fed with the shell's output bytes.

    ``feed`` accepts any chunking (split UTF-8 characters and escape sequences
    are carried over); ``snapshot`` returns bytes that rebuild this exact state
    in a fresh model or an xterm of the same size, including an unfinished
    sequence at the end so that the continuation applies the same way.
    """

    #: Take runs of plain text and SGR through :meth:`TerminalScreen.draw_run`.
    #: ``fast=False`` is the reference path the differential tests compare with.
    fast = True

    def __init__(
        self,
        cols: int = 80,
        rows: int = 24,
        scrollback: int = 10_000,
        *,
        fast: bool = True,
        xtermjs: Collection[str] = (),
    ) -> None:
        if cols < 1 or rows < 1:
            raise ValueError(f"a terminal needs at least one cell, not {cols}x{rows}")
        if scrollback < 0:
            raise ValueError(f"scrollback must be 0 or more lines, not {scrollback}")
        self.fast = fast
        self._screen = TerminalScreen(cols, rows, scrollback, xtermjs)
        #: Runs of plain output fed but not yet drawn (see :meth:`feed`).
        self._pending: list[str] = []
        self._pending_size = 0
        self._pending_plain = True  # (else shell output: see relay.terminal.skim)
        self._replies = bytearray()
        self._tokenizer = Tokenizer()
        self._osc = ""  # the start of an OSC handed out in pieces
        self._resume = 0
        s = self._screen
        self._controls: dict[str, Callable[[], None]] = {
            "\x08": s.backspace,
            "\x09": s.tab,
            "\x0a": s.linefeed,
            "\x0b": s.linefeed,
            "\x0c": s.linefeed,
            "\x0d": s.carriage_return,
            "\x0e": s.shift_out,
            "\x0f": s.shift_in,
            "\x84": s.index,
            "\x85": s.next_line,
            "\x88": s.set_tab_stop,
        }
        self._escapes: dict[str, Callable[[], None]] = {
            "7": s.save_cursor,
            "8": s.restore_cursor,
            "c": s.reset,
            "D": s.index,
            "E": s.next_line,
            "H": s.set_tab_stop,
            "M": s.reverse_index,
        }
        # final byte -> (method, how many parameters it takes)
        self._csi: dict[str, tuple[Callable[..., None], int]] = {
            "@": (s.insert_characters, 1),
            "A": (s.cursor_up, 1),
            "B": (s.cursor_down, 1),
            "C": (s.cursor_forward, 1),
            "D": (s.cursor_back, 1),
            "E": (s.cursor_down1, 1),
            "F": (s.cursor_up1, 1),
            "G": (s.cursor_to_column, 1),
            "H": (s.cursor_position, 2),
            "I": (s.tab_forward, 1),
            "J": (s.erase_in_display, 1),
            "K": (s.erase_in_line, 1),
            "L": (s.insert_lines, 1),
            "M": (s.delete_lines, 1),
            "P": (s.delete_characters, 1),
            "S": (s.scroll_up, 1),
            "X": (s.erase_characters, 1),
            "Z": (s.tab_back, 1),
            "`": (s.cursor_to_column, 1),
            "a": (s.cursor_forward, 1),
            "b": (s.repeat_char, 1),
            "d": (s.cursor_to_line, 1),
            "e": (s.cursor_down, 1),
            "f": (s.cursor_position, 2),
            "g": (s.clear_tab_stop, 1),
            "r": (s.set_margins, 2),
        }

    # ------------------------------------------------------------ public API

    @property
    def screen(self) -> TerminalScreen:
        """The screen, with every byte fed so far drawn on it."""
        if self._pending:
            self._settle()
        return self._screen

    @property
    def cols(self) -> int:
        return self._screen.columns

    @property
    def rows(self) -> int:
        return self._screen.lines

    @property
    def cursor(self) -> tuple[int, int]:
        """(x, y), 0-based; x is clamped in the pending-wrap state after the last column."""
        c = self.screen.cursor
        return min(c.x, self.cols - 1), c.y

    @property
    def cursor_visible(self) -> bool:
        return DECTCEM in self.screen.mode

    @property
    def alternate(self) -> bool:
        """True while a full-screen program (vim, less, top) has the alternate screen."""
        return self.screen.alternate

    @property
    def application_cursor(self) -> bool:
        """DECCKM: arrows must be sent as ``ESC O A`` rather than ``ESC [ A``."""
        return DECCKM in self.screen.mode

    @property
    def app_cursor_keys(self) -> bool:
        """:attr:`application_cursor`, by the name the TUI's key table reads."""
        return DECCKM in self.screen.mode

    @property
    def app_keypad(self) -> bool:
        """DECKPAM (``ESC =``) or DECNKM: the keypad sends application sequences."""
        return self.screen.keypad_app

    @property
    def bracketed_paste(self) -> bool:
        """Mode 2004: a paste must be wrapped in ``ESC [200~`` … ``ESC [201~``."""
        return BRACKETED_PASTE in self.screen.mode

    @property
    def autowrap(self) -> bool:
        return DECAWM in self.screen.mode

    @property
    def reverse_video(self) -> bool:
        """DECSCNM: the renderer swaps default foreground and background for the screen."""
        return DECSCNM in self.screen.mode

    @property
    def mouse_protocol(self) -> int:
        """The mouse events the program asked for: 0 (none), 9, 1000, 1002 or 1003.

        9 (X10): button presses only; 1000: presses and releases; 1002: also
        motion while a button is down; 1003: all motion. The last DECSET wins; a
        DECRST of any of them turns tracking off, as in xterm and xterm.js.
        """
        return self.screen.mouse_protocol

    @property
    def mouse_encoding(self) -> int:
        """How mouse events are encoded: 0 (X10 bytes), 1005 (UTF-8), 1006 (SGR), 1015 (urxvt).

        The last DECSET wins; a DECRST turns off only the encoding it names (xterm).
        """
        return self.screen.mouse_encoding

    @property
    def focus_events(self) -> bool:
        return FOCUS_EVENTS in self.screen.mode

    @property
    def title(self) -> str:
        return self.screen.title

    @property
    def dirty(self) -> set[int]:
        """Rows changed since the renderer last cleared this set (the same set object)."""
        return self.screen.dirty

    @property
    def history(self) -> History:
        """The scrollback: lines that scrolled off the top of the main screen, oldest first.

        At most ``scrollback`` lines (the constructor's argument); lines
        scrolled out of a scroll region that does not start at the top row, or
        off the alternate screen, are not kept (as xterm and xterm.js). RIS
        (``ESC c``) and ``ED 3`` (``CSI 3 J``) clear it. Each line is a list of
        :class:`Cell` without its trailing blanks; :meth:`line` gives it padded
        to the screen's width.
        """
        return History(lambda: self.screen.history)

    def line(self, y: int) -> list[Cell]:
        """The ``cols`` cells to render for row ``y`` in ``range(-len(history), rows)``.

        Negative ``y`` is the scrollback (``-1`` the line just above the
        screen), 0 to ``rows - 1`` the screen. Scrollback lines are padded with
        blanks, or cut (from before a resize to fewer columns). The list is the
        caller's.
        """
        if 0 <= y < self.rows:
            return self.line_cells(y)
        history = self.screen.history
        if -len(history) <= y < 0:
            return _fit(history[y], self.cols)
        raise IndexError(f"row {y} is outside -{len(history)}..{self.rows - 1}")

    def take_replies(self) -> bytes:
        """What an xterm would have answered to the device queries seen since the last call.

        In stream order, each computed when its query was parsed (so a CPR
        gives the cursor position at that point of the stream): DA1 (``CSI c``),
        DA2 (``CSI > c``), DSR (``CSI 5 n``), CPR (``CSI 6 n``, 1-based, relative
        to the scroll region under DECOM) and DECXCPR (``CSI ? 6 n``). The
        answers are xterm.js's (a VT100 with AVO, xterm patch 276). Only the
        driver's client sends them to the shell, so that each is answered once.
        At most :data:`REPLIES_MAX` bytes wait; beyond that, queries nobody
        collects are not answered.
        """
        replies = bytes(self._replies)
        self._replies.clear()
        return replies

    def _reply(self, data: bytes) -> None:
        if len(self._replies) + len(data) <= REPLIES_MAX:
            self._replies += data

    def line_cells(self, y: int) -> list[Cell]:
        """The ``cols`` cells of row ``y``; a wide character's right half has data ``""``."""
        return list(self.screen.buffer[y])

    def line_runs(self, y: int) -> list[tuple[str, Cell]]:
        """Row ``y`` as (text, pen) runs of one pen each, for a renderer's ``Strip``.

        The pen is a :class:`Cell` with ``data=""``; right halves of wide
        characters are left out, so each run's text is as wide as its cells.
        """
        runs: list[tuple[str, Cell]] = []
        text: list[str] = []
        pen: tuple[Any, ...] = ()
        for cell in self.line_cells(y):
            if not cell.data:
                continue
            if cell[1:] != pen:
                if text:
                    runs.append(("".join(text), Cell("", *pen)))
                text = []
                pen = cell[1:]
            text.append(cell.data)
        if text:
            runs.append(("".join(text), Cell("", *pen)))
        return runs

    def line_text(self, y: int) -> str:
        """Row ``y`` as plain text, ``cols`` cells wide (wide characters count twice)."""
        return "".join(cell.data for cell in self.line_cells(y))

    def display(self) -> list[str]:
        """Every row as plain text, like :attr:`pyte.Screen.display`."""
        return [self.line_text(y) for y in range(self.rows)]

    def resize(self, cols: int, rows: int) -> None:
        if cols < 1 or rows < 1:
            raise ValueError(f"a terminal needs at least one cell, not {cols}x{rows}")
        self.screen.resize(rows, cols)

    def snapshot(self, history_lines: int = 0) -> bytes:
        """ANSI bytes that rebuild this state in a fresh terminal of the same size.

        With ``history_lines``, the last that many scrollback lines come first.
        See :mod:`relay.terminal.snapshot` for what it contains and in which order.
        """
        return render(self, history_lines)

    def unfinished(self) -> bytes:
        """The input the parser holds: an unterminated sequence or a split UTF-8 character.

        Appended to a snapshot so that a receiver resumes mid-sequence exactly as
        this model does.
        """
        return self._tokenizer.pending()

    def discontinuity(self) -> None:
        """Forget a half-parsed sequence: the next feed does not continue this one.

        The relay calls this when it skips output the model could not keep up
        with, so that a title or escape sequence cut by the skip cannot swallow
        the text that follows.
        """
        self._tokenizer.reset()
        self._osc = ""

    # ------------------------------------------------------------ parsing

    def feed(self, data: bytes) -> None:
        """Apply output bytes; chunk boundaries anywhere give the same result.

        The bytes are cut into tokens by :class:`relay.terminal.parser.Tokenizer`.
        The reference path (``fast=False``) applies them one by one; the fast
        path reads the commonest sequences itself (in the forms the tokenizer's
        :data:`relay.terminal.parser.SIMPLE` matches) and hands runs of text, CR,
        LF, SGR and EL to the screen at once.
        """
        text = self._tokenizer.decode(data)
        if self.fast:
            taken = self._defer(text)
            if taken == len(text):
                return
            if self._pending:
                self._settle()
            text = text[taken:] if taken else text
        self._run(self._parse if self.fast else self._parse_tokens, text)

    def _run(self, parse: Callable[[str, int], None], text: str) -> None:
        """``parse`` all of ``text``, past anything the screen chokes on (logged)."""
        start, n = 0, len(text)
        while start < n:
            try:
                parse(text, start)
                return
            except Exception:  # a sequence the screen choked on must not stop the model
                log.exception("terminal model: skipping a sequence it could not apply")
                start = max(self._resume, start + 1)

    def _defer(self, text: str) -> int:
        """Keep ``text`` to draw later if it is one run of plain or shell output: how
        much of it was kept (all, none, or the start of a feed that holds a flood).

        A feed of nothing but text, CR, LF, SGR and EL (:data:`RUN`, as logs
        are), or of what a shell prints besides full-screen programs
        (:data:`relay.terminal.skim.SHELL_RUN`: tabs, backspaces, wide text,
        titles, bracketed paste), whole tokens but for the start of a sequence
        at its end (held, as the tokenizer would), asks nothing back and changes
        only cells, cursor, pen, title and that mode, and only the last
        screenful of a flood is ever seen: such feeds wait in ``_pending`` (at
        most :data:`PENDING_MAX` characters) and are drawn together, skipping
        what scrolls off, before the next feed that holds anything else or the
        first read of :attr:`screen` (every accessor reads it). Screenfuls of
        shell output before anything else in a feed are kept (the caller draws them).
        """
        if not text or self._tokenizer.in_string or not self._screen.fast_ready():
            return 0
        run = RUN.match(text)  # (greedy, so the longest; fullmatch would backtrack for ever)
        kept = 0 if run is None else run.end()
        plain = kept == len(text) or (kept > 0 and UNFINISHED.fullmatch(text, kept) is not None)
        if not plain:
            kept = shell_run_end(text)
            if not kept:
                return 0
        taken = kept
        if kept != len(text):
            if UNFINISHED.fullmatch(text, kept) is not None:
                # A write cut inside a sequence (a 4 KiB write of a coloured log, one in
                # four): the tokenizer would hold that start of a sequence, so hold it here.
                self._tokenizer.hold(text[kept:])
                taken = len(text)
            elif text.count("\n", 0, kept) < MIN_SCREENS * self._screen.lines:
                return 0
        self._pending.append(text[:kept])
        self._pending_size += kept
        self._pending_plain = self._pending_plain and plain
        if self._pending_size > PENDING_MAX:
            self._settle()
        return taken

    def _settle(self) -> None:
        """Draw the runs :meth:`_defer` kept, as one."""
        text = "".join(self._pending)
        plain = self._pending_plain
        self._pending.clear()
        self._pending_size = 0
        self._pending_plain = True
        if not plain:
            self._run(self._parse_skimming, text)
            return
        try:
            self._screen.draw_run(text)
        except Exception:  # as in feed: a run the screen choked on must not stop the model
            log.exception("terminal model: skipping output it could not apply")

    def _parse_skimming(self, text: str, pos: int) -> None:
        """Shell output (all :data:`SHELL_RUN`): lines that scroll off unseen are skimmed
        (:mod:`relay.terminal.skim`), the rest parsed as it comes, a line at a time."""
        screen = self._screen
        n = len(text)
        while pos < n:
            stop = text.find("\n", pos) + 1 or n
            if stop < n and ready(screen):
                count, stop = skimmable(text, pos, screen.columns)
                if count >= MIN_SCREENS * screen.lines:
                    self._resume = stop  # (lines the screen chokes on are given up)
                    tail = skim(screen, text, pos, stop, count, self._dispatch_osc, self.scratch)
                    kept, screen.scrollback = screen.scrollback, 0  # (see skim)
                    try:
                        self._parse_part(text, tail, stop)
                    finally:
                        screen.scrollback = kept
                    pos = stop
                    continue
                stop = text.find("\n", stop) + 1 or n  # (those lines, and the one that failed)
                run = RUN.match(text, pos)  # (a flood of long lines: draw_run skips them)
                if run is not None and text.count("\n", stop, run.end()) >= RUN_MIN_LINES:
                    stop = run.end()
            self._parse_part(text, pos, stop)
            pos = stop

    def _parse_part(self, text: str, start: int, stop: int) -> None:
        try:
            self._parse(text[start:stop], 0)
        except Exception:
            self._resume += start  # (where in ``text`` to go on)
            raise

    @staticmethod
    def scratch(cols: int, rows: int, scrollback: int, pen: Cell, text: str) -> TerminalScreen:
        """A fresh screen that drew ``text`` from column 0 of its bottom row, blank in
        ``pen``'s background, with ``pen`` (for :mod:`relay.terminal.skim`)."""
        model = TerminalModel(cols, rows, scrollback)
        screen = model._screen
        screen.cursor.attrs = pen
        screen.cursor.y = rows - 1
        screen.buffer[rows - 1] = [erased_with(pen)] * cols
        model._run(model._parse, text)
        return screen

    def _parse_tokens(self, text: str, pos: int) -> None:
        """The reference path: every token from the tokenizer, applied in turn."""
        scan, apply = self._tokenizer.next, self._apply
        n = len(text)
        while pos < n:
            found = scan(text, pos)
            if found is None:
                return
            token, pos = found
            self._resume = pos
            apply(token)

    def _parse(self, text: str, pos: int) -> None:
        """The fast path: ``text`` cut at each ESC by ``str.split`` (no regex walks it).

        A piece starts with what followed its ESC: a sequence as :data:`SIMPLE` matches
        it (:func:`sequence_end`), applied here, then text and controls. Anything else
        is the tokenizer's, as on the reference path, and the pieces are taken up again
        where its token ended. Runs with :data:`RUN_MIN_LINES` line feeds go to
        ``draw_run``; one-cell text that fits, SGR, CUP and EL are applied here (a text
        or SGR seen before with the pen is one lookup); what may replace the screen's
        objects (RIS) or change modes is dispatched, and what is kept read again.
        """
        n = len(text)
        screen = self._screen
        tokenizer = self._tokenizer
        scan = tokenizer.next
        resume = pos
        try:
            while tokenizer.in_string and pos < n:  # a string handed out in pieces goes on
                found = scan(text, pos)
                if found is None:
                    return
                token, pos = found
                resume = pos
                self._apply(token)
            if pos >= n:
                return
            controls = self._controls
            dispatch = self._dispatch_csi
            pen_cells = screen.pen_cells
            dirty = screen.dirty
            cols = screen.columns
            cursor = screen.cursor
            plain = screen.plain_ascii()
            attrs = cursor.attrs
            cells = pen_cells()
            pieces = text[pos:].split("\x1b") if pos else text.split("\x1b")
            count = len(pieces)
            # Where to look for a run for draw_run: only while RUN_MIN_LINES line feeds
            # are left (counted down as they pass), and not twice in one run.
            feeds = text.count("\n", pos)
            runs_from = pos
            k = 0
            base = pos  # where pieces[k] starts in text (its ESC, if any, just before)
            skip = pos  # what is before this was applied
            while k < count:
                piece = pieces[k]
                stop = base + len(piece)  # the next ESC (or the end)
                if skip > stop:  # taken by a sequence the tokenizer read
                    k += 1
                    base = stop + 1
                    continue
                if skip >= runs_from and feeds >= RUN_MIN_LINES and screen.fast_ready():
                    run = RUN.match(text, skip)
                    if run is None:
                        runs_from = skip + 1
                    else:
                        runs_from = run.end()
                        lines = text.count("\n", skip, runs_from)
                        if lines >= RUN_MIN_LINES:
                            feeds -= lines
                            resume = skip = runs_from
                            screen.draw_run(run.group())
                            cursor, plain = screen.cursor, screen.plain_ascii()
                            continue
                at = skip - base  # where in the piece to go on (-1: at its ESC)
                if at < 0:
                    end = sequence_end(piece, pieces[k + 1] if k + 1 < count else "")
                    if end == 0:  # the tokenizer's: a DCS, a cut or malformed sequence
                        found = scan(text, skip)
                        if found is None:
                            return
                        token, skip = found
                        resume = skip
                        self._apply(token)
                        cursor, plain = screen.cursor, screen.plain_ascii()
                        continue
                    resume = base + end
                    first = ord(piece[0])
                    if first == 0x5B:  # [
                        final = piece[end - 1]
                        c = ord(piece[1])  # (the final, if there is nothing else)
                        if end == 2 or (0x30 <= c <= 0x3B and ord(piece[end - 2]) >= 0x30):
                            if final == "m":
                                if cursor.attrs is not attrs:
                                    attrs = cursor.attrs
                                    cells = pen_cells()
                                key = piece[:end]
                                after = cells.after.get(key)
                                if after is None:
                                    screen.sgr(key[1:-1])
                                    after = pen_cells()
                                    if len(cells.after) < 64:
                                        cells.after[key] = after
                                cells = after
                                cursor.attrs = attrs = cells.attrs
                            elif final == "H":
                                line, column = cup(piece, end)
                                screen.cursor_position(line, column)
                            elif final == "K" and (end == 2 or (end == 3 and c == 0x30)):
                                x, y = cursor.x, cursor.y
                                if x < cols:
                                    blank = erased_with(cursor.attrs)
                                    row = screen.buffer[y]
                                    if x and row[x].data == "":  # a wide character's right half
                                        row[x - 1] = blank
                                    for i in range(x, cols):  # (no list to build)
                                        row[i] = blank
                                    dirty.add(y)
                                else:
                                    screen.erase_in_line(0)
                            else:
                                dispatch(piece[1 : end - 1], "", final)
                                cursor, plain = screen.cursor, screen.plain_ascii()
                        else:  # a private marker or intermediates
                            params = piece[1 : end - 1]
                            body = params.rstrip(_INTERMEDIATES)
                            dispatch(body, params[len(body) :], final)
                            cursor, plain = screen.cursor, screen.plain_ascii()
                    elif first == 0x5D:  # ] (an OSC): its body up to BEL, ST or ESC \
                        if end > len(piece):  # (ended by ESC \: the next piece's first)
                            self._dispatch_osc(piece[1:])
                        else:
                            self._dispatch_osc(piece[1 : end - 1])
                    else:
                        self._dispatch_esc(piece[: end - 1], piece[end - 1])
                        cursor, plain = screen.cursor, screen.plain_ascii()
                    screen.rep_width = 0  # what follows a sequence joins nothing
                    skip = base + end
                    if skip > stop:
                        continue  # (ESC \ ended it: the rest is the next piece's)
                    at = end
                # Text and controls up to the next ESC (found by code: ord() of an index
                # compiles to a read of the character; a regex split cost ten times more).
                rest = piece[at:] if at else piece
                m = len(rest)
                i = start = 0
                where = base + at
                introducer = -1
                unicode = False  # (whether the text so far is more than ASCII)
                while i < m:
                    code = ord(rest[i])
                    if 0x20 <= code < 0x7F or code > 0x9F:
                        unicode = unicode or code > 0x9F
                        i += 1
                        if i < m:
                            continue
                    if i > start:  # text
                        chars = rest if i - start == m else rest[start:i]
                        resume = where + i
                        x = cursor.x
                        end = x + i - start
                        if (
                            plain
                            and end <= cols
                            and (not unicode or ONE_CELL.fullmatch(chars) is not None)
                        ):
                            if cursor.attrs is not attrs:
                                attrs = cursor.attrs
                                cells = pen_cells()
                            y = cursor.y
                            row = screen.buffer[y]
                            if x and row[x].data == "":  # over a wide character's right half
                                row[x - 1] = cells.by_char[" "]
                            if end < cols and row[end].data == "":  # over its left half
                                row[end] = cells.by_char[" "]
                            seq = cells.runs.get(chars)
                            if seq is None:
                                write_cells(screen, cells, chars, row, x, not unicode)
                            else:
                                row[x:end] = seq
                            dirty.add(y)
                            cursor.x = end
                            screen.rep_width = 1
                        else:
                            self._draw(chars)
                        if i == m:
                            break
                    resume = where + i + 1  # a control
                    if code == 0x0D:
                        cursor.x = 0
                    elif code == 0x0A:
                        feeds -= 1
                        screen.linefeed()
                    elif code == 0x09:
                        screen.tab()
                    elif code == 0x08:  # (from a pending wrap: from the last column)
                        cursor.x = max(0, min(cursor.x, cols - 1) - 1)
                    elif code in _C1_STARTS:  # a sequence the tokenizer reads
                        introducer = where + i
                        break
                    else:
                        action = controls.get(rest[i])
                        if action is not None:
                            action()
                            plain = screen.plain_ascii()  # (SO and SI switch charsets)
                    screen.rep_width = 0
                    i += 1
                    start = i
                    unicode = False
                if introducer >= 0:
                    found = scan(text, introducer)
                    if found is None:
                        return
                    token, skip = found
                    resume = skip
                    self._apply(token)
                    cursor, plain = screen.cursor, screen.plain_ascii()
                    continue
                k += 1
                base = stop + 1
                skip = stop
        except Exception:
            self._resume = resume
            raise

    def _apply(self, token: Token) -> None:
        """One token, whatever its kind (the reference path, and what the fast path leaves)."""
        kind = token.kind
        if kind == TEXT:
            self._draw(token.text)
            return
        self._apply_sequence(token)
        self._screen.rep_width = 0  # what follows a control or a sequence joins nothing

    def _apply_sequence(self, token: Token) -> None:
        kind = token.kind
        if kind == CONTROL:
            action = self._controls.get(token.text)
            if action is not None:
                action()
            return
        for char in token.controls:  # C0 controls inside a sequence run where they are
            action = self._controls.get(char)
            if action is not None:
                action()
        if kind == CSI:
            if token.final and not token.aborted:
                self._dispatch_csi(token.params, token.intermediates, token.final)
        elif kind == ESC:
            if token.final and not token.aborted:
                self._dispatch_esc(token.intermediates, token.final)
        elif kind == OSC:
            body = token.body
            if token.continued:
                body = self._osc + body
            if token.partial:
                self._osc = body[:_OSC_KEEP]
            elif not token.aborted:
                self._dispatch_osc(body)

    def _draw(self, text: str) -> None:
        if not text.isascii() and _INVALID.search(text):
            text = _INVALID.sub("\ufffd", text)  # as xterm draws invalid UTF-8
        self._screen.draw(text)

    def _dispatch_esc(self, inter: str, final: str) -> None:
        s = self._screen
        if not inter:
            action = self._escapes.get(final)
            if action is not None:
                action()
            elif final in "=>":
                s.keypad_app = final == "="
        elif inter in ("(", ")"):
            s.define_charset(final, inter)
        elif inter == "#" and final == "8":
            s.alignment_display()

    def _dispatch_osc(self, body: str) -> None:
        self._screen.osc(body[:_OSC_KEEP])

    def _dispatch_csi(self, params: str, inter: str, final: str) -> None:
        s = self._screen
        if final in "cn" and not inter:
            reply = REPLIES.get((params, final))
            if reply is not None:
                self._reply(reply)
            elif final == "n" and params in ("6", "?6"):
                self._reply(cursor_report(self.screen, private=params == "?6"))
            return
        if inter:
            if inter == " " and final == "q":  # DECSCUSR cursor shape
                s.cursor_style = min(num(params), 6)
            elif inter == "!" and final == "p":
                s.soft_reset()
            return
        if params[:1] in ("<", "=", ">"):
            return  # xterm/kitty keyboard and DA2 requests, not SGR or modes
        if params[:1] == "?":
            if final in "hl":
                modes = [num(p.partition(":")[0]) for p in params[1:].split(";")]
                (s.set_mode if final == "h" else s.reset_mode)(*modes, private=True)
            elif final == "J":  # DECSED/DECSEL: selective erase, without protection
                s.erase_in_display(num(params[1:].partition(";")[0]))
            elif final == "K":
                s.erase_in_line(num(params[1:].partition(";")[0]))
            return
        if final == "m":
            s.sgr(params)
            return
        args = [num(p.partition(":")[0]) for p in params.split(";")] if params else []
        if final in "hl":
            (s.set_mode if final == "h" else s.reset_mode)(*args)
        elif final == "s" and not params:
            s.save_cursor()  # SCOSC
        elif final == "u" and not params:
            s.restore_cursor()  # SCORC
        elif final == "T":
            if len(args) <= 1:  # with five it is xterm's highlight mouse tracking
                s.scroll_down(*args)
        else:
            entry = self._csi.get(final)
            if entry is not None:
                method, arity = entry
                method(*args[:arity])
