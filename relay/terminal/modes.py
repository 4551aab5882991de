"""Mode numbers, and the list of the model's deliberate deviations from xterm.js.

Modes are kept in ``TerminalScreen.mode`` as pyte encoded them: ANSI modes as
their own number, DEC private modes as ``n << 5``.
"""

from __future__ import annotations

#: Mode numbers as the snapshot and the model read them from ``TerminalScreen.mode``:
#: ANSI modes as themselves, DEC private modes ``n << 5`` (pyte's encoding).
IRM = 4
LNM = 20
DECCKM = 1 << 5
DECSCNM = 5 << 5
DECOM = 6 << 5
DECAWM = 7 << 5
DECTCEM = 25 << 5
FOCUS_EVENTS = 1004 << 5
BRACKETED_PASTE = 2004 << 5
#: Private modes kept as plain flags and replayed by the snapshot. 1 DECCKM, 5 DECSCNM,
#: 7 DECAWM, 12 cursor blink, 25 DECTCEM, 1004 focus events, 1007 alternate scroll,
#: 2004 bracketed paste. Others (6, mouse, screens) have their own handling.
FLAG_MODES = frozenset({1, 5, 7, 12, 25, 1004, 1007, 2004})
DEFAULT_MODES = frozenset({DECAWM, DECTCEM})
#: Mouse tracking protocols: X10 (9), normal (1000), button-event (1002), any-event (1003).
#: 1001 (highlight tracking) needs the terminal's cooperation and is ignored, as by xterm.js.
MOUSE_PROTOCOLS = frozenset({9, 1000, 1002, 1003})
#: Mouse coordinate encodings: UTF-8 (1005), SGR (1006), urxvt (1015). SGR-pixels (1016)
#: is ignored: a character-cell client has no pixel positions to send.
MOUSE_ENCODINGS = frozenset({1005, 1006, 1015})

#: Where the model deliberately departs from xterm.js, following xterm: docs/terminal.md
#: lists and explains each. ``TerminalScreen(xtermjs=...)`` gives some up for the oracle
#: test (the others are on the oracle's side, or need input the test never sends).
DEVIATIONS = frozenset(
    {
        "el-pending-wrap",
        "sgr-colon-rgb",
        "sd-bce",
        "alternate-kept",
        "cpr-origin",
        "cpr-pending-wrap",
        "mouse-encodings",
        "osc8-links",
        "invalid-utf8",
        "zero-width-alone",
        "no-reflow",
    }
)
