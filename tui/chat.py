"""The chat pane: messages with author and time; Enter sends yours; ``@you`` stands out."""

from __future__ import annotations

import re
import time

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, RichLog

from tui.room import ChatLine

GUEST_PREFIX = "guest:"  # the relay names invite holders guest:<name>
MENTION = re.compile(r"(?<![\w@])@([\w.:-]*[\w])")
MENTIONED = "bold black on yellow"


def handles(user: str) -> set[str]:
    """The names ``@…`` may call ``user`` by: the user name, and a guest's own name."""
    names = {user.casefold()}
    if user.startswith(GUEST_PREFIX):
        names.add(user[len(GUEST_PREFIX) :].casefold())
    return {name for name in names if name}


def mentions(text: str, user: str) -> bool:
    """Whether ``text`` calls ``user`` by ``@name`` (case does not matter)."""
    names = handles(user)
    return any(match.group(1).casefold() in names for match in MENTION.finditer(text))


def render_chat_line(line: ChatLine, me: str = "") -> Text:
    """One message; the ``@names`` in it stand out, and the whole line when it is ``@me``."""
    text = Text()
    if line.system:  # the relay's news, not a person's: set apart, without a clock
        text.append("── ", style="dim")
        text.append(line.text, style="italic")
        return text
    stamp = time.strftime("%H:%M", time.localtime(line.t))
    text.append(f"{stamp} ", style="dim")
    text.append(line.user, style="bold green" if line.mine else "bold cyan")
    text.append(": ")
    body = Text(line.text)
    names = handles(me) if me else set()
    for match in MENTION.finditer(line.text):
        mine = match.group(1).casefold() in names
        body.stylize(MENTIONED if mine else "bold", match.start(), match.end())
    text.append_text(body)
    if me and not line.mine and mentions(line.text, me):
        text.stylize("on grey23", 0, len(text))
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
        self.me = ""  # who "@name" highlights for

    def compose(self) -> ComposeResult:
        yield RichLog(wrap=True, markup=False, id="chat-log", auto_scroll=True, min_width=10)
        yield Input(placeholder="message · Enter sends", id="chat-input")

    def add(self, line: ChatLine) -> None:
        self.lines.append(line)
        self.query_one(RichLog).write(render_chat_line(line, self.me))

    @on(Input.Submitted, "#chat-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if text:
            self.post_message(self.Send(text))
        event.input.value = ""

    def focus_input(self) -> None:
        """Now, not after the keys already queued: they were typed for the chat."""
        self.screen.set_focus(self.query_one(Input))
