"""Mouse reports for the shell, encoded as xterm encodes them.

A program turns mouse tracking on with a DEC private mode (xterm's "Control
Sequences", section "Mouse Tracking"), and the terminal then writes a report
to the program for each event the mode asks for:

=====  ======================  =============================================
mode   name                    reports
=====  ======================  =============================================
9      X10 compatibility       button presses only, no modifiers
1000   normal tracking         presses and releases, wheel, modifiers
1002   button-event tracking   also motion while a button is held
1003   any-event tracking      also motion with no button held
=====  ======================  =============================================

The event code ``Cb`` names the button in its low two bits (0 left,
1 middle, 2 right, 3 "released" in the old encodings and "no button" for
motion), adds 4 for shift, 8 for meta, 16 for control, 32 for motion, and
64 for the wheel (64 up, 65 down; wheel "buttons" have no release). The
position is 1-based, the top-left cell being 1;1. Another mode picks how the
three numbers travel:

======  ==================================================================
mode    encoding
======  ==================================================================
(none)  ``CSI M`` then three bytes, each the number plus 32 (a position
        past 223 cannot be expressed: xterm sends nothing useful; we send
        nothing)
1005    the same three numbers plus 32, each as a UTF-8 character (to 2015)
1006    SGR: ``CSI < Cb ; x ; y M``, or final ``m`` for a release, which
        keeps the released button's number
1015    urxvt: ``CSI Cb+32 ; x ; y M``
======  ==================================================================

1016 (SGR with pixel positions) is not reported: the window knows cells, not
pixels, and a program reading cells as pixels would click the wrong thing.

Only the driver's client reports, and only while the program asked for it:
:meth:`MouseReporter.report` returns ``b""`` for everything else. Shift is
left to the window (shift+drag selects text even while a program tracks the
mouse, as in xterm), so it is never reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

SHIFT, META, CONTROL, MOTION, WHEEL = 4, 8, 16, 32, 64
RELEASED = 3  # the low bits of a release (old encodings) or of motion with no button
X10_LIMIT = 255 - 32  # the largest position one byte can carry
UTF8_LIMIT = 2047 - 32  # ...and one UTF-8 character of at most two bytes


class Kind(Enum):
    PRESS = "press"
    RELEASE = "release"
    MOTION = "motion"
    WHEEL_UP = "wheel_up"
    WHEEL_DOWN = "wheel_down"


@dataclass(frozen=True)
class MouseEvent:
    """One mouse event at a cell of the shell's screen (0-based ``col``, ``row``).

    ``button``: 0 left, 1 middle, 2 right; None for motion with no button held
    (and for the wheel).
    """

    kind: Kind
    col: int
    row: int
    button: int | None = None
    meta: bool = False
    ctrl: bool = False


def event_code(tracking: int, encoding: int, event: MouseEvent) -> int | None:
    """xterm's ``Cb`` for ``event`` under ``tracking`` (None: not reported)."""
    kind, button = event.kind, event.button
    if tracking == 9:  # X10: presses of the three buttons, nothing else
        return button if kind is Kind.PRESS and button in (0, 1, 2) else None
    if tracking not in (1000, 1002, 1003):
        return None
    if kind is Kind.PRESS:
        if button not in (0, 1, 2):
            return None
        code = button
    elif kind is Kind.RELEASE:
        if button not in (0, 1, 2):
            return None
        code = button if encoding == 1006 else RELEASED
    elif kind is Kind.WHEEL_UP:
        code = WHEEL
    elif kind is Kind.WHEEL_DOWN:
        code = WHEEL + 1
    else:  # motion
        if tracking == 1000:
            return None
        if button is None:
            if tracking != 1003:
                return None
            code = RELEASED + MOTION
        else:
            code = button + MOTION
    return code + (META if event.meta else 0) + (CONTROL if event.ctrl else 0)


def encode(tracking: int, encoding: int, event: MouseEvent) -> bytes:
    """The bytes xterm would write to the program for ``event`` (``b""``: none)."""
    code = event_code(tracking, encoding, event)
    if code is None or event.col < 0 or event.row < 0:
        return b""
    x, y = event.col + 1, event.row + 1
    if tracking == 9:
        encoding = encoding if encoding in (1005, 1006, 1015) else 0
    if encoding == 1006:
        final = "m" if event.kind is Kind.RELEASE else "M"
        return f"\x1b[<{code};{x};{y}{final}".encode()
    if encoding == 1015:
        return f"\x1b[{code + 32};{x};{y}M".encode()
    if encoding == 1005:
        if x > UTF8_LIMIT or y > UTF8_LIMIT:
            return b""
        return b"\x1b[M" + "".join(chr(n + 32) for n in (code, x, y)).encode()
    if encoding != 0 or x > X10_LIMIT or y > X10_LIMIT:
        return b""
    return b"\x1b[M" + bytes((code + 32, x + 32, y + 32))


class MouseReporter:
    """Turns the window's mouse events into reports, with the state xterm keeps.

    It remembers which button is held (motion under 1002 is reported only
    then, and a release outside the screen is still reported, at its edge)
    and the last cell a motion was reported for (xterm reports motion when
    the cell changes, not for every pixel).
    """

    def __init__(self) -> None:
        self.held: int | None = None
        self._last_motion: tuple[int, int] | None = None

    def report(self, tracking: int, encoding: int, event: MouseEvent) -> bytes:
        if event.kind is Kind.PRESS:
            self.held = event.button
        elif event.kind is Kind.RELEASE:
            self.held = None
        elif event.kind is Kind.MOTION:
            event = MouseEvent(Kind.MOTION, event.col, event.row, self.held, event.meta, event.ctrl)
            if self._last_motion == (event.col, event.row):
                return b""
            self._last_motion = (event.col, event.row)
        return encode(tracking, encoding, event)
