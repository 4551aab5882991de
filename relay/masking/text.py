"""Masking a complete piece of text: a chat message, a reason, a command line."""

from __future__ import annotations

from collections.abc import Iterable

from relay.masking.patterns import DEFAULT_PATTERNS, SecretPattern
from relay.masking.stream import Masking, OutputMasker


def mask_text(
    text: str, patterns: Iterable[SecretPattern] = DEFAULT_PATTERNS
) -> tuple[str, list[Masking]]:
    """Mask a complete piece of text at once: a chat message, a reason, a command line."""
    masker = OutputMasker(patterns)
    out, maskings = masker.feed(text.encode())
    rest, more = masker.flush(end_of_stream=True)
    counts: dict[str, int] = {}
    for m in (*maskings, *more):
        counts[m.kind] = counts.get(m.kind, 0) + m.count
    return (out + rest).decode("utf-8", "replace"), [Masking(k, c) for k, c in counts.items()]
