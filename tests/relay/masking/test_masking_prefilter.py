"""The compiled prefilter changes how fast the masker is, never what it masks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.masking import DEFAULT_PATTERNS, OutputMasker
from relay.masking.prefilter import AVAILABLE, Prefilter
from tests.relay.masking.test_masking_properties import make_secret

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="the hyperscan package is not installed")


def test_every_default_pattern_has_anchors() -> None:
    """Each default pattern is run only where one of its anchors is (none runs always)."""
    assert Prefilter(DEFAULT_PATTERNS).always == frozenset()


def test_a_text_without_anchors_runs_no_pattern() -> None:
    text = b"2024-05-01T12:00:00Z INFO [worker-3] request handled in 12ms status=200\r\n" * 50
    assert Prefilter(DEFAULT_PATTERNS).scan(text) == frozenset()


def test_case_insensitive_anchors_ignore_case() -> None:
    found = Prefilter(DEFAULT_PATTERNS).scan(b"export DB_PASSWORD=x")
    assert any(DEFAULT_PATTERNS[i].name == "password-assignment" for i in found)


_WORDS = ["ghp_", "gh", "AKIA", "eyJ", "token", "PASSWORD", "://", "u:p@", "=", " ", "\r\n"]
_OTHER = ["\x1b[31m", "\x1b[0m", "x", "Ab3", "0123456789", "-----BEGIN RSA PRIVATE KEY-----\r\n"]
_PIECES = st.sampled_from([*_WORDS, *_OTHER])


@given(
    st.lists(st.one_of(_PIECES, st.integers(0, 8).map(lambda k: make_secret(k, k).shown))),
    st.lists(st.integers(1, 40), min_size=1, max_size=8),
)
def test_with_and_without_the_prefilter_the_stream_is_masked_the_same(
    pieces: list[str], sizes: list[int]
) -> None:
    data = "".join(pieces).encode()
    outs = []
    for compiled in (True, False):
        masker = OutputMasker(prefilter=compiled)
        out, pos, i = b"", 0, 0
        while pos < len(data):
            size = sizes[i % len(sizes)]
            out += masker.feed(data[pos : pos + size])[0]
            pos, i = pos + size, i + 1
        outs.append(out + masker.flush(end_of_stream=True)[0])
    assert outs[0] == outs[1]


_APPEND_TOKENS = [
    b"a",
    b" ",
    b"\t",
    b"\r",
    b"\n",
    b"\r\n",
    b"\x1b",
    b"\x1b[",
    b"m",
    b"K",
    b"0",
    b"1",
    b";",
    b":",
    b"\x1b[31m",
    b"\x1b[m",
    b"\x1b[K",
    b"\x1b[0K",
    b"\x1b[2K",
    b"\x1b]0;t\x07",
    b"\x08",
    b"\x7f",
    b"\x00",
    b"\x0b",
    b"\x0c",
    b"\x0e",
    b"\x1a",
    b"\x1c",
    b"\xc2",
    b"\x9b",
    b"\xc2\x9b",
    b"\xc2\xa0",
    b"\xe4\xb8\xad",
    b"[",
    b"\x1bM",
    b"\x1b[1;2H",
    b"\x1b[?25l",
]


@given(st.lists(st.sampled_from(_APPEND_TOKENS), max_size=30).map(b"".join), st.booleans())
def test_the_compiled_appends_only_agrees_with_the_reference(frame: bytes, cr: bool) -> None:
    from relay.masking.screen import appends_only, appends_only_reference

    expected = appends_only_reference(frame[:-1] if cr and frame.endswith(b"\r") else frame)
    assert appends_only(frame, trailing_cr=cr) == expected


def test_the_compiled_appends_only_agrees_on_every_short_frame() -> None:
    """Every frame of up to three tokens of the alphabet above, with and without a
    trailing CR allowed: escapes cut short, CR before anything, C1 split or whole."""
    from itertools import product

    from relay.masking.screen import appends_only, appends_only_reference

    for n in range(4):
        for parts in product(_APPEND_TOKENS, repeat=n):
            frame = b"".join(parts)
            assert appends_only(frame) == appends_only_reference(frame), frame
            cut = frame[:-1] if frame.endswith(b"\r") else frame
            assert appends_only(frame, trailing_cr=True) == appends_only_reference(cut), frame


_PLAIN_TOKENS = [
    b"a",
    b" ",
    b"\r",
    b" \r",
    b"\n",
    b"\t",
    b"\x08",
    b"\x0d",
    b"\x0e",
    b"\x07",
    b"\x00",
    b"\x1b",
    b"\x1f",
    b"\x7f",
    b"\x80",
    b"\xc2",
    b"\x9b",
    b"\xc2\x9b",
    b"\xc2\xa0",
    b"\xc2\x80",
    b"\xc2\x9f",
    b"\xe4\xb8\xad",
]


def test_the_compiled_plain_check_agrees_on_every_short_chunk() -> None:
    """Whether the masker may take a chunk as its own text, both ways, on every chunk
    of up to four tokens: controls, C1 whole or split, readline's wrap."""
    from itertools import product

    from relay.masking.stream import is_plain, is_plain_reference

    for n in range(5):
        for parts in product(_PLAIN_TOKENS, repeat=n):
            chunk = b"".join(parts)
            assert is_plain(chunk) == is_plain_reference(chunk), chunk


@given(st.lists(st.sampled_from(_PLAIN_TOKENS), max_size=40).map(b"".join))
def test_the_compiled_plain_check_agrees_with_the_reference(chunk: bytes) -> None:
    from relay.masking.stream import is_plain, is_plain_reference

    assert is_plain(chunk) == is_plain_reference(chunk)
