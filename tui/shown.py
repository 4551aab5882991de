"""Text other people wrote, as this window draws it: as written, never as markup or controls.

Names, reasons, chat, session ids and the relay's error messages reach the
TUI from the relay, which cleaned them (``relay/core/text.py``). The window does
not count on that: a reader must never depend on a writer's care (an older
or a hostile relay, a recording from elsewhere). So such text is drawn

* never as markup: as Rich :class:`~rich.text.Text` or with ``markup=False``,
  never put into a markup string. Escaping is not enough: ``rich.markup.escape``
  leaves ``[$accent]`` and a trailing backslash to be read as markup, and a
  stray ``[/]`` in a label ends the app with a ``MarkupError``;
* without control or format characters (:func:`plain`): an ESC, a C1 control
  or a BEL in a name would reach the engineer's own terminal, a bidi override
  would reorder what it shows.

Two choke points apply this to everything: every message the relay sends
(:func:`message`, called where the session link and the lobby receive them)
and every notification (:class:`PlainApp`). Widgets that put several strings
together build ``Text`` from the parts.
"""

from __future__ import annotations

from typing import TypeVar, cast

from textual.app import App
from textual.notifications import SeverityLevel

from relay.core.text import printable

T = TypeVar("T")


def plain(value: object, *, lines: bool = False) -> str:
    """``value`` as text to draw: control and format characters dropped.

    ``lines`` keeps line breaks (a notification of several lines); otherwise
    they become spaces, so a name or a reason stays on its line.
    """
    return printable(str(value), newlines=lines)


def message(value: T) -> T:
    """A message from the relay with every string in it :func:`plain`, keys included.

    Ids, names and tokens are printable ASCII and pass unchanged; only what
    could reach the terminal as a control, or reorder what it shows, goes.
    The shape is kept (a string stays a string), so the message keeps its type.
    """
    return cast(T, _plain_strings(value))


def _plain_strings(value: object) -> object:
    if isinstance(value, str):
        return plain(value)
    if isinstance(value, dict):
        return {plain(k) if isinstance(k, str) else k: _plain_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_strings(v) for v in value]
    return value


class PlainApp(App[None]):
    """An app whose notifications show their text as written.

    What a toast says often comes from someone else (a reason, a name, the
    relay's refusal quoting a field), so notifications never read markup,
    whatever the caller asks, and lose their control characters.
    """

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        super().notify(
            plain(message, lines=True),
            title=plain(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )
