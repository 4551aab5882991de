"""What a key press sends to the shell: a pure mapping from Textual keys to bytes.

Textual 8 turns on the kitty keyboard protocol, so ``ctrl+a`` arrives as
``Key(key="ctrl+a", character=None)``, ``alt+x`` as ``key="alt+x"`` with no
character, and a shifted letter as ``key="A"``. Under a legacy terminal (tmux,
for one) the same keys arrive with characters. Mapping by ``event.key`` first,
and falling back on the character only for plain printable keys, gives the same
bytes either way.

The bytes are those of an ``xterm-256color`` terminal, which is what the
relay's PTY advertises: cursor keys follow DECCKM (application cursor mode,
``ESC O A`` rather than ``ESC [ A``), modified cursor and function keys use
xterm's ``CSI 1;m X`` / ``CSI n;m ~`` forms, and alt prefixes ESC.
"""

from __future__ import annotations

from textual.keys import key_to_character

ESC = b"\x1b"
PASTE_START = b"\x1b[200~"
PASTE_END = b"\x1b[201~"

# Keys that send a fixed byte whatever the modes.
_SIMPLE: dict[str, bytes] = {
    "enter": b"\r",
    "tab": b"\t",
    "shift+tab": b"\x1b[Z",
    "backspace": b"\x7f",
    "escape": ESC,
    "space": b" ",
    "ctrl+space": b"\x00",
    "ctrl+at": b"\x00",
    "ctrl+@": b"\x00",
    "ctrl+backslash": b"\x1c",
    "ctrl+right_square_bracket": b"\x1d",
    "ctrl+circumflex_accent": b"\x1e",
    "ctrl+underscore": b"\x1f",
    "ctrl+minus": b"\x1f",
    "ctrl+slash": b"\x1f",
    "ctrl+left_square_bracket": ESC,
    "ctrl+question_mark": b"\x7f",
}

# Cursor keys: the final byte of CSI/SS3 sequences.
_CURSOR: dict[str, bytes] = {"up": b"A", "down": b"B", "right": b"C", "left": b"D"}
# Home/End follow the cursor mode too (xterm: CSI H / SS3 H).
_HOME_END: dict[str, bytes] = {"home": b"H", "end": b"F"}
# Editing keys: CSI n ~.
_TILDE: dict[str, int] = {
    "insert": 2,
    "delete": 3,
    "pageup": 5,
    "pagedown": 6,
    "f5": 15,
    "f6": 17,
    "f7": 18,
    "f8": 19,
    "f9": 20,
    "f10": 21,
    "f11": 23,
    "f12": 24,
}
# F1-F4: SS3 P..S unmodified, CSI 1;m P..S modified.
_PF: dict[str, bytes] = {"f1": b"P", "f2": b"Q", "f3": b"R", "f4": b"S"}

# xterm's ctrl+3..ctrl+8: ESC, FS, GS, RS, US, DEL.
_CTRL_DIGITS = {"3": b"\x1b", "4": b"\x1c", "5": b"\x1d", "6": b"\x1e", "7": b"\x1f", "8": b"\x7f"}

# xterm's modifier parameter: 1 + shift(1) + alt(2) + ctrl(4) + meta(8).
_MODIFIER_BITS = {"shift": 1, "alt": 2, "ctrl": 4, "meta": 8, "super": 8}


def _split(key: str) -> tuple[frozenset[str], str]:
    """``"ctrl+shift+left"`` → ({"ctrl", "shift"}, "left"). A bare ``+`` is a key."""
    if key == "+" or key.endswith("++"):
        head = key[:-1].rstrip("+")
        return frozenset(head.split("+")) - {""}, "plus"
    *mods, base = key.split("+")
    return frozenset(mods), base


def _modifier_param(mods: frozenset[str]) -> int:
    return 1 + sum(_MODIFIER_BITS.get(m, 0) for m in mods)


def _ctrl_byte(base: str) -> bytes | None:
    """The C0 byte a ctrl+<base> makes, if any."""
    char = base if len(base) == 1 else key_to_character(base)
    if char is None or len(char) != 1:
        return None
    code = ord(char.lower()) if char.isalpha() else ord(char)
    if ord("a") <= code <= ord("z"):
        return bytes([code - ord("a") + 1])
    if char in "@[\\]^_":
        return bytes([ord(char) - 0x40])
    if char == " " or char == "2":
        return b"\x00"
    if char in _CTRL_DIGITS:
        return _CTRL_DIGITS[char]
    if char in "/-":
        return b"\x1f"
    if char == "?":
        return b"\x7f"
    return None


def _plain(base: str, character: str | None) -> bytes | None:
    """A key with no ctrl/alt: its text."""
    if character is not None and character.isprintable() and character:
        return character.encode()
    if len(base) == 1:
        return base.encode()
    char = key_to_character(base)
    if char is not None and char.isprintable():
        return char.encode()
    return None


def key_to_bytes(key: str, character: str | None = None, app_cursor: bool = False) -> bytes | None:
    """The bytes a terminal sends for a key press, or ``None`` for a key it cannot send.

    ``key`` is Textual's ``event.key``; ``character`` its ``event.character``,
    used only for printable keys; ``app_cursor`` is DECCKM.
    """
    if key in _SIMPLE:
        return _SIMPLE[key]
    mods, base = _split(key)
    if base in _SIMPLE and mods <= {"alt", "shift"}:
        plain = _SIMPLE.get(f"shift+{base}", _SIMPLE[base]) if "shift" in mods else _SIMPLE[base]
        return ESC + plain if "alt" in mods else plain
    special = _special(mods, base, app_cursor)
    if special is not None:
        return special
    if "ctrl" in mods:
        code = _ctrl_byte(base)
        if code is None:
            return None
        return ESC + code if "alt" in mods or "meta" in mods else code
    if "alt" in mods or "meta" in mods:
        rest = key_to_bytes("+".join([*sorted(mods - {"alt", "meta"}), base]), None, app_cursor)
        if rest is None and len(base) == 1:
            rest = base.upper().encode() if "shift" in mods else base.encode()
        return ESC + rest if rest is not None else None
    if mods == {"shift"} and len(base) == 1:
        return base.upper().encode()
    if mods - {"shift"}:
        return None
    return _plain(base, character)


def _special(mods: frozenset[str], base: str, app_cursor: bool) -> bytes | None:
    """Cursor, editing and function keys, with xterm's modifier parameter."""
    modified = bool(mods)
    param = _modifier_param(mods)
    if base in _CURSOR or base in _HOME_END:
        final = _CURSOR.get(base) or _HOME_END[base]
        if modified:
            return b"\x1b[1;%d" % param + final
        return (b"\x1bO" if app_cursor else b"\x1b[") + final
    if base in _TILDE:
        number = _TILDE[base]
        if modified:
            return b"\x1b[%d;%d~" % (number, param)
        return b"\x1b[%d~" % number
    if base in _PF:
        if modified:
            return b"\x1b[1;%d" % param + _PF[base]
        return b"\x1bO" + _PF[base]
    return None


def paste_to_bytes(text: str, bracketed: bool) -> bytes:
    """Pasted text as the shell should get it: wrapped when the program asked (mode 2004).

    Line ends become CR, as a terminal sends them. Inside a bracketed paste the
    end marker itself is stripped from the text so a paste cannot break out of it.
    """
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    data = text.encode()
    if not bracketed:
        return data
    return PASTE_START + data.replace(PASTE_END, b"") + PASTE_END
