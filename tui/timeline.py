"""The replay timeline: where we are in the recording, and where the session's events are."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from relay.evidence.replay import Mark

# One glyph per kind of event, so a glance at the bar says what happened where.
GLYPHS = {"c": "c", "h": "h", "j": "+", "l": "-", "s": "R", "e": "x", "x": "x", "m": "m"}
PLAYED = Style(color="dodger_blue1")
AHEAD = Style(color="grey42")
MARK = Style(color="yellow", bold=True)
HEAD = Style(color="white", bold=True)


def clock(seconds: float) -> str:
    """``m:ss.s`` (or ``h:mm:ss``) for the status line and the timeline."""
    seconds = max(0.0, seconds)
    if seconds >= 3600:
        hours, rest = divmod(int(seconds), 3600)
        return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"


class Timeline(Widget):
    """Two rows: a progress bar with a glyph per event, and the latest event so far."""

    DEFAULT_CSS = """
    Timeline { height: 2; }
    """

    position: reactive[float] = reactive(0.0)

    def __init__(self, marks: list[Mark], duration: float, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.marks = marks
        self.duration = duration

    def column(self, time: float, width: int) -> int:
        if self.duration <= 0 or width <= 1:
            return 0
        return min(width - 1, int(time / self.duration * (width - 1)))

    def bar(self, width: int) -> Text:
        """The progress bar: played part, the rest, event glyphs, the play head."""
        head = self.column(self.position, width)
        cells = [("━", PLAYED if x < head else AHEAD) for x in range(width)]
        for mark in self.marks:
            if mark.code in GLYPHS:
                cells[self.column(mark.time, width)] = (GLYPHS[mark.code], MARK)
        cells[head] = ("●", HEAD)
        text = Text()
        for char, style in cells:
            text.append(char, style)
        return text

    def latest(self) -> str:
        """The last event at or before the play head, as one line."""
        done = [m for m in self.marks if m.time <= self.position and m.code in GLYPHS]
        if not done:
            return "no session events yet"
        mark = done[-1]
        return f"{clock(mark.time)}  {mark.describe()}"

    def render(self) -> Text:
        width = max(2, self.size.width)
        text = self.bar(width)
        text.append("\n")
        text.append(self.latest()[:width], Style(color="grey70"))
        return text
