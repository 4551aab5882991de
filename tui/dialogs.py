"""Dialogs: one at a time, never fed keys typed before they opened, never losing text.

Three rules every dialog of the TUI follows, because each was once a bug:

* **One at a time.** :func:`open_dialog` pushes a dialog only when none is
  open. Two quick presses of ``r`` used to push two dialogs with the same id
  and end the app with ``DuplicateIds``; the push is synchronous, so the
  second key already finds the first dialog open.
* **Keys typed before a dialog opened are not for it.** A watcher typing
  ``rm -rf`` into what they think is the shell must not end up asking for
  control with the reason ``m -rf``, and ``rr`` must not prefill ``r``.
  :func:`typed_before` compares a key's timestamp with the dialog's opening;
  the apps drop such keys (``on_event``).
* **A refusal keeps what was typed.** Validation errors are shown inside the
  dialog (:meth:`Dialog.error`), which stays open with its text.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from relay.core.protocol import REASON_LENGTH
from tui.shown import plain

HERE = Path(__file__).parent  # CSS paths must not follow subclasses into other packages
T = TypeVar("T")


class Dialog(ModalScreen[T]):
    """Base of every dialog: knows when it opened and shows errors inside itself."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # The clock Textual stamps events with (a message's ``time``).
        self.opened_at = Message().time

    def dismiss(self, result: T | None = None) -> AwaitComplete:
        """Close once. Textual's ``dismiss`` pops whatever screen is on top and calls
        back again: the second key of a burst read before the dialog closed (any key
        closes the help; ``n`` answers a question) once closed the session under it."""
        if not self.is_current:
            return AwaitComplete()  # nothing to wait for
        return super().dismiss(result)

    def error(self, text: str) -> None:
        """Say what is wrong, inside the dialog; nothing typed is lost."""
        for label in self.query(".dialog-error").results(Label):
            label.update(Text(plain(text)))
            label.display = bool(text)
            return
        self.notify(text, severity="warning")


def typed_before(screen: object, event: events.Event) -> bool:
    """Whether ``event`` (a key or a paste) was typed before the dialog ``screen`` opened."""
    return (
        isinstance(screen, Dialog)
        and isinstance(event, (events.Key, events.Paste))
        and event.time < screen.opened_at
    )


def open_dialog(
    app: App[Any], dialog: Dialog[T], callback: Callable[[T | None], Any] | None = None
) -> bool:
    """Push ``dialog`` unless a dialog is already open; whether it was pushed."""
    if any(isinstance(screen, ModalScreen) for screen in app.screen_stack):
        return False
    app.push_screen(dialog, callback)
    return True


class ConfirmScreen(Dialog[bool]):
    """A yes/no question: ``y`` confirms, anything else (or Esc) says no.

    For a watcher's single letters that leave, end, take or deny: a word typed
    for a shell (``df -h``) answers no with its second letter.
    """

    CSS_PATH = HERE / "dialogs.tcss"

    def __init__(self, question: str, detail: str = "", yes: str = "Yes") -> None:
        super().__init__(id="confirm")
        self.question = question
        self.detail = detail
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(plain(self.question)), classes="dialog-title")
            if self.detail:
                yield Label(Text(plain(self.detail, lines=True)), classes="dialog-note")
            yield Label(
                "[b]y[/b] to confirm · any other key cancels", classes="dialog-note", markup=True
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="confirm-yes")
                yield Button("Cancel", id="confirm-no")

    def on_mount(self) -> None:
        for button in self.query(Button).results(Button):
            button.can_focus = False  # keys go to the screen: y or anything else

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        self.dismiss(event.key == "y")

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        self.dismiss(False)

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.dismiss(False)


class ReasonScreen(Dialog[str | None]):
    """Asks for a reason; dismisses with it (``""`` when optional and left empty) or ``None``.

    Enter sends, Esc cancels. A reason that is required and missing, or longer
    than the relay accepts, is refused inside the dialog, which keeps the text.
    """

    CSS_PATH = HERE / "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        note: str,
        *,
        placeholder: str,
        send: str,
        required: bool,
        missing: str = "say why",
        variant: str = "primary",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.note = note
        self.placeholder = placeholder
        self.send_label = send
        self.required = required
        self.missing = missing
        self.variant = variant

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            # a title or a note may quote someone (``bob asked: ...``): text, not markup
            yield Label(Text(plain(self.title_text)), classes="dialog-title")
            yield Static(Text(plain(self.note, lines=True)), classes="dialog-note")
            yield Input(placeholder=self.placeholder, classes="dialog-reason")
            yield Label("", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.send_label, variant=self.variant, classes="dialog-send")  # type: ignore[arg-type]
                yield Button("Cancel", classes="dialog-cancel")

    def on_mount(self) -> None:
        self.query_one(".dialog-error", Label).display = False
        self.query_one(Input).focus()

    @property
    def reason(self) -> str:
        return self.query_one(Input).value.strip()

    @on(Input.Submitted)
    @on(Button.Pressed, ".dialog-send")
    def _send(self) -> None:
        reason = self.reason
        if self.required and not reason:
            self.error(self.missing)
            self.query_one(Input).focus()
            return
        if len(reason) > REASON_LENGTH:
            self.error(f"at most {REASON_LENGTH} characters ({len(reason)} now)")
            self.query_one(Input).focus()
            return
        self.dismiss(reason)

    @on(Button.Pressed, ".dialog-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
