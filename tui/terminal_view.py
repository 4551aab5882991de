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
``ctrl+]`` starts the escape chord whose next key goes to the window instead.
"""

from __future__ import annotations

import time
from collections import deque
from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import var
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from relay.terminal import Cell, TerminalModel
from tui.commands import CHORD_KEY, WINDOW_LETTERS
from tui.keys import key_to_bytes, paste_to_bytes

FRAME = 1 / 60  # the shortest interval between two redraws
FEED_BUDGET = 64 * 1024  # bytes fed to the model per frame (pyte feeds ≈ 1 MB/s)
RESYNC_BACKLOG = 2 * 1024 * 1024  # a backlog this large is replaced by a snapshot
RESIZE_DEBOUNCE = 0.15

OUTSIDE = Style(bgcolor="grey11")
MARKER = Style(color="black", bgcolor="yellow", bold=True)


@lru_cache(maxsize=4096)
def pen_style(pen: Cell, reverse_video: bool = False) -> Style:
    """The Rich style of a model pen (colours are already in Rich's syntax)."""
    return Style(
        color=None if pen.fg == "default" else pen.fg,
        bgcolor=None if pen.bg == "default" else pen.bg,
        bold=pen.bold or None,
        dim=pen.dim or None,
        italic=pen.italics or None,
        underline=pen.underscore or None,
        strike=pen.strikethrough or None,
        reverse=(pen.reverse != reverse_video) or None,
        blink=pen.blink or None,
        conceal=pen.conceal or None,
    )


CURSOR = Style(reverse=True)


def line_strip(model: TerminalModel, y: int, cursor_x: int | None = None) -> Strip:
    """Row ``y`` of ``model`` as a ``Strip`` of ``model.cols`` cells.

    With ``cursor_x`` the cell under the cursor is drawn in reverse video.
    """
    reverse_video = model.reverse_video
    if cursor_x is None:
        segments = [
            Segment(text, pen_style(pen, reverse_video)) for text, pen in model.line_runs(y)
        ]
        return Strip(segments, model.cols)
    segments = []
    run: list[str] = []
    pen: Cell | None = None
    for x, cell in enumerate(model.line_cells(y)):
        if not cell.data:
            continue
        cell_pen = cell._replace(data="")
        if x == cursor_x:
            if run and pen is not None:
                segments.append(Segment("".join(run), pen_style(pen, reverse_video)))
            run, pen = [], None
            style = pen_style(cell_pen, reverse_video) + CURSOR
            if cell_pen.reverse != reverse_video:
                style = pen_style(cell_pen._replace(reverse=not cell_pen.reverse), reverse_video)
            segments.append(Segment(cell.data, style))
            continue
        if cell_pen != pen:
            if run and pen is not None:
                segments.append(Segment("".join(run), pen_style(pen, reverse_video)))
            run, pen = [], cell_pen
        run.append(cell.data)
    if run and pen is not None:
        segments.append(Segment("".join(run), pen_style(pen, reverse_video)))
    return Strip(segments, model.cols)


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

    driving: var[bool] = var(False)

    class Input(Message):
        """Bytes for the shell (only posted while driving)."""

        def __init__(self, data: bytes) -> None:
            super().__init__()
            self.data = data

    class Chord(Message):
        """The key that followed ``ctrl+]``."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

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
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.model = TerminalModel(cols, rows)
        self.pending = bytearray()
        # Size changes not applied yet: (the value of ``_taken`` they apply at, cols, rows).
        self._size_changes: deque[tuple[int, int, int]] = deque()
        self._taken = 0  # bytes ever taken out of ``pending`` (fed, or dropped)
        self.chord = False
        self.fed = 0
        self.frames = 0
        self._strips: dict[int, Strip] = {}
        self._cursor_row: int | None = None
        self._top = 0
        self._left = 0  # the first model column shown (cropping follows the cursor)
        self._flush_timer: Timer | None = None
        self._resize_timer: Timer | None = None
        self._last_frame = 0.0
        self._last_hint = 0.0
        self._reported: tuple[int, int] | None = None

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
        """Replace the screen with a snapshot (and drop the backlog it supersedes)."""
        self._drop_pending()
        self.model = TerminalModel(cols, rows)
        self.model.feed(data)
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
        self._flush_timer = self.set_timer(delay, self._frame, name="terminal-frame")

    def _frame(self) -> None:
        self._flush_timer = None
        self._feed(FEED_BUDGET)
        if self.pending or self._size_changes:
            self._schedule()

    def flush(self) -> None:
        """Feed everything pending now, size changes included (used by tests)."""
        self._feed(len(self.pending))

    def _feed(self, budget: int) -> None:
        resized = False
        changes = self._size_changes
        while True:
            if changes and changes[0][0] <= self._taken:
                _, cols, rows = changes.popleft()
                if (cols, rows) != (self.model.cols, self.model.rows):
                    self.model.resize(cols, rows)
                    resized = True
                continue
            if not self.pending or budget <= 0:
                break
            limit = min(budget, changes[0][0] - self._taken) if changes else budget
            chunk = bytes(self.pending[:limit])
            del self.pending[:limit]
            self.model.feed(chunk)
            self.fed += len(chunk)
            self._taken += len(chunk)
            budget -= len(chunk)
        self._last_frame = time.monotonic()
        self.frames += 1
        if resized:
            self._redraw_all()
            self.post_message(self.Reshaped())
        else:
            self._apply_dirty()

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
        if (top, left) != (self._top, self._left):
            self._top, self._left = top, left
            self.refresh()
            return
        width = self.size.width
        for y in rows:
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

    def crop_note(self) -> str:
        if not self.cropped:
            return ""
        width, height = self.size
        return f"cropped: shell {self.model.cols}x{self.model.rows}, window {width}x{height}"

    def _view_rows(self) -> int:
        height = self.size.height
        return max(1, height - 1) if self.cropped else height

    def _view_top(self) -> int:
        """The first model row shown: 0, unless cropping must follow the cursor."""
        rows = self._view_rows()
        if self.model.rows <= rows:
            return 0
        cursor_y = self.model.cursor[1]
        return max(0, min(self.model.rows - rows, cursor_y - rows + 1))

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
        self._resize_timer = self.set_timer(RESIZE_DEBOUNCE, self._report_size)

    def on_mount(self) -> None:
        self._schedule()

    def _report_size(self) -> None:
        self._resize_timer = None
        cols, rows = self.window_size()
        if (cols, rows) != self._reported:
            self._reported = (cols, rows)
            self.post_message(self.Resized(cols, rows))

    # ------------------------------------------------------------ rendering

    def _model_strip(self, y: int) -> Strip:
        strip = self._strips.get(y)
        if strip is None:
            cursor_x, cursor_y = self.model.cursor
            show_cursor = y == cursor_y and self.model.cursor_visible
            strip = line_strip(self.model, y, cursor_x if show_cursor else None)
            self._strips[y] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        model = self.model
        cropped = self.cropped
        if cropped and y == self.size.height - 1:
            return self._marker_line(width)
        row = y + self._top
        if row >= model.rows:
            return Strip([Segment(" " * width, OUTSIDE)], width)
        strip = self._model_strip(row).apply_style(base)
        if model.cols < width:
            return Strip([*strip, Segment(" " * (width - model.cols), OUTSIDE)], width)
        left = self._left
        end = left + width
        strip = strip.crop(left, end)
        if model.cols == width:
            return strip
        cells = model.line_cells(row)
        segments = list(strip)
        if left > 0 and any(cell.data.strip() for cell in cells[: left + 1]):
            segments = [Segment("◂", MARKER), *Strip(segments, width).crop(1, width)]
        if end < model.cols and any(cell.data.strip() for cell in cells[end - 1 :]):
            segments = [*Strip(segments, width).crop(0, width - 1), Segment("▸", MARKER)]
        return Strip(segments, width)

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

    def start_chord(self) -> None:
        """The next key goes to the window (the screen says which letters work)."""
        self.chord = True
        self.focus()

    async def on_key(self, event: events.Key) -> None:
        key = event.key
        if self.chord:
            self.chord = False
            event.stop()
            event.prevent_default()
            if key == CHORD_KEY:
                self.post_message(self.Input(b"\x1d"))
            elif key != "escape":
                self.post_message(self.Chord(key))
            return
        if not self.driving:
            if (
                key not in WINDOW_LETTERS
                and event.character
                and event.character.isprintable()
                and time.monotonic() - self._last_hint > 5
            ):
                self._last_hint = time.monotonic()
                self.post_message(self.NotDriving())
            return  # the window's own keys (bindings) handle it
        event.stop()
        event.prevent_default()
        if key == CHORD_KEY:
            self.start_chord()
            return
        data = key_to_bytes(key, event.character, self.model.app_cursor_keys)
        if data:
            self.post_message(self.Input(data))

    def on_paste(self, event: events.Paste) -> None:
        if not self.driving:
            self.post_message(self.NotDriving())
            return
        event.stop()
        event.prevent_default()
        self.post_message(self.Input(paste_to_bytes(event.text, self.model.bracketed_paste)))

    def watch_driving(self, driving: bool) -> None:
        self.set_class(driving, "-driving")
