"""Control hand-off: asking for control with a reason, the banner deciders see until
they answer, denying with a reason, and, when several wait, picking which one to answer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from relay.core.protocol import REASON_LENGTH
from tui import commands
from tui.commands import help_text
from tui.dialogs import Dialog, ReasonScreen
from tui.room import Request, Room

HERE = Path(__file__).parent  # CSS paths must not follow subclasses into other packages


class RequestControlScreen(ReasonScreen):
    """Asks why you need control; dismisses with the reason, or ``None``."""

    def __init__(self, driver: str | None) -> None:
        who = f"{driver} drives now" if driver else "nobody drives now"
        super().__init__(
            "Request control",
            f"{who}; the lead or the driver will grant or deny.",
            placeholder="why do you need control? (e.g. INC-4211: restart the worker)",
            send="Request",
            required=True,
            missing="say why you need control: the lead sees it",
            id="request-control",
        )


class DenyScreen(ReasonScreen):
    """Denying one request: an optional reason, told to the requester."""

    def __init__(self, request: Request) -> None:
        super().__init__(
            f"Deny {request.user}'s request",
            f"{request.user} asked: {request.reason or 'no reason given'}",
            placeholder="why not? (optional, told to them)",
            send="Deny",
            required=False,
            variant="error",
            id="deny-request",
        )
        self.request = request


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


class PickRequestScreen(Dialog[Answer | None]):
    """Several requests wait: pick the one to grant, or to deny (with an optional reason).

    Dismisses with an :class:`Answer`, or ``None`` when cancelled.
    """

    CSS_PATH = HERE / "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, requests: list[Request], *, deny: bool) -> None:
        super().__init__(id="pick-request")
        self.requests = list(requests)
        self.deny = deny

    def compose(self) -> ComposeResult:
        verb = "deny" if self.deny else "grant"
        with Vertical(id="pick-dialog", classes="dialog"):
            yield Label(f"{len(self.requests)} requests for control", classes="dialog-title")
            yield Label(f"Pick the one to {verb} (↑/↓, Enter).", id="pick-hint")
            yield OptionList(
                *(Option(request_label(r), id=r.id) for r in self.requests), id="pick-list"
            )
            if self.deny:
                yield Input(placeholder="reason for the denial (optional)", id="pick-reason")
            yield Label("", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(verb.capitalize(), variant="primary", id="pick-send")
                yield Button("Cancel", id="pick-cancel")

    def on_mount(self) -> None:
        self.query_one(".dialog-error", Label).display = False
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
            self.error("pick a request first")
            return
        reason = self.query_one("#pick-reason", Input).value.strip() if self.deny else ""
        if len(reason) > REASON_LENGTH:
            self.error(f"at most {REASON_LENGTH} characters ({len(reason)} now)")
            return
        self.dismiss(Answer(request, reason))

    @on(Button.Pressed, "#pick-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


REQUEST_MARK = "◆"  # in every monospace font, unlike the emoji hand


def render_request(room: Room, chord: bool) -> Text:
    """The banner a decider sees while a control request waits (empty when none does)."""
    request = room.pending_for_me()
    if request is None:
        return Text("")
    grant, deny = commands.key("grant", chord=chord), commands.key("deny", chord=chord)
    text = Text()
    text.append(f" {REQUEST_MARK} ", style="bold")
    text.append(request.user, style="bold")
    text.append(" asks for control: ")
    text.append(request.reason, style="italic")
    text.append("\n   ")
    text.append(f" {grant} ", style="bold reverse")
    text.append(" grant  ")
    text.append(f" {deny} ", style="bold reverse")
    text.append(" deny")
    more = len(requests_for_me(room)) - 1
    if more > 0:
        pick = f"{commands.key('grant')}/{commands.key('deny')}"
        text.append(f"   +{more} more waiting: {pick} let you pick", style="italic")
    return text


def render_access_requests(room: Room, chord: bool) -> Text:
    """The banner a relay-wide lead sees while access requests wait (empty when none do)."""
    waiting = room.access.to_decide()
    if not waiting:
        return Text("")
    first = waiting[0]
    text = Text()
    text.append(f" {REQUEST_MARK} ", style="bold")
    text.append(first.user, style="bold")
    text.append(f" asks for {first.role} on {first.scope}: ")
    text.append(first.reason, style="italic")
    text.append("\n   ")
    text.append(f" {commands.key('access_requests', chord=chord)} ", style="bold reverse")
    text.append(" approve or deny")
    if len(waiting) > 1:
        text.append(f"   +{len(waiting) - 1} more waiting", style="italic")
    return text


class RequestBanner(Static):
    """Above the terminal, until answered: control requests (deciders), access requests (leads)."""

    DEFAULT_CSS = """
    RequestBanner {
        height: auto;
        background: $warning;
        color: #111111;
        display: none;
        padding: 0 1;
    }
    RequestBanner.-shown {
        display: block;
    }
    """

    room: reactive[Room] = reactive(Room)  # bound to the session screen's

    def watch_room(self, room: Room) -> None:
        parts = [
            part
            for part in (
                render_request(room, chord=room.driving),
                render_access_requests(room, chord=room.driving),
            )
            if part.plain
        ]
        self.set_class(bool(parts), "-shown")
        self.update(Text("\n").join(parts))


class HelpScreen(Dialog[None]):
    """A screen's keys (by default the session's, from :data:`tui.commands.SESSION`).

    Any key closes it, so it can never trap anyone.
    """

    CSS_PATH = HERE / "dialogs.tcss"

    def __init__(self, text: str | None = None) -> None:
        super().__init__(id="help")
        self.text = help_text() if text is None else text

    def on_mount(self) -> None:
        self.app.clear_notifications()  # a toast must not cover the keys being read

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog", classes="dialog") as box:
            box.border_title = "Help"
            yield Static(self.text, id="help-text")
            yield Label("any key closes this help", classes="dialog-note")

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        self.dismiss(None)

    def on_click(self) -> None:
        self.dismiss(None)
