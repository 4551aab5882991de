"""The one rule for text a client wrote and another person reads.

A reason, a chat line, a display name or a session id typed by one engineer
ends up on other engineers' screens (the TUI), in the audit log and in
``warroom audit``'s output. Each of those is a terminal or a line-oriented
format, so such text is a way to write into someone else's terminal: an ESC
sequence, a BEL, a C1 control, a newline that starts a forged audit line, a
bidi override that reorders what is shown (Trojan Source). Three steps, all
pure:

1. :func:`invalid` — refuse what is not text at all, before anything stores,
   audits, masks or forwards it: lone surrogates (not Unicode scalar values,
   so not encodable as UTF-8) and anything longer than its limit.
2. :func:`clean` — at the relay, on everything a client wrote that another
   person sees: line breaks and tabs become spaces, other control and format
   characters are dropped. What is left prints on one line, as written.
3. :func:`escape` — again in every text output (``warroom audit``),
   whatever the source: the log may hold entries from an older relay, and a
   reader must never depend on a writer's care. The TUI draws such text with
   :func:`printable` and never as markup (``tui/shown.py``).
"""

from __future__ import annotations

import re
import unicodedata

SURROGATE = re.compile("[\ud800-\udfff]")

_SPACE_LIKE = frozenset("\t\n\r\v\f\x85\u2028\u2029")
_KEPT_FORMAT = frozenset("\u200d")  # zero-width joiner: emoji sequences; shows nothing alone
_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_PLAIN = re.compile(r"[A-Za-z0-9._:@/+,=-]*")


def invalid(text: str, limit: int) -> str | None:
    """Why ``text`` is refused (``None``: it is acceptable); ``limit`` is in characters.

    The length is checked first so that a huge string costs no scan.
    """
    if len(text) > limit:
        return f"longer than {limit} characters ({len(text)})"
    if SURROGATE.search(text):
        return "not valid Unicode text (a lone surrogate)"
    return None


def clean(text: str) -> str:
    """Text as another person may see it: one line, no control or format characters.

    Line breaks and tabs become spaces (a newline must not start a forged
    line in a log or a chat pane); C0 and C1 controls, DEL, bidi overrides
    and other invisible format characters, private-use and unassigned code
    points are dropped. Surrounding whitespace is stripped.
    """
    if text.isascii() and text.isprintable():
        return text.strip()  # the common case, without a per-character walk
    return printable(text).strip()


def printable(text: str, newlines: bool = False) -> str:
    """``text`` with control and format characters dropped, and nothing else changed.

    What :func:`clean` does, without stripping: for text whose layout is the
    reader's own (an indented list, a message of several lines). Line breaks
    and tabs become spaces, except ``\n`` with ``newlines``.
    """
    if text.isascii() and text.isprintable():
        return text
    kept = []
    for char in text:
        if char == "\n" and newlines:
            kept.append(char)
        elif char in _SPACE_LIKE:
            kept.append(" ")
        elif char in _KEPT_FORMAT or unicodedata.category(char) not in _DROPPED:
            kept.append(char)
    return "".join(kept)


def escape(value: object) -> str:
    """``value`` made safe for a line of terminal output, unambiguously.

    Plain tokens (names, ids, numbers) print as they are; anything else is
    quoted, with quotes, backslashes and every control or format character
    written as an escape (``\\u001b``), so that no value can end its field,
    start a line, or reach the terminal as a control sequence.
    """
    text = str(value)
    if _PLAIN.fullmatch(text):
        return text
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif unicodedata.category(char) in _DROPPED or char in _SPACE_LIKE:
            code = ord(char)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
