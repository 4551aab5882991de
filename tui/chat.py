"""The chat pane: messages with author and time; Enter sends yours."""

from __future__ import annotations

import time

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, RichLog

from tui.room import ChatLine


def render_chat_line(line: ChatLine) -> Text:
    stamp = time.strftime("%H:%M", time.localtime(line.t))
    text = Text()
    text.append(f"{stamp} ", style="dim")
    if line.system:
        text.append(line.text, style="italic dim")
        return text
    text.append(line.user, style="bold green" if line.mine else "bold cyan")
    text.append(": ")
    text.append(line.text)
    return text


class ChatPane(Vertical):
    """A log of messages and an input; posts :class:`ChatPane.Send` on Enter."""

    DEFAULT_CSS = """
    ChatPane {
        height: 1fr;
    }
    ChatPane > RichLog {
        height: 1fr;
        background: $surface;
        scrollbar-size-vertical: 1;
    }
    ChatPane > Input {
        height: 3;
    }
    """

    class Send(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[ChatLine] = []

    def compose(self) -> ComposeResult:
        yield RichLog(wrap=True, markup=False, id="chat-log", auto_scroll=True, min_width=10)
        yield Input(placeholder="message (Enter sends, Esc back)", id="chat-input")

    def add(self, line: ChatLine) -> None:
        self.lines.append(line)
        self.query_one(RichLog).write(render_chat_line(line))

    @on(Input.Submitted, "#chat-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if text:
            self.post_message(self.Send(text))
        event.input.value = ""

    def focus_input(self) -> None:
        self.query_one(Input).focus()
