"""Masking whole texts (chat, reasons): normalised first, then masked."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.core.text import clean
from relay.masking import mask_text, normalise

GH = "ghp_C1h2A3t4T5o6K7e8N9a0B1c2D3e4F5g6H7i8"  # a well-formed, fake GitHub token


@pytest.mark.parametrize(
    "splitter",
    [
        "\x01",
        "\x00",
        "\x7f",
        "\x1b",
        "\x9b",
        "\u200b",
        "\u200d",
        "\u2060",
        "\u202e",
        "\ufeff",
        "\xad",
    ],
    ids=repr,
)
def test_an_invisible_character_inside_a_token_does_not_hide_it(splitter: str) -> None:
    """``ghp_C1h2A3t4\\x01T5o6...``: the control character is dropped, then the token masked."""
    text = f"use {GH[:12]}{splitter}{GH[12:]} for the API"
    masked, maskings = mask_text(text)
    shown = clean(masked)  # the relay's rule for shown text, applied again
    assert GH[12:] not in shown and GH[4:12] not in shown
    assert shown == masked and [m.kind for m in maskings] == ["github-token"]
    assert shown.startswith("use ghp_*") and shown.endswith(" for the API")


def test_a_lone_surrogate_is_dropped_and_the_result_encodes() -> None:
    masked, _ = mask_text(f"x\ud800y {GH}")
    masked.encode("utf-8")
    assert masked.startswith("xy ghp_") and GH[4:] not in masked


def test_line_breaks_become_newlines() -> None:
    assert normalise("a\r\nb\rc\u2028d\u2029e") == "a\nb\nc\nd\ne"


def test_combining_characters_are_composed() -> None:
    assert normalise("cafe\u0301") == "caf\u00e9"


@given(st.text())
def test_normalise_is_idempotent_and_leaves_nothing_to_drop(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert clean(once) == clean(once).strip()
    assert all(
        unicodedata.category(ch) not in ("Cc", "Cf", "Cs") or ch in "\n\u200d" for ch in once
    )
    once.encode("utf-8")


@given(st.text(alphabet=st.characters(codec="utf-8")), st.integers(0, 40))
def test_no_invisible_character_hides_a_token(noise: str, at: int) -> None:
    """Whatever is inserted into the token, if the token shows whole afterwards, it is masked."""
    at = 4 + at % (len(GH) - 4)
    masked, _ = mask_text(GH[:at] + noise + GH[at:])
    assert GH not in masked and GH not in clean(masked)
