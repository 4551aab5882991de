"""Mouse reports, byte for byte as xterm documents them (ctlseqs, "Mouse Tracking").

Every expected value here is written out from the documentation, not computed
by the code under test: ``CSI M`` + (Cb+32) (x+32) (y+32) for the default
encoding, ``CSI < Cb ; x ; y M/m`` for SGR (1006), with Cb = button (0 left,
1 middle, 2 right), 3 for a release in the default encoding, +32 for motion,
64/65 for the wheel, +8 meta, +16 control, and 1-based positions.
"""

from __future__ import annotations

import pytest

from tui.mouse import Kind, MouseEvent, MouseReporter, encode

ESC = b"\x1b"


def ev(kind: Kind, col: int = 4, row: int = 9, button: int | None = 0, **mods: bool) -> MouseEvent:
    return MouseEvent(kind, col, row, button, **mods)


# (tracking, encoding, event, bytes): at column 5, row 10 (1-based) unless said.
CASES = [
    # X10 (9): presses only, no modifiers.
    (9, 0, ev(Kind.PRESS), ESC + b"[M" + bytes([32, 37, 42])),
    (9, 0, ev(Kind.PRESS, button=2, ctrl=True), ESC + b"[M" + bytes([34, 37, 42])),
    (9, 0, ev(Kind.RELEASE), b""),
    (9, 0, ev(Kind.WHEEL_UP, button=None), b""),
    # Normal tracking (1000), default encoding.
    (1000, 0, ev(Kind.PRESS), ESC + b"[M" + bytes([32, 37, 42])),
    (1000, 0, ev(Kind.PRESS, button=1), ESC + b"[M" + bytes([33, 37, 42])),
    (1000, 0, ev(Kind.PRESS, button=2), ESC + b"[M" + bytes([34, 37, 42])),
    (1000, 0, ev(Kind.RELEASE, button=2), ESC + b"[M" + bytes([35, 37, 42])),
    (1000, 0, ev(Kind.PRESS, meta=True), ESC + b"[M" + bytes([40, 37, 42])),
    (1000, 0, ev(Kind.PRESS, ctrl=True), ESC + b"[M" + bytes([48, 37, 42])),
    (1000, 0, ev(Kind.WHEEL_UP, button=None), ESC + b"[M" + bytes([96, 37, 42])),
    (1000, 0, ev(Kind.WHEEL_DOWN, button=None), ESC + b"[M" + bytes([97, 37, 42])),
    (1000, 0, ev(Kind.MOTION), b""),
    (1000, 0, ev(Kind.MOTION, button=None), b""),
    (1000, 0, ev(Kind.PRESS, col=0, row=0), ESC + b"[M" + bytes([32, 33, 33])),
    (1000, 0, ev(Kind.PRESS, col=222, row=0), ESC + b"[M" + bytes([32, 255, 33])),
    (1000, 0, ev(Kind.PRESS, col=223, row=0), b""),  # column 224: one byte cannot say it
    # Normal tracking, SGR.
    (1000, 1006, ev(Kind.PRESS), ESC + b"[<0;5;10M"),
    (1000, 1006, ev(Kind.RELEASE), ESC + b"[<0;5;10m"),
    (1000, 1006, ev(Kind.RELEASE, button=2), ESC + b"[<2;5;10m"),
    (1000, 1006, ev(Kind.PRESS, button=1, ctrl=True, meta=True), ESC + b"[<25;5;10M"),
    (1000, 1006, ev(Kind.WHEEL_UP, button=None), ESC + b"[<64;5;10M"),
    (1000, 1006, ev(Kind.WHEEL_DOWN, button=None), ESC + b"[<65;5;10M"),
    (1000, 1006, ev(Kind.PRESS, col=299, row=199), ESC + b"[<0;300;200M"),
    (1000, 1006, ev(Kind.MOTION), b""),
    # Button-event tracking (1002): motion only with a button held.
    (1002, 0, ev(Kind.MOTION), ESC + b"[M" + bytes([64, 37, 42])),
    (1002, 0, ev(Kind.MOTION, button=2), ESC + b"[M" + bytes([66, 37, 42])),
    (1002, 0, ev(Kind.MOTION, button=None), b""),
    (1002, 0, ev(Kind.PRESS), ESC + b"[M" + bytes([32, 37, 42])),
    (1002, 0, ev(Kind.RELEASE), ESC + b"[M" + bytes([35, 37, 42])),
    (1002, 0, ev(Kind.WHEEL_DOWN, button=None), ESC + b"[M" + bytes([97, 37, 42])),
    (1002, 1006, ev(Kind.MOTION), ESC + b"[<32;5;10M"),
    (1002, 1006, ev(Kind.MOTION, button=None), b""),
    (1002, 1006, ev(Kind.PRESS), ESC + b"[<0;5;10M"),
    (1002, 1006, ev(Kind.RELEASE), ESC + b"[<0;5;10m"),
    (1002, 1006, ev(Kind.WHEEL_UP, button=None), ESC + b"[<64;5;10M"),
    # Any-event tracking (1003): motion with no button is 3 + 32.
    (1003, 0, ev(Kind.MOTION, button=None), ESC + b"[M" + bytes([67, 37, 42])),
    (1003, 0, ev(Kind.MOTION), ESC + b"[M" + bytes([64, 37, 42])),
    (1003, 0, ev(Kind.MOTION, button=None, ctrl=True), ESC + b"[M" + bytes([83, 37, 42])),
    (1003, 0, ev(Kind.PRESS, button=1), ESC + b"[M" + bytes([33, 37, 42])),
    (1003, 0, ev(Kind.RELEASE, button=1), ESC + b"[M" + bytes([35, 37, 42])),
    (1003, 0, ev(Kind.WHEEL_UP, button=None), ESC + b"[M" + bytes([96, 37, 42])),
    (1003, 1006, ev(Kind.MOTION, button=None), ESC + b"[<35;5;10M"),
    (1003, 1006, ev(Kind.MOTION, button=1), ESC + b"[<33;5;10M"),
    (1003, 1006, ev(Kind.PRESS), ESC + b"[<0;5;10M"),
    (1003, 1006, ev(Kind.RELEASE), ESC + b"[<0;5;10m"),
    (1003, 1006, ev(Kind.WHEEL_DOWN, button=None, meta=True), ESC + b"[<73;5;10M"),
    # The other encodings: urxvt (1015) and UTF-8 (1005).
    (1000, 1015, ev(Kind.PRESS), ESC + b"[32;5;10M"),
    (1000, 1015, ev(Kind.RELEASE), ESC + b"[35;5;10M"),
    (1000, 1005, ev(Kind.PRESS, col=299, row=0), ESC + b"[M " + chr(332).encode() + b"!"),
    # Tracking off, or pixel positions (1016) the window cannot know.
    (0, 0, ev(Kind.PRESS), b""),
    (1000, 1016, ev(Kind.PRESS), b""),
]


@pytest.mark.parametrize(("tracking", "encoding", "event", "expected"), CASES)
def test_reports_match_xterm(
    tracking: int, encoding: int, event: MouseEvent, expected: bytes
) -> None:
    assert encode(tracking, encoding, event) == expected


def test_the_reporter_keeps_the_held_button_and_reports_each_cell_once() -> None:
    reporter = MouseReporter()
    got = [
        reporter.report(1002, 1006, ev(Kind.MOTION, col=1, row=1, button=None)),
        reporter.report(1002, 1006, ev(Kind.PRESS, col=1, row=1, button=2)),
        reporter.report(1002, 1006, ev(Kind.MOTION, col=2, row=1, button=None)),
        reporter.report(1002, 1006, ev(Kind.MOTION, col=2, row=1, button=None)),
        reporter.report(1002, 1006, ev(Kind.RELEASE, col=3, row=1, button=2)),
        reporter.report(1002, 1006, ev(Kind.MOTION, col=4, row=1, button=None)),
    ]
    assert got == [
        b"",
        ESC + b"[<2;2;2M",
        ESC + b"[<34;3;2M",
        b"",  # the same cell again
        ESC + b"[<2;4;2m",
        b"",  # no button held: 1002 reports no motion
    ]
