"""Any file given to replay, export or verify gets an answer or a clear error, never a traceback.

A reviewer opens what a colleague sent, a file a disk damaged, a cast from
another tool. Hypothesis writes asciicast-shaped files whose header fields and
event lines hold any JSON value (strings with lone surrogate escapes, control
characters, objects where numbers belong) or bytes that are not JSON, and runs
the real command line on them in process. Every command must end with one of
its documented exit codes: never a traceback, never the catch-all's "this is
a bug" (:data:`tui.cli.EXIT_BUG`).
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.trust.keys import SigningKey
from tests.recordings import sample_session
from tui.cli import EXIT_BUG, main

TEXT = st.text(
    st.one_of(
        st.characters(exclude_categories=()),  # every code point, lone surrogates included
        st.sampled_from("\ud800\udfff\x1b\x07\n\r;x0123456789"),
    ),
    max_size=12,
)
ODD = st.sampled_from(("\ud800", "\udfff", "\x1b]0;x\x07", "\x00", "\x9b", "\u202e", "\U0010ffff"))
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=6,
)
HEADER_KEYS = ("version", "width", "height", "term", "env", "title", "timestamp", "warroom")
WARROOM_KEYS = ("session", "target", "owner", "reason", "key", "started")
FIELD_KEYS = ("user", "text", "driver", "request", "reason", "role", "id", "by", "how", "away")


def _plain_cast() -> bytes:
    header = {"version": 2, "width": 20, "height": 5, "env": {"TERM": "xterm"}}
    events = [[0.1, "o", "$ "], [0.5, "o", "ls\r\nlogs\r\n$ "], [0.9, "r", "30x6"]]
    return b"\n".join(json.dumps(line).encode() for line in [header, *events]) + b"\n"


def _warroom_cast() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return sample_session(Path(folder) / "s1.cast", SigningKey.generate()).read_bytes()


BASES = (_plain_cast(), _warroom_cast())


def _set(value: Any, key: Any, new: Any) -> Any:
    """``value`` with ``key`` (an index or a name) set to ``new``, if it has room for it."""
    if isinstance(value, list) and isinstance(key, int) and value:
        value[key % len(value)] = new
    elif isinstance(value, dict):
        value[key if isinstance(key, str) else sorted(value)[key % len(value)]] = new
    return value


@st.composite
def damaged_casts(draw: st.DrawFn) -> bytes:
    """A real recording (signed by warroom, or a plain cast) with one to three edits."""
    lines = draw(st.sampled_from(BASES)).split(b"\n")
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(("field", "element", "data", "text", "bytes", "cut")))
        line = lines[at]
        if how == "bytes":
            lines[at] = draw(st.binary(max_size=20)).replace(b"\n", b" ")
            continue
        if how == "cut":
            lines[at] = line[: draw(st.integers(0, len(line)))]
            continue
        prefix, brace, rest = line.partition(b"{") if line.startswith(b"#") else (b"", b"", line)
        try:
            value = json.loads(brace + rest)
        except ValueError:
            continue
        new = draw(JSON)
        if at == 0 and how == "field":
            key: Any = draw(st.sampled_from(HEADER_KEYS))
            if key == "warroom" and isinstance(value.get("warroom"), dict):
                value["warroom"][draw(st.sampled_from(WARROOM_KEYS))] = new
            else:
                value[key] = new
        elif how == "text" and isinstance(value, list) and len(value) == 3:
            text = str(value[2])  # a character no one expects, inside text that parses
            cut = draw(st.integers(0, len(text)))
            value[2] = text[:cut] + draw(ODD) + text[cut:]
        elif how == "data" and isinstance(value, list) and len(value) == 3:
            try:
                fields = json.loads(value[2])
            except (TypeError, ValueError):
                fields = None
            if isinstance(fields, dict):
                fields[draw(st.sampled_from(FIELD_KEYS))] = new
                value[2] = json.dumps(fields)
            else:
                value[2] = new
        else:
            value = _set(value, draw(st.integers(0, 3)), new)
        lines[at] = prefix + json.dumps(value).encode()
    return b"\n".join(lines)


def run(argv: list[str]) -> tuple[int, str]:
    """``warroom ARGV`` in process: its exit code and what it wrote to stderr."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


@given(data=damaged_casts(), at=st.sampled_from((0.0, 0.7, 2.5, 1e9)))
def test_replay_export_and_verify_answer_any_file(data: bytes, at: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sent.cast"
        path.write_bytes(data)
        out = Path(folder) / "out.cast"
        for argv in (
            ["replay", "--dump", "--at", str(at), str(path)],
            ["export", str(path), "-o", str(out), "--force"],
            ["verify", str(path)],
        ):
            code, err = run(argv)
            assert code in (0, 1, 2, 3), (argv, code, err)
            assert code != EXIT_BUG and "Traceback" not in err, (argv, err)


def test_a_lone_surrogate_is_damage_not_a_crash(tmp_path: Path) -> None:
    """Found by the property above: JSON may escape half a surrogate pair, UTF-8 cannot hold it."""
    path = tmp_path / "odd.cast"
    path.write_text(
        '{"version": 2, "width": 10, "height": 2}\n[1, "o", "hi"]\n[2, "o", "\\ud800"]\n'
    )
    code, err = run(["replay", "--dump", "--at", "5", str(path)])
    assert code == 0
    assert "damaged at line 3" in err and "lone surrogate" in err
    code, err = run(["export", str(path), "-o", str(tmp_path / "out.cast"), "--force"])
    assert code == 2 and "lone surrogate" in err
    path.write_text('{"version": 2, "width": 10, "height": 2, "env": 5}\n[1, "o", "hi"]\n')
    code, err = run(["replay", "--dump", str(path)])
    assert code == 2 and "'env'" in err


def test_an_unexpected_error_is_one_line_and_says_it_is_a_bug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What no test foresaw still ends in one line and exit 70; WARROOM_DEBUG=1 shows where."""
    import tui.cli

    def broken(args: object) -> int:
        raise KeyError("\x1b]0;owned\x07token")  # with a control sequence, as a message may

    monkeypatch.setattr(tui.cli, "_cmd_login", broken)
    monkeypatch.delenv("WARROOM_DEBUG", raising=False)
    code, err = run(["login", "ws://127.0.0.1:1"])
    assert code == EXIT_BUG == 70
    assert err.count("\n") == 1 and "\x1b" not in err and "\x07" not in err
    assert err.startswith("warroom login: unexpected error (KeyError: ")
    assert "This is a bug in warroom; run again with WARROOM_DEBUG=1" in err
    monkeypatch.setenv("WARROOM_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["login", "ws://127.0.0.1:1"])


SCHEMES = st.sampled_from(["ws://", "wss://", "http://", "ws:/", ""])
URL_PIECES = st.sampled_from(
    ["[", "]", "::1", "relay", ":", "8765", "99999", "@", "/", "invite/", "wr1.", "s/",
     "?", "#", "%", "x", " ", "\x00", "é"]
)  # fmt: skip


@given(scheme=SCHEMES, pieces=st.lists(URL_PIECES, max_size=6))
def test_any_join_target_is_understood_or_refused_in_one_sentence(
    scheme: str, pieces: list[str]
) -> None:
    """What people paste after ``warroom join`` (``ws://[::1`` was "Invalid IPv6 URL")."""
    from relay.trust.identity import parse_join_target

    text = scheme + "".join(pieces)
    try:
        parse_join_target(text)
    except ValueError as exc:
        assert str(exc).startswith(f"cannot join {text.strip()!r}: "), str(exc)
        assert "\n" not in str(exc)


def test_an_unclosed_ipv6_bracket_is_named() -> None:
    code, err = run(["join", "ws://[::1"])
    assert code == 2
    assert err.startswith("warroom: cannot join 'ws://[::1': invalid ipv6 url. Expected"), err
