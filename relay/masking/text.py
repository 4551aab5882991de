"""Masking a complete piece of text: a chat message, a reason, a command line.

Text a client sent is *normalised before it is masked*, never after: if the
masker saw ``ghp_C1h2\\x01A3...`` and a later step dropped the control
character, the token would reach everyone whole, having been checked only in a
form nobody sees. :func:`normalise` makes the text what it will be shown as,
and only then are patterns matched on it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from relay.masking.patterns import DEFAULT_PATTERNS, SecretPattern
from relay.masking.stream import Masking, OutputMasker

__all__ = ["mask_text", "normalise"]

# Categories dropped: Cc (control characters, but "\n"), Cf (format characters:
# zero-width spaces and joiners, bidi overrides, the soft hyphen: invisible or
# reordering, they can split a token in the text yet not on the screen), Cs (lone
# surrogates, which a JSON string may carry but no UTF-8 can encode), Co and Cn
# (private use and unassigned: relay.core.text.clean drops them too, and whatever a
# later step drops must already be gone when the patterns look).
_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_LINE_BREAKS = {"\u2028": "\n", "\u2029": "\n", "\r\n": "\n", "\r": "\n"}
# The zero-width joiner joins emoji (kept there, as relay.core.text.clean keeps it); next to
# ASCII it joins nothing a reader sees and would split a token for the patterns.
_JOINER_IN_ASCII = re.compile("(?<=[\x21-\x7e])\u200d+|\u200d+(?=[\x21-\x7e])")


def normalise(text: str) -> str:
    """``text`` as it will be shown: NFC, line breaks as ``\\n``, no control or format characters.

    (The zero-width joiner stays between non-ASCII characters: emoji sequences.)

    Idempotent, and it only removes or recomposes characters, so a length
    limit checked after it bounds what is shown. The result always encodes as
    UTF-8.
    """
    if text.isascii() and text.isprintable():
        return text
    for old, new in _LINE_BREAKS.items():
        text = text.replace(old, new)
    text = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) not in _DROPPED)
    return unicodedata.normalize("NFC", text)


def mask_text(
    text: str, patterns: Iterable[SecretPattern] = DEFAULT_PATTERNS
) -> tuple[str, list[Masking]]:
    """Normalise ``text`` (:func:`normalise`), then mask it at once.

    The result is what may be shown and recorded; it is normalised, so a later
    step that drops control characters cannot join a masked secret back up.
    """
    text = normalise(text)
    masker = OutputMasker(patterns)
    out, maskings = masker.feed(text.encode())
    rest, more = masker.flush(end_of_stream=True)
    counts: dict[str, int] = {}
    for m in (*maskings, *more):
        counts[m.kind] = counts.get(m.kind, 0) + m.count
    return (out + rest).decode("utf-8", "replace"), [Masking(k, c) for k, c in counts.items()]
