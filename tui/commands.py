"""The session window's keys, in one table: bindings, chord, key bar, toast and help.

Every letter the session screen answers to is one :class:`Command` in
:data:`SESSION`. The screen's ``BINDINGS``, the escape chord's letters
(``ctrl+]`` then a letter, the only way to reach the window while driving),
the letters the terminal pane leaves to the window while watching, the key bar
at the bottom, the toast ``ctrl+]`` shows and the help overlay are all
generated from it, and every other text that names a key (the banners, the
frame's title, the hints) asks :func:`key`, so a key cannot be renamed in one
place and forgotten in another.

A command with ``confirm`` set is one a watcher can do damage with by typing a
word meant for a shell (``df -h`` starts with ``d``): its single letter asks
first, and the chord, which nobody types by accident, acts at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding, BindingType

CHORD_KEY = "ctrl+right_square_bracket"
CHORD_DISPLAY = "ctrl+]"


@dataclass(frozen=True)
class Command:
    """One key of the session window."""

    key: str  # Textual's key name: "c", "question_mark"
    action: str  # the screen's action_<name>
    label: str  # the word(s) in the key bar
    help: str  # the line in the help overlay
    display: str = ""  # how the key is written, when not its name ("?")
    asks: bool = False  # a watcher's single letter asks for confirmation first

    @property
    def shown(self) -> str:
        return self.display or self.key


SESSION: tuple[Command, ...] = (
    Command("c", "chat", "Chat", "chat (Esc returns to the terminal)"),
    Command("r", "control", "Request control", "request control, or release it while you drive"),
    Command("g", "grant", "Grant", "grant the waiting request (lead or driver); pick if several"),
    Command("n", "deny", "Deny", "deny the waiting request, with an optional reason", asks=True),
    Command("t", "take", "Take control", "take control back (lead)", asks=True),
    Command("s", "sidebar", "Sidebar", "show or hide the people and chat panel"),
    Command("d", "leave", "Leave", "leave the session", asks=True),
    Command("e", "end", "End session", "end the session for everyone (lead)", asks=True),
    Command("a", "access", "Request access", "ask a lead for a role, for a while, with a reason"),
    Command("p", "access_requests", "Access requests", "approve or deny access requests (leads)"),
    Command("v", "recordings", "Recordings", "browse and replay recordings (leads, reviewers)"),
    Command(
        "b", "scrollback", "Scrollback", "scroll mode: arrows, PgUp/PgDn; v select, y copy, q live"
    ),
    Command("question_mark", "help", "Help", "this help", display="?"),
)

BY_KEY = {command.key: command for command in SESSION}
BY_ACTION = {command.action: command for command in SESSION}
# The letters the terminal pane leaves to the window while watching (no "typing" hint).
WINDOW_LETTERS = frozenset(command.key for command in SESSION) | {"?"}


def bindings(commands: Iterable[Command] = SESSION) -> list[BindingType]:
    """The screen's ``BINDINGS``: every letter, and the chord key."""
    return [
        *(
            Binding(c.key, c.action, c.label, show=False, key_display=c.display or None)
            for c in commands
        ),
        Binding(CHORD_KEY, "chord", "then a letter", show=False, key_display="^]"),
    ]


def key(action: str, *, chord: bool = False) -> str:
    """How to press ``action`` in words: its key, after ``ctrl+]`` when ``chord``
    (while driving, the only way to reach the window)."""
    shown = BY_ACTION[action].shown
    return f"{CHORD_DISPLAY} {shown}" if chord else shown


def chord_action(key: str) -> str | None:
    """The action the key after ``ctrl+]`` runs (``?`` arrives as ``question_mark`` or ``?``)."""
    command = BY_KEY.get("question_mark" if key == "?" else key)
    return command.action if command is not None else None


def chord_toast(available: Callable[[Command], bool]) -> str:
    """What ``ctrl+]`` shows: the letters that work now, and how to send ``ctrl+]`` itself."""
    parts = [f"{c.shown} {c.label.lower()}" for c in SESSION if available(c)]
    return " · ".join([*parts, f"{CHORD_DISPLAY} again sends {CHORD_DISPLAY}"])


def render_keys(
    available: Callable[[Command], bool],
    *,
    driving: bool,
    width: int = 1000,
    labels: dict[str, str] | None = None,
) -> Text:
    """The key bar: the keys that work now with their words, chord-prefixed while driving.

    When ``width`` is too narrow for all of them, the last ones go first, but
    never the help key. ``labels`` renames a command for the moment (``r`` is
    "Release" while driving).
    """
    labels = labels or {}
    shown = [c for c in SESSION if available(c)]
    prefix = f" {CHORD_DISPLAY}  then " if driving else ""

    def size(commands: list[Command]) -> int:
        return len(prefix) + sum(
            len(c.shown) + len(labels.get(c.action, c.label)) + 4 for c in commands
        )

    while size(shown) > width and len(shown) > 1:
        drop = next((c for c in reversed(shown) if c.key != "question_mark"), None)
        if drop is None:
            break
        shown.remove(drop)
    text = Text(no_wrap=True, overflow="ellipsis")
    if driving:
        text.append(f" {CHORD_DISPLAY} ", style="bold reverse")
        text.append(" then ", style="dim")
    for command in shown:
        text.append(f" {command.shown} ", style="bold reverse")
        text.append(f" {labels.get(command.action, command.label)} ")
    return text


def help_text(commands: Iterable[Command] = SESSION) -> str:
    """The help overlay's text (Rich markup)."""
    lines = [
        "[b]warroom keys[/b]",
        "",
        "While you [b]drive[/b], every key goes to the shell: reach the window with",
        f"[b]{CHORD_DISPLAY}[/b] and then a letter. While you [b]watch[/b], the letter alone",
        "works; the ones marked * ask first (the chord acts at once).",
        "",
    ]
    for command in commands:
        mark = "*" if command.asks else " "
        lines.append(f"  [b]{command.shown:<2}[/b]{mark} {command.help}")
    lines += [
        "",
        f"[b]{CHORD_DISPLAY}[/b] twice sends a literal {CHORD_DISPLAY} to the shell.",
        "[b]shift+PgUp/PgDn[/b] and the wheel scroll back; any key returns to live.",
        "Drag with the mouse to copy (shift+drag while the shell's program uses the mouse).",
    ]
    return "\n".join(lines)
