"""The session screen: terminal, participants, chat, status, and the hand-off keys.

Keys: while this client drives, the terminal pane sends every key to the shell
and the window's own keys are reached with the escape chord ``ctrl+]`` then a
letter (see :data:`tui.handoff.HELP`); when it does not drive, the letters work
alone. The relay decides everything: these actions only ask, and what the
panes show comes from the relay's answers.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from relay.access import AccessRequest
from relay.protocol import SizeChange, Snapshot
from tui.access_screens import DecideAccessScreen, Decision, RequestAccessScreen
from tui.chat import ChatPane
from tui.handoff import (
    Answer,
    HelpScreen,
    PickRequestScreen,
    RequestBanner,
    RequestControlScreen,
    requests_for_me,
)
from tui.participants import ParticipantsPane
from tui.paused import PausedBanner
from tui.room import ChatLine, Link, Request, Room
from tui.session_link import Connector, SessionLink
from tui.status import StatusBar
from tui.terminal_view import TerminalView

# The escape chord's letters and the actions they run.
CHORD_ACTIONS = {
    "c": "chat",
    "r": "control",
    "g": "grant",
    "n": "deny",
    "t": "take",
    "d": "leave",
    "a": "access",
    "p": "access_requests",
    "question_mark": "help",
    "?": "help",
}
# Errors that need no toast: the status bar and panes already say it.
QUIET_ERRORS = frozenset({"not_driver", "paused"})
# The messages of just-in-time access (tui.access keeps what they say).
ACCESS_MESSAGES = frozenset(
    {
        "access",
        "access_granted",
        "access_revoked",
        "access_request",
        "access_requested",
        "access_decided",
        "access_decision",
        "access_expired",
        "access_request_closed",
    }
)
PAUSED_HINT_EVERY = 3.0  # seconds between "input is paused" reminders while typing

HERE = Path(__file__).parent  # CSS paths must not follow subclasses into other packages


class SessionScreen(Screen[None]):
    CSS_PATH = HERE / "session.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "chat", "Chat"),
        Binding("r", "control", "Request control"),
        Binding("g", "grant", "Grant"),
        Binding("n", "deny", "Deny"),
        Binding("t", "take", "Take back"),
        Binding("d", "leave", "Leave"),
        Binding("a", "access", "Request access"),
        Binding("p", "access_requests", "Access requests"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("ctrl+right_square_bracket", "chord", "then c/r/g/n/t/d/a/p/?", key_display="^]"),
    ]

    def __init__(
        self,
        connect: Connector,
        session: str,
        user: str = "",
        client: Any = None,
        *,
        lead: bool = False,
    ) -> None:
        """``lead``: signed in as a relay-wide lead, who sees and decides access requests."""
        super().__init__()
        self.room = Room(session=session, user=user)
        self.room.access.lead = lead
        self._last_paused_hint = 0.0
        self.link = SessionLink(
            connect,
            session,
            size=self._terminal_size,
            on_message=self.handle_message,
            on_output=self._output,
            on_state=self._link_state,
            client=client,
            on_unconfirmed=self._unconfirmed,
        )

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield PausedBanner(id="paused-banner")
                yield RequestBanner(id="request-banner")
                yield TerminalView(id="terminal")
            with Vertical(id="sidebar"):
                yield ParticipantsPane(id="participants")
                yield ChatPane(id="chat")
        yield Footer()

    @property
    def terminal(self) -> TerminalView:
        return self.query_one(TerminalView)

    @property
    def chat(self) -> ChatPane:
        return self.query_one(ChatPane)

    def on_mount(self) -> None:
        self.terminal.focus()
        self.refresh_room()
        self.set_interval(1.0, self._tick)
        self.call_after_refresh(self._start_link)

    def _start_link(self) -> None:
        """Join once the terminal pane has its real size: the join sets the PTY's size."""
        if self.terminal.size.area == 0:
            self.set_timer(0.05, self._start_link)
            return
        self.run_worker(self.link.run(), name="session-link", group="link", exit_on_error=False)

    def _terminal_size(self) -> tuple[int, int]:
        size = self.terminal.window_size()
        return size

    def _tick(self) -> None:
        access = self.room.access
        before = len(access.grants)
        access.expire(time.time())
        if len(access.grants) != before:
            self.refresh_room()
        self.query_one(StatusBar).show(self.room, self.terminal.crop_note())

    # ------------------------------------------------------------ from the relay

    def handle_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "welcome_session":
            self.room.welcome(message)
            self._send_soon({"type": "access_list"})  # your grants (all requests, for leads)
        elif kind in ACCESS_MESSAGES:
            self._access_message(message)
        elif kind == "control_expired":
            self.notify(
                str(message.get("message") or "your control has ended"),
                title="Control ended",
                severity="warning",
                timeout=10,
            )
        elif kind == "roster":
            was_driving = self.room.driving
            self.room.apply_roster(message)
            if self.room.driving != was_driving:
                self._driving_changed()
        elif kind == "control_request":
            if message.get("id") != self.room.you:
                prefix = "ctrl+] " if self.room.driving else ""
                self.notify(
                    f"{message.get('user')}: {message.get('reason')}\n"
                    f"{prefix}g grant · {prefix}n deny",
                    title="Control requested",
                    timeout=10,
                )
        elif kind == "control_denied":
            reason = message.get("reason") or "no reason given"
            self.notify(f"{message.get('by')} denied: {reason}", title="Request denied")
        elif kind == "chat":
            self.chat.add(
                ChatLine(
                    str(message.get("user", "?")),
                    str(message.get("text", "")),
                    float(message.get("t") or time.time()),
                    mine=message.get("id") == self.room.you,
                )
            )
        elif kind == "notice":  # the relay says it (a dropped driver, control coming back)
            when = float(message.get("t") or time.time())
            self.chat.add(ChatLine("", str(message.get("text", "")), when, system=True))
        elif kind == "ended":
            self.room.ended_reason = str(message.get("reason", ""))
            self.chat.add(
                ChatLine("", f"session ended: {self.room.ended_reason}", time.time(), system=True)
            )
        elif kind == "error":
            if message.get("code") not in QUIET_ERRORS:
                self.notify(str(message.get("message")), title="Refused", severity="error")
            if message.get("code") == "access" and self.room.access.lead:
                self._send_soon({"type": "access_list"})  # another lead may have answered
        self.refresh_room()

    def _access_message(self, message: dict[str, Any]) -> None:
        notice = self.room.access.apply(message, time.time())
        if notice is None:
            return
        text = notice.text
        if message.get("type") == "access_request" and self.room.access.to_decide():
            prefix = "ctrl+] " if self.room.driving else ""
            text += f"\n{prefix}p to approve or deny"
        severity: Any = notice.severity
        self.notify(text, title=notice.title, severity=severity, timeout=10)

    def _send_soon(self, message: dict[str, Any]) -> None:
        """Send from a synchronous handler (the link's task is the one calling it)."""
        self.run_worker(self.link.send(message), group="send", exit_on_error=False)

    def _output(self, data: bytes | Snapshot | SizeChange) -> None:
        """Output, snapshots and size changes, in the stream's order (never a roster's
        ``pty``: that arrives on its own clock, not between the right two bytes)."""
        if isinstance(data, Snapshot):
            self.terminal.load_snapshot(data.cols, data.rows, data.data)
        elif isinstance(data, SizeChange):
            self.terminal.resize_model(data.cols, data.rows)
        else:
            self.terminal.write(data)

    def _link_state(self, state: Link, detail: str) -> None:
        self.room.link = state
        self.room.link_detail = detail
        if state is Link.ENDED:
            if self.room.driving:
                self.room.driver = None
                self._driving_changed()
            self.notify(detail or "disconnected", title="Session over", timeout=30)
        self.refresh_room()

    def _driving_changed(self) -> None:
        driving = self.room.driving
        self.terminal.driving = driving
        self.app.refresh_bindings()
        if driving:
            self.terminal.focus()
            self.notify("You are driving: keys go to the shell. ctrl+] then ? for help.")
        else:
            self.notify("You no longer drive.", timeout=4)

    def refresh_room(self) -> None:
        if not self.is_mounted:
            return
        self.query_one(StatusBar).show(self.room, self.terminal.crop_note())
        self.query_one(ParticipantsPane).show(self.room)
        self.query_one(RequestBanner).show(self.room)
        self.query_one(PausedBanner).show(self.room)
        self.terminal.set_class(self.room.input_blocked, "-paused")
        self.refresh_bindings()

    # ------------------------------------------------------------ from the panes

    @on(ChatPane.Send)
    async def _chat(self, event: ChatPane.Send) -> None:
        if not await self.link.send({"type": "chat", "text": event.text}):
            self.notify("not connected: message not sent", severity="warning")

    @on(TerminalView.Input)
    async def _input(self, event: TerminalView.Input) -> None:
        if self.room.input_blocked:
            # The relay would refuse it; say why instead of a toast per key.
            now = time.monotonic()
            if now - self._last_paused_hint > PAUSED_HINT_EVERY:
                self._last_paused_hint = now
                self.notify(
                    f"input is paused: {self.room.paused}",
                    title="Keys not sent",
                    severity="warning",
                    timeout=3,
                )
            return
        if not await self.link.send_input(event.data):
            # Refused, not kept: keys typed into a dead link must never arrive later.
            self.notify(f"keys not sent: {self.link.refusal}", severity="warning", timeout=2)

    def _unconfirmed(self, size: int, since: float) -> None:
        """The link died with keys the relay never confirmed: say so, they may be lost."""
        at = time.strftime("%H:%M:%S", time.localtime(since))
        self.notify(
            f"The relay stopped answering: what you typed since {at} ({size} bytes) may not "
            "have reached the shell. Look at the shell before typing again.",
            title="Keys may be lost",
            severity="warning",
            timeout=20,
        )

    @on(TerminalView.Chord)
    async def _chord(self, event: TerminalView.Chord) -> None:
        action = CHORD_ACTIONS.get(event.key)
        if action is None:
            self.notify(f"ctrl+] {event.key}: not a warroom key (? for help)", timeout=3)
            return
        # Call the action directly: check_action hides the letters while driving.
        result = getattr(self, f"action_{action}")()
        if inspect.isawaitable(result):
            await result

    @on(TerminalView.Resized)
    async def _resized(self, event: TerminalView.Resized) -> None:
        await self.link.send({"type": "resize", "cols": event.cols, "rows": event.rows})

    @on(TerminalView.Reshaped)
    def _reshaped(self) -> None:
        self.query_one(StatusBar).show(self.room, self.terminal.crop_note())

    @on(TerminalView.Behind)
    async def _behind(self) -> None:
        await self.link.resync()

    @on(TerminalView.NotDriving)
    def _not_driving(self) -> None:
        who = self.room.driver_name
        drives = f"{who} drives" if who else "nobody drives"
        self.notify(f"You are watching ({drives}). Press r to request control.", timeout=3)

    # ------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        room = self.room
        driving = room.driving
        if action == "chord":
            return driving
        if action in CHORD_ACTIONS.values() and driving:
            return False  # reached through the chord only; the shell gets the letter
        if action == "control":
            return None if room.role == "reviewer" else True
        if action in ("grant", "deny"):
            if not room.may_decide:
                return False
            return True if room.pending_for_me() is not None else None
        if action == "take":
            return room.is_lead
        if action == "access_requests":
            if not room.access.lead:
                return False
            return True if room.access.to_decide() else None
        return True

    def action_chat(self) -> None:
        self.chat.focus_input()

    def action_chord(self) -> None:
        self.terminal.start_chord()

    async def action_control(self) -> None:
        room = self.room
        if room.driving:
            await self.link.send({"type": "release"})
            return
        if room.has_requested:
            self.notify("your request is waiting for an answer")
            return
        self._ask_for_control()

    @work
    async def _ask_for_control(self) -> None:
        reason = await self.app.push_screen_wait(RequestControlScreen(self.room.driver_name))
        if reason:
            await self.link.send({"type": "request_control", "reason": reason})

    async def action_grant(self) -> None:
        await self._answer(deny=False)

    async def action_deny(self) -> None:
        await self._answer(deny=True)

    async def _answer(self, *, deny: bool) -> None:
        """One request waits: answer it at once. Several: let the decider pick one."""
        waiting = requests_for_me(self.room)
        if not waiting:
            self.notify(f"no request to {'deny' if deny else 'grant'}")
            return
        if len(waiting) == 1:
            await self._send_answer(Answer(waiting[0]), deny=deny)
            return
        self._pick_request(waiting, deny)

    @work
    async def _pick_request(self, waiting: list[Request], deny: bool) -> None:
        answer = await self.app.push_screen_wait(PickRequestScreen(waiting, deny=deny))
        if answer is not None:
            await self._send_answer(answer, deny=deny)

    async def _send_answer(self, answer: Answer, *, deny: bool) -> None:
        if deny:
            message = {"type": "deny", "id": answer.request.id, "reason": answer.reason}
        else:
            message = {"type": "grant", "id": answer.request.id}
        if not await self.link.send(message):
            self.notify("not connected: answer not sent", severity="warning")

    async def action_take(self) -> None:
        await self.link.send({"type": "take"})

    async def action_leave(self) -> None:
        await self.link.close()
        self.app.exit()

    def action_access(self) -> None:
        asked = self.room.access.asked()
        if asked:
            self.notify(f"your request for {asked[0].role} is waiting for a lead")
            return
        self._ask_for_access()

    @work
    async def _ask_for_access(self) -> None:
        room = self.room
        role = "viewer" if room.role == "reviewer" else "driver"
        wish = await self.app.push_screen_wait(RequestAccessScreen(f"session {room.session}", role))
        if wish is not None:
            await self.link.send(
                {
                    "type": "access_request",
                    "role": wish.role,
                    "reason": wish.reason,
                    "session": room.session,
                }
            )

    async def action_access_requests(self) -> None:
        waiting = self.room.access.to_decide()
        if not waiting:
            self.notify("no access requests waiting")
            return
        self._decide_access(waiting[0], len(waiting) - 1)

    @work
    async def _decide_access(self, ask: AccessRequest, more: int) -> None:
        decision: Decision | None = await self.app.push_screen_wait(DecideAccessScreen(ask, more))
        if decision is None:
            return
        if not await self.link.send(decision.message()):
            self.notify("not connected: decision not sent", severity="warning")

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def on_key(self, event: Any) -> None:
        # Esc in the chat returns to the terminal.
        if getattr(event, "key", "") == "escape" and self.focused is not self.terminal:
            self.terminal.focus()
            event.stop()
