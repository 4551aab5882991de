"""The recordings browser: a reviewer's way in, from the lobby, an invite or ``warroom replay``.

It lists what the relay says this credential may see (``list_recordings``:
session, target, owner, start, duration, who drove, the verification state),
narrows it by user, target and day, and searches the recordings' text on the
relay (``text``). Enter fetches the chosen recording into the local cache
(:mod:`tui.fetch`), indexes it and opens the replay screen, at the first match
when there was a search.

The browser keeps a connection of its own (the lobby's belongs to the lobby),
made with the credential the window already holds, and sends one listing at a
time: a change of filters while one is on its way is sent when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from websockets.exceptions import ConnectionClosed

from relay.core import messages, protocol
from tui.client import RelayClient, RelayError
from tui.fetch import default_directory, download
from tui.shown import plain
from tui.timeline import clock

HERE = Path(__file__).parent  # CSS paths must not follow subclasses into other packages

VERIFICATION_STYLE = {
    "verified": ("✓ verified", "green"),
    "recording": ("● recording", "red"),
    "interrupted": ("! interrupted", "yellow"),
    "tampered": ("✗ TAMPERED", "bold red"),
}


@dataclass(frozen=True)
class Day:
    """A day filter: recordings started in ``[since, until)`` (unix seconds)."""

    since: float
    until: float


def parse_day(text: str, now: float) -> Day | None:
    """``2026-01-31``, ``today``, ``yesterday``, or ``3d`` (the last three days), local time.

    ``None`` for an empty text; ``ValueError`` naming the forms for anything else.
    """
    text = text.strip().lower()
    if not text:
        return None
    today = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if text in ("today", "yesterday"):
        start = today - timedelta(days=1 if text == "yesterday" else 0)
        return Day(start.timestamp(), (start + timedelta(days=1)).timestamp())
    if text.endswith("d") and text[:-1].isdigit() and int(text[:-1]) > 0:
        return Day((today - timedelta(days=int(text[:-1]) - 1)).timestamp(), now + 1)
    try:
        start = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"not a day: {text!r} (try 2026-01-31, today, yesterday or 7d)") from None
    return Day(start.timestamp(), (start + timedelta(days=1)).timestamp())


def started(entry: dict[str, Any]) -> str:
    at = entry.get("started_at")
    if not isinstance(at, int | float):
        return "?"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at))


def verification(entry: dict[str, Any]) -> Text:
    label, style = VERIFICATION_STYLE.get(str(entry.get("verification")), ("? unknown", "dim"))
    return Text(label, style=style)


def around(snippet: str, needle: str, before: int = 12) -> str:
    """The snippet from a little before the searched text, so a narrow column shows it.

    The relay sends the whole line the text was found on; the column cuts its end.
    """
    at = snippet.casefold().find(needle.casefold()) if needle else -1
    if at <= before:
        return snippet
    return "…" + snippet[at - before :].lstrip()


def _cell(value: object) -> Text:
    """A table cell as text: a ``DataTable`` reads a plain string as markup."""
    return value if isinstance(value, Text) else Text(plain(value))


class RecordingsScreen(Screen[None]):
    """Browse the recordings this credential may read, and open one in the replay screen."""

    CSS_PATH = HERE / "recordings.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "replay", "Replay", show=True),
        Binding("slash", "search", "Search text", key_display="/"),
        Binding("f", "filters", "Filter"),
        Binding("u", "refresh", "Refresh"),
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
    ]

    def __init__(
        self,
        connect: Any,
        *,
        client: RelayClient | None = None,
        session: str | None = None,
        directory: Path | None = None,
    ) -> None:
        """``connect`` makes an authenticated connection (:class:`tui.app.Connector`)."""
        super().__init__()
        self.connect = connect
        self.client = client
        self.session = session
        self.directory = directory or default_directory()
        self.recordings: list[dict[str, Any]] = []
        self.status = "asking the relay…"
        self.loaded = 0  # answers received (tests wait on it)
        self._wanted: protocol.ListRecordings | None = None  # filters not sent yet
        self._before_hint = ""  # the status line the filter fields' hint replaced
        self._lock = asyncio.Lock()

    def compose(self) -> ComposeResult:
        url = getattr(getattr(self.connect, "target", None), "url", "the relay")
        with Vertical(id="recordings-box") as box:
            title = f"Recordings on {url}" + (f" · session {self.session}" if self.session else "")
            box.border_title = Text(plain(title))
            with Horizontal(id="recordings-filters"):
                yield Input(placeholder="user", id="filter-user")
                yield Input(placeholder="target", id="filter-target")
                yield Input(placeholder="day: today · 7d · Y-M-D", id="filter-day")
                yield Input(placeholder="/ search the text", id="filter-text")
            yield DataTable(id="recordings", cursor_type="row", zebra_stripes=True)
            yield Static(id="recordings-status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#recordings", DataTable)
        table.add_columns(
            "session", "target", "owner", "started", "length", "drove", "verification", "match"
        )
        table.focus()
        self.refresh_status()
        self.action_refresh()

    async def on_unmount(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    # ------------------------------------------------------------ asking the relay

    def filters(self) -> protocol.ListRecordings:
        """The ``list_recordings`` message the filter fields ask for (``ValueError`` if odd)."""
        message: protocol.ListRecordings = {"type": "list_recordings"}
        if self.session:
            message["session"] = self.session
        names: tuple[Literal["user", "target", "text"], ...] = ("user", "target", "text")
        for name in names:
            value = self.query_one(f"#filter-{name}", Input).value.strip()
            if value:
                message[name] = value
        day = parse_day(self.query_one("#filter-day", Input).value, time.time())
        if day is not None:
            message["since"], message["until"] = day.since, day.until
        return message

    def action_refresh(self) -> None:
        try:
            self._wanted = self.filters()
        except ValueError as exc:
            self.status = str(exc)
            self.refresh_status()
            return
        self.status = "asking the relay…"
        self.refresh_status()
        self._ask()

    @work(group="recordings-list", exit_on_error=False)
    async def _ask(self) -> None:
        if self._lock.locked():
            return  # the running request sends the newest filters when it returns
        async with self._lock:
            while self._wanted is not None:
                message, self._wanted = self._wanted, None
                try:
                    client = await self._client()
                    await client.send(message)
                    answer = await client.expect(messages.Recordings)
                except (RelayError, OSError, ConnectionClosed, TimeoutError) as exc:
                    self.client = None
                    self.status = f"the relay refused or could not be reached: {_reason(exc)}"
                    self.refresh_status()
                    return
                if self._wanted is None:
                    found = list(answer.get("recordings", []))
                    self.show(found, searched="text" in message, needle=message.get("text", ""))

    async def _client(self) -> RelayClient:
        if self.client is None:
            self.client = await self.connect()
        return self.client

    def show(
        self, recordings: list[dict[str, Any]], *, searched: bool = False, needle: str = ""
    ) -> None:
        self.recordings = recordings
        self.loaded += 1
        table = self.query_one("#recordings", DataTable)
        table.clear()
        for entry in recordings:
            match = ""
            if "match_at" in entry:
                snippet = around(str(entry.get("match", "")), needle)
                match = f"{clock(float(entry['match_at']))} {snippet}"
            cells = (
                entry.get("session") or "?",
                entry.get("target") or "",
                entry.get("owner") or "",
                started(entry),
                clock(float(entry.get("duration") or 0.0)),
                ", ".join(entry.get("drivers") or []) or "—",
                verification(entry),
                match,  # what the terminal showed: brackets are text, not markup
            )
            table.add_row(*(_cell(cell) for cell in cells), key=str(entry["name"]))
        count = len(recordings)
        found = "matching" if searched else "you may replay"
        self.status = (
            f"{count} recording{'s' if count != 1 else ''} {found}"
            + (" · Enter replays the highlighted one" if count else "")
            if count or searched
            else "no recordings you may replay yet"
        )
        self.refresh_status()

    def refresh_status(self) -> None:
        self.query_one("#recordings-status", Static).update(Text(plain(self.status)))

    # ------------------------------------------------------------ keys

    FILTER_HINT = "type, then Enter applies the filters · Esc back to the list"

    def on_descendant_focus(self, event: Any) -> None:
        if isinstance(event.widget, Input):
            self._before_hint = self.status if self.status != self.FILTER_HINT else ""
            self.status = self.FILTER_HINT
            self.refresh_status()

    def on_descendant_blur(self, event: Any) -> None:
        if isinstance(event.widget, Input) and self.status == self.FILTER_HINT:
            self.status = self._before_hint
            self.refresh_status()

    @on(Input.Submitted)
    def _filters_changed(self) -> None:
        self.action_refresh()
        self.query_one("#recordings", DataTable).focus()

    def action_search(self) -> None:
        self.query_one("#filter-text", Input).focus()

    def action_filters(self) -> None:
        self.query_one("#filter-user", Input).focus()

    def action_back(self) -> None:
        focused = self.focused
        if isinstance(focused, Input):
            self.query_one("#recordings", DataTable).focus()
            return
        if len(self.app.screen_stack) > 2:
            self.dismiss(None)
        else:
            self.app.exit()

    def selected(self) -> dict[str, Any] | None:
        table = self.query_one("#recordings", DataTable)
        if not self.recordings or table.cursor_row < 0:
            return None
        return self.recordings[min(table.cursor_row, len(self.recordings) - 1)]

    def action_replay(self) -> None:
        if isinstance(self.focused, Input):
            return  # Enter in a filter field applies it (Input.Submitted)
        entry = self.selected()
        if entry is not None:
            self._open(entry)

    @on(DataTable.RowSelected, "#recordings")
    def _row_chosen(self) -> None:
        self.action_replay()

    @work(group="recordings-open", exclusive=True, exit_on_error=False)
    async def _open(self, entry: dict[str, Any]) -> None:
        """Fetch (unless the cache has it whole), index, and push the replay screen."""
        from relay.evidence.replay import Recording
        from tui.replay_screen import ReplayScreen

        name = str(entry["name"])
        target = self.directory / name
        async with self._lock:
            try:
                complete = entry.get("verification") == "verified"
                if not (complete and target.is_file() and target.stat().st_size == entry["size"]):
                    self.status = f"fetching {name} ({entry['size']} bytes)…"
                    self.refresh_status()
                    await download(await self._client(), name, target)
            except (RelayError, OSError, ConnectionClosed, TimeoutError) as exc:
                self.client = None
                self.status = f"could not fetch {name}: {_reason(exc)}"
                self.refresh_status()
                return
        size = max(1, target.stat().st_size)

        def progress(offset: int) -> None:
            self.app.call_from_thread(self._progress, name, offset * 100 // size)

        try:
            recording = await asyncio.to_thread(Recording.open, target, progress)
        except (OSError, ValueError) as exc:
            self.status = f"cannot replay {name}: {exc}"
            self.refresh_status()
            return
        self.status = f"{len(self.recordings)} recordings · replaying {name}"
        self.refresh_status()
        at = float(entry.get("match_at") or 0.0)
        self.app.push_screen(ReplayScreen(recording, at=at, search=self.searched_text()))

    def searched_text(self) -> str:
        return self.query_one("#filter-text", Input).value.strip()

    def _progress(self, name: str, percent: int) -> None:
        self.status = f"indexing {name}: {percent}%"
        self.refresh_status()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RelayError):
        return exc.message or exc.code
    if isinstance(exc, ConnectionClosed):
        return "the connection closed"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__
