"""Answers to device queries, as xterm.js gives them (a VT100 with AVO, xterm patch 276).

The model collects them in stream order (:meth:`relay.terminal.model.TerminalModel.take_replies`);
only the driver's client sends them to the shell, so that each is answered once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relay.terminal.modes import DECOM

if TYPE_CHECKING:
    from relay.terminal.screen import TerminalScreen

#: Bytes of device replies kept for :meth:`TerminalModel.take_replies` (a few hundred queries).
REPLIES_MAX = 4096
#: Fixed answers to device queries, keyed by (parameters, final byte); CPRs are computed.
REPLIES = {
    ("", "c"): b"\x1b[?1;2c",  # DA1: VT100 with advanced video option, as xterm.js
    ("0", "c"): b"\x1b[?1;2c",
    (">", "c"): b"\x1b[>0;276;0c",  # DA2: VT100, patch level 276, as xterm.js
    (">0", "c"): b"\x1b[>0;276;0c",
    ("5", "n"): b"\x1b[0n",  # DSR: ready, no malfunction
}


def cursor_report(screen: TerminalScreen, private: bool) -> bytes:
    """CPR (``CSI 6 n``) or DECXCPR (``CSI ? 6 n``): the cursor, 1-based, relative to
    the scroll region under DECOM."""
    y, x = screen.cursor.y, min(screen.cursor.x, screen.columns - 1)
    if "cpr-pending-wrap" in screen.xtermjs:
        x = screen.cursor.x  # xterm.js reports the column after the last one
    if DECOM in screen.mode and screen.margins is not None and "cpr-origin" not in screen.xtermjs:
        y -= screen.margins.top
    return f"\x1b[{'?' if private else ''}{y + 1};{x + 1}R".encode()
