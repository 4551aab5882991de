"""Skimming shell output (relay/terminal/skim.py) draws what the reference path draws.

The model keeps lines of a shell session that scroll off unseen undrawn, as a
block the scrollback replays when read. Generated sessions (prompts with titles
and bracketed paste, corrections with BS and EL, tabs, wide, combining and
emoji text, progress bars, lines that wrap or lack a CR, other OSCs, and now and
then a piece from the whole grammar) fed in any chunking, to any size and
scrollback, must leave the model in the reference path's state: every cell on
screen and in the scrollback, cursor, pen, title, icon name, modes, parser.
"""

from __future__ import annotations

from hypothesis import given, settings, target
from hypothesis import strategies as st

from relay.terminal import TerminalModel
from relay.terminal.skim import skimmable
from tests.relay.terminal.test_terminal import state
from tests.terminal_streams import CSI, ESC, SIZES, chunked, session_streams

EXAMPLES = settings(max_examples=max(200, settings.default.max_examples))
SCROLLBACKS = [0, 3, 10_000]


def assert_skimmed_equals_reference(
    chunks: list[bytes], cols: int, rows: int, scrollback: int, read_each: bool
) -> TerminalModel:
    fast = TerminalModel(cols, rows, scrollback)
    slow = TerminalModel(cols, rows, scrollback, fast=False)
    for i, chunk in enumerate(chunks):
        fast.feed(chunk)
        slow.feed(chunk)
        if read_each:
            assert state(fast) == state(slow), f"after feed {i}"
    assert fast.dirty == slow.dirty
    assert state(fast) == state(slow)
    assert fast.history.dropped == slow.history.dropped
    return fast


@EXAMPLES
@given(
    st.data(),
    session_streams(),
    st.sampled_from(SIZES),
    st.sampled_from(SCROLLBACKS),
    st.booleans(),
)
def test_skimmed_sessions_equal_the_reference_path(
    data: st.DataObject, stream: str, size: tuple[int, int], scrollback: int, read_each: bool
) -> None:
    chunks = data.draw(chunked(stream.encode()))
    fast = assert_skimmed_equals_reference(chunks, *size, scrollback, read_each)
    target(float(fast.screen.skimmed))  # (toward sessions that skim more)


def session(lines: int) -> str:
    """A session like the bench's: prompts, ls with tabs, grep colours, CJK, progress."""
    out = []
    for i in range(lines):
        kind = i % 5
        if kind == 0:
            out.append(f"{CSI}?2004h{ESC}]0;ops@db: ~{i}\x07{CSI}01;32mops@db{CSI}00m$ ls\r\n")
            out.append(f"{CSI}?2004l\r")
        elif kind == 1:
            out.append(f"{CSI}01;34msrc{CSI}0m\tmain.py\t報告書.pdf\t📦build\r\n")
        elif kind == 2:
            out.append(f"{CSI}35m{CSI}Ksrc/f{i}.py{CSI}m{CSI}K:retry {CSI}01;31mOK{CSI}m\r\n")
        elif kind == 3:
            out.append("数据库连接超时 naïve café e\u0301\r\n")
        else:
            out.append("".join(f"\r{p:3d}%|{'█' * (p // 10)}" for p in range(0, 101, 20)) + "\r\n")
    return "".join(out)


def test_a_long_session_is_skimmed_and_reads_back_as_drawn() -> None:
    """The skim runs (most lines are never drawn until read), and reading the
    scrollback then gives every line as the reference path drew it."""
    data = session(600).encode()
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    fast = TerminalModel(80, 24)
    slow = TerminalModel(80, 24, fast=False)
    for chunk in chunks:
        fast.feed(chunk)
        slow.feed(chunk)
    assert fast.screen.skimmed > 400
    assert fast.screen.title == slow.screen.title == "ops@db: ~595"
    assert state(fast) == state(slow)


def test_skimming_stops_where_a_program_takes_over() -> None:
    """A full-screen program after the session (alternate screen, a cursor move) is
    not shell output: the model draws it as it comes, after the skimmed lines."""
    data = (session(100) + f"{CSI}?1049h{CSI}5;5Htop{CSI}?1049l" + session(60)).encode()
    for cols, rows in SIZES:
        fast = assert_skimmed_equals_reference([data], cols, rows, 10_000, read_each=False)
        assert fast.screen.skimmed > 0 or cols < 40  # (narrower, every line wraps)


def test_which_lines_may_be_skimmed() -> None:
    """Those that end with CR LF and reach the last column nowhere, as counted
    generously: wide text as two cells, tabs to the next stop, sequences as nothing."""
    cols = 10
    assert skimmable("数据库连\r\n", 0, cols) == (1, len("数据库连\r\n"))
    assert skimmable("数据库连接\r\n", 0, cols) == (0, 0)  # ten cells: a pending wrap
    assert skimmable("\tX\r\n", 0, cols) == (1, 4)
    assert skimmable("a\tbc\r\n", 0, cols) == (0, 0)
    assert skimmable(f"{CSI}01;31m123456789{CSI}m\r\n", 0, cols)[0] == 1
    assert skimmable("123456789\r123456789\r\n", 0, cols)[0] == 1
    assert skimmable("1234567890\r1\r\n", 0, cols)[0] == 0
    assert skimmable("ab\r\nno CR\ncd\r\n", 0, cols) == (1, 4)
    assert skimmable(f"{ESC}]0;a title longer than the screen\x07ok\r\n", 0, cols)[0] == 1
    assert skimmable("ok\r\nnot ended", 0, cols) == (1, 4)
