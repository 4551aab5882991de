"""Rows of the terminal model as Rich strips: the pen's colours and attributes, the
cursor, highlights.

Pure drawing, kept apart from the pane (:mod:`tui.terminal_view`) that decides
which rows to draw, where, and when. Styles are cached per pen: a screen has
few distinct pens and is redrawn up to 60 times a second.
"""

from __future__ import annotations

from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from relay.terminal import Cell, TerminalModel


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


def cells_strip(
    cells: list[Cell],
    cols: int,
    reverse_video: bool = False,
    cursor_x: int | None = None,
) -> Strip:
    """``cells`` (one row) as a ``Strip`` of ``cols`` cells.

    With ``cursor_x`` the cell under the cursor is drawn in reverse video.
    """
    segments = []
    run: list[str] = []
    pen: Cell | None = None
    for x, cell in enumerate(cells):
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
    return Strip(segments, cols)


def line_strip(model: TerminalModel, y: int, cursor_x: int | None = None) -> Strip:
    """Row ``y`` of ``model`` (negative: the scrollback) as a ``Strip`` of ``model.cols`` cells.

    With ``cursor_x`` the cell under the cursor is drawn in reverse video.
    """
    reverse_video = model.reverse_video
    if cursor_x is None and y >= 0:
        segments = [
            Segment(text, pen_style(pen, reverse_video)) for text, pen in model.line_runs(y)
        ]
        return Strip(segments, model.cols)
    return cells_strip(model.line(y), model.cols, reverse_video, cursor_x)


def highlight(strip: Strip, start: int, end: int, style: Style) -> Strip:
    """``strip`` with the cells ``start..end`` (half open) drawn with ``style`` on top."""
    width = strip.cell_length
    start, end = max(0, start), min(width, end)
    if start >= end:
        return strip
    middle = [
        Segment(text, (seg_style or Style()) + style)
        for text, seg_style, _ in strip.crop(start, end)
    ]
    return Strip([*strip.crop(0, start), *middle, *strip.crop(end, width)], width)
