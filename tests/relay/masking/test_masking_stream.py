"""The streaming masker against the issue's attacks: keys laid out by programs, string
sequences, sequences that end where the terminal says, long values, and bounded work.

Fake secrets are assembled at run time (see tests/relay/masking/test_redaction.py)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.masking import OutputMasker
from relay.masking.sequences import text_of, unfinished
from relay.masking.stream import CONTEXT, DEFAULT_MAX_HOLDBACK
from relay.terminal import TerminalModel
from relay.terminal.cells import wcwidth
from tests.relay.masking.test_redaction import GH, mask_stream, token

TOKEN = f"ghp_{GH}"
AWS = "AKIA" + token(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 41)
KEY_LINES = [token(64, token(62) + "+/", 50 + i) for i in range(6)] + [token(24, seed=60) + "=="]
HEADER = "-----BEGIN OPENSSH PRIVATE KEY-----"
FOOTER = "-----END OPENSSH PRIVATE KEY-----"


def masked(data: bytes, size: int = 0) -> bytes:
    chunks = [data] if not size else [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(mask_stream(chunks)[0])


def shown(data: bytes, cols: int = 100, rows: int = 40) -> TerminalModel:
    model = TerminalModel(cols, rows)
    model.feed(data)
    return model


def assert_no_key_line(out: bytes) -> None:
    for line in KEY_LINES:
        assert line[:12].encode() not in out and line[-12:].encode() not in out, line


# --------------------------------------------------------------------------
# Item 1: private keys however they are laid out


def key_file() -> list[str]:
    return [HEADER, *KEY_LINES, FOOTER]


LAYOUTS = {
    "cat -n": "".join(f"{i + 1:6}\t{line}\r\n" for i, line in enumerate(key_file())) + "$ ",
    "less -N": "".join(f"{i + 1:7} {line}\r\n" for i, line in enumerate(key_file()))
    + "\x1b[7m(END)\x1b[27m",
    "grep -rn": "".join(
        f"\x1b[35mkeys/id.pem\x1b[m\x1b[36m:\x1b[m\x1b[32m{i + 1}\x1b[m\x1b[36m:\x1b[m{line}\r\n"
        for i, line in enumerate(key_file())
    ),
    "timestamps": "".join(
        f"2024-05-01T12:00:{i:02d}Z app[7]: {line}\r\n" for i, line in enumerate(key_file())
    )
    + "2024-05-01T12:01:00Z app[7]: started\r\n",
    # nano: each row drawn at its position, then the status bar and the help lines
    "nano": "\x1b[?1049h\x1b[1;1H\x1b[7m  GNU nano 7.2        id.pem         \x1b[m"
    + "".join(f"\x1b[{i + 3};1H{line}\x1b[K" for i, line in enumerate(key_file()))
    + "\x1b[22;1H\x1b[7m[ Read 9 lines ]\x1b[m\x1b[23;1H\x1b[7m^G\x1b[m Help  \x1b[7m^X\x1b[m Exit"
    + "\x1b[3;1H",
    # vim with :set nu, colours on the numbers (drawn out of order, a key is the
    # screen check's to catch: tests/relay/masking/test_masking_screen.py)
    "vim set nu": "".join(
        f"\x1b[{i + 1};1H\x1b[33m{i + 1:3} \x1b[m{line}" for i, line in enumerate(key_file())
    )
    + '\x1b[24;1H"id.pem" 9L, 411B',
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("size", [0, 1, 7, 64])
def test_a_key_is_masked_however_a_program_lays_it_out(layout: str, size: int) -> None:
    out = masked(LAYOUTS[layout].encode(), size)
    assert_no_key_line(out)
    assert HEADER.encode() in out and FOOTER.encode() in out  # the armour tells what it was
    screen = "\n".join(shown(out).display())
    assert_no_key_line(screen.encode())


def test_numbers_and_prefixes_stay_readable() -> None:
    out = masked(LAYOUTS["cat -n"].encode()).decode()
    assert "     2\t****" in out and out.endswith("$ ")
    out = masked(LAYOUTS["grep -rn"].encode()).decode()
    assert "keys/id.pem" in out
    out = masked(LAYOUTS["nano"].encode()).decode()
    assert "[ Read 9 lines ]" in out and "Help" in out and "Exit" in out


def test_a_key_taller_than_the_screen_ends_at_the_status_bar() -> None:
    """less/nano show part of a long key and no END: the block ends at their own lines."""
    rows = "".join(f"\x1b[{i + 2};1H{line}" for i, line in enumerate([HEADER, *KEY_LINES[:4]]))
    data = f"{rows}\x1b[24;1H\x1b[7mid.pem lines 1-5/9 55%\x1b[m\r\n$ echo done\r\ndone\r\n"
    out = masked(data.encode(), 5).decode()
    assert_no_key_line(out.encode())
    assert "id.pem lines 1-5/9 55%" in out and "$ echo done\r\ndone" in out


# --------------------------------------------------------------------------
# Item 2: string sequences carry text too


def test_a_token_in_the_window_title_is_masked() -> None:
    """``trap 'printf "\\033]0;%s\\007" "$BASH_COMMAND"' DEBUG`` then an export."""
    data = f"\x1b]0;export GITHUB_TOKEN={TOKEN}\x07$ ".encode()
    for size in (0, 1, 3, 10):
        out = masked(data, size)
        assert GH[:8].encode() not in out and GH[-8:].encode() not in out
        assert out.endswith(b"\x07$ ") and b"export GITHUB_TOKEN=*" in out
        assert GH[:8] not in shown(out).title


@pytest.mark.parametrize("end", [b"\x07", b"\x1b\\", b"\xc2\x9c"])
@pytest.mark.parametrize(
    "intro", [b"\x1b]2;", b"\xc2\x9d2;", b"\x1bP", b"\x1b_", b"\x1b^", b"\x1bX"]
)
def test_every_string_sequence_is_masked_inside(intro: bytes, end: bytes) -> None:
    if end == b"\x07" and intro[-2:] not in (b"2;",):
        end = b"\x1b\\"  # BEL ends only an OSC
    out = masked(intro + f"token={GH} {TOKEN}".encode() + end + b"after")
    assert GH[:8].encode() not in out and out.endswith(end + b"after")


def test_a_link_target_is_masked() -> None:
    data = b"\x1b]8;;https://deploy:Hunter2x@ci.example/x\x1b\\the build\x1b]8;;\x1b\\\r\n"
    out = masked(data)
    assert b"Hunter2x" not in out and b"the build" in out and b"deploy:********@" in out


@pytest.mark.parametrize("intro", [b"\x1b]52;", b"\xc2\x9d52;"])
def test_viewers_never_receive_a_clipboard_write(intro: bytes) -> None:
    data = b"before" + intro + b"c;" + TOKEN.encode().hex().encode() + b"\x07after"
    for size in (0, 1, 5):
        outs, maskings = mask_stream(
            [data] if not size else [data[i : i + size] for i in range(0, len(data), size)]
        )
        assert b"".join(outs) == b"beforeafter"
        assert [m.kind for m in maskings] == ["clipboard-write"]


def test_an_overlong_unterminated_string_is_dropped() -> None:
    masker = OutputMasker()
    out = masker.feed(b"ok \x1b]0;" + b"A" * 20000)[0]
    out += masker.feed(b"B" * 1000 + b"\x07 visible")[0]
    out += masker.flush(end_of_stream=True)[0]
    assert out == b"ok  visible"
    masker = OutputMasker()  # and one the stream ends in
    assert masker.feed(b"x\x1b]0;" + TOKEN.encode())[0] == b"x"
    assert masker.flush(end_of_stream=True)[0] == b""


# --------------------------------------------------------------------------
# Item 3: where sequences end is the terminal's business


@pytest.mark.parametrize(
    "data",
    [
        f"\x1b]0;\x18{AWS}\x07".encode(),  # CAN ends the OSC: the key is drawn
        f"\x1b]0;\x1a{AWS}\x07".encode(),  # SUB too
        f"\x1b[12\x18{AWS}".encode(),  # and a CSI
        f"x \x9b31m{AWS}\x9b0m".encode(),  # C1 CSI (U+009B)
        f"{AWS[:8]}\x00{AWS[8:]}".encode(),  # NUL, DEL, SI, SO, ENQ inside the key
        f"{AWS[:5]}\x7f{AWS[5:9]}\x0f{AWS[9:]}\x0e".encode(),
        f"{AWS[:8]}\x1b(B{AWS[8:]}".encode(),  # a charset designation
        f"{AWS[:8]}\x84{AWS[8:]} ".encode(),  # IND (U+0084)
    ],
    ids=repr,
)
def test_what_the_terminal_draws_is_what_is_masked(data: bytes) -> None:
    out = masked(data)
    screen = shown(out).display()[0]
    assert AWS[4:] not in screen and "AKIA****" in screen


# Tokens of a stream that keeps the cursor on one row: text, colours, titles ended in
# every way, strings, aborted sequences, controls that draw nothing, C1 controls.
_WORDS = st.sampled_from(["ghp_", "AKIA", "token", "=", "x", "é", "AB", " ", "漢", "\u0301"])
_SEQUENCES = st.sampled_from(
    [
        "\x1b[31m",
        "\x1b[0m",
        "\x1b[1;38;5;42m",
        "\x1b]0;title\x07",
        "\x1b]2;t\x1b\\",
        "\x1b]0;ab\x18",
        "\x1b]0;ab\x1a",
        "\x1b]0;a\xc2\x9c",
        "\x1bPq#0;2;0;0\x1b\\",
        "\x1b_apc\x1b\\",
        "\x1b^pm\x1b\\",
        "\x1bXsos\x1b\\",
        "\x1b[12\x18",
        "\x1b[12\x1a",
        "\x1b[?25l",
        "\x1b[?25h",
        "\x1b(B",
        "\x1b)0",
        "\x1b=",
        "\x9b31m",
        "\x9d0;t\x07",
        "\x90x\x9c",
        "\x00",
        "\x7f",
        "\x05",
        "\x07",
        "\x0f",
        "\x1b\x18",
        "\x9c",
    ]
)


@given(st.lists(st.one_of(_WORDS, _SEQUENCES), max_size=40), st.integers(1, 12))
def test_the_masker_and_the_terminal_agree_on_the_text(tokens: list[str], size: int) -> None:
    """The masker's text of a stream is exactly what the terminal model draws on its row."""
    data = "".join(tokens).encode()
    text = text_of(data[: unfinished(data)]).decode("utf-8", "replace")
    model = TerminalModel(200, 3)
    for i in range(0, len(data), size):
        model.feed(data[i : i + size])
    drawn = model.display()[0].rstrip()
    assert _seen(drawn) == _seen(_drawn_like_a_terminal(text))


def _drawn_like_a_terminal(text: str) -> str:
    model = TerminalModel(200, 3)
    model.feed(text.encode())
    return model.display()[0].rstrip()


def _seen(row: str) -> str:
    """``row`` without zero-width characters, nor the blank column one takes alone.

    A combining character joins the cell printed right before it; after a
    sequence (``ghp_`` SGR U+0301) it has nothing to join and takes a blank
    column of its own, as in xterm.js (docs/terminal.md). The masker's text
    has no sequences, so there it joins: what is seen is the same characters.
    """
    out: list[str] = []
    for char in row:
        if wcwidth(char) == 0:
            if out and out[-1] == " ":
                out.pop()  # the blank it took alone (or a space it joined: both sides alike)
            continue
        out.append(char)
    return "".join(out)


# --------------------------------------------------------------------------
# Item 6: patterns


@pytest.mark.parametrize("size", [0, 1, 13])
def test_the_aws_secret_printed_by_aws_configure_get(size: int) -> None:
    secret = token(40, token(62) + "/+", 44)
    data = (
        f"$ aws configure get aws_secret_access_key --profile prod\r\n\x1b[?2004l\r{secret}\r\n$ "
    ).encode()
    out = masked(data, size)
    assert secret[:10].encode() not in out and secret[-10:].encode() not in out
    assert out.endswith(b"\r\n$ ")


@pytest.mark.parametrize("size", [0, 1, 50, 150])
def test_a_value_longer_than_200_characters_is_masked_whole(size: int) -> None:
    value = token(5000, seed=45)
    out = masked(f"password={value} next\r\n".encode(), size)
    assert out == b"password=" + b"*" * 5000 + b" next\r\n"


# --------------------------------------------------------------------------
# Item 7: the masker's work is linear in bytes, bounded per frame


NEAR_MISSES = [b"password", b"eyJ", b"token=", b"ghp_", b"AKIA", b"://a:", b"key: ", b"mysql -p"]


@pytest.mark.parametrize("unit", NEAR_MISSES, ids=repr)
def test_a_line_of_near_matches_a_byte_per_frame_costs_a_bounded_amount_per_frame(
    unit: bytes,
) -> None:
    """The issue's attack: ``passwordpassword...`` one byte per frame.

    The work counter (bytes handed to the regex engine) of every frame is
    bounded by a constant, so the cost per frame does not grow with the line.
    """
    masker = OutputMasker()
    line = unit * (6000 // len(unit))
    worst = 0
    for i in range(len(line)):
        before = masker.scanned
        masker.feed(line[i : i + 1])
        worst = max(worst, masker.scanned - before)
    bound = 40 * (CONTEXT + DEFAULT_MAX_HOLDBACK)  # passes x window, whatever the line's length
    assert worst <= bound
    # and the second half of the line cost no more than the first
    masker = OutputMasker()
    half = len(line) // 2
    for i in range(half):
        masker.feed(line[i : i + 1])
    first = masker.scanned
    for i in range(half, len(line)):
        masker.feed(line[i : i + 1])
    assert masker.scanned - first <= 1.25 * first + bound


def test_work_on_large_frames_is_linear() -> None:
    rng = random.Random(3)
    words = [b"password", b"token", b"ghp_", b"eyJ", b"x=1", b"AKIA", b" ", b"\r\n", b"\x1b[31m"]
    data = b"".join(rng.choice(words) for _ in range(200000))
    masker = OutputMasker()
    for i in range(0, len(data), 65536):
        masker.feed(data[i : i + 65536])
    assert masker.scanned <= 40 * (len(data) + (len(data) // 65536 + 1) * CONTEXT)
