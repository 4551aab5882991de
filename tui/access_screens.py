"""Just-in-time access dialogs: asking for a role, and a lead's answer with a TTL.

Both only collect what the user decides; the screen sends it (``access_request``
or ``access_decide``) and the relay rules on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, RadioButton, RadioSet

from relay.core import protocol
from relay.core.access import AccessRequest, GrantRole, parse_grant_role
from relay.core.protocol import REASON_LENGTH
from tui.access import DEFAULT_TTL, ROLES, format_left, parse_ttl
from tui.dialogs import Dialog
from tui.shown import plain

HERE = Path(__file__).parent  # CSS paths must not follow subclasses into other packages
CSS: list[str | PurePath] = [HERE / "dialogs.tcss", HERE / "access_screens.tcss"]


@dataclass(frozen=True)
class AccessWish:
    """What the user asks for."""

    role: GrantRole
    reason: str


@dataclass(frozen=True)
class Decision:
    """A lead's answer to an access request."""

    request: str
    approve: bool
    ttl: float | None
    reason: str

    def message(self) -> protocol.AccessDecide:
        """The ``access_decide`` message that carries this answer to the relay."""
        message: protocol.AccessDecide = {
            "type": "access_decide",
            "id": self.request,
            "approve": self.approve,
            "reason": self.reason,
        }
        if self.ttl is not None:
            message["ttl"] = self.ttl
        return message


class RequestAccessScreen(Dialog[AccessWish | None]):
    """Asks which role and why; dismisses with an :class:`AccessWish`, or ``None``."""

    CSS_PATH = CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, scope: str, role: GrantRole = "driver") -> None:
        super().__init__(id="request-access")
        self.scope = scope
        self.initial = role

    def compose(self) -> ComposeResult:
        with Vertical(id="access-dialog", classes="dialog access-dialog"):
            yield Label("Request access", classes="access-title")
            yield Label(
                Text(
                    f"For {plain(self.scope)}. A lead approves it for a limited time, or denies it."
                ),
                classes="access-note",
            )
            with RadioSet(id="access-role"):
                for role in ROLES:
                    yield RadioButton(role, value=role == self.initial, id=f"role-{role}")
            yield Input(
                placeholder="why? (e.g. INC-4211: checking slow queries)", id="access-reason"
            )
            yield Label("", classes="dialog-error")
            with Horizontal(classes="access-buttons"):
                yield Button("Request", variant="primary", id="access-send")
                yield Button("Cancel", id="access-cancel")

    def on_mount(self) -> None:
        self.query_one(".dialog-error", Label).display = False
        self.query_one("#access-reason", Input).focus()

    @property
    def role(self) -> GrantRole:
        pressed = self.query_one(RadioSet).pressed_button
        return parse_grant_role(str(pressed.label)) if pressed is not None else self.initial

    @on(Input.Submitted, "#access-reason")
    @on(Button.Pressed, "#access-send")
    def _send(self) -> None:
        reason = self.query_one("#access-reason", Input).value.strip()
        problem = _reason_problem(reason, "say why you need access: a lead reads it")
        if problem:
            self.error(problem)
            self.query_one("#access-reason", Input).focus()
            return
        self.dismiss(AccessWish(self.role, reason))

    @on(Button.Pressed, "#access-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class DecideAccessScreen(Dialog[Decision | None]):
    """A lead's answer to one request: approve for a TTL, or deny with a reason."""

    CSS_PATH = CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Later")]

    def __init__(self, ask: AccessRequest, more: int = 0) -> None:
        super().__init__(id="decide-access")
        self.ask = ask
        self.more = more

    def compose(self) -> ComposeResult:
        ask = self.ask
        with Vertical(id="decide-dialog", classes="dialog access-dialog"):
            yield Label("Access request", classes="access-title")
            age = format_left(time.time() - ask.at) if ask.at else "?"
            yield Label(
                Text.assemble(
                    (plain(ask.user), "bold"),
                    " asks for ",
                    (plain(ask.role), "bold"),
                    f" on {plain(ask.scope)} ({age} ago)",
                ),
                id="decide-who",
            )
            yield Label(
                Text(f"“{plain(ask.reason)}”"), id="decide-reason-given", classes="access-note"
            )
            if self.more:
                yield Label(f"{self.more} more waiting after this one", classes="access-note")
            with Horizontal(classes="access-row"):
                yield Label("for", classes="access-label")
                yield Input(value=DEFAULT_TTL, id="decide-ttl")
                yield Button("Approve", variant="success", id="decide-approve")
            with Horizontal(classes="access-row"):
                yield Label("or", classes="access-label")
                yield Input(placeholder="why deny? (told to the requester)", id="decide-reason")
                yield Button("Deny", variant="error", id="decide-deny")
            yield Label("", classes="dialog-error")
            with Horizontal(classes="access-buttons"):
                yield Button("Later", id="decide-later")

    def on_mount(self) -> None:
        self.query_one(".dialog-error", Label).display = False
        self.query_one("#decide-ttl", Input).focus()

    @on(Input.Submitted, "#decide-ttl")
    @on(Button.Pressed, "#decide-approve")
    def _approve(self) -> None:
        text = self.query_one("#decide-ttl", Input).value
        try:
            ttl = parse_ttl(text)
        except ValueError:
            self.error(f"not a duration: {text!r} (try 30m, 1h, 90s)")
            self.query_one("#decide-ttl", Input).focus()
            return
        reason = self.query_one("#decide-reason", Input).value.strip()
        problem = _reason_problem(reason or "-", "")
        if problem:
            self.error(problem)
            return
        self.dismiss(Decision(self.ask.id, True, ttl, reason))

    @on(Input.Submitted, "#decide-reason")
    @on(Button.Pressed, "#decide-deny")
    def _deny(self) -> None:
        reason = self.query_one("#decide-reason", Input).value.strip()
        problem = _reason_problem(reason, "say why you deny it: the requester sees it")
        if problem:
            self.error(problem)
            self.query_one("#decide-reason", Input).focus()
            return
        self.dismiss(Decision(self.ask.id, False, None, reason))

    @on(Button.Pressed, "#decide-later")
    def action_cancel(self) -> None:
        self.dismiss(None)


def _reason_problem(reason: str, missing: str) -> str:
    """What is wrong with a reason, or ``""``: the relay would refuse it otherwise."""
    if not reason:
        return missing
    if len(reason) > REASON_LENGTH:
        return f"at most {REASON_LENGTH} characters ({len(reason)} now)"
    return ""
