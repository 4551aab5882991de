"""Getting someone's attention: the bell, and a desktop notification where the terminal has one.

A control or access request that waits on you must not be missed while you
look at another window. The screen rings the terminal bell and keeps a banner
until the request is answered; terminals that turn an escape sequence into a
desktop notification get one too:

* **OSC 9** (``ESC ] 9 ; text BEL``): iTerm2, WezTerm, Ghostty, kitty;
* **OSC 777** (``ESC ] 777 ; notify ; title ; body BEL``): foot, rxvt-unicode,
  VTE terminals (GNOME Terminal, Ptyxis, Tilix), Contour.

Which one is told by the environment the terminal sets (:func:`notification_kind`);
``WARROOM_NOTIFY=osc9|osc777|off`` overrides the guess (inside tmux, which hides
the outer terminal, set it and ``allow-passthrough on``). A terminal that knows
neither ignores OSC sequences, so a wrong guess costs nothing visible.

Pure, apart from :func:`alert`, which writes through the app's driver.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from textual.app import App

MAX_TEXT = 200  # characters of a notification's body; desktops cut longer ones anyway
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def notification_kind(env: Mapping[str, str]) -> str | None:
    """``"osc9"``, ``"osc777"`` or ``None``: what this terminal turns into a notification."""
    override = env.get("WARROOM_NOTIFY", "").strip().lower()
    if override in ("osc9", "osc777"):
        return override
    if override in ("off", "none", "0", "no"):
        return None
    program = env.get("TERM_PROGRAM", "")
    term = env.get("TERM", "")
    if program in ("iTerm.app", "WezTerm", "ghostty") or term == "xterm-kitty":
        return "osc9"
    if term.startswith(("foot", "rxvt-unicode", "contour")) or env.get("VTE_VERSION"):
        return "osc777"
    return None


def _clean(text: str, separators: str = "") -> str:
    """Text safe inside an OSC string: no control characters (a BEL or ESC would end it)."""
    text = _CONTROLS.sub(" ", text)
    for separator in separators:
        text = text.replace(separator, ",")
    return text[:MAX_TEXT]


def notification(kind: str | None, title: str, body: str, *, tmux: bool = False) -> str:
    """The escape sequence for a desktop notification (``""`` for no notification).

    With ``tmux`` the sequence is wrapped for tmux's passthrough (every ESC
    doubled inside ``ESC P tmux ; … ESC \\``).
    """
    if kind == "osc9":
        sequence = f"\x1b]9;{_clean(title)}: {_clean(body)}\x07"
    elif kind == "osc777":
        sequence = f"\x1b]777;notify;{_clean(title, ';')};{_clean(body, ';')}\x07"
    else:
        return ""
    if tmux:
        return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    return sequence


def alert(app: App[Any], title: str, body: str, env: Mapping[str, str] | None = None) -> None:
    """Ring the bell and, where the terminal shows them, post a desktop notification."""
    app.bell()
    env = os.environ if env is None else env
    kind = notification_kind(env)
    tmux = bool(env.get("TMUX")) and bool(env.get("WARROOM_NOTIFY"))
    sequence = notification(kind, title, body, tmux=tmux)
    # Textual writes its own OSC sequences (the clipboard's OSC 52) the same way.
    driver = app._driver
    if sequence and driver is not None and not app.is_headless:
        driver.write(sequence)
