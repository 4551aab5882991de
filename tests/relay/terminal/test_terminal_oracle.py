"""The terminal model against xterm.js headless (tests/xterm_oracle.py, docs/terminal.md).

The same bytes go to the model and, in one write, to xterm.js 6 with the Unicode 11
widths addon; every cell (text and attributes), the cursor and its pending wrap, the
alternate/main screen, the scrollback, the modes, the title and the replies must agree:
on the corpus of tests/relay/terminal/test_terminal.py (synthetic streams and
recorded vim, less, top sessions), on generated streams (the grammar of the property
tests), and when a snapshot of the model is replayed into xterm.js.

The model departs from xterm.js only where docs/terminal.md says so, and this test knows
exactly that list: for whole-stream comparisons the model gives those deviations up
(``TerminalModel(xtermjs=...)``), and each one has an example below showing that
xterm.js does differ there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.terminal import TerminalModel, render
from relay.terminal.modes import DEVIATIONS
from tests.relay.terminal.test_terminal import ALL_STREAMS
from tests.terminal_streams import SIZES, shell_streams, streams
from tests.tools import ROOT, require_tool
from tests.xterm_oracle import Oracle, differences, missing, model_view

DOCS = ROOT / "docs" / "terminal.md"

#: Deviations the model can give up; the others are handled on the oracle's side
#: (``osc8-links``: it ignores OSC 8) or need input the generated streams never hold.
SWITCHABLE = frozenset(
    {
        "el-pending-wrap",
        "sgr-colon-rgb",
        "sd-bce",
        "alternate-kept",
        "cpr-origin",
        "cpr-pending-wrap",
        "mouse-encodings",
    }
)
ORACLE_SIDE = frozenset({"osc8-links"})
NEVER_GENERATED = frozenset({"invalid-utf8", "zero-width-alone"})
#: Resizes are compared on heights only: on widths xterm.js rewraps lines.
HEIGHTS_ONLY = frozenset({"no-reflow"})


def documented() -> set[str]:
    """The ``id`` column of the deviations table in docs/terminal.md."""
    section = DOCS.read_text().split("### Deviations", 1)[1]
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, re.MULTILINE))


@pytest.fixture(scope="module")
def oracle() -> Iterator[Oracle]:
    reason = missing()
    require_tool(reason is None, reason or "")
    process = Oracle()
    yield process
    process.close()


def as_xterm_js(data: bytes, cols: int, rows: int) -> TerminalModel:
    """The model fed ``data``, giving up every documented deviation it can."""
    model = TerminalModel(cols, rows, 1000, xtermjs=SWITCHABLE)
    model.feed(data)
    return model


def assert_agrees(oracle: Oracle, data: bytes, cols: int = 80, rows: int = 24) -> None:
    ours = model_view(as_xterm_js(data, cols, rows))
    theirs = oracle.screen(data, cols, rows)
    diff = differences(ours, theirs)
    assert not diff, f"{cols}x{rows} {data!r}\n" + "\n".join(diff[:6])


# ---------------------------------------------------------------------- the list


def test_the_documented_deviations_are_the_known_ones() -> None:
    assert documented() == set(DEVIATIONS)
    kinds = [SWITCHABLE, ORACLE_SIDE, NEVER_GENERATED, HEIGHTS_ONLY]
    assert frozenset().union(*kinds) == DEVIATIONS
    assert sum(len(kind) for kind in kinds) == len(DEVIATIONS)  # each in one kind


# ---------------------------------------------------------------------- whole streams


@pytest.mark.parametrize("name", list(ALL_STREAMS))
def test_corpus_agrees_with_xterm_js(oracle: Oracle, name: str) -> None:
    assert_agrees(oracle, ALL_STREAMS[name])


@given(shell_streams(), st.sampled_from(SIZES))
def test_generated_shell_output_agrees_with_xterm_js(
    oracle: Oracle, stream: str, size: tuple[int, int]
) -> None:
    assert_agrees(oracle, stream.encode(), *size)


@given(streams(), st.sampled_from(SIZES))
def test_generated_streams_agree_with_xterm_js(
    oracle: Oracle, stream: str, size: tuple[int, int]
) -> None:
    assert_agrees(oracle, stream.encode(), *size)


# ---------------------------------------------------------------------- unicode

#: Wide, combining and joined characters where cells get split, overwritten or wrapped
#: (10 columns): each must leave the same cells as in xterm.js, code point for code point.
UNICODE_EDGES = {
    "combining marks stay as printed": "e\u0301 a\u0308 o\u0302\u0323 \u0e01\u0e34",
    "combining at the pending wrap": "x" * 9 + "e\u0301z",
    "combining on a wide character": "中\u0301文",
    "combining then overwritten": "e\u0301\rx",
    "wide at the last column wraps": "x" * 9 + "中",
    "wide at the last column, no autowrap": "\x1b[?7l" + "x" * 9 + "中",
    "left half overwritten": "中文\ra",
    "right half overwritten": "中文\x1b[2Gb",
    "wide over a wide": "中文\x1b[2G字",
    "insert splits a wide": "中文字\x1b[2G\x1b[@",
    "delete splits a wide": "中文字\x1b[2G\x1b[P",
    "erase over a half": "中文字\x1b[2G\x1b[X",
    "erase to the end from a right half": "中文\x1b[2G\x1b[K",
    "insert mode pushes a wide": "abcdefghi\x1b[1G\x1b[4h中\x1b[4l",
    "REP of a wide": "中\x1b[3b",
    "REP of a combined cell": "e\u0301\x1b[2b",
    "emoji with ZWJ": "👩\u200d💻x",
    "VS16": "❤\ufe0fx",
    "fullwidth letters": "\uff26\uff35x",
    "hangul jamo": "\u1100\u1161x",
    "wide characters scrolled off": "中文字" * 5 + "\r\n" * 4 + "e\u0301",
}


@pytest.mark.parametrize("name", list(UNICODE_EDGES))
def test_wide_and_combining_characters_agree_with_xterm_js(oracle: Oracle, name: str) -> None:
    assert_agrees(oracle, UNICODE_EDGES[name].encode(), 10, 3)


def test_a_combining_mark_is_not_composed(oracle: Oracle) -> None:
    """``e`` + U+0301 stays two code points, as xterm.js keeps it (NFC would make ``é``)."""
    data = "e\u0301".encode()
    assert oracle.screen(data, 10, 3)["screen"][0][0][0] == "e\u0301"
    assert as_xterm_js(data, 10, 3).line(0)[0].data == "e\u0301"


# ---------------------------------------------------------------------- snapshots


def _snapshot_view_matches(
    oracle: Oracle, model: TerminalModel, history_lines: int | None = None
) -> list[str]:
    """How xterm.js fed ``render(model, history_lines)`` differs from the model (whose
    scrollback is cut to its last ``history_lines`` lines; all of it by default)."""
    n = len(model.history) if history_lines is None else history_lines
    snap = render(model, history_lines=n)
    ours = model_view(model)
    ours["history"] = ours["history"][len(ours["history"]) - min(n, len(model.history)) :]
    theirs = oracle.screen(snap, model.cols, model.rows)
    ours["replies"] = theirs["replies"] = b""
    return differences(ours, theirs)


@pytest.mark.parametrize("name", list(ALL_STREAMS))
def test_snapshot_replayed_into_xterm_js_shows_the_same(oracle: Oracle, name: str) -> None:
    """What a plain terminal shows from a snapshot: screens, scrollback, cursor, modes."""
    model = TerminalModel(80, 24, 1000)
    model.feed(ALL_STREAMS[name])
    diff = _snapshot_view_matches(oracle, model)
    assert not diff, "\n".join(diff[:6])


@given(st.data(), st.one_of(shell_streams(), streams()), st.sampled_from(SIZES))
def test_snapshots_of_generated_streams_replay_into_xterm_js(
    oracle: Oracle, data: st.DataObject, stream: str, size: tuple[int, int]
) -> None:
    """With any number of scrollback lines: the screen, the cursor, the modes and that
    many of the last scrollback lines."""
    model = TerminalModel(*size, 1000)
    model.feed(stream.encode())
    n = data.draw(st.integers(0, len(model.history) + 2), label="history_lines")
    diff = _snapshot_view_matches(oracle, model, n)
    assert not diff, f"{stream!r} history_lines={n}\n" + "\n".join(diff[:6])


def test_a_colour_set_before_the_alternate_screen_does_not_paint_it(oracle: Oracle) -> None:
    """xterm.js clears the screen ``?47h`` shows with the pen's background."""
    model = TerminalModel(20, 5)
    model.feed(b"\x1b[44mblue\x1b[K\x1b[0m\r\n\x1b[?1049h\x1b[2;2Hvim")
    assert not _snapshot_view_matches(oracle, model)


# ---------------------------------------------------------------------- replies, scrollback


@pytest.mark.parametrize(
    "stream",
    [
        b"\x1b[c\x1b[0c\x1b[>c\x1b[>0c\x1b[5n",
        b"abc\x1b[6n\r\n\x1b[?6n",
        b"\x1b[3;7H\x1b[6n\x1b[H\x1b[6n",
        b"\x1b[1c\x1b[?5n\x1b[=c",
    ],
)
def test_replies_agree_with_xterm_js(oracle: Oracle, stream: bytes) -> None:
    assert_agrees(oracle, stream, 20, 5)


@pytest.mark.parametrize(
    "stream",
    [
        b"".join(b"line %d\r\n" % i for i in range(40)),
        b"\x1b[44m" + b"".join(b"blue %d\x1b[K\r\n" % i for i in range(30)),
        b"\x1b[1;3r\x1b[3;1H" + b"".join(b"%d\n" % i for i in range(8)),  # region at the top
        b"\x1b[2;4r\x1b[4;1H" + b"".join(b"%d\n" % i for i in range(8)),  # not at the top
        b"\x1b[?1049h" + b"".join(b"%d\r\n" % i for i in range(30)),  # alternate screen
        b"".join(b"%d\r\n" % i for i in range(30)) + b"\x1b[3J",
        b"".join(b"%d\r\n" % i for i in range(30)) + b"\x1b[5S\x1b[2T",
    ],
)
def test_scrollback_agrees_with_xterm_js(oracle: Oracle, stream: bytes) -> None:
    assert_agrees(oracle, stream, 20, 5)


# ---------------------------------------------------------------------- resizes


Steps = list[bytes | tuple[int, int]]


@st.composite
def resized_streams(draw: st.DrawFn) -> tuple[int, int, Steps]:
    """A size, then output with changes of the PTY's height between the writes, ending
    with a shell's output after the last change (widths: see ``HEIGHTS_ONLY``)."""
    cols, rows = draw(st.sampled_from([10, 13, 20])), draw(st.integers(2, 10))
    steps: Steps = []
    for _ in range(draw(st.integers(1, 4))):
        steps.append(draw(st.one_of(shell_streams(max_pieces=15), streams(15))).encode())
        steps.append((cols, draw(st.integers(2, 10))))
    steps.append(draw(shell_streams(max_pieces=10)).encode())
    return cols, rows, steps


def assert_agrees_after(oracle: Oracle, cols: int, rows: int, steps: Steps) -> None:
    model = TerminalModel(cols, rows, 1000, xtermjs=SWITCHABLE)
    for step in steps:
        if isinstance(step, tuple):
            model.resize(*step)
        else:
            model.feed(step)
    theirs = oracle.screen_after_steps(steps, cols, rows)
    diff = differences(model_view(model), theirs)
    assert not diff, f"{cols}x{rows} {steps!r}\n" + "\n".join(diff[:6])


@given(resized_streams())
def test_output_between_height_changes_agrees_with_xterm_js(
    oracle: Oracle, case: tuple[int, int, Steps]
) -> None:
    """Issue 9, item 2, at the model's level: a hand-off changes the PTY's height (the
    request banner), and every participant's model must end where an xterm would."""
    assert_agrees_after(oracle, *case)


# ---------------------------------------------------------------------- each deviation


EXAMPLES: dict[str, tuple[bytes, int, int]] = {
    "el-pending-wrap": (b"x" * 10 + b"\x1b[K", 10, 3),
    "sgr-colon-rgb": (b"\x1b[38:2:10:20:30mx", 10, 3),
    "sd-bce": (b"\x1b[44m\x1b[T", 10, 3),
    "alternate-kept": (b"\x1b[?47hkept\x1b[?47l\x1b[?47h", 10, 3),
    "cpr-origin": (b"\x1b[2;3r\x1b[?6h\x1b[6n", 10, 3),
    "cpr-pending-wrap": (b"x" * 10 + b"\x1b[6n", 10, 3),
    "mouse-encodings": (b"\x1b[?1015h", 10, 3),
}


@pytest.mark.parametrize("deviation", sorted(SWITCHABLE))
def test_each_deviation_is_real_and_only_that(oracle: Oracle, deviation: str) -> None:
    """xterm.js differs from the model there; giving up that one deviation agrees."""
    data, cols, rows = EXAMPLES[deviation]
    theirs = oracle.screen(data, cols, rows)
    ours = TerminalModel(cols, rows)
    ours.feed(data)
    assert differences(model_view(ours), theirs), deviation
    given_up = TerminalModel(cols, rows, xtermjs={deviation})
    given_up.feed(data)
    assert not differences(model_view(given_up), theirs), deviation


def test_osc8_links_are_underlined_by_xterm_js_only(oracle: Oracle) -> None:
    data = b"\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\"
    model = TerminalModel(10, 3)
    model.feed(data)
    theirs = oracle.screen(data, 10, 3, ignore_osc8=False)
    assert theirs["screen"][0][0][3] == "u" and not model.line(0)[0].underscore
    assert not differences(model_view(model), oracle.screen(data, 10, 3))


def test_zero_width_characters_alone_differ_only_in_chains(oracle: Oracle) -> None:
    """Alone, both give a zero-width character a blank column; what follows it differs."""
    alone = "ab\r\u200bx".encode()
    model = TerminalModel(10, 3)
    model.feed(alone)
    assert not differences(model_view(model), oracle.screen(alone, 10, 3))
    chain = ("x" * 9 + "\r\n\x1b[10G\u200b\u0301\u03010").encode()
    model = TerminalModel(10, 3)
    model.feed(chain)
    assert differences(model_view(model), oracle.screen(chain, 10, 3))


def test_invalid_utf8_is_dropped_by_xterm_js_only(oracle: Oracle) -> None:
    data = b"a\xffb"
    model = TerminalModel(10, 3)
    model.feed(data)
    assert [c.data for c in model.line(0)[:3]] == ["a", "\ufffd", "b"]
    assert oracle.screen(data, 10, 3)["screen"][0][1][0] == "b"


@pytest.mark.parametrize(
    "steps",
    [
        [b"\x1b[3g", (20, 3), b"\tx\tx"],  # a resize sets the cleared stops again
        [b"\x1b[3g\x1b[5G\x1bH", (20, 3), b"\r\tx\tx\tx"],  # from the last stop left
        [b"a\r\n" * 6, (20, 5), b"\x1b[?1049h", (20, 2), b"vim", (20, 6), b"\x1b[?1049l"],
    ],
)
def test_resizes_found_by_the_property(oracle: Oracle, steps: Steps) -> None:
    assert_agrees_after(oracle, 20, 4, steps)


def test_a_width_change_is_rewrapped_by_xterm_js_only(oracle: Oracle) -> None:
    """no-reflow: xterm.js rewraps a line that no longer fits; the model cuts it."""
    output = b"0123456789\r\nab"
    model = TerminalModel(10, 3)
    model.feed(output)
    model.resize(5, 3)
    assert model.display() == ["01234", "ab   ", "     "]
    theirs = oracle.screen_after_steps([output, (5, 3)], 10, 3)
    shown = ["".join(cell[0] for cell in row) for row in theirs["history"] + theirs["screen"]]
    assert shown[:3] == ["01234", "56789", "ab   "]
