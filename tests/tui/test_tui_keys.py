"""The key map: Textual key events (kitty protocol and legacy) to the bytes xterm sends."""

from __future__ import annotations

import pytest

from tui.keys import PASTE_END, PASTE_START, key_to_bytes, paste_to_bytes


@pytest.mark.parametrize(
    ("key", "character", "expected"),
    [
        ("a", "a", b"a"),
        ("A", "A", b"A"),  # shift+a under the kitty protocol
        ("shift+a", None, b"A"),
        ("exclamation_mark", "!", b"!"),
        ("é", "é", "é".encode()),
        ("space", " ", b" "),
        ("enter", "\r", b"\r"),
        ("shift+enter", None, b"\r"),
        ("tab", "\t", b"\t"),
        ("shift+tab", None, b"\x1b[Z"),
        ("backspace", None, b"\x7f"),
        ("escape", None, b"\x1b"),
        ("ctrl+a", None, b"\x01"),  # kitty: no character
        ("ctrl+c", None, b"\x03"),
        ("ctrl+d", None, b"\x04"),
        ("ctrl+z", None, b"\x1a"),
        ("ctrl+shift+a", None, b"\x01"),
        ("ctrl+space", None, b"\x00"),
        ("ctrl+at", None, b"\x00"),
        ("ctrl+backslash", None, b"\x1c"),
        ("ctrl+right_square_bracket", None, b"\x1d"),
        ("ctrl+underscore", None, b"\x1f"),
        ("alt+x", None, b"\x1bx"),  # kitty
        ("alt+x", "x", b"\x1bx"),  # legacy ESC x
        ("alt+shift+x", None, b"\x1bX"),
        ("ctrl+alt+a", None, b"\x1b\x01"),
        ("alt+enter", None, b"\x1b\r"),
        ("alt+backspace", None, b"\x1b\x7f"),
        ("up", None, b"\x1b[A"),
        ("down", None, b"\x1b[B"),
        ("right", None, b"\x1b[C"),
        ("left", None, b"\x1b[D"),
        ("home", None, b"\x1b[H"),
        ("end", None, b"\x1b[F"),
        ("ctrl+left", None, b"\x1b[1;5D"),
        ("shift+up", None, b"\x1b[1;2A"),
        ("alt+right", None, b"\x1b[1;3C"),
        ("insert", None, b"\x1b[2~"),
        ("delete", None, b"\x1b[3~"),
        ("pageup", None, b"\x1b[5~"),
        ("pagedown", None, b"\x1b[6~"),
        ("ctrl+pagedown", None, b"\x1b[6;5~"),
        ("f1", None, b"\x1bOP"),
        ("f4", None, b"\x1bOS"),
        ("f5", None, b"\x1b[15~"),
        ("f12", None, b"\x1b[24~"),
        ("shift+f1", None, b"\x1b[1;2P"),
        ("ctrl+f5", None, b"\x1b[15;5~"),
    ],
)
def test_key_bytes(key: str, character: str | None, expected: bytes) -> None:
    assert key_to_bytes(key, character) == expected


@pytest.mark.parametrize(
    ("key", "normal", "application"),
    [
        ("up", b"\x1b[A", b"\x1bOA"),
        ("down", b"\x1b[B", b"\x1bOB"),
        ("right", b"\x1b[C", b"\x1bOC"),
        ("left", b"\x1b[D", b"\x1bOD"),
        ("home", b"\x1b[H", b"\x1bOH"),
        ("end", b"\x1b[F", b"\x1bOF"),
        # modified arrows are the same in both modes
        ("ctrl+up", b"\x1b[1;5A", b"\x1b[1;5A"),
    ],
)
def test_cursor_keys_follow_decckm(key: str, normal: bytes, application: bytes) -> None:
    assert key_to_bytes(key, None, app_cursor=False) == normal
    assert key_to_bytes(key, None, app_cursor=True) == application


def test_unknown_keys_send_nothing() -> None:
    assert key_to_bytes("f30", None) is None
    assert key_to_bytes("ctrl+f30", None) is None


def test_paste_plain_and_bracketed() -> None:
    assert paste_to_bytes("ls\nid\n", bracketed=False) == b"ls\rid\r"
    assert paste_to_bytes("a\r\nb", bracketed=True) == PASTE_START + b"a\rb" + PASTE_END


def test_bracketed_paste_cannot_break_out() -> None:
    evil = "x\x1b[201~rm -rf /\n"
    data = paste_to_bytes(evil, bracketed=True)
    assert data.startswith(PASTE_START) and data.endswith(PASTE_END)
    assert data.count(PASTE_END) == 1
