"""Scrollback, rows for renderers, mouse modes and device replies of the terminal model.

What the TUI and the relay build on (interfaces: ``TerminalModel(cols, rows,
scrollback)``, ``history``, ``line(y)``, ``mouse_protocol``,
``mouse_encoding``, ``take_replies()``, ``render(model, history_lines)``).
The same behaviours are checked against xterm.js in tests/relay/terminal/test_terminal_oracle.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from relay.config import Limits
from relay.terminal import BLANK, Cell, TerminalModel, render
from tests.harness import read_until, running_relay
from tests.relay.terminal.test_terminal import assert_same, state

CSI = "\x1b["


def numbered(n: int, start: int = 0) -> bytes:
    return b"".join(b"line %d\r\n" % i for i in range(start, start + n))


def text(cells: list[Cell]) -> str:
    return "".join(cell.data for cell in cells).rstrip()


def history(model: TerminalModel) -> list[str]:
    return [text(line) for line in model.history]


def fed(data: bytes, cols: int = 20, rows: int = 5, scrollback: int = 10_000) -> TerminalModel:
    model = TerminalModel(cols, rows, scrollback)
    model.feed(data)
    return model


# ---------------------------------------------------------------------- scrollback


@pytest.mark.parametrize("fast", [True, False])
def test_lines_scrolled_off_the_top_are_kept_oldest_first(fast: bool) -> None:
    model = TerminalModel(20, 5, fast=fast)
    model.feed(numbered(12))
    assert history(model) == [f"line {i}" for i in range(8)]
    assert [text(model.line(y)) for y in range(-8, 5)] == [
        *(f"line {i}" for i in range(12)),
        "",
    ]


@pytest.mark.parametrize("fast", [True, False])
def test_scrollback_is_bounded(fast: bool) -> None:
    model = TerminalModel(20, 5, 10, fast=fast)
    for i in range(0, 3000, 100):  # many feeds, each long enough for the fast path
        model.feed(numbered(100, i))
    assert history(model) == [f"line {i}" for i in range(2986, 2996)]
    assert TerminalModel(20, 5).screen.scrollback == 10_000


def test_no_scrollback_when_asked_for_none() -> None:
    model = fed(numbered(50), scrollback=0)
    assert len(model.history) == 0
    assert text(model.line(0)) == "line 46"
    with pytest.raises(ValueError, match="scrollback"):
        TerminalModel(20, 5, -1)


def test_colours_and_wide_characters_are_kept() -> None:
    model = fed(f"{CSI}41mred bg{CSI}K{CSI}0m\r\n中文\r\n".encode() + numbered(5))
    red, wide = model.history[0], model.history[1]
    assert red[0] == Cell("r", bg="red") and len(red) == 20  # EL with a colour: all 20 cells
    assert red[-1] == Cell(" ", bg="red")
    assert [c.data for c in wide] == ["中", "", "文", ""]  # trailing blanks are left out


def test_region_at_the_top_keeps_lines_others_do_not() -> None:
    """As xterm.js: a region that starts at the top row scrolls into the scrollback."""
    top = fed(f"{CSI}1;3r{CSI}3;1H".encode() + numbered(4) + f"{CSI}r".encode())
    assert history(top)[:2] == ["", ""]  # rows 1 and 2 of the region were blank
    assert len(top.history) == 4
    middle = fed(f"{CSI}2;4r{CSI}4;1H".encode() + numbered(10))
    assert len(middle.history) == 0


def test_alternate_screen_su_and_dl_keep_nothing() -> None:
    assert len(fed(f"{CSI}?1049h".encode() + numbered(30)).history) == 0
    for seq in (f"{CSI}3S", f"{CSI}H{CSI}2M"):
        model = fed(numbered(5)[:-2])  # five rows written, the cursor on the last
        model.feed(seq.encode())
        assert len(model.history) == 0, seq
        assert text(model.line(0)) == "line 3" if "S" in seq else "line 2"


def test_ed3_and_ris_clear_the_scrollback() -> None:
    model = fed(numbered(30))
    model.feed(f"{CSI}?1049h{CSI}3J".encode())  # on the alternate screen: not the main's
    assert len(model.history) == 26
    model.feed(f"{CSI}?1049l{CSI}3J".encode())
    assert len(model.history) == 0 and text(model.line(0)) == "line 26"
    model = fed(numbered(30))
    model.feed(b"\x1bc")
    assert len(model.history) == 0


def test_line_range_and_padding() -> None:
    model = fed(numbered(7))
    assert len(model.history) == 3
    for y in range(-3, 5):
        assert len(model.line(y)) == 20
    for y in (-4, 5):
        with pytest.raises(IndexError):
            model.line(y)
    assert model.line(-3)[10] == BLANK
    assert model.history[-1] == model.history[2] and model.history[1:] == [
        model.history[1],
        model.history[2],
    ]


def test_history_lines_wider_than_the_screen_are_cut_for_rendering() -> None:
    model = fed(("x" * 18 + "中").encode() + b"\r\n" + numbered(5), cols=20)
    model.resize(10, 5)
    assert [c.data for c in model.line(-2)] == ["x"] * 10
    model = fed(("x" * 9 + "中").encode() + b"\r\n" + numbered(5), cols=20)
    model.resize(10, 5)
    assert model.line(-2)[9] == BLANK  # the wide character lost its right half


def test_shrinking_pushes_rows_into_the_scrollback_and_growing_pulls_them_back() -> None:
    model = fed(numbered(5)[:-2], rows=5)  # cursor on the last row
    model.resize(20, 3)
    assert history(model) == ["line 0", "line 1"]
    model.resize(20, 6)
    assert len(model.history) == 0 and text(model.line(0)) == "line 0"
    assert model.cursor == (6, 4)


# ---------------------------------------------------------------------- snapshots with history


@pytest.mark.parametrize("history_lines", [0, 1, 3, 8, 100])
def test_render_sends_the_last_history_lines_first(history_lines: int) -> None:
    data = f"{CSI}44mblue{CSI}K{CSI}0m\r\n中文 e\u0301\r\n".encode() + numbered(9)
    data += f"{CSI}1;33mprompt$ {CSI}?2004h".encode()
    model = fed(data)
    snap = render(model, history_lines)
    assert snap == model.snapshot(history_lines)
    fresh = TerminalModel(20, 5)
    fresh.feed(snap)
    kept = min(history_lines, len(model.history))
    assert fresh.history[:] == model.history[len(model.history) - kept :]
    mine, theirs = state(fresh), state(model)
    del mine["history"], theirs["history"]
    assert mine == theirs


def test_render_with_history_on_the_alternate_screen_and_one_row() -> None:
    model = fed(numbered(9) + f"{CSI}?1049h{CSI}2;2Hvim".encode())
    fresh = TerminalModel(20, 5)
    fresh.feed(model.snapshot(history_lines=100))
    assert_same(fresh, model)
    tiny = fed(numbered(4), cols=6, rows=1)
    fresh = TerminalModel(6, 1)
    fresh.feed(tiny.snapshot(history_lines=100))
    assert_same(fresh, tiny)


# ---------------------------------------------------------------------- mouse and keys


@pytest.mark.parametrize(
    ("sequence", "protocol", "encoding"),
    [
        ("?1000h", 1000, 0),
        ("?9h", 9, 0),
        ("?1000h ?1002h", 1002, 0),  # the last DECSET wins
        ("?1003h ?1000h", 1000, 0),
        ("?1002h ?1002l", 0, 0),
        ("?1003h ?1000l", 0, 0),  # any DECRST turns tracking off (xterm, xterm.js)
        ("?1001h", 0, 0),  # highlight tracking is not supported
        ("?1000h ?1006h", 1000, 1006),
        ("?1006h ?1015h", 0, 1015),
        ("?1006h ?1015l", 0, 1006),  # a DECRST undoes only its own encoding (xterm)
        ("?1006h ?1006l", 0, 0),
        ("?1005h", 0, 1005),
        ("?1016h", 0, 0),  # SGR pixels: a cell-based client has no pixels to send
        ("?1002;1006h", 1002, 1006),
    ],
)
def test_mouse_protocol_and_encoding(sequence: str, protocol: int, encoding: int) -> None:
    model = fed("".join(f"{CSI}{part}" for part in sequence.split()).encode())
    assert (model.mouse_protocol, model.mouse_encoding) == (protocol, encoding)
    fresh = TerminalModel(20, 5)
    fresh.feed(model.snapshot())
    assert (fresh.mouse_protocol, fresh.mouse_encoding) == (protocol, encoding)


def test_key_modes() -> None:
    model = fed(f"{CSI}?1h{CSI}?2004h".encode())
    assert model.application_cursor and model.bracketed_paste
    model.feed(f"{CSI}?1l{CSI}?2004l".encode())
    assert not (model.application_cursor or model.bracketed_paste)


# ---------------------------------------------------------------------- device replies


def test_each_query_is_answered_once_in_stream_order() -> None:
    model = fed(f"ab{CSI}6n{CSI}c{CSI}0c{CSI}>c{CSI}>0c{CSI}5n\r\n{CSI}?6n".encode())
    expected = b"\x1b[1;3R\x1b[?1;2c\x1b[?1;2c\x1b[>0;276;0c\x1b[>0;276;0c\x1b[0n\x1b[?2;1R"
    assert model.take_replies() == expected
    assert model.take_replies() == b""


def test_cpr_is_taken_where_the_query_is() -> None:
    model = TerminalModel(20, 5)
    model.feed(f"{CSI}3;7H{CSI}6n{CSI}H".encode())  # the cursor moved on in the same feed
    model.feed(f"{CSI}6".encode())  # a query split across feeds
    model.feed(b"n")
    assert model.take_replies() == b"\x1b[3;7R\x1b[1;1R"


def test_cpr_under_origin_mode_and_at_the_pending_wrap() -> None:
    model = fed(f"{CSI}2;4r{CSI}?6h{CSI}2;3H{CSI}6n{CSI}?6l".encode())
    assert model.take_replies() == b"\x1b[2;3R"  # row 2 of the region, row 3 of the screen
    model = fed(("x" * 20).encode() + f"{CSI}6n".encode())
    assert model.take_replies() == b"\x1b[1;20R"  # not column 21: xterm's answer


def test_other_queries_and_sequences_are_not_answered() -> None:
    model = fed(f"{CSI}1c{CSI}>1c{CSI}?5n{CSI}15n{CSI}=c{CSI}?c text ending in 6n and c".encode())
    assert model.take_replies() == b""


def test_unread_replies_are_bounded() -> None:
    from relay.terminal.model import REPLIES_MAX

    model = fed(f"{CSI}c".encode() * 10_000)
    replies = model.take_replies()
    assert len(replies) <= REPLIES_MAX and replies == b"\x1b[?1;2c" * (len(replies) // 7)
    model.feed(f"{CSI}5n".encode())
    assert model.take_replies() == b"\x1b[0n"


# ---------------------------------------------------------------------- the relay's models


async def test_the_configured_scrollback_bounds_the_session_model(tmp_path: Path) -> None:
    async with running_relay(tmp_path, limits=Limits(scrollback=7)) as harness:
        session = await harness.open()
        lead = await harness.joined("alice", session)
        await lead.send_input(b"for i in $(seq 1 40); do echo n$i; done; echo DONE-$((6*7))\r")
        await read_until(lead, b"DONE-42")
        output = harness.relay.sessions[session].output
        model = output.model

        def caught_up() -> bool:
            return output.model_lag == 0 and "DONE-42" in "".join(model.display())

        async with asyncio.timeout(30):
            while not caught_up():
                await asyncio.sleep(0.05)
        assert len(model.history) == 7
