"""Differential tests: the fast path gives exactly what the reference path gives.

``TerminalModel(fast=True)`` (the default) takes runs of one-cell text, CR,
LF, SGR and EL through :meth:`relay.terminal.TerminalScreen.draw_run`, which skips
lines that scroll off within one feed; ``TerminalModel(fast=False)`` parses
the same bytes token by token. Every stream here — the corpus of
tests/relay/terminal/test_terminal.py (synthetic streams and recorded vim/less/top sessions),
generated logs, and seeded random mixes of text and escapes — is fed to both in
random chunkings, and the whole state (both screens cell for cell, cursor, pen,
modes, saved cursors, REP's character, the parser's carry-over) and the rows
marked dirty after each feed must be the same. Streams pyte 0.8 handles right
(plain text and 16-colour SGR) must also show pyte's text.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pyte
import pytest

from relay.terminal import TerminalModel
from tests.relay.terminal.test_terminal import ALL_STREAMS, SPLIT_SAMPLE, fed, state

CSI = "\x1b["
WORDS = ["GET", "POST", "/api/v1/items", "200", "404", "upstream", "timeout", "cache", "retry"]


# ---------------------------------------------------------------------- generated streams


def _words(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def scrolling_log(seed: int, lines: int = 400, eol: str = "\r\n", words: int = 40) -> str:
    """Lines of 0-300 characters: empty ones, exact widths, and long wrapping ones.

    ``eol`` "mixed" ends most lines with CRLF and some with LF, CR CR LF or LF CR.
    """
    rng = random.Random(seed)
    out = []
    for i in range(lines):
        roll = rng.random()
        if roll < 0.1:
            text = ""
        elif roll < 0.2:
            text = "x" * rng.choice([79, 80, 81, 160, 240])
        else:
            text = f"{i:05d} " + _words(rng, 1, words)
        end = eol
        if eol == "mixed":
            end = rng.choice(["\r\n"] * 5 + ["\n", "\r\r\n", "\n\r"])
        out.append(text + end)
    return "".join(out) + "$ "


def _filled_screen(rng: random.Random) -> str:
    """Every row written: colours, wide characters (split by later writes), text."""
    rows = []
    for y in range(24):
        kind = rng.choice(["wide", "colour", "text"])
        if kind == "wide":
            row = "中" * 40
        elif kind == "colour":
            row = f"{CSI}4{y % 8}m{'c' * 80}{CSI}0m"
        else:
            row = _words(rng, 20, 20)[:80]
        rows.append(f"{CSI}{y + 1};1H{row}")
    return "".join(rows)


def over_old_screen(seed: int) -> str:
    """Runs that start inside a full screen: some of its rows stay, partly overwritten.

    The fast path must scroll them by the right count (wrapped lines count
    twice), blank wide characters its writes cut, and start where CUP left it.
    """
    rng = random.Random(seed)
    start = f"{CSI}{rng.choice([1, 2, 5, 24])};{rng.choice([1, 2, 40, 80])}H"
    n = rng.choice([2, 25, 28, 29, 30, 35, 45])
    log = scrolling_log(seed, n, rng.choice(["\r\n", "mixed"]), words=rng.choice([2, 6, 12]))
    return _filled_screen(rng) + start + log[:-2]


def el_at_the_wrap_over_old_screen(seed: int) -> str:
    """EL at the last column does not wrap: skipped lines must count rows the same way."""
    rng = random.Random(seed)
    middle = [
        "w" * rng.choice([80, 160])
        + rng.choice([f"{CSI}K", f"{CSI}0K"])
        + rng.choice(["", "x", "after"])  # "x" ends in the pending-wrap state again
        + "\r\n"
        for _ in range(rng.randint(1, 4))
    ]
    tail = "".join(f"t{i}\r\n" for i in range(rng.randint(24, 27)))
    return _filled_screen(rng) + f"{CSI}1;1Hfirst\r\n" + "".join(middle) + tail


def rep_after_blank_lines() -> str:
    """REP right after a run's text repeats it; after a line feed, nothing."""
    lines = "".join(f"line {i}\r\n" for i in range(40))
    return lines + "x" + f"{CSI}5b" + "\r\n" * 30 + f"{CSI}5b" + lines + "tail" + f"{CSI}3b"


def overwrites(seed: int) -> str:
    """Progress bars: CR without LF, partial overwrites, and CR CR LF."""
    rng = random.Random(seed)
    out = []
    for i in range(300):
        for pct in range(0, 101, rng.choice([10, 25, 50])):
            out.append(f"\rdownloading {i}: {'#' * (pct // 4):<25} {pct}%")
        out.append(rng.choice(["\r\n", "\r\r\n", "\n", " done\r\n", "\r" + "y" * 90 + "\r\n"]))
    return "".join(out)


def coloured_log(seed: int, lines: int = 400) -> str:
    """journalctl-like: 16, 256 and truecolour pens, backgrounds (bce on scroll), resets."""
    rng = random.Random(seed)
    pens = ["32", "33", "1;31", "36", "2", "0", "", "44", "38;5;208", "48;2;10;20;30", "7", "1;4"]
    out = []
    for _ in range(lines):
        line = f"{CSI}2m{rng.randint(0, 86399):05d}{CSI}0m "
        line += f"{CSI}{rng.choice(pens)}m{rng.choice(['INFO', 'WARN', 'ERROR'])}"
        if rng.random() < 0.7:
            line += f"{CSI}0m"
        line += " " + _words(rng, 1, 25)
        out.append(line + rng.choice(["\r\n", "\r\n", f"\r\n{CSI}41m", f"{CSI}0m\r\n"]))
    return "".join(out)


def wide_log(seed: int) -> str:
    """UTF-8 text (wide characters, accents) between plain runs, written over old text."""
    rng = random.Random(seed)
    out = []
    for i in range(200):
        out.append(f"{i} {_words(rng, 0, 8)} 宽字符 é{'中' * rng.randint(0, 50)} tail\r\n")
        if rng.random() < 0.3:
            out.append(f"{CSI}{rng.randint(1, 24)};{rng.randint(1, 80)}H{_words(rng, 1, 5)}")
    return "".join(out)


def grep_colour(seed: int) -> str:
    """GNU grep/gcc colours: SGR and EL (``CSI K``) around every match, EL at the last column."""
    rng = random.Random(seed)
    out = []
    for i in range(400):
        line = f"{CSI}35m{CSI}Ksrc/f{i}.py{CSI}m{CSI}K{CSI}36m{CSI}K:{CSI}m{CSI}K"
        line += _words(rng, 0, 12) + f" {CSI}01;31m{CSI}Kmatch{CSI}m{CSI}K"
        roll = rng.random()
        if roll < 0.15:  # EL in the pending-wrap state, then more text
            line = "w" * rng.choice([80, 160]) + rng.choice([f"{CSI}K", f"{CSI}0K"]) + "after"
        elif roll < 0.3:
            line = f"\r{CSI}K{CSI}44m" + _words(rng, 1, 20) + f"{CSI}K{CSI}0m"
        out.append(line + rng.choice(["\r\n"] * 6 + ["\n", f"{CSI}K\r\n"]))
    return "".join(out)


def narrow_log(seed: int) -> str:
    """One-cell non-ASCII text the fast path takes (tree, accents, Cyrillic) among wide text."""
    rng = random.Random(seed)
    out = []
    for i in range(300):
        branch = rng.choice(["├── ", "└── ", "│   ", "→ ", "• "])
        name = rng.choice(["café", "naïve", "Ωmega", "данные", "señor", "x"]) * rng.randint(1, 20)
        tail = rng.choice(["", "", " 中文", " ✓", " e\u0301", f" {CSI}1m★{CSI}0m"])
        out.append(f"{i:04d} {branch}{name}{tail}" + rng.choice(["\r\n", "\r\n", "\n"]))
    return "".join(out)


_ESCAPES = [
    f"{CSI}5;20r",  # margins: the fast path must stand aside
    f"{CSI}r",
    f"{CSI}?7l",  # no autowrap
    f"{CSI}?7h",
    f"{CSI}4h",  # insert mode
    f"{CSI}4l",
    f"{CSI}20h",  # LNM: LF is CR LF
    f"{CSI}20l",
    "\x1b(0",  # DEC line drawing
    "\x1b(B",
    "\x0e",
    "\x0f",
    f"{CSI}?1049h",
    f"{CSI}?1049l",
    f"{CSI}H",
    f"{CSI}12;70H",
    f"{CSI}24;1H",
    f"{CSI}2J",
    f"{CSI}K",
    f"{CSI}3L",
    f"{CSI}2M",
    f"{CSI}5b",
    "\x1bM",
    "\x1bD",
    "\x1b7",
    "\x1b8",
    "\t",
    "\x08",
    "\x0b",
    "中",
    "e\u0301",
    "\x1b]0;title\x07",
    f"{CSI}38:2::1:2:3m",
]


def mixed(seed: int, length: int = 400) -> str:
    """Random text, CR, LF and SGR (what the fast path takes) among other sequences."""
    rng = random.Random(seed)
    out = []
    for _ in range(length):
        roll = rng.random()
        if roll < 0.35:
            out.append("abcdefghij klmnopqrstuvwxyz"[: rng.randint(1, 27)] * rng.randint(1, 6))
        elif roll < 0.6:
            out.append(rng.choice(["\r\n", "\n", "\r", "\r\n" * rng.randint(2, 40)]))
        elif roll < 0.72:
            out.append(f"{CSI}{rng.choice(['', '0', '1', '31', '42', '1;33;44', '7', '38;5;9'])}m")
        elif roll < 0.75:
            out.append(rng.choice([f"{CSI}K", f"{CSI}0K"]))
        else:
            out.append(rng.choice(_ESCAPES))
    return "".join(out)


def bench_streams() -> dict[str, bytes]:
    """The benchmark's streams (bench/terminal_streams.py), at test size."""
    from bench.terminal_streams import STREAMS

    return {f"bench {name}": make(200_000) for name, make in STREAMS.items()}


GENERATED: dict[str, bytes] = {
    "sample": SPLIT_SAMPLE,
    "scrolling CRLF": scrolling_log(1).encode(),
    "scrolling LF": scrolling_log(2, eol="\n").encode(),
    "scrolling CR CR LF": scrolling_log(3, eol="\r\r\n").encode(),
    "scrolling mixed EOL": scrolling_log(9, eol="mixed").encode(),
    "bare LF after CRLF": ("start\r\n" + scrolling_log(13, 60, "\n", words=3)).encode(),
    **{f"over an old screen {seed}": over_old_screen(seed).encode() for seed in range(24)},
    "REP after blank lines": rep_after_blank_lines().encode(),
    "overwrites": overwrites(4).encode(),
    "coloured": coloured_log(5).encode(),
    "wide": wide_log(6).encode(),
    "narrow non-ASCII": narrow_log(14).encode(),
    **{f"grep colours {seed}": grep_colour(seed).encode() for seed in range(3)},
    **{
        f"EL at the wrap {seed}": el_at_the_wrap_over_old_screen(seed).encode() for seed in range(6)
    },
    **{f"mixed {seed}": mixed(seed).encode() for seed in range(8)},
}
CORPUS: dict[str, bytes] = ALL_STREAMS | GENERATED


# ---------------------------------------------------------------------- the comparison


def chunkings(data: bytes, rng: random.Random) -> Iterator[list[bytes]]:
    """The whole stream, 64 KiB slices, random cuts of 1-4096 and 1-300 bytes (1-7 if short)."""
    yield [data]
    yield [data[i : i + 65536] for i in range(0, len(data), 65536)]
    for top in (4096, 300, 7) if len(data) < 10_000 else (4096, 300):
        cuts, pos = [], 0
        while pos < len(data):
            n = rng.randint(1, top)
            cuts.append(data[pos : pos + n])
            pos += n
        yield cuts


def assert_same_as_reference(chunks: list[bytes], cols: int = 80, rows: int = 24) -> None:
    fast = TerminalModel(cols, rows)
    slow = TerminalModel(cols, rows, fast=False)
    for i, chunk in enumerate(chunks):
        fast.feed(chunk)
        slow.feed(chunk)
        assert fast.dirty == slow.dirty, f"dirty rows after feed {i}"
        fast.dirty.clear()
        slow.dirty.clear()
        if i % 64 == 0:
            assert state(fast) == state(slow), f"after feed {i}"
    assert state(fast) == state(slow)


@pytest.mark.parametrize("name", list(CORPUS))
def test_fast_path_matches_the_reference(name: str) -> None:
    data = CORPUS[name]
    rng = random.Random(name)
    for chunks in chunkings(data, rng):
        assert_same_as_reference(chunks)


@pytest.mark.parametrize(
    "name",
    [
        "bench plain logs",
        "bench coloured logs",
        "bench shell-session mix",
        "bench full-screen repaints",
    ],
)
def test_benchmark_streams_match_the_reference(name: str) -> None:
    data = bench_streams()[name]
    assert_same_as_reference([data[i : i + 65536] for i in range(0, len(data), 65536)])
    assert_same_as_reference([data[i : i + 4096] for i in range(0, len(data), 4096)])


@pytest.mark.parametrize("seed", range(30))
def test_random_streams_on_small_screens(seed: int) -> None:
    """Tiny screens make every edge common: wraps, scrolls, the last column."""
    rng = random.Random(seed)
    cols, rows = rng.choice([(1, 1), (2, 3), (5, 2), (7, 3), (10, 5), (20, 6), (80, 24)])
    data = mixed(seed + 1000, 200).encode()
    for chunks in chunkings(data, rng):
        assert_same_as_reference(chunks, cols, rows)


CSI_FINAL_BYTES = [chr(c) for c in range(0x40, 0x7F)]


@pytest.mark.parametrize("final", CSI_FINAL_BYTES)
def test_text_ending_in_a_csi_final_byte_is_text(final: str) -> None:
    """``echo OK`` shows ``OK``: a text token is never taken for the sequence it ends like.

    Every byte that can end a CSI (``K`` of EL, ``m`` of SGR, ``H``, ``J``...)
    ends a word somewhere: ``HTTP/1.1 200 OK``, ``BUILD OK`` in bold, ``TASK``,
    ``BACK``. Each is written where the fast path meets it: alone, after CR,
    between SGRs, before EL, in a run long enough to skip scrolled-off lines.
    """
    word = f"BAR2-42-O{final}"
    shapes = [
        f"x\r{word}\r\n",
        f"Status: {CSI}32m{word}{CSI}0m (3 tests)\r\n",
        f"{CSI}1m{word}{CSI}0m\r\n",
        f"{word}{CSI}K\r\n",
        "".join(f"{i} {word}\r\n" for i in range(60)),
    ]
    for text in shapes:
        data = text.encode()
        fast, slow = fed(data), TerminalModel(80, 24, fast=False)
        slow.feed(data)
        assert state(fast) == state(slow), repr(text)
        shown = [row for row in fast.display() if row.strip()]
        assert word in shown[-1], (repr(text), shown[-1])


def test_fast_path_is_taken() -> None:
    """The differential tests are worth something only if the fast path runs.

    (Counted by the screen itself: compiled, its methods cannot be wrapped.)
    """
    model = TerminalModel(80, 24)
    model.feed(scrolling_log(7).encode())
    model.feed(coloured_log(8).encode())
    model.line(0)  # feeds of plain output wait undrawn until the model is read
    assert model.screen.run_chars == len(scrolling_log(7) + coloured_log(8))
    reference = TerminalModel(80, 24, fast=False)
    reference.feed(scrolling_log(7).encode())
    assert reference.screen.run_chars == 0, "the reference took the fast path"


def test_a_log_write_cut_inside_an_sgr_is_still_drawn_late() -> None:
    """A 4 KiB write of a coloured log ends inside an SGR one time in four.

    The start of that SGR is held by the tokenizer, as the reference path
    holds it, and the rest waits undrawn with the other writes of the flood.
    """
    log = coloured_log(9).encode()
    cut = log.index(b"\x1b[", 3000) + 3  # ESC [ and a digit
    fast, slow = TerminalModel(80, 24), TerminalModel(80, 24, fast=False)
    for model in (fast, slow):
        model.feed(log[:cut])
    assert fast.unfinished() == slow.unfinished() == log[cut - 3 : cut]
    for model in (fast, slow):
        model.feed(log[cut:])
    assert state(fast) == state(slow)
    assert fast.screen.run_chars == len(log.decode())
    assert fast.screen.runs == 1  # both writes drawn together, when read


# ---------------------------------------------------------------------- against pyte


def pyte_display(data: bytes, cols: int = 80, rows: int = 24) -> list[str]:
    screen = pyte.Screen(cols, rows)
    pyte.ByteStream(screen).feed(data)
    return list(screen.display)


def basic_coloured_log(seed: int) -> str:
    """What pyte reads right: 16 colours, bold, reset; CRLF."""
    rng = random.Random(seed)
    out = []
    for _ in range(500):
        level = rng.choice([f"{CSI}32mINFO", f"{CSI}33mWARN", f"{CSI}1;31mERROR"])
        stamp = f"{CSI}2m{rng.randint(0, 86399):05d}{CSI}0m"
        out.append(f"{stamp} {level}{CSI}0m {_words(rng, 1, 30)}\r\n")
    return "".join(out)


PYTE_STREAMS = {
    "scrolling": scrolling_log(11).encode(),
    "overwrites": overwrites(12).encode(),
    "coloured": basic_coloured_log(13).encode(),
    "bench plain logs": "plain logs",
    "bench coloured logs": "coloured logs",
}


@pytest.mark.parametrize("name", list(PYTE_STREAMS))
def test_plain_text_shows_what_pyte_shows(name: str) -> None:
    data = PYTE_STREAMS[name]
    if isinstance(data, str):
        data = bench_streams()[f"bench {data}"]
    model = TerminalModel(80, 24)
    for i in range(0, len(data), 65536):
        model.feed(data[i : i + 65536])
    assert model.display() == pyte_display(data)
