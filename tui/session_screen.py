"""The session screen: terminal, participants, chat, status, and the hand-off keys.

Keys (one table, :mod:`tui.commands`): while this client drives, the terminal
pane sends every key to the shell and the window's own keys are reached with
the escape chord ``ctrl+]`` then a letter; while it watches, the letters work
alone, and the ones that leave, end, take or deny ask first (a word typed for
a shell must not act), while the chord acts at once. The relay decides
everything: these actions only ask, and what the panes show comes from the
relay's answers.

Watching and driving look different at a glance: the terminal's frame is
green and titled DRIVING, or grey and titled WATCHING with who drives. Until
the first join, keys are kept and sent if this window drives (:mod:`tui.typeahead`);
when the link is down after that, it is yellow and says that keys are not
sent: the link refuses them rather than keep them to send late. The
side panel (people and chat) folds away when the window is too narrow for it
and an 80-column shell (``s`` toggles it), so a driver in an 80-column
terminal gets 78 columns of shell, not 44.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Static

from relay.core import messages, protocol
from relay.core.access import AccessRequest, GrantRole
from relay.core.errors import ErrorCode
from relay.core.protocol import SizeChange, Snapshot
from relay.core.roles import Role
from tui import commands
from tui.access_screens import AccessWish, DecideAccessScreen, Decision, RequestAccessScreen
from tui.alerts import alert
from tui.chat import ChatPane, mentions
from tui.commands import Command
from tui.dialogs import ConfirmScreen, ReasonScreen, open_dialog
from tui.frame import frame_title, why_not_sent
from tui.handoff import (
    Answer,
    DenyScreen,
    HelpScreen,
    PickRequestScreen,
    RequestBanner,
    RequestControlScreen,
    requests_for_me,
)
from tui.incoming import AccessMessage, Ignoring, is_access
from tui.keybar import KeyBar
from tui.participants import ParticipantsPane
from tui.paused import PausedBanner
from tui.room import ChatLine, Link, Request, Room
from tui.session_link import Connector, SessionLink
from tui.status import StatusBar
from tui.terminal_view import TerminalView
from tui.timers import Later
from tui.window_keys import WindowKey, send_behind

# Errors that need no toast: the status bar and panes already say it.
QUIET_ERRORS: frozenset[ErrorCode] = frozenset({ErrorCode.NOT_DRIVER, ErrorCode.PAUSED})
PAUSED_HINT_EVERY = 3.0  # seconds between "input is paused" reminders while typing
SIDEBAR_WIDTH = 36  # columns the side panel takes, border included
SHELL_AT_LEAST = 80  # the side panel shows by itself only if the shell keeps this many columns
WATCHING_HINT = f"you are watching — {commands.key('control')} asks for control"
UNSENT_HINT_FOR = 8.0  # seconds the "keys not sent" hint stays (and the least between two)

HERE = Path(__file__).parent  # CSS paths must not follow subclasses into other packages


def sidebar_fits(width: int) -> bool:
    """Whether a window ``width`` columns wide has room for the side panel on its own.

    The terminal's frame takes two columns; the panel shows only when the
    shell still gets :data:`SHELL_AT_LEAST` columns beside it.
    """
    return width - SIDEBAR_WIDTH - 2 >= SHELL_AT_LEAST


class SessionScreen(Screen[None]):
    CSS_PATH = HERE / "session.tcss"

    BINDINGS: ClassVar[list[BindingType]] = commands.bindings()

    sidebar_wanted: var[bool | None] = var(None)  # None: as the window's width allows
    # What the relay said about the session. Updated in place as messages come
    # (room_changed); the status bar, the people pane and the banners follow it
    # through data_bind, and watch_room redraws what the screen itself draws.
    room: var[Room] = var(Room, init=False)

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
        self.connect = connect
        room = Room(session=session, user=user)
        room.access.lead = lead
        self.set_reactive(SessionScreen.room, room)
        self._last_paused_hint = 0.0
        self.chord_pending = False  # ctrl+] was typed: the next key is the window's
        self._last_unsent_hint = -UNSENT_HINT_FOR
        self._unsent = False  # keys were refused while the link was not live
        self.ignoring = Ignoring()  # frames from the relay that were not its messages
        self._alerted: set[str] = set()  # requests already rung for
        self.recording_note = ""  # where the recording went, once the session ended
        self.link = SessionLink(
            connect, session, size=self._terminal_size, target=self, client=client
        )

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status").data_bind(SessionScreen.room)
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield PausedBanner(id="paused-banner").data_bind(SessionScreen.room)
                yield RequestBanner(id="request-banner").data_bind(SessionScreen.room)
                yield Static(id="ended-banner")
                yield TerminalView(id="terminal", typing_ahead=True)
            with Vertical(id="sidebar"):
                yield ParticipantsPane(id="participants").data_bind(SessionScreen.room)
                yield ChatPane(id="chat")
        yield KeyBar(self.available, id="keys").data_bind(SessionScreen.room)

    @property
    def terminal(self) -> TerminalView:
        return self.query_one(TerminalView)

    @property
    def chat(self) -> ChatPane:
        return self.query_one(ChatPane)

    def on_mount(self) -> None:
        self.query_one("#participants").border_subtitle = "▶ drives · ◆ asks"
        self.chat.border_title = "Chat"
        self.chat.border_subtitle = f"{commands.key('chat')} to write · Esc back"
        self._fit_sidebar()
        self.set_focus(self.terminal)
        self.call_later(self.room_changed)  # once mounted: the frame says CONNECTING at once
        self.set_interval(1.0, self._tick)
        self.call_after_refresh(self._start_link)

    def _start_link(self) -> None:
        """Join once the terminal pane has its real size: the join sets the PTY's size."""
        if self.terminal.size.area == 0:
            Later(self, 0.05, self._start_link)
            return
        self.run_worker(self.link.run(), name="session-link", group="link", exit_on_error=False)

    def _terminal_size(self) -> tuple[int, int]:
        size = self.terminal.window_size()
        return size

    def _tick(self) -> None:
        """Grants run out on the clock, between the relay's messages."""
        access = self.room.access
        before = len(access.grants)
        access.expire(time.time())
        if len(access.grants) != before:
            self.room_changed()

    # ------------------------------------------------------------ the side panel

    @property
    def sidebar_shown(self) -> bool:
        wanted = self.sidebar_wanted
        return sidebar_fits(self.size.width) if wanted is None else wanted

    def on_resize(self, event: events.Resize) -> None:
        self._fit_sidebar()

    def watch_sidebar_wanted(self) -> None:
        self._fit_sidebar()

    def _fit_sidebar(self) -> None:
        sidebar = self.query_one("#sidebar")
        shown = self.sidebar_shown
        if sidebar.display != shown:
            sidebar.display = shown
            if not shown and self.focused is not None and self.focused is not self.terminal:
                self.set_focus(self.terminal)

    def action_sidebar(self) -> None:
        self.sidebar_wanted = not self.sidebar_shown

    # ------------------------------------------------------------ from the relay

    @on(SessionLink.Received)
    def _received(self, event: SessionLink.Received) -> None:
        self.handle_message(event.message)

    @on(SessionLink.Ignored)
    def _ignored(self, event: SessionLink.Ignored) -> None:
        """A frame that was not a relay message was dropped: say so (not once per frame)."""
        note = self.ignoring.ignored(event.reason, time.monotonic())
        if note is not None:
            self.notify(note, title="Relay message ignored", severity="error", timeout=10)

    def handle_message(self, message: messages.RelayMessage) -> None:
        """Act on one message from the relay (checked: :mod:`tui.incoming`) and show what
        it changed; each branch reads the message as the type its ``type`` names."""
        if message["type"] == "welcome_session":
            self.room.welcome(message)
            self.chat.me = self.room.user
            # your grants (all requests, for leads)
            self._send_soon(self.room.access.list_request())
        elif is_access(message):
            self._access_message(message)
        elif message["type"] == "control_expired":
            self.notify(
                str(message.get("message") or "your control has ended"),
                title="Control ended",
                severity="warning",
                timeout=10,
            )
        elif message["type"] == "roster":
            was_driving = self.room.driving
            self.room.apply_roster(message)
            self.chat.me = self.room.user
            if self.room.driving != was_driving:
                self._driving_changed()
        elif message["type"] == "control_request":
            if message.get("id") != self.room.you:
                self._alert(
                    f"control:{message.get('id')}:{message.get('reason')}",
                    "Control requested",
                    f"{message.get('user')}: {message.get('reason')}",
                )
        elif message["type"] == "control_denied":
            reason = message.get("reason") or "no reason given"
            self.notify(f"{message.get('by')} denied: {reason}", title="Request denied")
        elif message["type"] == "chat":
            self._chat_message(message)
        elif (
            message["type"] == "notice"
        ):  # the relay says it (a dropped driver, control coming back)
            when = float(message.get("t") or time.time())
            self.chat.add(ChatLine("", str(message.get("text", "")), when, system=True))
        elif message["type"] == "ended":
            self._ended(str(message.get("reason", "")))
        elif message["type"] == "error":
            if message.get("code") not in QUIET_ERRORS:
                self.notify(str(message.get("message")), title="Refused", severity="error")
            if message.get("code") == "access" and self.room.access.lead:
                self._send_soon(self.room.access.list_request())  # another lead may have answered
        self.room_changed()

    def _chat_message(self, message: messages.ChatLine) -> None:
        line = ChatLine(
            str(message.get("user", "?")),
            str(message.get("text", "")),
            float(message.get("t") or time.time()),
            mine=message.get("id") == self.room.you,
        )
        self.chat.add(line)
        if line.mine:
            return
        if self.room.user and mentions(line.text, self.room.user):
            self._alert(f"chat:{len(self.chat.lines)}", f"{line.user} mentions you", line.text)
        elif not self.sidebar_shown:
            self.notify(line.text, title=f"{line.user} (chat)", timeout=6)

    def _alert(self, key: str, title: str, body: str) -> None:
        """Ring once per request (the banner stays until it is answered), and toast it."""
        if key in self._alerted:
            return
        self._alerted.add(key)
        self.notify(body, title=title, severity="warning", timeout=10)
        alert(self.app, title, body)

    def _access_message(self, message: AccessMessage) -> None:
        notice = self.room.access.apply(message, time.time())
        if notice is None:
            return
        if message["type"] == "access_request" and self.room.access.to_decide():
            ask = message.get("request") or {}
            self._alert(f"access:{ask.get('id')}", notice.title, notice.text)
            return
        severity: Any = notice.severity
        self.notify(notice.text, title=notice.title, severity=severity, timeout=10)

    def _send_soon(self, message: protocol.ClientMessage) -> None:
        """Send from a synchronous handler (the link's task is the one calling it)."""
        self.run_worker(self.link.send(message), group="send", exit_on_error=False)

    @on(SessionLink.Output)
    def _output(self, event: SessionLink.Output) -> None:
        """Output, snapshots and size changes, in the stream's order (never a roster's
        ``pty``: that arrives on its own clock, not between the right two bytes)."""
        data = event.data
        if isinstance(data, Snapshot):
            self.terminal.load_snapshot(data.cols, data.rows, data.data)
        elif isinstance(data, SizeChange):
            self.terminal.resize_model(data.cols, data.rows)
        else:
            self.terminal.write(data)

    @on(SessionLink.StateChanged)
    def _link_state(self, event: SessionLink.StateChanged) -> None:
        state, detail = event.state, event.detail
        self.room.link = state
        self.room.link_detail = detail
        if state is Link.LIVE and self._unsent:
            self._unsent = False
            self.notify(
                "Connected. What you typed before was not sent: type it again if you "
                "still mean it.",
                title="Keys not sent",
                severity="warning",
                timeout=10,
            )
        if state is Link.ENDED:
            if self.terminal.driving:
                self._driving_changed()
            if self.room.ended_reason is None:
                self._ended(detail or "disconnected")
        self.room_changed()

    def _ended(self, reason: str) -> None:
        """The session is over: say so once, and where its recording went."""
        first = self.room.ended_reason is None
        self.room.ended_reason = reason
        self.room.driver = None
        self.room.requests = []
        if self.terminal.driving:
            self._driving_changed()
        if not first:
            return
        self.chat.add(ChatLine("", f"session ended: {reason}", time.time(), system=True))
        self.notify(reason or "ended", title="Session over", timeout=30)
        if self.room.may_review:
            self._find_recording()
        self.room_changed()

    @work(group="recording-note", exclusive=True, exit_on_error=False)
    async def _find_recording(self) -> None:
        """Ask the relay (on a new connection: this one is closed) where the recording is."""
        from tui.fetch import list_recordings

        session = self.room.session
        self.recording_note = "looking for the recording…"
        self.room_changed()
        try:
            client = await self.connect()
            try:
                found = await list_recordings(client, session)
            finally:
                await client.close()
        except Exception as exc:  # the relay is gone too: say how to find it later
            self.recording_note = f"could not list the recording ({exc})"
        else:
            if found:
                newest = found[0]
                sealed = "sealed" if newest.get("sealed") else "not sealed"
                self.recording_note = f"recorded as {newest['name']} ({sealed})"
            else:
                self.recording_note = "the relay kept no recording of this session"
        self.room_changed()

    def ended_text(self) -> str:
        """The banner after the end: why, where the recording is, how to replay it."""
        room = self.room
        lines = [f"Session over: {room.ended_reason or 'ended'}."]
        close = commands.key("leave")
        if room.may_review:
            url = getattr(getattr(self.connect, "target", None), "url", "") or "RELAY_URL"
            invite = getattr(getattr(self.connect, "target", None), "invite", None)
            if self.recording_note:
                lines.append(self.recording_note[:1].upper() + self.recording_note[1:] + ".")
            how = (
                "warroom replay <your invite link>"
                if invite
                else f"warroom replay {url} {room.session}"
            )
            here = commands.key("recordings")
            lines.append(f"Replay it: {here} here, or {how}.  {close} closes this window.")
        else:
            lines.append(f"{close} closes this window.")
        return "\n".join(lines)

    def _driving_changed(self) -> None:
        driving = self.room.driving
        self.terminal.driving = driving
        self.app.refresh_bindings()
        if driving:
            self.set_focus(self.terminal)
            self.notify("You are driving: keys go to the shell. ctrl+] then ? for help.")
        else:
            self.notify("You no longer drive.", timeout=4)

    def _crop_note(self) -> str:
        """What the terminal cannot show (nothing to say once the session is over)."""
        return "" if self.room.ended else self.terminal.crop_note()

    def frame_title(self) -> str:
        return frame_title(self.room)

    def room_changed(self) -> None:
        """The room was updated in place: its watchers and the panes bound to it redraw."""
        self.mutate_reactive(SessionScreen.room)

    def watch_room(self, room: Room) -> None:
        """What the screen draws itself from the room (the panes follow it on their own)."""
        if not self.is_mounted:
            return
        self.query_one(StatusBar).cropped = self._crop_note()
        ended = self.query_one("#ended-banner", Static)
        ended.display = room.ended
        if room.ended:
            ended.update(Text(self.ended_text()))  # quotes the reason: text, not markup
        terminal = self.terminal
        terminal.set_class(room.input_blocked, "-paused")
        terminal.set_class(room.ended, "-ended")
        terminal.set_class(room.offline, "-offline")
        terminal.border_title = Text(self.frame_title())  # names the driver: not markup
        terminal.settle_typeahead(room)  # the first roster decides what was typed ahead
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
            self._keys_not_sent()

    def _keys_not_sent(self) -> None:
        """Keys were typed while the link is not live: say so, long enough to be read,
        without a toast per key; and once live again, that they were not sent."""
        self._unsent = True
        now = time.monotonic()
        if now - self._last_unsent_hint < UNSENT_HINT_FOR:
            return
        self._last_unsent_hint = now
        why = why_not_sent(self.room, self.link.refusal)
        self.notify(
            f"keys not sent: {why}. They are dropped, not kept to be sent later.",
            title="Not connected",
            severity="warning",
            timeout=UNSENT_HINT_FOR,
        )

    @on(SessionLink.Unconfirmed)
    def _unconfirmed(self, event: SessionLink.Unconfirmed) -> None:
        """The link died with keys the relay never confirmed: say so, they may be lost."""
        size = event.size
        at = time.strftime("%H:%M:%S", time.localtime(event.since))
        self.notify(
            f"The relay stopped answering: what you typed since {at} ({size} bytes) may not "
            "have reached the shell. Look at the shell before typing again.",
            title="Keys may be lost",
            severity="warning",
            timeout=20,
        )

    @on(TerminalView.Reply)
    async def _reply(self, event: TerminalView.Reply) -> None:
        """Answers to the shell's device queries: sent by the driver only, without toasts."""
        if self.room.driving and not self.room.input_blocked:
            await self.link.send_input(event.data)

    # ------------------------------------------------------------ window keys, in order

    def key_in_order(self, event: events.Key) -> bool | WindowKey:
        """Decide the window's keys as the app reads them (see :mod:`tui.window_keys`).

        False: route it; True: taken; a WindowKey: sent on, hold the next keys."""
        terminal = self.terminal
        if self.chord_pending:
            self.chord_pending = False
            if event.key == commands.CHORD_KEY:  # ctrl+] twice: the shell gets one
                terminal.post_message(TerminalView.Input(b"\x1d"))
                return True
            return event.key == "escape" or self._send_on(event.key, deliberate=True)
        if event.key == commands.CHORD_KEY:
            self.action_chord()
            return True
        if event.key == "escape" and self.focused is not terminal:
            return self._send_on("escape")  # from the chat or the people
        if self.focused is not terminal or terminal.scroll_mode or terminal.takes_keys:
            return False
        command = commands.BY_KEY.get(event.key)
        if command is None or not self.available(command):
            return False  # the pane says "you are watching" or ignores it
        return self._send_on(event.key)

    def _send_on(self, key: str, *, deliberate: bool = False) -> WindowKey:
        """Down the path the keys typed before it took (it bubbles back up)."""
        return send_behind(self.focused or self.terminal, WindowKey(key, deliberate=deliberate))

    @on(WindowKey)
    async def _window_key(self, event: WindowKey) -> None:
        if event.key != "escape":  # Esc acts when it reaches the app: see ``arrived``
            await self._act_on(event.key, deliberate=event.deliberate)

    def arrived(self, message: WindowKey) -> None:
        """``message`` reached the app: Esc moves the focus only now, so an Enter typed
        just before it reaches the chat's binding (the app checks it on the focus)."""
        if message.key == "escape":
            self.set_focus(self.terminal)

    async def _act_on(self, key: str, *, deliberate: bool) -> None:
        action = commands.chord_action(key)
        command = commands.BY_ACTION.get(action or "")
        if command is None:
            self.notify(f"ctrl+] {key}: not a warroom key (? for help)", timeout=3)
            return
        if not self.available(command):
            self.notify(f"ctrl+] {command.shown}: {command.label.lower()} is not possible now")
            return
        method = getattr(self, f"action_{action}")  # a chord is deliberate: it does not ask
        result = method(ask=False) if command.asks and deliberate else method()
        if inspect.isawaitable(result):
            await result

    @on(TerminalView.Resized)
    async def _resized(self, event: TerminalView.Resized) -> None:
        await self.link.send({"type": "resize", "cols": event.cols, "rows": event.rows})

    @on(TerminalView.Reshaped)
    def _reshaped(self) -> None:
        self.query_one(StatusBar).cropped = self._crop_note()

    @on(TerminalView.Behind)
    async def _behind(self) -> None:
        await self.link.resync()

    @on(TerminalView.NotDriving)
    def _not_driving(self) -> None:
        self._watching_hint()

    def _watching_hint(self) -> None:
        if self.room.offline:  # whether this window will drive is not known yet
            self._keys_not_sent()
            return
        if self.room.ended or self.room.driving:
            return
        if self.room.role == Role.REVIEWER:
            self.notify("you are watching: reviewers do not type here", timeout=3)
        else:
            self.notify(WATCHING_HINT, timeout=3)

    # ------------------------------------------------------------ actions

    def available(self, command: Command) -> bool:
        """Whether ``command`` does something now (the key bar, the chord, the bindings)."""
        room = self.room
        action = command.action
        if action in ("leave", "help", "sidebar", "scrollback"):
            return True
        if action == "recordings":
            return room.may_review
        if room.ended or room.you is None:
            return False
        if action == "chat":
            return True
        if action == "control":
            return room.role in (Role.LEAD, Role.VIEWER)
        if action in ("grant", "deny"):
            return bool(requests_for_me(room))
        if action == "take":
            return room.is_lead and not room.driving
        if action == "end":
            return room.is_lead
        if action == "access":
            return not room.is_guest and not room.access.lead
        if action == "access_requests":
            return bool(room.access.to_decide())
        return False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "chord":
            return True
        command = commands.BY_ACTION.get(action)
        if command is None:
            return True
        if self.room.driving:
            return False  # reached through the chord only; the shell gets the letter
        return self.available(command)

    def action_chat(self) -> None:
        if not self.sidebar_shown:
            self.sidebar_wanted = True
        self.chat.focus_input()

    def action_chord(self) -> None:
        """``ctrl+]``: the next key is the window's (see :meth:`key_in_order`)."""
        quiet = self.room.driving and self.focused is self.terminal  # the driver knows it
        self.chord_pending = True
        self.set_focus(self.terminal)
        if not quiet:
            self.notify(commands.chord_toast(self.available), title="ctrl+] then", timeout=4)

    def action_scrollback(self) -> None:
        self.terminal.start_scroll_mode()

    async def action_control(self) -> None:
        room = self.room
        if room.driving:
            await self.link.send({"type": "release"})
            return
        if room.has_requested:
            self.notify("your request is waiting for an answer")
            return
        open_dialog(self.app, RequestControlScreen(room.driver_name), self._request_control)

    async def _request_control(self, reason: str | None) -> None:
        if reason and not await self.link.send({"type": "request_control", "reason": reason}):
            self.notify("not connected: request not sent", severity="warning")

    async def action_grant(self) -> None:
        waiting = requests_for_me(self.room)
        if not waiting:
            self.notify("no request to grant")
        elif len(waiting) == 1:
            await self._send_answer(Answer(waiting[0]), deny=False)
        else:
            open_dialog(
                self.app,
                PickRequestScreen(waiting, deny=False),
                lambda answer: self._answered(answer, deny=False),
            )

    def action_deny(self, ask: bool = True) -> None:
        """Deny one request, with an optional reason (picking one when several wait)."""
        waiting = requests_for_me(self.room)
        if not waiting:
            self.notify("no request to deny")
        elif len(waiting) == 1:
            request = waiting[0]
            open_dialog(
                self.app,
                DenyScreen(request),
                lambda reason: self._answered(
                    None if reason is None else Answer(request, reason), deny=True
                ),
            )
        else:
            open_dialog(
                self.app,
                PickRequestScreen(waiting, deny=True),
                lambda answer: self._answered(answer, deny=True),
            )

    async def _answered(self, answer: Answer | None, *, deny: bool) -> None:
        if answer is not None:
            await self._send_answer(answer, deny=deny)

    async def _send_answer(self, answer: Answer, *, deny: bool) -> None:
        message: protocol.Deny | protocol.Grant
        if deny:
            message = {"type": "deny", "id": answer.request.id, "reason": answer.reason}
        else:
            message = {"type": "grant", "id": answer.request.id}
        if not await self.link.send(message):
            self.notify("not connected: answer not sent", severity="warning")

    async def action_take(self, ask: bool = True) -> None:
        driver = self.room.driver_name
        if ask and driver is not None:
            self._confirm(
                f"Take control from {driver}?", "They stop driving at once.", "Take", "take"
            )
            return
        await self._take()

    async def _take(self) -> None:
        await self.link.send({"type": "take"})

    def _confirm(self, question: str, detail: str, yes: str, what: str) -> None:
        async def answered(confirmed: bool | None) -> None:
            if not confirmed:
                self._watching_hint()
                return
            if what == "take":
                await self._take()
            elif what == "leave":
                await self._leave()

        open_dialog(self.app, ConfirmScreen(question, detail, yes), answered)

    async def action_leave(self, ask: bool = True) -> None:
        if ask and not self.room.ended:
            self._confirm(
                f"Leave session {self.room.session}?",
                "You can join again while it is open.",
                "Leave",
                "leave",
            )
            return
        await self._leave()

    async def _leave(self) -> None:
        await self.link.close()
        self.app.exit()

    def action_end(self, ask: bool = True) -> None:
        """End the session for everyone; the reason is optional (and asked either way)."""
        open_dialog(
            self.app,
            ReasonScreen(
                f"End session {self.room.session} for everyone?",
                "The shell closes, everyone is disconnected and the recording is sealed.",
                placeholder="why? (optional, recorded and audited)",
                send="End session",
                required=False,
                variant="error",
                id="end-session",
            ),
            self._end,
        )

    async def _end(self, reason: str | None) -> None:
        if reason is None:
            return
        message: protocol.End = {"type": "end"}
        if reason:
            message["reason"] = reason
        if not await self.link.send(message):
            self.notify("not connected: the session was not ended", severity="warning")

    def action_access(self) -> None:
        asked = self.room.access.asked()
        if asked:
            self.notify(f"your request for {asked[0].role} is waiting for a lead")
            return
        room = self.room
        # A reviewer asks to watch live; anyone else here already watches, so asks to drive.
        role: GrantRole = "viewer" if room.role == Role.REVIEWER else "driver"
        open_dialog(
            self.app, RequestAccessScreen(f"session {room.session}", role), self._ask_for_access
        )

    async def _ask_for_access(self, wish: AccessWish | None) -> None:
        if wish is not None:
            await self.link.send(
                {
                    "type": "access_request",
                    "role": wish.role,
                    "reason": wish.reason,
                    "session": self.room.session,
                }
            )

    def action_access_requests(self) -> None:
        waiting = self.room.access.to_decide()
        if not waiting:
            self.notify("no access requests waiting")
            return
        open_dialog(self.app, DecideAccessScreen(waiting[0], len(waiting) - 1), self._decide_access)

    async def _decide_access(self, decision: Decision | None) -> None:
        if decision is not None and not await self.link.send(decision.message()):
            self.notify("not connected: decision not sent", severity="warning")

    def action_recordings(self) -> None:
        from tui.recordings import RecordingsScreen

        if any(isinstance(s, RecordingsScreen) for s in self.app.screen_stack):
            return
        self.app.push_screen(RecordingsScreen(self.connect, session=self.room.session))

    def action_help(self) -> None:
        open_dialog(self.app, HelpScreen())


__all__ = ["AccessRequest", "Request", "SessionScreen"]
