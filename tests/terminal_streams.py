"""A hypothesis grammar of terminal output, for the property and oracle tests.

One strategy, :func:`streams`, draws what shells and full-screen programs
print: text (with the letters that end CSI sequences: ``K J H m A-D``, so a
fast path that looks at a token's last character is caught), UTF-8 (wide,
combining, emoji, ZWJ sequences), C0 controls, SGR in every form (16, 256,
truecolour, colon sub-parameters), cursor motion, erases and insert/delete,
scroll regions, IND/RI/NEL, DECSC/DECRC, the alternate screens, DECAWM, IRM,
REP, tab stops, OSC strings, mode toggles, and whole shell shapes (a coloured
prompt, the echoed command, ``ESC[?2004l\\r`` and the command's output), and
garbage: the characters that start, end or cancel sequences in any order.

Pieces are weighted towards text and line ends, so that scrolling (the fast
path's business) happens in most examples, and numbers stay near the edges of
small screens (down to 10x5) where wraps and margins meet.

:func:`chunked` cuts the encoded stream at drawn offsets: UTF-8 characters
and escape sequences split across feeds must change nothing.
"""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

ESC = "\x1b"
CSI = "\x1b["

#: Sizes the grammar is fed at: tiny ones make every edge common.
SIZES = [(10, 5), (11, 6), (13, 5), (20, 8), (40, 10), (80, 24)]

_WORDS = ["OK", "BACK", "TASK", "LINK", "HTTP/1.1 200 OK", "BUILD OK", "ls", "git", "main"]
_LETTERS = "abcxyzKJHmABCDEFGPXLMST@`bdfgrsuhlq0123456789 -_./:=|#~"
_UNICODE = [
    "中",  # wide
    "文字",
    "😀",  # wide emoji
    "e\u0301",  # combining acute
    "a\u0308",
    "👩\u200d💻",  # ZWJ sequence
    "❤\ufe0f",  # VS16
    "a\u200bb",  # zero width space
    "é",
    "├── ",
    "Ωмега",
    "✓",
    "\uff26\uff35",  # fullwidth letters
]
# (Zero-width characters always follow a printed one here: alone, see the
# zero-width-alone deviation in docs/terminal.md.)
_CONTROLS = ["\r", "\n", "\r\n", "\r\n", "\b", "\t", "\x07", "\x0b", "\x0c", "\r\r\n", "\n\r"]


def _n(high: int = 30) -> st.SearchStrategy[str]:
    """A numeric parameter: absent, 0, small, or past the screen's edge."""
    return st.one_of(st.just(""), st.integers(0, 3).map(str), st.integers(0, high).map(str))


def _csi(final: str, high: int = 30) -> st.SearchStrategy[str]:
    return _n(high).map(lambda n: f"{CSI}{n}{final}")


_colour = st.integers(0, 255).map(str)
_sgr_part = st.one_of(
    st.sampled_from(["", "0", "1", "2", "3", "4", "5", "7", "8", "9", "21", "22", "23"]),
    st.sampled_from(["24", "25", "27", "28", "29", "39", "49", "4:3", "4:0", "1:2"]),
    st.integers(30, 37).map(str),
    st.integers(40, 47).map(str),
    st.integers(90, 97).map(str),
    st.integers(100, 107).map(str),
    st.tuples(st.sampled_from(["38", "48"]), _colour).map(lambda t: f"{t[0]};5;{t[1]}"),
    st.tuples(st.sampled_from(["38", "48"]), _colour, _colour, _colour).map(
        lambda t: f"{t[0]};2;{t[1]};{t[2]};{t[3]}"
    ),
    st.tuples(st.sampled_from(["38", "48", "58"]), _colour, _colour, _colour).map(
        lambda t: f"{t[0]}:2::{t[1]}:{t[2]}:{t[3]}"
    ),
    st.tuples(st.sampled_from(["38", "48"]), _colour).map(lambda t: f"{t[0]}:5:{t[1]}"),
)
sgr = st.lists(_sgr_part, min_size=0, max_size=4).map(lambda ps: f"{CSI}{';'.join(ps)}m")

text = st.one_of(
    st.text(alphabet=_LETTERS, min_size=1, max_size=30),
    st.sampled_from(_WORDS),
    st.integers(1, 3).map(lambda n: "w" * (n * 10 - 1)),  # ends next to a margin
)
unicode_text = st.lists(st.sampled_from(_UNICODE), min_size=1, max_size=4).map("".join)

cursor_moves = st.one_of(
    st.tuples(_n(), _n()).map(lambda t: f"{CSI}{t[0]};{t[1]}H"),
    st.tuples(_n(), _n()).map(lambda t: f"{CSI}{t[0]};{t[1]}f"),
    *(_csi(final) for final in "ABCDEFGd`ae"),
)
erases = st.one_of(
    *(st.sampled_from(["", "0", "1", "2", "3"]).map(lambda n, f=f: f"{CSI}{n}{f}") for f in "JK"),
    st.sampled_from(["?0K", "?2J"]).map(lambda p: f"{CSI}{p}"),
    *(_csi(final, 12) for final in "X@PLMST"),
)
regions = st.one_of(
    st.tuples(_n(12), _n(12)).map(lambda t: f"{CSI}{t[0]};{t[1]}r"),
    st.just(f"{CSI}r"),
)
escapes = st.sampled_from(
    [f"{ESC}D", f"{ESC}M", f"{ESC}E", f"{ESC}7", f"{ESC}8", f"{CSI}s", f"{CSI}u", f"{ESC}H"]
)
modes = st.tuples(
    st.sampled_from(["?47", "?1047", "?1048", "?1049", "?7", "4", "?2004", "?6", "?1", "?25"]),
    st.sampled_from("hl"),
).map(lambda t: f"{CSI}{t[0]}{t[1]}")
repeats = _csi("b", 40)
tabs = st.one_of(
    st.sampled_from([f"{CSI}g", f"{CSI}0g", f"{CSI}3g", "\t"]), _csi("I", 4), _csi("Z", 4)
)
strings = st.one_of(
    st.text(alphabet="abc ;:/~", max_size=12).map(lambda t: f"{ESC}]0;{t}\x07"),
    st.text(alphabet="abc ", max_size=8).map(lambda t: f"{ESC}]2;{t}{ESC}\\"),
    st.just(f"{ESC}]8;;https://example.com/K{ESC}\\link{ESC}]8;;{ESC}\\"),
    st.just(f"{ESC}P1$r0m{ESC}\\"),
)


#: Hostile pieces: characters that start, end, cancel or confuse sequences, in any order
#: (CAN, SUB, ESC inside strings, C1 introducers and ST, DEL, non-ASCII inside a CSI).
garbage = st.text(
    alphabet="\x1b[]P^_X\\;?:0123456789mH\x07\x18\x1a\x9b\x9c\x9d\x90\x85\x7f\x00 \n\ré中",
    min_size=1,
    max_size=16,
)


@st.composite
def shell_shapes(draw: st.DrawFn) -> str:
    """A bash prompt with bracketed paste on, the echoed command, and its output."""
    prompt = f"{CSI}?2004h{CSI}01;32muser@prod{CSI}00m:{CSI}01;34m~{CSI}00m$ "
    command = draw(st.sampled_from(["echo OK", "curl -I x", "ls", "make", "git status"]))
    lines = draw(st.lists(st.one_of(text, st.tuples(sgr, text, sgr).map("".join)), max_size=8))
    output = "".join(line + "\r\n" for line in lines)
    return f"{prompt}{command}\r\n{CSI}?2004l\r{output}"


_WIDE_ROWS = ["中文字", "ab中", "😀x", "e\u0301中", "中\u0301文", "\uff26\uff35"]
_WIDE_EDITS = [
    f"{CSI}@",
    f"{CSI}2@",
    f"{CSI}P",
    f"{CSI}2P",
    f"{CSI}X",
    f"{CSI}2X",
    f"{CSI}K",
    f"{CSI}1K",
    "x",
    "文",
    "\u0301",
    f"{CSI}4h文{CSI}4l",
    f"{CSI}4hx{CSI}4l",
    f"{CSI}?7l文{CSI}?7h",
    f"{CSI}?7lxy{CSI}?7h",
    f"{CSI}2b",
    "\bx",
    f"\b{CSI}K",
    f"\r{CSI}31mab{CSI}m\bc{CSI}K",
]


@st.composite
def wide_edits(draw: st.DrawFn) -> str:
    """Wide characters, then an edit that lands on one of their halves.

    Cursor moves and edits drawn independently rarely hit the right half of a
    wide character; this piece does it on purpose.
    """
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        parts.append("\r" + draw(st.sampled_from(_WIDE_ROWS)))
        parts.append(f"{CSI}{draw(st.integers(1, 8))}G")
        parts.append(draw(st.sampled_from(_WIDE_EDITS)))
    return "".join(parts)


piece = st.one_of(
    text,
    wide_edits(),
    st.sampled_from(_CONTROLS),
    unicode_text,
    sgr,
    cursor_moves,
    erases,
    regions,
    escapes,
    modes,
    repeats,
    tabs,
    strings,
    shell_shapes(),
    garbage,
)

#: What scrolling output is made of (the fast path's diet), without what stops it.
_log_piece = st.one_of(
    text,
    text.map(lambda t: t + "\r\n"),
    st.tuples(sgr, text, sgr).map("".join),
    st.sampled_from(_CONTROLS),
    unicode_text,
    st.sampled_from([f"{CSI}K", f"{CSI}0K", "\r", f"\r{CSI}K"]),
    st.integers(0, 100).map(lambda n: f"\rprogress {'#' * (n // 10):<10} {n}%"),
    shell_shapes(),
)


#: Text, CR, LF, SGR and EL only: whole feeds of these wait undrawn in the model.
_run_piece = st.one_of(
    text,
    text.map(lambda t: t + "\r\n"),
    st.tuples(sgr, text, sgr).map("".join),
    st.sampled_from(["\r", "\n", "\r\n", "\r\n", "\n\r", f"{CSI}K", f"{CSI}0K", "é├─Ω"]),
    st.integers(0, 100).map(lambda n: f"\rprogress {'#' * (n // 10):<10} {n}%"),
)


@st.composite
def shell_streams(draw: st.DrawFn, max_pieces: int = 60) -> str:
    """Shell sessions and logs: text, SGR, EL, CR, LF, prompts, and a few other pieces.

    What scrolling output is made of, so that the fast path runs in most examples.
    """
    pieces = draw(st.lists(_log_piece, min_size=6, max_size=max_pieces))
    others = draw(st.lists(st.tuples(st.integers(0, len(pieces)), piece), max_size=3))
    for at, other in sorted(others, key=lambda o: -o[0]):
        pieces.insert(at, other)
    return "".join(pieces)


@st.composite
def log_streams(draw: st.DrawFn, max_pieces: int = 60) -> str:
    """Only what a fast-path run is made of, with a rare other piece: the model keeps
    such feeds undrawn until it is read, and draws them together."""
    pieces = draw(st.lists(_run_piece, min_size=6, max_size=max_pieces))
    others = draw(st.lists(st.tuples(st.integers(0, len(pieces)), piece), max_size=1))
    for at, other in others:
        pieces.insert(at, other)
    return "".join(pieces)


def streams(max_pieces: int = 60) -> st.SearchStrategy[str]:
    """Anything from the whole grammar: full-screen programs, modes, regions, strings."""
    return st.lists(piece, min_size=6, max_size=max_pieces).map("".join)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut at drawn offsets (anywhere: inside characters and sequences)."""
    if not data:
        return [data]
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=8))))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _prompt(title: str, end: str) -> str:
    return f"{CSI}?2004h{ESC}]0;{title}{end}{CSI}01;32m~{CSI}00m$ "


_short = st.one_of(st.text(alphabet=_LETTERS, max_size=7), unicode_text, st.sampled_from(_WORDS))

#: One line of a shell session, as :mod:`relay.terminal.skim` reads them: prompts with
#: a title and bracketed paste, commands echoed with corrections, output with tabs,
#: colours, wide and combining text, progress bars redrawn with CR; now and then a
#: line that wraps, ends without CR or carries another OSC. Most fit in ten columns.
_output_line = (
    st.lists(st.one_of(_short, sgr, st.just("\t"), st.just(f"{CSI}K")), max_size=3)
    .map("".join)
    .map(lambda t: t + "\r\n")
)
_session_line = st.one_of(
    _output_line,
    _output_line,
    _output_line,
    st.tuples(
        st.text(alphabet="abc ~/:@", max_size=12),
        st.sampled_from(["\x07", f"{ESC}\\"]),
        st.sampled_from(["ls", "make", "gixx\b\b" + f"{CSI}Kt"]),
    ).map(lambda t: _prompt(t[0], t[1]) + t[2] + f"\r\n{CSI}?2004l\r"),
    st.integers(0, 4).map(lambda n: f"\r{n * 25:3d}%{'█' * n}"),
    st.sampled_from(
        [
            "x" * 90 + "\r\n",  # wraps on every size here
            "no carriage return\n",
            f"{ESC}]7;file://db/var/log\x07",
            f"{ESC}]133;A\x07",
            f"{CSI}31m\b\b{CSI}m\r\n",
            "\r\n",
            "中文字\t😀\te\u0301\r\n",
        ]
    ),
)


@st.composite
def session_streams(draw: st.DrawFn) -> str:
    """Many lines of a shell session (enough to scroll a few screens), and rarely a
    piece from the whole grammar (a full-screen program's, a mode, a query)."""
    lines = draw(st.lists(_session_line, min_size=60, max_size=200))
    others = draw(st.lists(st.tuples(st.integers(0, len(lines)), piece), max_size=1))
    for at, other in sorted(others, key=lambda o: -o[0]):
        lines.insert(at, other)
    return "".join(lines)
