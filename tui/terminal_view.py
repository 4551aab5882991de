"""The terminal pane: the shared shell's screen, rendered line by line.

Output bytes go into a :class:`relay.terminal.TerminalModel` (the same model the
relay keeps, with the alternate screen and split-UTF-8 handling); rendering uses
Textual's line API (``render_line`` → ``Strip``) and redraws only the rows the
model marks dirty, plus the rows the cursor left and entered.

Bytes are fed at most 60 times a second and at most :data:`FEED_BUDGET` bytes a
frame, so a flood of output never freezes the window: what is not fed yet
waits in ``pending``, and when that backlog passes :data:`RESYNC_BACKLOG` the
pane asks the relay for a fresh snapshot (:class:`TerminalView.Behind`)
instead of replaying megabytes of scrolled-away text.

The model has the PTY's size, always, and changes it only where the stream
says (:meth:`TerminalView.resize_model`, in order with the bytes), never when
this window changes or control changes hands: the driver's window sets the
PTY's size through the relay, and its screen follows when the relay's size
change comes back in the stream, like everybody else's.

When this window is smaller than the shared PTY (a viewer whose terminal is
smaller than the driver's), the screen is cropped, never reflowed: the rows
and columns around the cursor are shown (the cursor stays in view, the columns
scroll only when it would leave them), a ``▸`` marks rows cut on the right, a
``◂`` rows cut on the left, and the last row says what is hidden.

While this client drives, every key goes to the shell (:mod:`tui.keys`);
``ctrl+]`` starts the escape chord whose next key goes to the window instead
(the session screen decides the chord, in typing order, before keys reach
this pane). Before the window's first join keys are taken the same way and
kept here until the screen knows whether this window drives (:mod:`tui.typeahead`).

Scrollback: ``shift+PgUp``/``shift+PgDn`` (never sent to the shell, as in
xterm) and the wheel scroll back through the model's history; any other key
returns to live. Scroll mode (``ctrl+] b``) moves a cursor over the lines with
the keyboard, ``v`` selects and ``y`` copies. Rows are addressed as the
scrollback's index plus the screen's (:mod:`tui.scrollback`), so a view
scrolled back and a selection stay on their text while output arrives.
Dragging selects and copies to this computer's clipboard (OSC 52). The mouse
goes to the shell instead (:mod:`tui.mouse`) only while this client drives,
the program asked for it and the view is live; shift+drag still selects.

The driver's client answers the device queries the model saw
(:class:`TerminalView.Reply`, sent as input); everyone else's drops them, so
the shell hears one answer.
"""

from __future__ import annotations

import time
from collections import Counter, deque

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import var
from textual.strip import Strip
from textual.widget import Widget

from relay.terminal import TerminalModel
from tui.commands import WINDOW_LETTERS
from tui.keys import key_to_bytes, paste_to_bytes
from tui.mouse import Kind, MouseEvent, MouseReporter
from tui.room import Room
from tui.scrollback import Drops
from tui.selection import Pos, Selection
from tui.strips import highlight, line_strip
from tui.timers import Later
from tui.typeahead import TypeAhead

FRAME = 1 / 60  # the shortest interval between two redraws
FEED_BUDGET = 64 * 1024  # bytes fed to the model per frame (pyte feeds ≈ 1 MB/s)
RESYNC_BACKLOG = 2 * 1024 * 1024  # a backlog this large is replaced by a snapshot
RESIZE_DEBOUNCE = 0.15
# Keys that scroll the pane even while driving (as in xterm), and by how many pages.
SCROLL_KEYS = {"shift+pageup": 1, "shift+pagedown": -1}
WHEEL_LINES = 3  # lines one notch of the wheel scrolls

OUTSIDE = Style(bgcolor="grey11")
MARKER = Style(color="black", bgcolor="yellow", bold=True)
NOTE = Style(color="black", bgcolor="cyan", bold=True)
SELECTED = Style(reverse=True)
MARK = Style(color="black", bgcolor="yellow")


class TerminalView(Widget, can_focus=True):
    """Renders a :class:`TerminalModel`; sends keys as :class:`TerminalView.Input`."""

    DEFAULT_CSS = """
    TerminalView {
        width: 1fr;
        height: 1fr;
        background: black;
        color: #e5e5e5;
    }
    """
    ALLOW_SELECT = False  # the pane selects terminal cells itself (Textual's selects widgets)

    driving: var[bool] = var(False)

    class Input(Message):
        """Bytes for the shell (only posted while driving, or once typed ahead)."""

        def __init__(self, data: bytes) -> None:
            super().__init__()
            self.data = data

    class Reply(Message):
        """The answers to device queries the driver's screen saw (see ``take_replies``)."""

        def __init__(self, data: bytes) -> None:
            super().__init__()
            self.data = data

    class Resized(Message):
        """The pane's size changed: what this window could show, in cells."""

        def __init__(self, cols: int, rows: int) -> None:
            super().__init__()
            self.cols = cols
            self.rows = rows

    class Reshaped(Message):
        """The screen or the pane changed size: whether it is cropped may have changed."""

    class Behind(Message):
        """The backlog was dropped; the screen needs a fresh snapshot."""

    class NotDriving(Message):
        """A key meant for the shell was pressed by someone who does not drive."""

    def __init__(
        self,
        cols: int = 80,
        rows: int = 24,
        *,
        typing_ahead: bool = False,
        id: str | None = None,
    ) -> None:
        """``typing_ahead``: until :meth:`settle_typeahead`, keys are kept for the shell."""
        super().__init__(id=id)
        self.typeahead = TypeAhead(typing_ahead, tell=self._tell)
        self.model = TerminalModel(cols, rows)
        self.pending = bytearray()
        # Size changes not applied yet: (the value of ``_taken`` they apply at, cols, rows).
        self._size_changes: deque[tuple[int, int, int]] = deque()
        self._taken = 0  # bytes ever taken out of ``pending`` (fed, or dropped)
        self.fed = 0  # bytes fed to the model
        self.frames = 0  # frames drawn
        # How often each screen row was turned into a strip (a clean row's is reused).
        self.rows_built: Counter[int] = Counter()
        self._strips: dict[int, Strip] = {}
        self._cursor_row: int | None = None
        self._top = 0
        self._left = 0  # the first model column shown (cropping follows the cursor)
        # Not Textual's set_timer: a pending frame that never fired would stop all drawing.
        self._flush_timer: Later | None = None
        self._resize_timer: Later | None = None
        self._last_frame = 0.0
        self._last_hint = 0.0
        self._reported: tuple[int, int] | None = None
        # Scrollback, selection and the mouse (rows are absolute: see tui.scrollback).
        self._back: int | None = None  # the first row shown while scrolled back; None: live
        self._drops = Drops()
        self.selection: Selection | None = None
        self.scroll_mode = False  # the keyboard moves a cursor over the lines (ctrl+] b)
        self._mark: Pos = (0, 0)  # that cursor
        self._marking = False  # ...and whether it extends a selection
        self._dragging = False  # the left button selects
        self._reporting = False  # a button went down with the shell tracking the mouse
        self._mouse = MouseReporter()

    # ------------------------------------------------------------ output

    def write(self, data: bytes) -> None:
        """Queue output bytes; they are fed and drawn on the next frame."""
        self.pending += data
        if len(self.pending) > RESYNC_BACKLOG:
            self._drop_pending()
            self.post_message(self.Behind())
            return
        self._schedule()

    def _drop_pending(self) -> None:
        self._taken += len(self.pending)
        self.pending.clear()
        self._size_changes.clear()

    def load_snapshot(self, cols: int, rows: int, data: bytes) -> None:
        """Replace the screen with a snapshot (and drop the backlog it supersedes).

        The snapshot may start with scrollback: it lands in the new model's history.
        """
        self._drop_pending()
        self.model = TerminalModel(cols, rows)
        self.model.feed(data)
        self.model.take_replies()  # a snapshot asks nothing; answers are the stream's
        self._forget_positions()
        self._redraw_all()
        self.post_message(self.Reshaped())

    def resize_model(self, cols: int, rows: int) -> None:
        """The PTY has this size after the bytes written so far (the relay's ``r`` frame)."""
        self._size_changes.append((self._taken + len(self.pending), cols, rows))
        self._schedule()

    def _schedule(self) -> None:
        if self._flush_timer is not None or not self.is_attached:
            return
        delay = max(0.002, self._last_frame + FRAME - time.monotonic())
        self._flush_timer = Later(self, delay, self._frame)

    def _frame(self) -> None:
        self._flush_timer = None
        self._feed(FEED_BUDGET)
        if self.pending or self._size_changes:
            self._schedule()

    def flush(self, budget: int | None = None) -> None:
        """Feed what is pending now, size changes included, as one frame would.

        ``budget``: at most that many bytes (a frame's share); all of them by
        default. Tests and benchmarks use it to draw without waiting for a frame.
        """
        self._feed(len(self.pending) if budget is None else budget)

    def _feed(self, budget: int) -> None:
        model = self.model
        resized = False
        replies = bytearray()
        changes = self._size_changes
        following = self._back is not None or self.selection is not None or self.scroll_mode
        if following:
            self._drops.look(model.history)
        while True:
            if changes and changes[0][0] <= self._taken:
                _, cols, rows = changes.popleft()
                if (cols, rows) != (model.cols, model.rows):
                    model.resize(cols, rows)
                    resized = True
                continue
            if not self.pending or budget <= 0:
                break
            limit = min(budget, changes[0][0] - self._taken) if changes else budget
            chunk = bytes(self.pending[:limit])
            del self.pending[:limit]
            model.feed(chunk)
            replies += model.take_replies()
            self.fed += len(chunk)
            self._taken += len(chunk)
            budget -= len(chunk)
        self._last_frame = time.monotonic()
        self.frames += 1
        if replies and self.driving:  # only the driver answers, so the shell hears it once
            self.post_message(self.Reply(bytes(replies)))
        if following:
            self._follow(self._drops.dropped(model.history))
        if resized:
            self._redraw_all()
            self.post_message(self.Reshaped())
        else:
            self._apply_dirty()

    def _follow(self, dropped: int | None) -> None:
        """Keep the scrolled-back view and the selection on their text."""
        if dropped is None:  # the scrollback was cleared or pulled back: start over
            self._forget_positions()
            self.refresh()
            return
        if not dropped:
            return
        if self._back is not None:
            self._back = max(0, self._back - dropped)
        if self.selection is not None:
            self.selection = self.selection.moved(dropped)
        row, col = self._mark
        self._mark = (max(0, row - dropped), col)

    def _forget_positions(self) -> None:
        self._back = None
        self.selection = None
        self._dragging = self._marking = False
        self.scroll_mode = False

    def _apply_dirty(self) -> None:
        model = self.model
        rows = set(model.dirty)
        model.dirty.clear()
        cursor_y = model.cursor[1]
        if self._cursor_row is not None:
            rows.add(self._cursor_row)
        rows.add(cursor_y)
        self._cursor_row = cursor_y
        for y in rows:
            self._strips.pop(y, None)
        top, left = self._view_top(), self._view_left()
        if (top, left) != (self._top, self._left) or self._back is not None:
            self._top, self._left = top, left
            self.refresh()  # what each pane row shows has moved
            return
        width = self.size.width
        for y in rows:  # live (scrolled back returned above): screen row y is at y - top
            view_y = y - top
            if 0 <= view_y < self.size.height:
                self.refresh(Region(0, view_y, width, 1))

    def _redraw_all(self) -> None:
        self.model.dirty.clear()
        self._strips.clear()
        self._cursor_row = self.model.cursor[1]
        self._top = self._view_top()
        self._left = self._view_left()
        self.refresh()

    # ------------------------------------------------------------ geometry

    def window_size(self) -> tuple[int, int]:
        """The cells this pane can show (what the PTY would be if we drove)."""
        size = self.content_region.size if self.is_mounted else Size(0, 0)
        return max(2, size.width), max(2, size.height)

    @property
    def cropped(self) -> bool:
        width, height = self.size
        return self.model.cols > width or self.model.rows > height

    @property
    def first_column(self) -> int:
        """The first column of the shell shown (more than 0 while cropped on the left)."""
        return self._left

    @property
    def scrolled_back(self) -> bool:
        return self._back is not None

    def crop_note(self) -> str:
        if not self.cropped:
            return ""
        width, height = self.size
        return f"cropped: shell {self.model.cols}x{self.model.rows}, window {width}x{height}"

    def _has_note_row(self) -> bool:
        """The pane's last row says something (cropping, scrollback) instead of a line."""
        return self.cropped or self._back is not None or self.scroll_mode

    def _view_rows(self) -> int:
        height = self.size.height
        return max(1, height - 1) if self._has_note_row() else height

    def _view_top(self) -> int:
        """The first screen row shown live: 0, unless cropping must follow the cursor."""
        rows = self._view_rows()
        if self.model.rows <= rows:
            return 0
        cursor_y = self.model.cursor[1]
        return max(0, min(self.model.rows - rows, cursor_y - rows + 1))

    def _live_row(self) -> int:
        """The absolute row at the top of the pane when live."""
        return len(self.model.history) + self._top

    def _first_row(self) -> int:
        """The absolute row shown on the pane's first row."""
        return self._live_row() if self._back is None else self._back

    def _view_left(self) -> int:
        """The first model column shown: it moves only to keep the cursor in view.

        When the shell is wider than the pane, a row cut on the left shows ``◂``
        in its first cell and one cut on the right ``▸`` in its last, so the
        cursor is kept off the cells those markers may cover.
        """
        width = self.size.width
        cols = self.model.cols
        if cols <= width:
            return 0
        last = cols - width  # the largest useful offset: the right edge in view
        cursor_x = self.model.cursor[0]
        if width < 3:  # no room for markers around the cursor
            return min(last, cursor_x)
        left = min(self._left, last)
        lowest = left + 1 if left > 0 else left  # first column not under a ◂
        highest = left + width - 1 if left == last else left + width - 2  # nor under a ▸
        if cursor_x < lowest:
            left = cursor_x - 1 if cursor_x > 1 else 0
        elif cursor_x > highest:
            left = cursor_x - width + 2
        return max(0, min(last, left))

    def on_resize(self, event: events.Resize) -> None:
        self._top = self._view_top()
        self._left = self._view_left()
        self.refresh()
        self.post_message(self.Reshaped())
        if self._resize_timer is not None:
            self._resize_timer.stop()
        self._resize_timer = Later(self, RESIZE_DEBOUNCE, self._report_size)

    def on_mount(self) -> None:
        self._schedule()

    def _report_size(self) -> None:
        self._resize_timer = None
        cols, rows = self.window_size()
        if (cols, rows) != self._reported:
            self._reported = (cols, rows)
            self.post_message(self.Resized(cols, rows))

    # ------------------------------------------------------------ scrollback

    def scroll_lines(self, lines: int) -> None:
        """Scroll back (``lines`` > 0) or forward through the scrollback; live at the end."""
        live = self._live_row()
        first = self._first_row()
        target = max(0, min(live, first - lines))
        was = self._back
        if target >= live:
            self._back = None
        else:
            self._back = target
        if self._back != was:
            if (was is None) != (self._back is None):
                self._top = self._view_top()  # the note row comes or goes
                live = self._live_row()
                if self._back is not None:
                    self._back = max(0, min(live - 1, self._back))
            self.refresh()

    def scroll_page(self, pages: int) -> None:
        """A page is the rows shown while scrolled back (above the note row) less one."""
        self.scroll_lines(pages * max(1, self.size.height - 2))

    def go_live(self) -> None:
        """Back to the live screen: scrolling, scroll mode and selection end."""
        if self._back is None and not self.scroll_mode and self.selection is None:
            return
        self._forget_positions()
        self._top = self._view_top()
        self.refresh()

    def start_scroll_mode(self) -> None:
        """ctrl+] b: the keyboard moves a cursor over the lines (see :data:`SCROLL_KEYS`)."""
        if self.scroll_mode:
            return
        self.scroll_mode = True
        self._marking = False
        cursor_x, cursor_y = self.model.cursor
        self._mark = (len(self.model.history) + cursor_y, cursor_x)
        self.focus()
        self._top = self._view_top()
        self.refresh()

    def _move_mark(self, rows: int, cols: int) -> None:
        last_row = len(self.model.history) + self.model.rows - 1
        row = max(0, min(last_row, self._mark[0] + rows))
        col = max(0, min(self.model.cols - 1, self._mark[1] + cols))
        self._mark = (row, col)
        if self._marking and self.selection is not None:
            self.selection = Selection(self.selection.anchor, self._mark)
        first, shown = self._first_row(), self._view_rows()
        if row < first:
            self.scroll_lines(first - row)
        elif row >= first + shown:
            self.scroll_lines(first + shown - 1 - row)
        self.refresh()

    def _scroll_mode_key(self, key: str) -> bool:
        """A key in scroll mode; False: not one of its keys (it returns to live)."""
        page = max(1, self._view_rows() - 1)
        moves = {
            "up": (-1, 0),
            "k": (-1, 0),
            "down": (1, 0),
            "j": (1, 0),
            "left": (0, -1),
            "h": (0, -1),
            "right": (0, 1),
            "l": (0, 1),
            "pageup": (-page, 0),
            "pagedown": (page, 0),
            "home": (-(1 << 30), 0),
            "g": (-(1 << 30), 0),
            "end": (1 << 30, 0),
            "G": (1 << 30, 0),
        }
        if key in moves:
            self._move_mark(*moves[key])
        elif key in ("v", "space"):
            self._marking = not self._marking
            self.selection = Selection(self._mark, self._mark) if self._marking else None
            self.refresh()
        elif key in ("y", "enter"):
            if self.selection is not None:
                self.copy_selection()
            self.go_live()
        elif key in ("q", "escape"):
            self.go_live()
        else:
            return False
        return True

    # ------------------------------------------------------------ selection and copy

    def copy_selection(self) -> str:
        """Copy the selected text to this computer's clipboard (OSC 52); return it."""
        selection = self.selection
        if selection is None or (selection.empty and not self._marking):
            return ""
        model = self.model
        history = len(model.history)
        last = history + model.rows

        def row_text(row: int) -> list[str]:
            if not 0 <= row < last:
                return []
            return [cell.data for cell in model.line(row - history)]

        text = selection.text(row_text, model.cols)
        self.app.copy_to_clipboard(text)
        lines = text.count("\n") + 1
        self.notify(
            f"{len(text)} characters{f' on {lines} lines' if lines > 1 else ''}",
            title="Copied",
            timeout=2,
        )
        return text

    def _cell_at(self, x: int, y: int, clamp: bool = False) -> Pos | None:
        """The absolute (row, col) under pane cell (x, y); None outside the screen's lines."""
        model = self.model
        shown = self._view_rows()
        if clamp:
            x = max(0, min(self.size.width - 1, x))
            y = max(0, min(shown - 1, y))
        elif not (0 <= y < shown and 0 <= x < self.size.width):
            return None
        col = x + self._left
        row = self._first_row() + y
        last = len(model.history) + model.rows - 1
        if col >= model.cols or row > last:
            if not clamp:
                return None
            col, row = min(col, model.cols - 1), min(row, last)
        return row, col

    # ------------------------------------------------------------ the mouse

    def _tracking(self, shift: bool) -> bool:
        """Whether mouse events go to the shell: the driver's program asked, live, no shift."""
        return (
            self.driving
            and self.model.mouse_protocol != 0
            and self._back is None
            and not self.scroll_mode
            and not shift
        )

    def _report(self, kind: Kind, event: events.MouseEvent, clamp: bool = False) -> None:
        cell = self._cell_at(int(event.x), int(event.y), clamp)
        if cell is None:
            return
        row = cell[0] - len(self.model.history)
        button = event.button - 1 if event.button in (1, 2, 3) else None
        report = MouseEvent(kind, cell[1], row, button, bool(event.meta), bool(event.ctrl))
        data = self._mouse.report(self.model.mouse_protocol, self.model.mouse_encoding, report)
        if data:
            self.send_up(self.Input(data))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        event.stop()
        if self._tracking(event.shift):
            self._reporting = True
            self.capture_mouse()
            self._report(Kind.PRESS, event)
            return
        if event.button != 1:
            return
        cell = self._cell_at(int(event.x), int(event.y))
        self.selection = None
        if cell is not None:
            self.selection = Selection(cell, cell)
            self._dragging = True
            self.capture_mouse()
        self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._reporting or (self._tracking(event.shift) and not self._dragging):
            self._report(Kind.MOTION, event)
            return
        if not self._dragging or self.selection is None:
            return
        shown = self._view_rows()
        if event.y < 0:  # dragged above the pane: the lines scroll under the mouse
            self.scroll_lines(1)
        elif event.y >= shown:
            self.scroll_lines(-1)
        cell = self._cell_at(int(event.x), int(event.y), clamp=True)
        if cell is not None and cell != self.selection.head:
            self.selection = Selection(self.selection.anchor, cell)
            self.refresh()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        event.stop()
        if self._reporting:
            self._reporting = False
            self.release_mouse()
            self._report(Kind.RELEASE, event, clamp=True)
            return
        if not self._dragging:
            return
        self._dragging = False
        self.release_mouse()
        if self.selection is not None and not self.selection.empty:
            self.copy_selection()
        else:
            self.selection = None
            self.refresh()

    def _wheel(self, event: events.MouseEvent, up: bool) -> None:
        event.stop()
        event.prevent_default()
        if self._tracking(event.shift):
            self._report(Kind.WHEEL_UP if up else Kind.WHEEL_DOWN, event)
        elif not self.model.alternate or self._back is not None:
            self.scroll_lines(WHEEL_LINES if up else -WHEEL_LINES)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._wheel(event, up=True)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._wheel(event, up=False)

    # ------------------------------------------------------------ rendering

    def _model_strip(self, y: int) -> Strip:
        strip = self._strips.get(y)
        if strip is None:
            cursor_x, cursor_y = self.model.cursor
            show_cursor = y == cursor_y and self.model.cursor_visible
            strip = line_strip(self.model, y, cursor_x if show_cursor else None)
            self._strips[y] = strip
            self.rows_built[y] += 1
        return strip

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        model = self.model
        if self._has_note_row() and y == self.size.height - 1:
            return self._note_line(width)
        row = self._first_row() + y
        history = len(model.history)
        screen_row = row - history
        if screen_row >= model.rows:
            return Strip([Segment(" " * width, OUTSIDE)], width)
        # Screen rows are cached (and redrawn when dirty); scrollback rows never change.
        strip = self._model_strip(screen_row) if screen_row >= 0 else line_strip(model, screen_row)
        strip = self._decorate(strip, row).apply_style(base)
        if model.cols < width:
            return Strip([*strip, Segment(" " * (width - model.cols), OUTSIDE)], width)
        left = self._left
        end = left + width
        strip = strip.crop(left, end)
        if model.cols == width:
            return strip
        cells = model.line(screen_row)
        segments = list(strip)
        if left > 0 and any(cell.data.strip() for cell in cells[: left + 1]):
            segments = [Segment("◂", MARKER), *Strip(segments, width).crop(1, width)]
        if end < model.cols and any(cell.data.strip() for cell in cells[end - 1 :]):
            segments = [*Strip(segments, width).crop(0, width - 1), Segment("▸", MARKER)]
        return Strip(segments, width)

    def _decorate(self, strip: Strip, row: int) -> Strip:
        """The selection and the scroll mode's cursor, on the absolute ``row``."""
        cols = self.model.cols
        if self.selection is not None:
            span = self.selection.columns(row, cols)
            if span is not None:
                strip = highlight(strip, span[0], span[1], SELECTED)
        if self.scroll_mode and self._mark[0] == row:
            strip = highlight(strip, self._mark[1], self._mark[1] + 1, MARK)
        return strip

    def _note_line(self, width: int) -> Strip:
        """The last row: what is scrolled back or cropped, and how to get back."""
        if self._back is not None or self.scroll_mode:
            model = self.model
            below = self._live_row() - self._first_row()
            if self.scroll_mode:
                keys = "arrows/PgUp/PgDn move · v select · y copy · q live"
            else:
                keys = "shift+PgDn or wheel down · any key: live"
            where = f"{below} of {len(model.history)} lines back" if below else "live"
            text = f" ↑ {where} · {keys} "
            return Strip([Segment(text[:width].ljust(width), NOTE)], width)
        return self._marker_line(width)

    def _marker_line(self, width: int) -> Strip:
        hidden = []
        cols = self.model.cols
        if cols > width:
            left = self._left
            # The columns past the window, plus the ones the ◂ / ▸ markers cover.
            on_left = left + 1 if left > 0 else 0
            on_right = cols - (left + width) + 1 if left + width < cols else 0
            if not on_left:
                hidden.append(f"{on_right} columns")
            elif not on_right:
                hidden.append(f"{on_left} columns on the left")
            else:
                hidden.append(f"{on_left} columns on the left, {on_right} on the right")
        if self.model.rows > self._view_rows():
            hidden.append(f"{self.model.rows - self._view_rows()} rows")
        text = (
            f" ✂ the shared screen is {self.model.cols}x{self.model.rows}; "
            f"{' and '.join(hidden)} hidden: enlarge this window "
        )
        text = text[:width].ljust(width)
        return Strip([Segment(text, MARKER)], width)

    def screen_text(self) -> list[str]:
        """The model's rows as text (for tests and the e2e check)."""
        return self.model.display()

    # ------------------------------------------------------------ input

    def send_up(self, message: Message) -> None:
        """Post ``message`` straight to the parent, not through this pane's queue.

        So it goes behind what the keys typed before it sent, and ahead of a
        window key still queued here (:mod:`tui.window_keys`): through the own
        queue, ``ctrl+] ctrl+]`` once reached the shell before the keys typed
        ahead of it.
        """
        (self.parent or self).post_message(message)

    async def on_key(self, event: events.Key) -> None:
        key = event.key
        if key in SCROLL_KEYS and not self.scroll_mode:  # the window's, even while driving
            event.stop()
            event.prevent_default()
            self.scroll_page(SCROLL_KEYS[key])
            return
        if self.scroll_mode:
            if self._scroll_mode_key(key):
                event.stop()
                event.prevent_default()
                return
            self.go_live()  # any other key: back to live, and it does what it does there
        elif self._back is not None or self.selection is not None:
            self.go_live()  # typing returns to live
        if not self.takes_keys:
            if self.typeahead.typed_ahead(event.time):  # read after a watcher's join
                event.stop().prevent_default()  # discarded: not the window's letters either
                return
            if (
                key not in WINDOW_LETTERS
                and event.character
                and event.character.isprintable()
                and time.monotonic() - self._last_hint > 5
            ):
                self._last_hint = time.monotonic()
                self.send_up(self.NotDriving())
            return  # the window's own keys (bindings) handle it
        event.stop()
        event.prevent_default()
        data = key_to_bytes(key, event.character, self.model.app_cursor_keys)
        if data and not self.typeahead.keep(data):
            self.send_up(self.Input(data))

    @property
    def takes_keys(self) -> bool:
        """Keys go to the shell: this client drives, or types ahead of the first join."""
        return self.driving or self.typeahead.keeping

    def _tell(self, text: str, title: str) -> None:
        self.notify(text, title=title, severity="warning", timeout=10)

    def settle_typeahead(self, room: Room) -> None:
        """The room says who this window is (once): send what was typed ahead, or not."""
        kept = self.typeahead.settle(room, Message().time)  # the clock keys are stamped with
        if kept:  # on its way up ahead of any key read from now on
            self.send_up(self.Input(kept))

    def on_paste(self, event: events.Paste) -> None:
        if not self.takes_keys:
            self.send_up(self.NotDriving())
            return
        event.stop()
        event.prevent_default()
        self.go_live()
        data = paste_to_bytes(event.text, self.model.bracketed_paste)
        if not self.typeahead.keep(data):
            self.send_up(self.Input(data))

    def watch_driving(self, driving: bool) -> None:
        self.set_class(driving, "-driving")
