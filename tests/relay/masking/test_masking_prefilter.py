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
