"""The terminal model and its snapshots (relay/terminal/).

The property the relay relies on is checked for every stream below: a fresh
model fed ``snapshot()`` is in exactly the same state (every cell, cursor,
modes, saved cursors, both screens), and stays so when both are fed the same
continuation, wherever in the stream the snapshot was taken.
"""

from __future__ import annotations

import logging
import random
import re
from typing import Any

import pyte
import pytest
from pyte.screens import wcwidth

from relay.terminal import BLANK, Cell, TerminalModel
from relay.terminal.snapshot import repeatable
from tests.tools import TESTS

STREAMS = TESTS / "data" / "streams"

ESC = "\x1b"
CSI = "\x1b["


def b(text: str) -> bytes:
    return text.encode()


def state(model: TerminalModel) -> dict[str, Any]:
    """Everything that decides what the model shows now and after more input."""
    s = model.screen

    def grid(buffer: Any) -> list[list[Cell]]:
        assert len(buffer) == model.rows and all(len(row) == model.cols for row in buffer)
        return [list(row) for row in buffer]

    return {
        "size": (model.cols, model.rows),
        "buffer": grid(s.buffer),
        "inactive": grid(s.inactive),
        "alternate": s.alternate,
        "main_cursor_y": s.main_cursor_y if s.alternate else None,
        "cursor": (s.cursor.x, s.cursor.y, s.cursor.attrs, s.cursor.hidden),
        "saved": list(s.saved),
        "mode": sorted(s.mode),
        "margins": s.margins and tuple(s.margins),
        "tabstops": sorted(s.tabstops),
        "charsets": (s.g0, s.g1, s.charset),
        "mouse": (s.mouse_protocol, s.mouse_encoding),
        "keypad": s.keypad_app,
        "cursor_style": s.cursor_style,
        "title": (s.title, s.icon_name),
        "rep_width": s.rep_width,
        "parser": model.unfinished(),
        "history": list(s.history),
    }


def fed(data: bytes, cols: int = 80, rows: int = 24) -> TerminalModel:
    model = TerminalModel(cols, rows)
    model.feed(data)
    return model


def comparable(model: TerminalModel, like: TerminalModel) -> dict[str, Any]:
    """``state(model)``, minus REP's readiness where a snapshot cannot carry it.

    That is (see relay/terminal/snapshot.py): right after printing in insert
    mode, where printing the cell before the cursor again would shift the row.
    """
    result = state(model)
    if not rep_reproducible(like):
        del result["rep_width"]
    return result


def rep_reproducible(model: TerminalModel) -> bool:
    """Whether a snapshot can leave the receiver as ready for REP as ``model`` is."""
    return not model.screen.rep_width or repeatable(model.screen) is not None


def assert_same(a: TerminalModel, b: TerminalModel) -> None:
    """``a`` (fed a snapshot) is in the state of ``b`` (the original)."""
    sa, sb = comparable(a, b), comparable(b, b)
    for key in sa:
        if key in ("buffer", "inactive"):
            for y, (ra, rb) in enumerate(zip(sa[key], sb[key], strict=True)):
                assert ra == rb, f"{key} row {y}: {_diff(ra, rb)}"
        assert sa[key] == sb[key], key


def _diff(ra: list[Cell], rb: list[Cell]) -> str:
    x = next(i for i, (ca, cb) in enumerate(zip(ra, rb, strict=True)) if ca != cb)
    return f"column {x}: {ra[x]} != {rb[x]}"


def assert_wide_cells_whole(model: TerminalModel) -> None:
    """Every wide character has its right half, and every right half its character."""
    for grid in ("buffer", "inactive"):
        for y, row in enumerate(state(model)[grid]):
            for x, cell in enumerate(row):
                wide = bool(cell.data) and wcwidth(cell.data[0]) == 2
                if wide:
                    assert x + 1 < model.cols and row[x + 1].data == "", (grid, y, x)
                if cell.data == "":
                    assert x and wcwidth(row[x - 1].data[0]) == 2, (grid, y, x)


def assert_round_trip(model: TerminalModel, continuation: bytes = b"") -> bytes:
    snap = model.snapshot(history_lines=len(model.history))
    fresh = TerminalModel(model.cols, model.rows)
    fresh.feed(snap)
    assert_same(fresh, model)
    if continuation:
        model.feed(continuation)
        fresh.feed(continuation)
        assert_same(fresh, model)
    return snap


# ---------------------------------------------------------------------- streams


def _scrolling() -> str:
    return "".join(f"line {i}: {'x' * (i % 70)}\r\n" for i in range(100)) + "$ "


def _sgr16() -> str:
    out = []
    for fg in [*range(30, 38), *range(90, 98)]:
        for bg in (40, 44, 47, 100, 107):
            out.append(f"{CSI}{fg};{bg}mX")
        out.append(f"{CSI}0m\r\n")
    out.append(f"{CSI}1mbold{CSI}22m {CSI}2mdim{CSI}22m {CSI}3mital{CSI}23m ")
    out.append(f"{CSI}4mul{CSI}24m {CSI}5mblink{CSI}25m {CSI}7mrev{CSI}27m ")
    out.append(f"{CSI}8mhid{CSI}28m {CSI}9mstrike{CSI}29m {CSI}1;2;3;4;5;7;9mall{CSI}m")
    out.append(f"\r\n{CSI}1;31mbold red{CSI}22m just red{CSI}39m plain{CSI}m")
    return "".join(out)


def _sgr256() -> str:
    cells = [f"{CSI}38;5;{n};48;5;{255 - n}m{n % 10}" for n in range(256)]
    return "".join(cells) + f"{CSI}m"


def _truecolor() -> str:
    out = [f"{CSI}38;2;{r};{255 - r};{r // 2}m#" for r in range(0, 256, 3)]
    out += [f"{CSI}48;2;0;{g};0m " for g in range(0, 256, 17)]
    return "".join(out) + f"{CSI}m"


def _colon_sgr() -> str:
    return (
        f"{CSI}38:2::255:128:0mcolon-rgb {CSI}38:2:1:2:3mno-space-id "
        f"{CSI}48:5:196mpal {CSI}4:3mcurly{CSI}4:0m off {CSI}58:2::1:2:3mulc "
        f"{CSI}1;38:5:21;4mmixed{CSI}m end"
    )


def _wide() -> str:
    return (
        "中文 text 😀 emoji\r\n"
        + "x" * 79
        + "宽"  # does not fit in the last column: wraps
        + "\r\n"
        + "ab中cd"
        + f"{CSI}4G"  # onto the right half of 中
        + "Z\r\n"
        + "e\u0301 a\u0308 👩\u200d💻 ok ❤\ufe0f\r\n"
        + "\uff26\uff35\uff2c\uff2c"  # fullwidth FULL
    )


def _main_screen() -> str:
    return f"{CSI}1;32muser@prod{CSI}m:~$ ls\r\nbin  etc\r\n{CSI}44mblue bg{CSI}m\r\n$ "


def _alt_1049() -> str:
    return (
        _main_screen()
        + f"vim{ESC}[?1049h{CSI}H{CSI}2J{CSI}?1h{ESC}="
        + "".join(f"{CSI}{y};1H~" for y in range(2, 24))
        + f"{CSI}1;1Hfile content{CSI}24;1H{CSI}7m-- INSERT --{CSI}m{CSI}1;5H"
    )


def _alt_47() -> str:
    return _main_screen() + f"{ESC}7{CSI}?47h{CSI}2J{CSI}Hin the alt screen{CSI}5;5Hx"


def _regions() -> str:
    return (
        f"{CSI}24;1Hstatus line{CSI}1;1Htop line{CSI}3;20r{CSI}3;1H"
        + "".join(f"region {i}\n\r" for i in range(30))
        + f"{CSI}3;1H{ESC}M{ESC}Mreversed{CSI}10;1H{CSI}2L{CSI}3M{CSI}2S{CSI}T"
        + f"{CSI}25;1H{CSI}Aabove status"
    )


def _save_restore() -> str:
    return (
        f"{CSI}5;10H{CSI}1;35m{ESC}7{CSI}m{CSI}H first{ESC}8saved pen"
        f"{CSI}20;3H{ESC}8again{CSI}12;40H{CSI}s{CSI}2;2H{CSI}uscosc"
    )


def _erase() -> str:
    fill = "".join(f"{CSI}{y};1H{'#' * 80}" for y in range(1, 11))
    return (
        fill
        + f"{CSI}2;10H{CSI}K{CSI}3;10H{CSI}1K{CSI}4;10H{CSI}2K"
        + f"{CSI}5;10H{CSI}43m{CSI}5X{CSI}6;20H{CSI}J{CSI}m{CSI}1;40H{CSI}1J"
        + f"{CSI}8;5H{CSI}44m{CSI}K{CSI}m"
    )


def _modes() -> str:
    return (
        f"{CSI}?1h{CSI}?2004h{CSI}?25l{CSI}?7l{CSI}?1002h{CSI}?1006h{CSI}?1004h"
        f"{ESC}={CSI}4 q{CSI}4h{ESC}]0;prod-db-01: ~{ESC}\\" + "no autowrap: " + "y" * 100
    )


def _dec_graphics() -> str:
    return f"{ESC}(0lqqqk\r\nx   x\r\nmqqqj{ESC}(B ascii{ESC})0\x0eqq\x0f"


def _tabs() -> str:
    return f"a\tb\tc\r\n{CSI}3g{CSI}1;5H{ESC}H{CSI}1;13H{ESC}H\r\n1\t2\t3\t4{CSI}Z{CSI}2Z!"


def _origin() -> str:
    return f"{CSI}5;15r{CSI}?6h{CSI}1;1Htop of region{CSI}99;1Hbottom{ESC}7{CSI}?6l{CSI}1;1Hhome"


def _insert_delete() -> str:
    return (
        f"0123456789中文abc{CSI}1;3H{CSI}2@{CSI}1;14H{CSI}P{CSI}4h{CSI}1;1HINS{CSI}4l"
        f"\r\n{'z' * 79}{CSI}2;78H{CSI}3@"
    )


def _rep() -> str:
    return f"={CSI}20b\r\n{ESC}(0q{CSI}9b{ESC}(B"


def _pending_wrap() -> str:
    return "w" * 160


STREAMS_SYNTHETIC: dict[str, tuple[str, str]] = {
    # name: (stream, continuation fed after the snapshot)
    "scrolling": (_scrolling(), "more\r\nand more\r\n"),
    "sgr16": (_sgr16(), f"{CSI}1mstill{CSI}m"),
    "sgr256": (_sgr256(), "tail"),
    "truecolor": (_truecolor(), f"{CSI}48;2;1;2;3m\r\nbg"),
    "colon_sgr": (_colon_sgr(), f"{CSI}38:5:82mgreen"),
    "wide": (_wide(), "宽字符" * 30),
    "alt_1049": (_alt_1049(), f"typed{ESC}[?1049l$ after\r\n"),
    "alt_47": (_alt_47(), f"{CSI}?47l{ESC}8back"),
    "regions": (_regions(), "\n\n\nmore in region" + f"{CSI}r" + "\r\n" * 30),
    "save_restore": (_save_restore(), f"{ESC}8{ESC}8restored twice"),
    "erase": (_erase(), f"{CSI}2J{CSI}Hcleared"),
    "modes": (_modes(), f"{CSI}?7h{CSI}?25h{'z' * 90}"),
    "dec_graphics": (_dec_graphics(), "qq\x0fqq"),
    "tabs": (_tabs(), "\r\n\tx\ty\tz"),
    "origin": (_origin(), f"{ESC}8restored origin{CSI}?6h{CSI}1;1Hagain"),
    "insert_delete": (_insert_delete(), "typed over"),
    "rep": (_rep(), f"{CSI}5b"),
    "pending_wrap": (_pending_wrap(), "X"),
}


def _recordings() -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in sorted(STREAMS.glob("*.bin"))}


ALL_STREAMS: dict[str, bytes] = {name: b(s) for name, (s, _) in STREAMS_SYNTHETIC.items()}
ALL_STREAMS |= _recordings()


# ---------------------------------------------------------------------- what the screen shows


def rows(model: TerminalModel) -> list[str]:
    return [line.rstrip() for line in model.display()]


def test_scrolling_keeps_the_last_screenful() -> None:
    model = fed(b(_scrolling()))
    assert rows(model)[0] == "line 77: " + "x" * 7
    assert rows(model)[-2] == "line 99: " + "x" * 29
    assert rows(model)[-1] == "$"
    assert model.cursor == (2, 23)


def test_sgr_16_256_and_truecolor_colours() -> None:
    model = fed(
        b(f"{CSI}31;44mA{CSI}91;104mB{CSI}38;5;208;48;5;17mC{CSI}38;2;1;2;3;48;2;250;0;9mD")
    )
    a, b_, c, d = model.line_cells(0)[:4]
    assert (a.fg, a.bg) == ("red", "blue")
    assert (b_.fg, b_.bg) == ("bright_red", "bright_blue")
    assert (c.fg, c.bg) == ("color(208)", "color(17)")
    assert (d.fg, d.bg) == ("#010203", "#fa0009")


def test_sgr_flags_and_their_resets() -> None:
    model = fed(b(f"{CSI}1;2;3;4;5;7;8;9mX{CSI}22;23;24;25;27;28;29mY{CSI}1mZ{CSI}0mW"))
    x, y, z, w = model.line_cells(0)[:4]
    assert x == Cell("X", bold=True, dim=True, italics=True, underscore=True)._replace(
        blink=True, reverse=True, conceal=True, strikethrough=True
    )
    assert y == Cell("Y")
    assert z == Cell("Z", bold=True)
    assert w == Cell("W")


def test_colon_sgr_does_not_leak_as_text() -> None:
    model = fed(b(_colon_sgr()))
    assert rows(model)[0] == "colon-rgb no-space-id pal curly off ulc mixed end"
    cells = model.line_cells(0)
    assert cells[0].fg == "#ff8000"
    assert cells[10].fg == "#010203"
    assert cells[22].bg == "color(196)"
    assert cells[26].underscore and not cells[32].underscore
    mixed = cells[40]
    assert mixed.data == "m" and mixed.bold and mixed.underscore and mixed.fg == "color(21)"


def test_private_csi_variants_are_not_sgr() -> None:
    """vim sends ``CSI > 4;2 m`` (modifyOtherKeys); pyte turned underline on."""
    model = fed(b(f"{CSI}>4;2m{CSI}>c{CSI}=5u{CSI}?u{CSI}0%m{CSI}!pok"))
    assert model.line_cells(0)[0] == Cell("o")
    assert rows(model)[0] == "ok"


def test_strings_are_swallowed() -> None:
    model = fed(
        b(f"{ESC}Pzz{ESC}\\{ESC}_apc{ESC}\\{ESC}^pm{ESC}\\{ESC}]52;c;aGk=\x07{ESC}]8;;u{ESC}\\ok")
    )
    assert rows(model)[0] == "ok"


def test_title() -> None:
    model = fed(b(f"{ESC}]2;deploy{ESC}\\{ESC}]1;icon\x07"))
    assert model.title == "deploy"
    assert model.screen.icon_name == "icon"


def test_wide_characters_take_two_cells() -> None:
    model = fed(b(_wide()))
    assert model.line_text(0).startswith("中文 text 😀 emoji")
    cells = model.line_cells(0)
    assert [c.data for c in cells[:4]] == ["中", "", "文", ""]
    assert cells[10].data == "😀" and cells[11].data == ""
    assert model.line_cells(1)[79] == BLANK  # 宽 did not fit and wrapped
    assert model.line_cells(2)[0].data == "宽"
    assert rows(model)[3] == "ab Zcd"  # writing over the right half of 中 blanked it
    assert model.line_cells(4)[0].data == "e\u0301"  # kept as printed, as xterm.js
    assert model.line_cells(4)[2].data == "a\u0308"
    unattached = fed("ab\r\u0301x".encode())  # after a control: a cell of its own (xterm.js)
    assert [c.data for c in unattached.line_cells(0)[:3]] == [" \u0301", "x", " "]
    assert "👩\u200d💻" in model.line_text(4) and "ok" in model.line_text(4)
    assert rows(model)[5] == "\uff26\uff35\uff2c\uff2c"  # fullwidth FULL


def test_alt_screen_1049_keeps_the_main_screen() -> None:
    main = fed(b(_main_screen() + "vim"))
    before = state(main)
    model = fed(b(_alt_1049()))
    assert model.alternate
    assert rows(model)[0] == "file content"
    assert model.app_cursor_keys and model.app_keypad
    model.feed(b"\x1b[?1049l")
    assert not model.alternate
    after = state(model)
    assert after["buffer"] == before["buffer"]
    assert after["cursor"][:2] == before["cursor"][:2]


@pytest.mark.parametrize("mode", [47, 1047])
def test_alt_screen_47_and_1047(mode: int) -> None:
    model = fed(b(_main_screen() + f"{CSI}?{mode}hALT"))
    assert model.alternate
    assert rows(model)[3] == "  ALT"  # no clear, and the cursor stays where it was
    model.feed(b(f"{CSI}?{mode}l"))
    assert not model.alternate
    assert rows(model)[:4] == ["user@prod:~$ ls", "bin  etc", "blue bg", "$"]
    # 47 leaves the alternate screen as it was; 1047 clears it on the way out.
    model.feed(b(f"{CSI}?47h"))
    assert ("ALT" in model.line_text(3)) == (mode == 47)


def test_save_restore_cursor_is_per_screen() -> None:
    model = fed(b(f"{CSI}5;5H{ESC}7{CSI}?1049h{CSI}9;9H{ESC}7{CSI}1;1H{CSI}?1049l"))
    assert model.cursor == (4, 4)
    model.feed(b(f"{CSI}?1049h{ESC}8"))  # 1049h saved (4, 4) into the main slot only
    assert model.cursor == (8, 8)


def test_decrc_is_a_slot_not_a_stack() -> None:
    model = fed(b(f"{CSI}3;3H{ESC}7{CSI}H{ESC}8{CSI}H{ESC}8"))
    assert model.cursor == (2, 2)
    model = fed(b(f"{CSI}1;31m{CSI}7;7H{ESC}8"))  # nothing saved: power-on state
    assert model.cursor == (0, 0) and model.screen.cursor.attrs == BLANK


def test_scroll_region_index_and_reverse_index() -> None:
    model = fed(b(_regions()))
    lines = rows(model)
    assert lines[0] == "top line"  # outside the region: never scrolled
    assert lines[23] == "status line"
    assert lines[22] == "above status"  # CUP 25 clamps to the last line, CUU moves up
    # Rows 2-19 held region 13..29 and a blank; RI RI pushed in two blank rows
    # ("reversed" went on the first), IL 2 + DL 3 at row 9 dropped region 18,
    # SU 2 scrolled region 13 up to row 2, SD 1 pushed it back down a row.
    assert lines[2:10] == ["", *(f"region {i}" for i in (13, 14, 15, 16, 17, 19, 20))]
    assert lines[16:20] == ["", "", "", ""]
    assert model.screen.margins == (2, 19)


def test_linefeed_below_the_region_does_not_jump_into_it() -> None:
    model = fed(b(f"{CSI}1;10r{CSI}20;1Hx\n\n\n\n\n\ny"))
    assert model.cursor == (2, 23)
    assert rows(model)[19] == "x" and rows(model)[23] == " y"


def test_cursor_up_above_the_region() -> None:
    model = fed(b(f"{CSI}5;10r{CSI}3;1H{CSI}A"))
    assert model.cursor == (0, 1)


def test_erase_uses_the_background_colour() -> None:
    model = fed(b(_erase()))
    lines = rows(model)
    assert lines[0] == " " * 40 + "#" * 40
    assert lines[1] == "#" * 9
    assert lines[2] == " " * 10 + "#" * 70
    assert lines[3] == ""
    assert model.line_cells(4)[9] == Cell(" ", bg="yellow")
    assert model.line_cells(7)[79] == Cell(" ", bg="blue")
    assert lines[6] == ""


def test_erase_display_with_colour_fills_every_line() -> None:
    model = fed(b(f"{CSI}44m{CSI}2J"))
    assert all(c == Cell(" ", bg="blue") for y in range(24) for c in model.line_cells(y))
    snap = assert_round_trip(model)
    assert len(snap) < 24 * 10 + 20  # one EL per row, not 1920 spaces


def test_modes_are_exposed() -> None:
    model = fed(b(_modes()))
    assert model.app_cursor_keys and model.bracketed_paste and model.app_keypad
    assert not model.cursor_visible and not model.autowrap
    assert (model.mouse_protocol, model.mouse_encoding) == (1002, 1006)
    assert model.focus_events
    assert model.title == "prod-db-01: ~"
    assert rows(model)[0] == ("no autowrap: " + "y" * 100)[:79] + "y"
    model.feed(b(f"{CSI}?1l{CSI}?2004l{CSI}?25h{CSI}?7h{CSI}?1006l{CSI}?1002l{ESC}>"))
    assert not (model.app_cursor_keys or model.bracketed_paste or model.app_keypad)
    assert model.cursor_visible and model.autowrap
    assert (model.mouse_protocol, model.mouse_encoding) == (0, 0)


def test_dec_special_graphics() -> None:
    model = fed(b(_dec_graphics()))
    assert rows(model)[:3] == ["┌───┐", "│   │", "└───┘ ascii──"]


def test_rep_repeats_the_last_character() -> None:
    model = fed(b(_rep()))
    assert rows(model)[:2] == ["=" * 21, "─" * 10]


@pytest.mark.parametrize(
    ("stream", "shown"),
    [
        ("ab\x1b[3b", "abbbb"),
        ("e\u0301\x1b[2b", "e\u0301e\u0301e\u0301"),  # the whole cell, mark included
        ("中\x1b[2b", "中中中"),
        ("ab\r\x1b[3b", "ab"),  # only right after printed text, as xterm.js
        ("ab\x1b[m\x1b[3b", "ab"),
        ("ab\x1b[2b\x1b[2b", "abbb"),  # REP itself is not printed text
        ("ab\r\n\x1b[3b", "ab"),
    ],
)
def test_rep_follows_xterm_js(stream: str, shown: str) -> None:
    assert "".join(c.data for c in fed(b(stream)).line_cells(0)).rstrip() == shown


def test_pending_wrap_after_the_last_column() -> None:
    model = fed(b("w" * 80))
    assert model.cursor == (79, 0)
    model.feed(b"\r\n")
    assert model.cursor == (0, 1)  # no blank line: the wrap was only pending
    model = fed(b("w" * 80 + "\n"))
    assert model.cursor == (79, 1)


def test_tab_stops() -> None:
    model = fed(b(_tabs()))
    assert rows(model)[0] == "a       b       c"
    # stops at 4 and 12 only; the last tab goes to the margin; in the pending-wrap
    # state after "4", CBT does nothing (xterm.js) and "!" wraps
    assert rows(model)[1] == "1   2       3" + " " * 66 + "4"
    assert rows(model)[2] == "!"
    model = fed(b(f"{CSI}3g{CSI}1;5H{ESC}H{CSI}1;13H{ESC}H{CSI}1;20Hx{CSI}Z!{CSI}2Z?"))
    assert rows(model)[0] == "    ?       !      x"


def test_origin_mode_positions_inside_the_region() -> None:
    model = fed(b(_origin()))
    assert rows(model)[4] == "top of region"
    assert rows(model)[14] == "bottom"
    assert rows(model)[0] == "home"


def test_insert_and_delete_characters_keep_wide_characters_whole() -> None:
    model = fed(b(_insert_delete()))
    # ICH 2 at column 2, DCH on the right half of 中 (which blanks it), IRM "INS".
    assert rows(model)[0] == "INS01  23456789 文abc"
    assert rows(model)[1] == "z" * 77
    assert_wide_cells_whole(model)


def test_resize_keeps_the_cursor_line_and_both_screens() -> None:
    model = fed(b(_main_screen() + f"{CSI}?1049h{CSI}5;5Halt"))
    model.resize(40, 10)
    assert (model.cols, model.rows) == (40, 10)
    assert rows(model)[4] == "    alt"
    model.feed(b"\x1b[?1049l")
    assert rows(model)[0] == "user@prod:~$ ls"
    model = fed(b"\r\n" * 22 + b"prompt$ ")
    model.resize(80, 10)
    assert rows(model)[-1] == "prompt$" and model.cursor == (8, 9)
    assert len(model.history) == 13  # the rows above the cursor went to the scrollback
    model.resize(100, 30)  # and come back, as in xterm.js: the prompt stays at the bottom
    assert model.line_text(22).rstrip() == "prompt$" and model.cursor == (8, 22)
    assert len(model.history) == 0
    assert_round_trip(model, b"typed")
    model = fed(b"".join(b"%d\r\n" % i for i in range(40)) + b"\x1b[5H")
    model.resize(80, 30)  # the cursor is not on the last row: rows are added below it
    assert model.cursor == (0, 4) and len(model.history) == 17 and rows(model)[22] == "39"


def test_resize_cuts_wide_characters_cleanly() -> None:
    model = fed(b("x" * 9 + "中"), cols=20, rows=2)
    model.resize(10, 2)
    assert model.line_cells(0)[9] == BLANK
    assert_round_trip(model, b"\r\nmore")


def test_line_runs_for_renderers() -> None:
    model = fed(b(f"ab{CSI}1;31mcd{CSI}m中e"))
    runs = model.line_runs(0)
    assert [text for text, _ in runs] == ["ab", "cd", "中e" + " " * 73]
    assert runs[1][1] == Cell("", fg="red", bold=True)
    assert sum(len(t) for t, _ in runs) == 79  # the wide character's right half is left out


def test_dirty_lines() -> None:
    model = TerminalModel(80, 24)
    model.dirty.clear()
    model.feed(b"\x1b[5;1Hx")
    assert model.dirty == {4}
    model.dirty.clear()
    model.feed(b"\x1b[?1049h")
    assert model.dirty == set(range(24))


def test_invalid_size() -> None:
    with pytest.raises(ValueError):
        TerminalModel(0, 24)


# ---------------------------------------------------------------------- chunk boundaries

SPLIT_SAMPLE = (
    b(
        "héllo wörld 中文 😀\r\n"
        f"{CSI}38:2::255:0:0mred{CSI}m {CSI}1;4;38;5;200mpink{CSI}0m\r\n"
        f"{ESC}]0;title ✓{ESC}\\{ESC}P1$r0m{ESC}\\{ESC}(0lqk{ESC}(B"
        f"{CSI}?1049h{CSI}2;3Halt ✓{CSI}?1049l{ESC}7{CSI}10;10H{ESC}8e\u0301\u200d"
    )
    + b"\xff bad \xe4\xb8 cut"
)


def _stride(data: bytes) -> int:
    """Every offset of a short stream; some 300, odd-spaced, of a long one."""
    return 1 if len(data) < 1500 else len(data) // 300 | 1


@pytest.mark.parametrize("name", ["sample", *ALL_STREAMS])
def test_split_at_every_byte_gives_the_same_screen(name: str) -> None:
    data = SPLIT_SAMPLE if name == "sample" else ALL_STREAMS[name]
    whole = fed(data)
    for cut in range(0, len(data) + 1, _stride(data)):
        model = TerminalModel(80, 24)
        model.feed(data[:cut])
        model.feed(data[cut:])
        assert state(model) == state(whole), f"split at {cut}"


def test_byte_at_a_time_and_random_chunks() -> None:
    for data in (SPLIT_SAMPLE, ALL_STREAMS["vim"], ALL_STREAMS["colon_sgr"]):
        whole = fed(data)
        one = TerminalModel(80, 24)
        for i in range(len(data)):
            one.feed(data[i : i + 1])
        assert state(one) == state(whole)
        rng = random.Random(len(data))
        for _ in range(20):
            model, pos = TerminalModel(80, 24), 0
            while pos < len(data):
                n = rng.randint(1, 64)
                model.feed(data[pos : pos + n])
                pos += n
            assert state(model) == state(whole)


# ---------------------------------------------------------------------- snapshots


@pytest.mark.parametrize("name", list(STREAMS_SYNTHETIC))
def test_snapshot_round_trip(name: str) -> None:
    stream, continuation = STREAMS_SYNTHETIC[name]
    assert_round_trip(fed(b(stream)), b(continuation))


@pytest.mark.parametrize("name", list(_recordings()))
def test_snapshot_round_trip_of_recordings(name: str) -> None:
    data = ALL_STREAMS[name]
    for end in (len(data), data.rfind(b"\x1b[?1049l"), len(data) // 2):
        if end > 0:
            assert_round_trip(fed(data[:end]), data[end:])


@pytest.mark.parametrize("name", list(ALL_STREAMS))
def test_snapshot_mid_stream_resync(name: str) -> None:
    """The relay's resync: snapshot at any offset, then the rest of the stream."""
    data = ALL_STREAMS[name]
    whole = state(fed(data))
    prefix = TerminalModel(80, 24)
    pos = 0
    for cut in range(0, len(data) + 1, _stride(data)):
        prefix.feed(data[pos:cut])
        pos = cut
        fresh = TerminalModel(80, 24)
        fresh.feed(prefix.snapshot(history_lines=len(prefix.history)))
        if not rep_reproducible(prefix):
            fresh.screen.rep_width = prefix.screen.rep_width  # see comparable()
        fresh.feed(data[cut:])
        assert state(fresh) == whole, f"snapshot at {cut}"


def test_snapshot_of_a_blank_terminal_is_tiny() -> None:
    assert TerminalModel().snapshot() == b"\x1bc\x1b[H"


def test_snapshot_sends_sgr_only_on_change_and_skips_blanks() -> None:
    model = fed(b(f"{CSI}31m{'r' * 40}{CSI}m{CSI}10;70Hend"))
    snap = model.snapshot().decode()
    assert snap.count("\x1b[31m") == 1
    assert snap.count("\x1b[m") == 1
    assert "  " not in snap
    # it ends right after printing "end": it prints the "d" again, so REP would repeat it
    assert snap == f"\x1bc\x1b[H\x1b[31m{'r' * 40}\x1b[10;70H\x1b[mend\x1b[10;72Hd"


def test_snapshot_keeps_palette_indexes_apart_from_rgb() -> None:
    snap = fed(b(f"{CSI}38;5;196mA{CSI}38;2;255;0;0mB{CSI}31mC")).snapshot()
    assert b"38;5;196" in snap and b"38;2;255;0;0" in snap and b"31m" in snap


def test_snapshot_ends_with_an_unfinished_sequence() -> None:
    model = fed(b"abc\x1b[3")
    assert model.snapshot().endswith(b"\x1b[3")
    model = fed(b"abc\xe4\xb8")
    assert model.snapshot().endswith(b"\xe4\xb8")
    model = fed(b"abc\x1b]2;half a tit")
    assert model.snapshot().endswith(b"\x1b]2;half a tit")


_KNOWN_SEQUENCE = re.compile(
    r"\x1bc|\x1b[78=H]|\x1b[()][0-9A-Z]|\x1b\[\??[0-9;]*[hlHmCKXrg]|\x1b\[[0-9] q"
    r"|\x1b\][012];[^\x07]*\x07|[\x0e\x0f\x00]"
)


@pytest.mark.parametrize("name", list(ALL_STREAMS))
def test_snapshot_uses_only_plain_xterm_sequences(name: str) -> None:
    """RIS, CUP, CUF, SGR, EL, ECH, DECSTBM, TBC/HTS, DECSC, modes, SCS, SO/SI, OSC 0-2, NUL."""
    snap = fed(ALL_STREAMS[name]).snapshot().decode()
    leftover = _KNOWN_SEQUENCE.sub("", snap)
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", leftover), repr(leftover[:200])


@pytest.mark.parametrize("name", ["scrolling", "sgr16", "sgr256", "erase", "tabs", "top"])
def test_pyte_reads_our_snapshot_the_same_way(name: str) -> None:
    """A second emulator (plain pyte) shows the same text for main-screen streams.

    (Not for ``wide``: pyte stops drawing a text run at a zero-width joiner.)
    """
    model = fed(ALL_STREAMS[name])
    screen = pyte.Screen(80, 24)
    pyte.ByteStream(screen).feed(model.snapshot())
    assert [line.rstrip() for line in screen.display] == rows(model)


# ---------------------------------------------------------------------- fuzzing

_TOKENS = [
    "abc",
    "0123456789" * 3,
    "中文",
    "😀",
    "e\u0301",
    "\u200d",
    "\uff58",  # fullwidth x
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\b",
    "\x0e",
    "\x0f",
    f"{ESC}7",
    f"{ESC}8",
    f"{ESC}M",
    f"{ESC}D",
    f"{ESC}E",
    f"{ESC}H",
    f"{ESC}(0",
    f"{ESC}(B",
    f"{ESC})0",
    f"{ESC}=",
    f"{ESC}>",
    f"{ESC}#8",
    f"{ESC}]2;t\x07",
    f"{CSI}!p",
    f"{CSI}3g",
]
_CSI_FINALS = "@ABCDEFGHIJKLMPSTXZ`abdefgrsu"
_MODES = [1, 4, 6, 7, 12, 25, 47, 1000, 1002, 1004, 1006, 1047, 1048, 1049, 2004]


def _random_stream(rng: random.Random, length: int) -> str:
    out = []
    for _ in range(length):
        roll = rng.random()
        if roll < 0.4:
            out.append(rng.choice(_TOKENS))
        elif roll < 0.65:
            params = ";".join(str(rng.randint(0, 30)) for _ in range(rng.randint(0, 2)))
            out.append(f"{CSI}{params}{rng.choice(_CSI_FINALS)}")
        elif roll < 0.8:
            private = "?" if rng.random() < 0.8 else ""
            out.append(f"{CSI}{private}{rng.choice(_MODES)}{rng.choice('hl')}")
        else:
            sgr = rng.choice(
                [
                    "1",
                    "2",
                    "4",
                    "7",
                    "0",
                    "22",
                    "31",
                    "44",
                    "38;5;99",
                    "48;2;1;2;3",
                    "4:3",
                    "95",
                    "",
                ]
            )
            out.append(f"{CSI}{sgr}m")
    return "".join(out)


@pytest.mark.parametrize("seed", range(60))
def test_fuzz_round_trip_and_splits(seed: int, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(seed)
    cols, rows_ = rng.choice([(80, 24), (20, 6), (7, 3)])
    data = b(_random_stream(rng, 300))
    whole = fed(data, cols, rows_)
    for cut in sorted(rng.sample(range(len(data)), 25)):
        prefix = fed(data[:cut], cols, rows_)
        prefix.feed(data[cut:])
        assert state(prefix) == state(whole), f"split at {cut}"
        fresh, original = TerminalModel(cols, rows_), fed(data[:cut], cols, rows_)
        fresh.feed(original.snapshot(history_lines=len(original.history)))
        if not rep_reproducible(original):
            fresh.screen.rep_width = original.screen.rep_width  # see comparable()
        fresh.feed(data[cut:])
        assert state(fresh) == state(whole), f"snapshot at {cut}"
    assert_round_trip(whole)
    assert_wide_cells_whole(whole)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_garbage_does_not_break_the_model(caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(7)
    model = TerminalModel(30, 8)
    for _ in range(200):
        model.feed(bytes(rng.randrange(256) for _ in range(rng.randint(1, 200))))
    model.feed(b"\x1b\\\x18\x1bc")  # end any string, then reset
    model.feed(b"alive")
    assert rows(model)[0] == "alive"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_unterminated_sequences_stay_bounded() -> None:
    """A clipboard OSC 52 or a sixel DCS can be megabytes; the model keeps 4 KiB at most."""
    for intro in (b"\x1b]52;c;", b"\x1bPq", b"\x1b[1;", b"\x1b "):
        model = TerminalModel()
        model.feed(intro)
        for _ in range(256):
            model.feed(b"1" * 4096 if intro.startswith(b"\x1b[") else b"A" * 4096)
        assert len(model.unfinished()) <= 4096 + len(intro)
        model.feed(b"\x07\x1b\\\x18ok")
        assert "ok" in "".join(model.display())  # an over-long CSI's tail prints as text


def test_discontinuity_drops_a_half_parsed_sequence() -> None:
    """After the relay skips output, a cut title sequence must not swallow text."""
    model = TerminalModel(20, 2)
    model.feed(b"\x1b]0;a title that never ends")
    model.discontinuity()
    model.feed(b"visible")
    assert model.line_text(0).startswith("visible")
