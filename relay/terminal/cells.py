"""Cells and pens: what one column of the screen holds, and how SGR changes the pen.

A :class:`Cell` is an immutable named tuple, so that the screen can share one
object between every cell written with the same character and pen: drawing a
character is a dict lookup in the pen's :class:`CellCache`, and a row is a plain
``list`` of cells. A *pen* is a :class:`Cell` whose ``data`` is ignored.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

from wcwidth import wcwidth as _wcwidth

#: Colour names of SGR 30-37 / 40-47; SGR 90-97 / 100-107 add ``bright_``.
ANSI_COLOURS = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")


class Cell(NamedTuple):
    """One character cell: the character and the pen it was written with.

    Field names and order follow :class:`pyte.screens.Char` (so code written for
    pyte keeps working) plus ``dim`` and ``conceal``. Colours use Rich's syntax so
    a renderer can hand them to ``rich.style.Style`` unchanged: ``"default"``, a
    name from :data:`ANSI_COLOURS` (``"bright_"``-prefixed for 90-97),
    ``"color(N)"`` for the 256-colour palette, ``"#rrggbb"`` for truecolor. The
    right half of a double-width character is a cell whose ``data`` is ``""``.
    ``data`` holds what was printed there: a character and the zero-width ones
    that joined it (``"e\\u0301"``), or a space and zero-width characters that had
    nothing to join (they take a column, as in xterm.js).
    """

    data: str
    fg: str = "default"
    bg: str = "default"
    bold: bool = False
    italics: bool = False
    underscore: bool = False
    strikethrough: bool = False
    reverse: bool = False
    blink: bool = False
    dim: bool = False
    conceal: bool = False


BLANK = Cell(" ")
#: One row of the screen: exactly ``columns`` cells. Treat rows you are given as read-only.
Line = list[Cell]

#: The width of one character in cells: 2 (wide), 1, 0 (combining) or -1 (not printable).
wcwidth = lru_cache(maxsize=4096)(_wcwidth)


def is_wide(cell: Cell) -> bool:
    """Whether ``cell`` holds the left half of a double-width character."""
    data = cell.data
    # nothing below U+1100 is wide: most cells need no wcwidth call
    return bool(data) and data >= "\u1100" and wcwidth(data[0]) == 2


def erased_with(pen: Cell) -> Cell:
    """The cell an erase (or a scroll) leaves with ``pen``: blank in its background (bce).

    Only the background: a blank shows no foreground, and xterm.js keeps none.
    """
    if pen.bg == "default":
        return BLANK
    return Cell(" ", bg=pen.bg)


#: The lone surrogates ``surrogateescape`` makes of bytes that were not UTF-8 (as
#: ``chr``: mypyc cannot compile surrogates in string literals).
_SURROGATE_LOW, _SURROGATE_HIGH = chr(0xDC80), chr(0xDCFF)


def printable(text: str) -> str:
    """``text`` without C0/C1 controls: a title is stored as a snapshot can resend it.

    Bytes that were not UTF-8 (lone surrogates from the tokenizer) become U+FFFD.
    """
    if text.isascii() and text.isprintable():  # a shell's title, each prompt: as it is
        return text
    kept = (c for c in text if c >= " " and not "\x7f" <= c <= "\x9f")
    return "".join("\ufffd" if _SURROGATE_LOW <= c <= _SURROGATE_HIGH else c for c in kept)


class CellCache(dict[str, Cell]):
    """The cells one pen produces, keyed by character: drawing becomes a dict lookup."""

    __slots__ = ("attrs",)

    def __init__(self, attrs: Cell) -> None:
        super().__init__()
        self.attrs = attrs

    def __missing__(self, char: str) -> Cell:
        cell = self[char] = self.attrs._replace(data=char)
        return cell


class PenCells:
    """What drawing with one pen needs, kept with it: its cells by character, of ASCII
    by code, of texts it wrote, and the pens its SGRs make of it.

    A compiled class (its fields are read at C speed); the cells by character
    are a ``dict`` subclass, which cannot be one, so that ``map`` over a text
    looks each up in C.
    """

    def __init__(self, attrs: Cell) -> None:
        self.attrs = attrs
        self.by_char = CellCache(attrs)
        #: The cells of the pen an SGR (by its text after the ESC) makes of this one:
        #: filled by the fast path, so that a repeated SGR is one lookup by its text.
        self.after: dict[str, PenCells] = {}
        #: The cells of texts this pen wrote before, by text (see
        #: :func:`relay.terminal.fastpath.write_cells`).
        self.runs: dict[str, list[Cell]] = {}
        #: Texts it wrote once and did not keep (kept the second time).
        self.seen: set[str] = set()
        #: The cells of ASCII characters by code, filled as they are drawn.
        self.ascii: list[Cell | None] = [None] * 128


# ---------------------------------------------------------------------- SGR

_FG = {30 + i: name for i, name in enumerate(ANSI_COLOURS)}
_FG |= {90 + i: "bright_" + name for i, name in enumerate(ANSI_COLOURS)}
_FG[39] = "default"
_BG = {code + 10: name for code, name in _FG.items()}
_SGR_FLAGS: dict[int, tuple[tuple[str, bool], ...]] = {
    1: (("bold", True),),
    2: (("dim", True),),
    3: (("italics", True),),
    4: (("underscore", True),),
    5: (("blink", True),),
    6: (("blink", True),),
    7: (("reverse", True),),
    8: (("conceal", True),),
    9: (("strikethrough", True),),
    21: (("underscore", True),),  # double underline on xterm; we keep one kind
    22: (("bold", False), ("dim", False)),
    23: (("italics", False),),
    24: (("underscore", False),),
    25: (("blink", False),),
    27: (("reverse", False),),
    28: (("conceal", False),),
    29: (("strikethrough", False),),
}
_SGR_RESET = BLANK._asdict()
del _SGR_RESET["data"]


def num(text: str) -> int:
    """One CSI parameter: empty is 0, anything huge is 9999 (as pyte and VTs cap)."""
    if not text:
        return 0
    if len(text) > 4 or not text.isdigit():
        return 9999 if text.isdigit() else 0
    return int(text)


def _rgb(parts: list[str]) -> str | None:
    if len(parts) < 3:
        return None
    r, g, b = (num(p) for p in parts[:3])
    if max(r, g, b) > 255:
        return None
    return f"#{r:02x}{g:02x}{b:02x}"


def _palette(text: str) -> str | None:
    n = num(text)
    return f"color({n})" if n < 256 else None


def apply_sgr(pen: Cell, params: str, colon_rgb_needs_id: bool = False) -> Cell:
    """The pen after SGR ``params`` (the raw parameter string, colon forms included).

    ``colon_rgb_needs_id``: read ``38:2:a:b:c`` as xterm.js does (``a`` a
    colour-space id) instead of as xterm does (``a:b:c`` the colour).
    """
    changes: dict[str, Any] = {}
    parts = params.split(";")
    i, n = 0, len(parts)
    while i < n:
        part = parts[i]
        i += 1
        if ":" in part:  # ITU T.416 form: 38:2:<space>:r:g:b, 38:5:n, 4:3 ...
            sub = part.split(":")
            code = num(sub[0])
            if code in (38, 48):
                kind, rest = num(sub[1]), sub[2:]
                colour = _palette(rest[0]) if kind == 5 and rest else None
                if kind == 2 and len(rest) < 4 and colon_rgb_needs_id:
                    colour = _rgb([*rest[1:], "0", "0", "0"][:3])  # xterm.js
                elif kind == 2:  # 38:2:<id>:r:g:b, or 38:2:r:g:b (xterm)
                    colour = _rgb(rest[1:] if len(rest) >= 4 else rest)
                if colour:
                    changes["fg" if code == 38 else "bg"] = colour
            elif code == 4:
                changes["underscore"] = num(sub[1]) != 0
            elif code in _SGR_FLAGS:
                changes.update(_SGR_FLAGS[code])
            continue  # 58:... (underline colour) and the rest are ignored
        code = num(part)
        if code == 0:
            changes.update(_SGR_RESET)
        elif code in _SGR_FLAGS:
            changes.update(_SGR_FLAGS[code])
        elif code in _FG:
            changes["fg"] = _FG[code]
        elif code in _BG:
            changes["bg"] = _BG[code]
        elif code in (38, 48, 58) and i < n:
            kind = num(parts[i])
            colour = None
            if kind == 5 and i + 1 < n:
                colour = _palette(parts[i + 1])
                i += 2
            elif kind == 2 and i + 3 < n:
                colour = _rgb(parts[i + 1 : i + 4])
                i += 4
            elif kind in (2, 5):
                i = n  # truncated: xterm drops the rest too
            if colour and code != 58:
                changes["fg" if code == 38 else "bg"] = colour
    return pen._replace(**changes) if changes else pen
