"""The replay screen: a recorded session, with the keys of asciinema's player.

Left, the terminal as it was at the play head; right, who drove, who was
there and the chat up to that moment; below, the timeline of session events
and a status line. Everything shown is computed by :class:`relay.evidence.replay.Player`
from the recording: this screen only moves the play head.

Keys (as in asciinema's player, plus search and idle compression), listed in
the footer and, all of them, in the ``?`` overlay (both from :data:`KEYS`):
space play/pause · ←/→ 5 s · shift+←/→ 10 % · ``[``/``]`` previous/next event ·
0-9 jump to 0-90 % · ``,``/``.`` step one output event · ``<``/``>`` (or
``-``/``+``) speed (0.25x to 16x) · ``/`` search the output · ``i`` idle
compression · ``s`` side panel · ``q`` quit (back to the browser when opened
from it).

A recording wider than the window first folds the side panel away; what still
does not fit is cropped around the cursor, and the terminal's last row and the
status line say how many columns and rows are hidden.
"""

from __future__ import annotations

import bisect
import time
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static

from relay.evidence.replay import Player, Recording, SessionState
from relay.terminal import TerminalModel
from relay.trust.keys import VerifyKey
from tui.handoff import HelpScreen
from tui.shown import plain
from tui.terminal_view import TerminalView
from tui.timeline import Timeline, clock

HERE = Path(__file__).parent
FPS = 30
SEEK_STEP = 5.0
MIN_SPEED, MAX_SPEED = 0.25, 16.0
IDLE_LIMIT = 2.0  # with idle compression, no pause between events lasts longer
CHAT_SHOWN = 50
SIDE_WIDTH = 36  # columns of the side panel, border included


def _key(key: str, action: str, label: str, show: bool, display: str | None = None) -> Binding:
    return Binding(key, action, label, show=show, key_display=display)


# The player's keys: the footer shows the first ones, the ? overlay all of them.
KEYS: list[Binding] = [
    _key("space", "toggle_play", "play/pause", True),
    _key("left", "seek(-5)", "back 5 s", False, "←"),
    _key("right", "seek(5)", "forward 5 s", False, "→"),
    _key("shift+left", "seek_fraction(-0.1)", "back 10 %", False, "shift+←"),
    _key("shift+right", "seek_fraction(0.1)", "forward 10 %", False, "shift+→"),
    _key("left_square_bracket", "mark(-1)", "previous event", True, "["),
    _key("right_square_bracket", "mark(1)", "next event", True, "]"),
    _key("comma", "step(-1)", "step back one output event", False, ","),
    _key("full_stop", "step(1)", "step one output event", False, "."),
    _key("less_than_sign,minus", "speed(0.5)", "slower", True, "<"),
    _key("greater_than_sign,plus,equals_sign", "speed(2)", "faster", True, ">"),
    _key("slash", "search", "search", True, "/"),
    _key("i", "idle", "idle compression", False),
    _key("s", "side", "side panel", False),
    _key("question_mark", "help", "help", True, "?"),
    _key("q", "quit_replay", "quit", True),
]


def keys_help() -> str:
    """The ? overlay: every key of :data:`KEYS`, and the digits."""
    lines = ["[b]replay keys[/b] (as in asciinema's player)", ""]
    for binding in KEYS:
        shown = binding.key_display or binding.key
        lines.append(f"  [b]{shown:<8}[/b] {binding.description}")
    lines.append(f"  [b]{'0-9':<8}[/b] jump to 0 %, 10 %, … 90 %")
    return "\n".join(lines)


def _titled(title: str, body: str) -> Text:
    """A bold title and plain text: recorded chat must never be read as markup, nor reach
    the terminal as controls (a recording may come from anywhere: :mod:`tui.shown`)."""
    return Text.assemble((title, "bold"), plain(body, lines=True))


class ReplayTerminal(TerminalView):
    """The terminal pane, showing the player's model instead of a live stream."""

    def show(self, model: TerminalModel) -> None:
        """Draw ``model``: in full when it is a new object (a seek), else its dirty rows.

        A seek starts the scrollback view over; playback keeps a scrolled-back
        view and a selection on their lines, as live output does.
        """
        if model is not self.model:
            self.model = model
            self._forget_positions()
            self._redraw_all()
        else:
            self._follow(self._drops.dropped(model.history))
            self._apply_dirty()
        self._drops.look(model.history)


class ReplayScreen(Screen[None]):
    """Replay one recording."""

    CSS_PATH = HERE / "replay_screen.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        *KEYS,
        *(Binding(str(n), f"jump({n})", show=False) for n in range(10)),
    ]

    def __init__(
        self,
        recording: Recording,
        *,
        at: float = 0.0,
        key: VerifyKey | None = None,
        search: str = "",
    ) -> None:
        """``search``: what a search that found this recording looked for (``/`` starts there)."""
        super().__init__()
        self.recording = recording
        self.player = Player(recording, at)
        self.key = key
        self.playing = False
        self.speed = 1.0
        self.idle_compression = False
        self.verification = "verifying…" if recording.is_warroom else self._plain_label()
        self.last_search = search
        self.side_wanted: bool | None = None  # None: as the recording's width allows
        self.message = f"found {search!r} here" if search and at else ""
        self._timer: Timer | None = None
        self._last_tick = 0.0

    def _plain_label(self) -> str:
        return f"UNVERIFIED: plain asciicast v{self.recording.header.version}, no signature"

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        header = self.recording.header
        yield Static(Text(self._title()), id="replay-title")
        damage = self.recording.damage
        if damage is not None:  # plays up to the damage: say where that is, and why
            yield Static(Text(f"⚠ This recording is {damage.describe()}."), id="replay-damage")
        with Horizontal(id="replay-body"):
            yield ReplayTerminal(header.cols, header.rows, id="replay-terminal")
            with Vertical(id="replay-side"):
                yield Static(id="replay-driver")
                yield Static(id="replay-people")
                yield Static(id="replay-chat")
        yield Timeline(self.recording.marks, self.recording.duration, id="replay-timeline")
        yield Static(id="replay-status")
        yield Input(placeholder="search the output, enter to jump", id="replay-search")
        yield Footer()

    def _title(self) -> str:
        info = self.recording.header.warroom or {}
        name = self.recording.path.name
        if info:
            name = f"{info.get('session')} on {info.get('target')} · {info.get('reason')}"
        return plain(f" replay · {name} · {self.verification}")

    def on_mount(self) -> None:
        self.query_one("#replay-search", Input).display = False
        self.query_one(ReplayTerminal).border_title = "REPLAY"
        self.refresh_view()
        if self.recording.is_warroom:
            self.verify()

    @work(thread=True, exclusive=True)
    def verify(self) -> None:
        """Check the chain in a thread (≈ 0.5 s per 100 MB) and show the verdict."""
        from relay.evidence.verdicts import check_recording

        check = check_recording(self.recording.path, [self.key] if self.key else [])
        code = int(check.verdict)
        label = {0: "verified ✓", 3: "INTERRUPTED: only a prefix verifies"}.get(code, "TAMPERED")
        if code == 0 and self.key is None:
            label += " (against the key it names)"
        if code not in (0, 3):
            label += f" at line {check.issues[0].line if check.issues else '?'}"
        self.app.call_from_thread(self._verified, label)

    def _verified(self, label: str) -> None:
        self.verification = label
        self.query_one("#replay-title", Static).update(Text(self._title()))

    # ------------------------------------------------------------ drawing

    def refresh_view(self) -> None:
        """Redraw everything that depends on the play head."""
        player = self.player
        self._fit_side(player.model.cols)
        terminal = self.query_one(ReplayTerminal)
        terminal.show(player.model)
        terminal.border_title = f"REPLAY · {player.model.cols}x{player.model.rows}"
        self.query_one(Timeline).position = player.time
        self._show_state(player.state())
        self.query_one("#replay-status", Static).update(Text(self.status_line()))

    def _show_state(self, state: SessionState) -> None:
        driver = state.driver or "nobody"
        if state.ended:
            driver = f"nobody — ended: {state.ended}"
        self.query_one("#replay-driver", Static).update(_titled("Driving: ", driver))
        people = "\n".join(f"  {user} ({role})" for user, role in state.participants)
        self.query_one("#replay-people", Static).update(_titled("Present\n", people or "  —"))
        lines = [f"{clock(t)} {user}: {text}" for t, user, text in state.chat[-CHAT_SHOWN:]]
        chat = self.query_one("#replay-chat", Static)
        chat.update(_titled("Chat\n", "\n".join(lines) or "—"))

    def status_line(self) -> str:
        state = "▶" if self.playing else "‖"  # ⏸ is an emoji: a box in many fonts
        parts = [
            f"{state} {clock(self.player.time)} / {clock(self.recording.duration)}",
            f"{self.speed:g}x",
            f"idle compression {'on' if self.idle_compression else 'off'}",
        ]
        if self.message:
            parts.append(self.message)
        if self.is_mounted:
            cropped = self.query_one(ReplayTerminal).crop_note()
            if cropped:
                parts.append(cropped)
        parts.append("? keys")
        return " · ".join(parts)

    # ------------------------------------------------------------ fitting

    def _fit_side(self, cols: int) -> None:
        """Fold the side panel when the recording needs its columns (unless ``s`` said)."""
        if not self.is_mounted:
            return
        wanted = self.side_wanted
        shown = self.size.width - SIDE_WIDTH - 2 >= cols if wanted is None else wanted
        side = self.query_one("#replay-side")
        if side.display != shown:
            side.display = shown

    def on_resize(self) -> None:
        self.refresh_view()

    def action_side(self) -> None:
        self.side_wanted = not self.query_one("#replay-side").display
        self.refresh_view()

    def action_help(self) -> None:
        if not isinstance(self.app.screen, HelpScreen):
            self.pause()
            self.app.push_screen(HelpScreen(keys_help()))

    def seek(self, to: float) -> None:
        self.player.advance(to)
        self.refresh_view()

    # ------------------------------------------------------------ playing

    def action_toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.player.at_end:
            self.player.seek(0.0)
        self.playing = True
        self._last_tick = time.monotonic()
        if self._timer is None:
            self._timer = self.set_interval(1 / FPS, self._tick, name="replay-play")
        self.refresh_view()

    def pause(self) -> None:
        self.playing = False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.refresh_view()

    def _tick(self) -> None:
        now = time.monotonic()
        target = self.player.time + (now - self._last_tick) * self.speed
        self._last_tick = now
        if self.idle_compression:
            target = self.compress_idle(target)
        self.player.advance(target)
        if self.player.time >= self.recording.duration:
            self.pause()
        else:
            self.refresh_view()

    def compress_idle(self, target: float) -> float:
        """Skip what is left of a pause once it has lasted :data:`IDLE_LIMIT` seconds."""
        upcoming = self.player.next_event_time
        last = self.player.last_event_time
        if upcoming is not None and upcoming - last > IDLE_LIMIT and target > last + IDLE_LIMIT:
            return max(target, upcoming)
        return target

    # ------------------------------------------------------------ keys

    def action_seek(self, seconds: float) -> None:
        self.seek(self.player.time + seconds)

    def action_seek_fraction(self, fraction: float) -> None:
        self.seek(self.player.time + fraction * self.recording.duration)

    def action_jump(self, tenth: int) -> None:
        self.seek(self.recording.duration * tenth / 10)

    def action_mark(self, direction: int) -> None:
        """Go to the previous or next session event (chat, hand-off, join, …)."""
        times = [m.time for m in self.recording.marks]
        now = self.player.time
        if direction > 0:
            i = bisect.bisect_right(times, now)
            target = times[i] if i < len(times) else None
        else:
            i = bisect.bisect_left(times, now)
            target = times[i - 1] if i > 0 else None
        if target is not None:
            self.seek(target)

    def action_step(self, direction: int) -> None:
        """One output event forward or back, paused (asciinema's ``.`` and ``,``)."""
        self.pause()
        if direction > 0:
            target = self.player.next_event_time
        else:
            target = self.recording.previous_event_time(self.player.last_event_time)
            target = 0.0 if target is None else target
        if target is not None:
            self.seek(target)

    def action_speed(self, factor: float) -> None:
        self.speed = min(MAX_SPEED, max(MIN_SPEED, self.speed * factor))
        self.refresh_view()

    def action_idle(self) -> None:
        self.idle_compression = not self.idle_compression
        self.refresh_view()

    def action_search(self) -> None:
        self.pause()
        search = self.query_one("#replay-search", Input)
        search.display = True
        search.value = self.last_search
        search.focus()

    @on(Input.Submitted, "#replay-search")
    def _search(self, event: Input.Submitted) -> None:
        self.last_search = event.value
        self._close_search()
        found = self.recording.find(event.value, self.player.time)
        if found is None:
            self.message = f"not found: {event.value!r}"
            self.refresh_view()
            return
        self.message = f"found {event.value!r} at {clock(found)}"
        self.seek(found)

    def _close_search(self) -> None:
        search = self.query_one("#replay-search", Input)
        search.display = False
        self.query_one(ReplayTerminal).focus()

    def key_escape(self) -> None:
        self._close_search()

    def action_quit_replay(self) -> None:
        """Back to where the replay was opened from (the browser), or out of the app."""
        self.pause()
        if len(self.app.screen_stack) > 2:
            self.dismiss(None)
        else:
            self.app.exit()
