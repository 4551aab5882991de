"""The lobby (``warroom join <relay-url>``): sessions you may join, targets a lead may open.

One task (:meth:`LobbyScreen.listen`) owns the connection's receiving side and
dispatches what arrives: the session list, ``opened``, errors, and the
just-in-time access messages (a relay-wide lead is told of access requests
here too, and answers them from the list; anyone may ask for access with
``a``). Requests are only sent; their answers come back through the same task.
Before the connection is handed to a session's screen, that task is stopped.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, Static
from textual.worker import Worker, WorkerCancelled, WorkerFailed
from websockets.exceptions import ConnectionClosed

from relay.core import messages, protocol
from relay.core.access import AccessRequest
from relay.core.protocol import OutputChunk, SizeChange, Snapshot
from relay.core.roles import Role
from tui import shown
from tui.access import Access, format_left
from tui.access_screens import AccessWish, DecideAccessScreen, Decision, RequestAccessScreen
from tui.client import RelayClient, RelayError, for_people
from tui.dialogs import open_dialog
from tui.incoming import Ignoring, Unreadable, is_access
from tui.shown import plain

if TYPE_CHECKING:
    from tui.login import Connector

HERE = Path(__file__).parent  # CSS paths must not follow subclasses into other packages


def _cells(*values: object) -> list[Text]:
    """Table cells as text: a ``DataTable`` reads a plain string as markup."""
    return [Text(plain(value)) for value in values]


def _age(opened_at: float, now: float) -> str:
    minutes = int(max(0.0, now - opened_at) // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


class LobbyScreen(Screen[None]):
    CSS_PATH = HERE / "lobby.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "join", "Join", show=True),
        Binding("o", "open", "Open a session"),
        Binding("u", "refresh", "Refresh"),
        Binding("a", "access", "Request access"),
        Binding("p", "access_requests", "Access requests"),
        Binding("b", "recordings", "Recordings"),
        Binding("q", "app.quit", "Quit"),
    ]

    class Entered(Message):
        """A session was chosen (and the lobby stopped reading): the app opens it.

        A message rather than a call, so that the lobby need not know the app.
        """

        def __init__(self, session: str, client: RelayClient | None) -> None:
            super().__init__()
            self.session = session
            self.client = client

    def __init__(self, connect: Connector, client: RelayClient | None = None) -> None:
        super().__init__()
        self.connect = connect
        self.client = client
        self.sessions: list[messages.SessionSummary] = []
        self.targets: list[messages.TargetSummary] = []
        self.ignoring = Ignoring()  # frames from the relay that were not its messages
        who = connect.identity
        self.access = Access(
            user=str(who.get("user", "")),
            lead=who.get("role") == Role.LEAD and who.get("session") is None,
        )
        self._listener: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        who = self.connect.identity
        with Vertical(id="lobby"):
            yield Static(
                Text.assemble(
                    ("warroom", "bold"),
                    f" lobby on {plain(self.connect.target.url)} — signed in as ",
                    (plain(who.get("user", "?")), "bold"),
                    f" ({plain(who.get('role', '?'))})",
                ),
                id="lobby-title",
            )
            with Vertical(id="sessions-box", classes="lobby-panel") as box:
                box.border_title = "Sessions you may join"
                box.border_subtitle = "Enter joins"
                yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
                yield Static("", id="no-sessions")
            with Vertical(id="open-box", classes="lobby-panel") as box:
                box.border_title = "Open a session on a target (leads)"
                yield DataTable(id="targets", cursor_type="row")
                with Horizontal(id="open-row"):
                    yield Input(placeholder="why are you opening it? (required)", id="reason")
                    yield Button("Open", variant="primary", id="open")
            with Vertical(id="access-box", classes="lobby-panel") as box:
                box.border_title = "Access requests waiting for a lead"
                box.border_subtitle = "p answers"
                yield DataTable(id="access-requests", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        sessions = self.query_one("#sessions", DataTable)
        sessions.add_columns("session", "target", "owner", "driver", "people", "open for", "why")
        self.query_one("#targets", DataTable).add_columns("target", "description")
        asks = self.query_one("#access-requests", DataTable)
        asks.add_columns("user", "role", "for", "asked", "why")
        self.show_access()
        self.load()

    async def _client(self) -> RelayClient:
        if self.client is None:
            self.client = await self.connect()
        return self.client

    def load(self) -> None:
        """(Re)list the sessions; start listening if the connection is new."""
        if self._listener is None or self._listener.is_finished:
            self._listener = self.listen()
        else:
            self.send({"type": "list_sessions"})

    @work(group="lobby-listen", exit_on_error=False)
    async def listen(self) -> None:
        try:
            client = await self._client()
            client.on_unreadable = self._ignored
            await client.send({"type": "list_sessions"})
            await client.send(self.access.list_request())
            while True:
                event = await client.recv()
                if isinstance(event, OutputChunk | Snapshot | SizeChange):
                    continue  # no output outside a session
                if self.dispatch_message(shown.message(event)):
                    return
        except (RelayError, OSError, ConnectionClosed) as exc:
            self.client = None
            self.notify(f"lost the relay: {for_people(exc)} (u to retry)", severity="error")

    def _ignored(self, exc: Unreadable) -> None:
        """A frame that was not a relay message was dropped: say so (not once per frame)."""
        note = self.ignoring.ignored(plain(exc), time.monotonic())
        if note is not None:
            self.notify(note, title="Relay message ignored", severity="error", timeout=10)

    def dispatch_message(self, message: messages.RelayMessage) -> bool:
        """Handle one message from the relay; ``True`` when the listener must stop."""
        if message["type"] == "sessions":
            self.show(message)
        elif message["type"] == "opened":
            self._enter(message["session"], from_listener=True)
            return True
        elif message["type"] == "error":
            self.notify(str(message.get("message")), title="Refused", severity="error")
            if message.get("code") == "access" and self.access.lead:
                self.send(self.access.list_request())  # another lead may have answered
        elif is_access(message):
            notice = self.access.apply(message, time.time())
            if notice is not None:
                if message["type"] == "access_request" and self.access.to_decide():
                    notice_text = f"{notice.text}\np to approve or deny"
                else:
                    notice_text = notice.text
                severity: Any = notice.severity
                self.notify(notice_text, title=notice.title, severity=severity, timeout=10)
            self.show_access()
        return False

    @work(group="lobby-send", exit_on_error=False)
    async def send(self, message: protocol.ClientMessage) -> None:
        if self.client is None:
            self.notify("not connected to the relay (u to retry)", severity="warning")
            return
        with contextlib.suppress(ConnectionClosed):
            await self.client.send(message)

    def show_access(self) -> None:
        """The access requests a relay-wide lead may answer (hidden for everyone else)."""
        waiting = self.access.to_decide()
        box = self.query_one("#access-box")
        box.display = bool(waiting)
        table = self.query_one("#access-requests", DataTable)
        table.clear()
        now = time.time()
        for ask in waiting:
            age = format_left(now - ask.at) if ask.at else "?"
            table.add_row(*_cells(ask.user, ask.role, ask.scope, age, ask.reason), key=ask.id)
        self.refresh_bindings()

    def show(self, listing: messages.Sessions) -> None:
        self.sessions = list(listing.get("sessions", []))
        self.targets = list(listing.get("targets", []))
        now = time.time()
        table = self.query_one("#sessions", DataTable)
        table.clear()
        for s in self.sessions:
            table.add_row(
                *_cells(
                    s["id"],
                    s.get("target", ""),
                    s.get("owner", ""),
                    s.get("driver") or "—",
                    s.get("participants", 0),
                    _age(float(s.get("opened_at") or now), now),
                    s.get("reason", ""),
                ),
                key=s["id"],
            )
        empty = self.query_one("#no-sessions", Static)
        empty.update("" if self.sessions else "No open sessions you may join.")
        empty.display = not self.sessions
        targets = self.query_one("#targets", DataTable)
        targets.clear()
        for t in self.targets:
            targets.add_row(*_cells(t["name"], t.get("description", "")), key=t["name"])
        self.query_one("#open-box").display = bool(self.targets)
        if self.sessions:
            table.focus()

    def action_refresh(self) -> None:
        self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "recordings":
            return self.connect.identity.get("role") in (Role.LEAD, Role.REVIEWER)
        if action == "access_requests":
            if not self.access.lead:
                return False
            return True if self.access.to_decide() else None
        return True

    def _selected_session(self) -> str | None:
        table = self.query_one("#sessions", DataTable)
        if not self.sessions or table.cursor_row < 0:
            return None
        return str(self.sessions[min(table.cursor_row, len(self.sessions) - 1)]["id"])

    def action_access(self) -> None:
        if self.access.asked():
            self.notify(f"your request for {self.access.asked()[0].role} is waiting for a lead")
            return
        self._ask_for_access(self._selected_session())

    def _ask_for_access(self, session: str | None) -> None:
        """One dialog at a time (:func:`tui.dialogs.open_dialog`): ``aa`` opens one."""
        scope = f"session {session}" if session else "any session"

        def asked(wish: AccessWish | None) -> None:
            if wish is not None:
                message: dict[str, Any] = {
                    "type": "access_request",
                    "role": wish.role,
                    "reason": wish.reason,
                }
                if session:
                    message["session"] = session
                self.send(message)

        open_dialog(self.app, RequestAccessScreen(scope, "viewer"), asked)

    def action_access_requests(self) -> None:
        waiting = self.access.to_decide()
        if not waiting:
            self.notify("no access requests waiting")
            return
        table = self.query_one("#access-requests", DataTable)
        row = max(0, min(table.cursor_row, len(waiting) - 1))
        self._decide(waiting[row], len(waiting) - 1)

    @on(DataTable.RowSelected, "#access-requests")
    def _ask_selected(self, event: DataTable.RowSelected) -> None:
        waiting = {ask.id: ask for ask in self.access.to_decide()}
        ask = waiting.get(str(event.row_key.value))
        if ask is not None:
            self._decide(ask, len(waiting) - 1)

    def _decide(self, ask: AccessRequest, more: int) -> None:
        def decided(decision: Decision | None) -> None:
            if decision is not None:
                self.send(decision.message())

        open_dialog(self.app, DecideAccessScreen(ask, more), decided)

    def action_join(self) -> None:
        session = self._selected_session()
        if session is not None:
            self._enter(session)

    @on(DataTable.RowSelected, "#sessions")
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self._enter(str(event.row_key.value))

    def _enter(self, session: str, from_listener: bool = False) -> None:
        if from_listener:
            self._hand_over(session)
        else:
            self._stop_listening_and_enter(session)

    @work(group="lobby-enter", exclusive=True)
    async def _stop_listening_and_enter(self, session: str) -> None:
        """Stop reading before the session's link reads the same connection."""
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_finished:
            listener.cancel()
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await listener.wait()
        self._hand_over(session)

    def _hand_over(self, session: str) -> None:
        client, self.client = self.client, None
        self.post_message(self.Entered(session, client))

    def action_recordings(self) -> None:
        """The recordings browser, on a connection of its own (the lobby keeps this one)."""
        from tui.recordings import RecordingsScreen

        if not any(isinstance(s, RecordingsScreen) for s in self.app.screen_stack):
            self.app.push_screen(RecordingsScreen(self.connect))

    def action_open(self) -> None:
        if self.targets:
            self.query_one("#targets", DataTable).focus()

    @on(DataTable.RowSelected, "#targets")
    def _target_chosen(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted, "#reason")
    @on(Button.Pressed, "#open")
    def _open_pressed(self) -> None:
        table = self.query_one("#targets", DataTable)
        if not self.targets:
            return
        target = self.targets[max(0, min(table.cursor_row, len(self.targets) - 1))]["name"]
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.notify("say why you open a session on production", severity="warning")
            return
        self.open_on(str(target), reason)

    def open_on(self, target: str, reason: str) -> None:
        """Ask the relay to open a session; ``opened`` (or an error) arrives in :meth:`listen`."""
        self.send({"type": "open", "target": target, "reason": reason})
