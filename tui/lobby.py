"""The lobby (``warroom join <relay-url>``): sessions you may join, targets a lead may open."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, Static

from tui.client import RelayClient, RelayError

if TYPE_CHECKING:
    from tui.app import Connector

HERE = Path(__file__).parent  # CSS paths must not follow subclasses into other packages


def _age(opened_at: float, now: float) -> str:
    minutes = int(max(0.0, now - opened_at) // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


class LobbyScreen(Screen[None]):
    CSS_PATH = HERE / "lobby.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "join", "Join", show=True),
        Binding("o", "open", "Open a session"),
        Binding("u", "refresh", "Refresh"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, connect: Connector, client: RelayClient | None = None) -> None:
        super().__init__()
        self.connect = connect
        self.client = client
        self.sessions: list[dict[str, Any]] = []
        self.targets: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        who = self.connect.identity
        with Vertical(id="lobby"):
            yield Static(
                f"[b]warroom[/b] lobby on {self.connect.target.url} — signed in as "
                f"[b]{who.get('user', '?')}[/b] ({who.get('role', '?')})",
                id="lobby-title",
            )
            yield Label("Sessions you may join", classes="lobby-heading")
            yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
            yield Static("", id="no-sessions")
            with Vertical(id="open-box"):
                yield Label("Open a session on a target (leads)", classes="lobby-heading")
                yield DataTable(id="targets", cursor_type="row")
                with Horizontal(id="open-row"):
                    yield Input(placeholder="why are you opening it? (required)", id="reason")
                    yield Button("Open", variant="primary", id="open")
        yield Footer()

    def on_mount(self) -> None:
        sessions = self.query_one("#sessions", DataTable)
        sessions.add_columns("session", "target", "owner", "driver", "people", "open for", "why")
        self.query_one("#targets", DataTable).add_columns("target", "description")
        self.load()

    async def _client(self) -> RelayClient:
        if self.client is None:
            self.client = await self.connect()
        return self.client

    @work(exclusive=True, group="lobby")
    async def load(self) -> None:
        try:
            client = await self._client()
            listing = await client.list_sessions()
        except (RelayError, OSError) as exc:
            self.client = None
            self.notify(f"cannot list sessions: {exc}", severity="error")
            return
        self.show(listing)

    def show(self, listing: dict[str, Any]) -> None:
        self.sessions = list(listing.get("sessions", []))
        self.targets = list(listing.get("targets", []))
        now = time.time()
        table = self.query_one("#sessions", DataTable)
        table.clear()
        for s in self.sessions:
            table.add_row(
                s["id"],
                s.get("target", ""),
                s.get("owner", ""),
                s.get("driver") or "—",
                str(s.get("participants", 0)),
                _age(float(s.get("opened_at") or now), now),
                s.get("reason", ""),
                key=s["id"],
            )
        self.query_one("#no-sessions", Static).update(
            "" if self.sessions else "No open sessions you may join."
        )
        targets = self.query_one("#targets", DataTable)
        targets.clear()
        for t in self.targets:
            targets.add_row(t["name"], t.get("description", ""), key=t["name"])
        self.query_one("#open-box").display = bool(self.targets)
        if self.sessions:
            table.focus()

    def action_refresh(self) -> None:
        self.load()

    def action_join(self) -> None:
        table = self.query_one("#sessions", DataTable)
        if not self.sessions or table.cursor_row < 0:
            return
        session = self.sessions[min(table.cursor_row, len(self.sessions) - 1)]["id"]
        self._enter(str(session))

    @on(DataTable.RowSelected, "#sessions")
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self._enter(str(event.row_key.value))

    def _enter(self, session: str) -> None:
        from tui.app import WarroomApp

        app = self.app
        assert isinstance(app, WarroomApp)
        client, self.client = self.client, None
        app.open_session(session, client)

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

    @work(exclusive=True, group="lobby")
    async def open_on(self, target: str, reason: str) -> None:
        try:
            client = await self._client()
            session = await client.open(target, reason)
        except (RelayError, OSError) as exc:
            self.notify(f"cannot open a session on {target}: {exc}", severity="error")
            return
        self._enter(session)
