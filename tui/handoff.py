"""Control hand-off: asking for control with a reason, the request shown to deciders,
and, when several wait, the dialog where a decider picks which one to answer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.room import Request, Room

HERE = Path(__file__).parent  # CSS paths must not follow subclasses into other packages


class RequestControlScreen(ModalScreen[str | None]):
    """Asks why you need control; dismisses with the reason, or ``None``."""

    CSS_PATH = HERE / "handoff.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, driver: str | None) -> None:
        super().__init__(id="request-control")
        self.driver = driver

    def compose(self) -> ComposeResult:
        with Vertical(id="request-dialog"):
            yield Label("Request control", id="request-title")
            who = f"{self.driver} drives now" if self.driver else "nobody drives now"
            yield Label(f"{who}; the lead or the driver will grant or deny.", id="request-who")
            yield Input(placeholder="why do you need control?", id="request-reason")
            with Horizontal(id="request-buttons"):
                yield Button("Request", variant="primary", id="request-send")
                yield Button("Cancel", id="request-cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#request-reason")
    @on(Button.Pressed, "#request-send")
    def _send(self) -> None:
        reason = self.query_one("#request-reason", Input).value.strip()
        if not reason:
            self.notify("say why you need control", severity="warning")
            return
        self.dismiss(reason)

    @on(Button.Pressed, "#request-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def requests_for_me(room: Room) -> list[Request]:
    """Every request this client may answer, oldest first (the relay's order)."""
    if not room.may_decide:
        return []
    return [r for r in room.requests if r.id != room.you]


@dataclass(frozen=True)
class Answer:
    """What the decider picked in :class:`PickRequestScreen`."""

    request: Request
    reason: str = ""  # a deny's optional reason, sent to the requester


def request_label(request: Request) -> Text:
    text = Text()
    text.append(request.user, style="bold")
    text.append(": ")
    text.append(request.reason or "no reason given", style="italic")
    return text


class PickRequestScreen(ModalScreen[Answer | None]):
    """Several requests wait: pick the one to grant, or to deny (with an optional reason).

    Dismisses with an :class:`Answer`, or ``None`` when cancelled.
    """

    CSS_PATH = HERE / "handoff.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, requests: list[Request], *, deny: bool) -> None:
        super().__init__(id="pick-request")
        self.requests = list(requests)
        self.deny = deny

    def compose(self) -> ComposeResult:
        verb = "deny" if self.deny else "grant"
        with Vertical(id="pick-dialog"):
            yield Label(f"{len(self.requests)} requests for control", id="pick-title")
            yield Label(f"Pick the one to {verb} (↑/↓, Enter).", id="pick-hint")
            yield OptionList(
                *(Option(request_label(r), id=r.id) for r in self.requests), id="pick-list"
            )
            if self.deny:
                yield Input(placeholder="reason for the denial (optional)", id="pick-reason")
            with Horizontal(id="pick-buttons"):
                yield Button(verb.capitalize(), variant="primary", id="pick-send")
                yield Button("Cancel", id="pick-cancel")

    def on_mount(self) -> None:
        options = self.query_one("#pick-list", OptionList)
        options.highlighted = 0
        options.focus()

    def _picked(self) -> Request | None:
        index = self.query_one("#pick-list", OptionList).highlighted
        if index is None or not 0 <= index < len(self.requests):
            return None
        return self.requests[index]

    @on(OptionList.OptionSelected, "#pick-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.deny:
            self.query_one("#pick-reason", Input).focus()  # then Enter there denies
            return
        self._send()

    @on(Input.Submitted, "#pick-reason")
    @on(Button.Pressed, "#pick-send")
    def _send(self) -> None:
        request = self._picked()
        if request is None:
            self.notify("pick a request first", severity="warning")
            return
        reason = self.query_one("#pick-reason", Input).value.strip() if self.deny else ""
        self.dismiss(Answer(request, reason))

    @on(Button.Pressed, "#pick-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def render_request(room: Room, chord: bool) -> Text:
    """The banner a decider sees while a request waits."""
    request = room.pending_for_me()
    if request is None:
        return Text("")
    prefix = "ctrl+] " if chord else ""
    text = Text()
    text.append(" ✋ ", style="bold")
    text.append(request.user, style="bold")
    text.append(" asks for control: ")
    text.append(request.reason, style="italic")
    text.append(f"   {prefix}g", style="bold reverse")
    text.append(" grant  ")
    text.append(f"{prefix}n", style="bold reverse")
    text.append(" deny")
    more = len(requests_for_me(room)) - 1
    if more > 0:
        text.append(f"   (+{more} more: g/n to pick one)", style="dim")
    return text


class RequestBanner(Static):
    """Shown above the terminal to leads and the driver while a request waits."""

    DEFAULT_CSS = """
    RequestBanner {
        height: 1;
        background: $warning 40%;
        display: none;
    }
    RequestBanner.-shown {
        display: block;
    }
    """

    def show(self, room: Room) -> None:
        pending = room.pending_for_me()
        self.set_class(pending is not None, "-shown")
        self.update(render_request(room, chord=room.driving))


HELP = """\
[b]warroom keys[/b]

While you [b]drive[/b], every key goes to the shell. To reach the
window, press [b]ctrl+][/b] and then a letter. When you do not drive,
press the letter alone.

  [b]c[/b]  chat (Esc returns to the terminal)
  [b]r[/b]  request control, or release it while driving
  [b]g[/b]  grant the pending request (lead or driver); pick one if several
  [b]n[/b]  deny the pending request (lead or driver); pick one, give a reason
  [b]t[/b]  take control back (lead)
  [b]d[/b]  leave the session
  [b]a[/b]  request access (a role for a while, with a reason)
  [b]p[/b]  approve or deny access requests (relay-wide leads)
  [b]?[/b]  this help

[b]ctrl+][/b] twice sends a literal ctrl+] to the shell.
"""


class HelpScreen(ModalScreen[None]):
    CSS_PATH = HERE / "handoff.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss_help", "Close")
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Static(HELP, id="help-text")
            yield Button("Close", id="help-close")

    @on(Button.Pressed, "#help-close")
    def action_dismiss_help(self) -> None:
        self.dismiss(None)
