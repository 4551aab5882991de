"""Taking a secret pattern apart: its regex written back, and its prefix closure.

The streaming masker holds back the end of a frame only when it could be the
beginning of a secret; "could be" is decided by a second regex per pattern
that matches the *prefixes* of the pattern's matches. This module derives it
from the pattern's parse tree (the standard library's own regex parser), and
writes the exact regex back in the forms the masker needs (lowercased for
``(?i)`` patterns, split per leading keyword).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from relay.masking.errors import PatternError

# The regex parser of the standard library: the only way to take a pattern
# apart without writing a parser. It is private (``sre_parse`` before 3.11) and
# untyped here; everything that touches it is in this module and in
# relay.masking.patterns, and covered by the round-trip tests.
_parser: Any = importlib.import_module("re._parser")
_c: Any = importlib.import_module("re._constants")


def _split_alternatives(items: list[Any], secret: int | None) -> list[list[Any]] | None:
    """``(?:token|secret|passw...)rest`` as ``token rest``, ``secret rest``, ...: or None.

    A regex that begins with a literal is found by the re module's fast
    substring search (GB/s); one that begins with an alternation of keywords
    is tried at every position whose character could start one of them (here
    a fifth of all positions: ~150 MB/s). Several literal-led regexes are
    faster than one, so a pattern that begins with an alternation of three or
    more literal-led keywords is matched as one regex per keyword.
    """
    op, av = items[0]
    if op is not _c.BRANCH or (secret is not None and _secret_min_width(items[:1], secret) >= 0):
        return None
    branches = [list(b) for b in av[1]]
    if len(branches) < 3 or any(not b or b[0][0] is not _c.LITERAL for b in branches):
        return None
    return [b + items[1:] for b in branches]


def _secret_min_width(items: list[Any], gid: int) -> int:
    """The minimum width of the group numbered ``gid``, or -1 if it is not found."""
    for op, av in items:
        if op is _c.SUBPATTERN:
            if av[0] == gid:
                return int(av[3].getwidth()[0]) if hasattr(av[3], "getwidth") else 1
            found = _secret_min_width(list(av[3]), gid)
            if found >= 0:
                return found
        elif op is _c.BRANCH:
            for branch in av[1]:
                found = _secret_min_width(list(branch), gid)
                if found >= 0:
                    return found
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
            found = _secret_min_width(list(av[2]), gid)
            if found >= 0:
                return found
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            found = _secret_min_width(list(av[1]), gid)
            if found >= 0:
                return found
        elif op is _c.ATOMIC_GROUP:
            found = _secret_min_width(list(av), gid)
            if found >= 0:
                return found
    return -1


# --------------------------------------------------------------------------
# Writing regexes back from the parse tree, and the prefix closure


_CATEGORIES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}
_AT = {
    "AT_BEGINNING": "^",
    "AT_BEGINNING_STRING": r"\A",
    "AT_END": "$",
    "AT_END_STRING": r"\Z",
    "AT_BOUNDARY": r"\b",
    "AT_NON_BOUNDARY": r"\B",
}
_FLAG_LETTERS = (
    (2, "i"),  # SRE_FLAG_IGNORECASE
    (8, "m"),  # SRE_FLAG_MULTILINE
    (16, "s"),  # SRE_FLAG_DOTALL
)  # not x: the generated text has no whitespace or comments to ignore


def _char(code: int) -> str:
    """One character, escaped so that it means itself inside and outside a class."""
    ch = chr(code)
    if ch.isascii() and ch.isalnum():
        return ch
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class _Writer:
    """Turns a parse tree back into regex text, exactly or as a prefix closure.

    ``lowered`` rewrites letters for matching against ASCII-lowercased text
    (the case-insensitive fast path). The exact form keeps the ``secret``
    group named and drops every other group's capture, which nothing uses.
    """

    def __init__(self, where: str, secret: int | None, lowered: bool) -> None:
        self.where = where
        self.secret = secret
        self.lowered = lowered

    # -- validation -------------------------------------------------------

    def check(self, items: Iterable[Any]) -> None:
        for op, av in items:
            if op in (_c.GROUPREF, _c.GROUPREF_EXISTS):
                raise PatternError(self.where, "backreferences and conditionals are not supported")
            if op is _c.AT and av.name not in _AT:
                raise PatternError(self.where, f"unsupported anchor {av}")
            if op is _c.SUBPATTERN:
                if self.lowered and av[2] & _c.SRE_FLAG_IGNORECASE:
                    raise PatternError(
                        self.where, "(?-i:...) inside a (?i) pattern is not supported"
                    )
                self.check(av[3])
            elif op is _c.BRANCH:
                for branch in av[1]:
                    self.check(branch)
            elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
                self.check(av[2])
            elif op in (_c.ASSERT, _c.ASSERT_NOT):
                self.check(av[1])
            elif op is _c.ATOMIC_GROUP:
                self.check(av)
            elif op not in (
                _c.LITERAL,
                _c.NOT_LITERAL,
                _c.ANY,
                _c.IN,
                _c.AT,
                _c.CATEGORY,
            ):
                raise PatternError(self.where, f"unsupported construct {op}")

    # -- exact form -------------------------------------------------------

    def exact(self, items: Iterable[Any], relaxed: bool = False, lazy: bool = False) -> str:
        """The regex for ``items``; ``relaxed`` lets lookaheads run off the end of the text."""
        return "".join(self.item(op, av, relaxed, lazy) for op, av in items)

    def lit(self, code: int) -> str:
        if self.lowered and 0x41 <= code <= 0x5A:
            code += 0x20
        return _char(code)

    def item(self, op: Any, av: Any, relaxed: bool = False, lazy: bool = False) -> str:
        if op is _c.LITERAL:
            return self.lit(av)
        if op is _c.NOT_LITERAL:
            return f"[^{self.lit(av)}]"
        if op is _c.ANY:
            return "."
        if op is _c.IN:
            return self.charset(av)
        if op is _c.CATEGORY:
            return _CATEGORIES[av.name]
        if op is _c.AT:
            return _AT[av.name]
        if op is _c.BRANCH:
            return "(?:" + "|".join(self.exact(b, relaxed, lazy) for b in av[1]) + ")"
        if op is _c.SUBPATTERN:
            gid, add, delete, sub = av
            body = self.exact(sub, relaxed, lazy)
            flags = self.flags(add, delete)
            if flags:
                body = f"(?{flags}:{body})"
            if gid is not None and gid == self.secret and not relaxed:
                return f"(?P<secret>{body})"
            return f"(?:{body})"
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
            low, high, sub = av
            body = f"(?:{self.exact(sub, relaxed, lazy)})"
            count = self.count(low, high)
            if not count:
                return body
            if op is _c.MIN_REPEAT or (lazy and relaxed):
                return f"{body}{count}?"
            if op is _c.POSSESSIVE_REPEAT and not relaxed:
                return f"{body}{count}+"
            return f"{body}{count}"
        if op is _c.ATOMIC_GROUP:
            body = self.exact(av, relaxed, lazy)
            return f"(?:{body})" if relaxed else f"(?>{body})"
        if op is _c.ASSERT:
            direction, sub = av
            body = self.exact(sub, relaxed)
            if direction < 0:
                return f"(?<={body})"
            if relaxed:
                # A lookahead may need text that has not arrived yet: accept a
                # prefix of what it looks for that runs to the end of the text.
                return f"(?=(?:{body})|(?:{self.prefix(list(sub))})\\Z)"
            return f"(?={body})"
        if op is _c.ASSERT_NOT:
            direction, sub = av
            body = self.exact(sub, relaxed)
            return f"(?<!{body})" if direction < 0 else f"(?!{body})"
        raise PatternError(self.where, f"unsupported construct {op}")  # pragma: no cover

    def charset(self, members: Iterable[Any]) -> str:
        parts: list[str] = []
        negate = False
        for op, av in members:
            if op is _c.NEGATE:
                negate = True
            elif op is _c.LITERAL:
                parts.append(self.lit(av))
            elif op is _c.RANGE:
                low, high = av
                parts.append(f"{_char(low)}-{_char(high)}")
                if self.lowered and low <= 0x5A and high >= 0x41:
                    parts.append(f"{_char(max(low, 0x41) + 0x20)}-{_char(min(high, 0x5A) + 0x20)}")
            elif op is _c.CATEGORY:
                parts.append(_CATEGORIES[av.name])
            else:  # pragma: no cover - the parser emits nothing else in a class
                raise PatternError(self.where, f"unsupported class member {op}")
        return "[" + ("^" if negate else "") + "".join(parts) + "]"

    @staticmethod
    def count(low: int, high: Any) -> str:
        if high is _c.MAXREPEAT:
            return "*" if low == 0 else "+" if low == 1 else f"{{{low},}}"
        if low == high:
            return "" if low == 1 else f"{{{low}}}"
        return "?" if (low, high) == (0, 1) else f"{{{low},{high}}}"

    def flags(self, add: int, delete: int) -> str:
        if self.lowered:
            add &= ~_c.SRE_FLAG_IGNORECASE
        on = "".join(letter for bit, letter in _FLAG_LETTERS if add & bit)
        off = "".join(letter for bit, letter in _FLAG_LETTERS if delete & bit)
        return on + ("-" + off if off else "")

    # -- prefix closure ---------------------------------------------------

    def prefix(self, items: list[Any]) -> str:
        """A regex for every prefix of every string ``items`` matches (with the empty one).

        The rules, for sequences ``x r``, alternatives and repeats::

            P(x r)      = x P(r) | P(x)
            P(a | b)    = P(a) | P(b)
            P(x{m,n})   = x{0,n-1} P(x)        (x{0,n} for a single character)
            P(c)        = c?                   (a character or class)
            P(assert)   = empty                (it consumes nothing)

        The result over-approximates where it must (lookarounds, possessive
        and atomic groups), which can only make the masker hold back a little
        more, never release a secret's beginning.
        """
        if not items:
            return ""
        op, av = items[0]
        # A run of literals: list its prefixes flat rather than nesting one group per character.
        run = 0
        while run < len(items) and items[run][0] is _c.LITERAL:
            run += 1
        if run > 1:
            literal = "".join(self.lit(code) for _, code in items[:run])
            shorter = [
                "".join(self.lit(code) for _, code in items[:k]) for k in range(run - 1, 0, -1)
            ]
            rest = self.prefix(items[run:])
            head = f"{literal}{rest}"
            return f"(?:{head}|{'|'.join(shorter)})?"
        first = self.item(op, av, relaxed=True, lazy=True)
        rest = self.prefix(items[1:])
        alone = self.prefix_item(op, av)
        if not alone:
            return f"(?:{first}{rest})?"
        return f"(?:{first}{rest}|{alone})"

    def prefix_item(self, op: Any, av: Any) -> str:
        """``P(x)`` for one item, without the empty string (callers add it)."""
        if op in (_c.LITERAL, _c.NOT_LITERAL, _c.ANY, _c.IN, _c.CATEGORY):
            return self.item(op, av)
        if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
            return ""
        if op is _c.BRANCH:
            alternatives = [self.prefix(list(b)) for b in av[1]]
            return "(?:" + "|".join(a or "" for a in alternatives) + ")"
        if op is _c.SUBPATTERN:
            _gid, add, delete, sub = av
            body = self.prefix(list(sub))
            flags = self.flags(add, delete)
            return f"(?{flags}:{body})" if flags else body
        if op is _c.ATOMIC_GROUP:
            return self.prefix(list(av))
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
            _low, high, sub = av
            sub = list(sub)
            if high == 0:
                return ""
            single = len(sub) == 1 and sub[0][0] in (_c.LITERAL, _c.NOT_LITERAL, _c.ANY, _c.IN)
            whole = f"(?:{self.exact(sub, relaxed=True)})"
            if single:
                return whole + ("*" if high is _c.MAXREPEAT else f"{{0,{high}}}")
            times = "*" if high is _c.MAXREPEAT else f"{{0,{high - 1}}}" if high > 1 else ""
            inner = self.prefix(sub)
            return f"{whole}{times}{inner}" if times else inner
        raise PatternError(self.where, f"unsupported construct {op}")  # pragma: no cover


def _prefix_regex(writer: _Writer, items: list[Any]) -> str:
    """The "partial" regex: a match of the pattern that the end of the text cuts short.

    It matches at the end of the text (``\\Z``) where a match of the pattern
    could begin and continue past the end, and its empty group ``s`` marks
    where the *secret* part begins: for ``password=(?P<secret>...)`` the
    ``password=`` is not secret and need not be held back, only what follows.
    The lead before the secret is written with lazy repeats, so that the
    earliest possible start of the secret is found.
    """
    index = next(
        (
            i
            for i, (op, av) in enumerate(items)
            if op is _c.SUBPATTERN and writer.secret is not None and av[0] == writer.secret
        ),
        None,
    )
    if index is None:
        return f"(?P<s>){writer.prefix(items)}\\Z"
    lead = writer.exact(items[:index], relaxed=True, lazy=True)
    _gid, add, delete, sub = items[index][1]
    sub = list(sub)
    whole = writer.exact(sub, relaxed=True)
    part = writer.prefix(sub)
    flags = writer.flags(add, delete)
    if flags:
        whole, part = f"(?{flags}:{whole})", f"(?{flags}:{part})"
    trail = writer.prefix(items[index + 1 :])
    return f"{lead}(?P<s>)(?:{whole}{trail}|{part})\\Z"


_ONE_CHARACTER = ("LITERAL", "NOT_LITERAL", "ANY", "IN", "CATEGORY")
_ZERO_WIDTH = ("AT", "ASSERT", "ASSERT_NOT")


def _tail_class(writer: _Writer, items: list[Any]) -> str | None:
    """The character class that the secret part's last repeat is made of, if it ends in one.

    ``password=(?P<secret>[^\\s'\\"]{1,200})`` gives ``[^\\s'\\"]``: a secret of
    that pattern that runs on past the repeat's bound, or past the end of a
    frame, goes on over further characters of that class. None when the
    secret is followed by more than assertions (``://user:(?P<secret>...)@``:
    its end is the ``@``) or does not end in a repeat of one character.
    """
    body = items
    if writer.secret is not None:
        index = next(
            (
                i
                for i, (op, av) in enumerate(items)
                if op is _c.SUBPATTERN and av[0] == writer.secret
            ),
            None,
        )
        if index is None or any(op.name not in _ZERO_WIDTH for op, _ in items[index + 1 :]):
            return None
        body = list(items[index][1][3])
    while body and body[-1][0].name in _ZERO_WIDTH:
        body = body[:-1]
    if not body:
        return None
    op, av = body[-1]
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        sub = list(av[2])
        if (
            len(sub) == 1
            and sub[0][0].name in _ONE_CHARACTER
            and (av[1] is _c.MAXREPEAT or av[1] > 1)
        ):
            return writer.item(*sub[0])
        return None
    if op is _c.BRANCH:
        # Several ways to end: go on only over what every one of them allows.
        classes = [_tail_class(_Writer(writer.where, None, writer.lowered), list(b)) for b in av[1]]
        if any(c is None for c in classes):
            return None
        return "".join(f"(?={c})" for c in classes[1:]) + str(classes[0])
    if op is _c.SUBPATTERN:
        return _tail_class(_Writer(writer.where, None, writer.lowered), list(av[3]))
    return None


_MAX_ANCHORS = 64


def _anchors(writer: _Writer, items: list[Any]) -> list[bytes] | None:
    """Literals one of which begins every match (``gh`` ``p_``, ``AKIA``), or None.

    Read from the front of the pattern: literals, small classes and
    alternations of literal-led branches multiply out; zero-width assertions
    are skipped; anything else ends the anchor. Lowered for a ``(?i)``
    pattern (the scanner then ignores case). None when the anchors would be
    shorter than two characters or too many to be worth scanning for.
    """
    prefixes: list[bytes] = [b""]
    for op, av in items:
        name = op.name
        if name == "LITERAL":
            prefixes = [p + _lit(writer, av) for p in prefixes]
        elif name in _ZERO_WIDTH:
            continue
        elif name == "IN" and all(o.name == "LITERAL" for o, _ in av) and len(av) <= 6:
            prefixes = [p + _lit(writer, a) for p in prefixes for _, a in av]
        elif name == "BRANCH":
            heads: list[bytes] = []
            for branch in av[1]:
                head = b""
                for bop, bav in branch:
                    if bop.name != "LITERAL":
                        break
                    head += _lit(writer, bav)
                if not head:
                    return _valid(prefixes)
                heads.append(head)
            prefixes = [p + h for p in prefixes for h in heads]
            return _valid(prefixes)  # a branch's own rest may differ: stop here
        elif name == "SUBPATTERN":
            inner = _anchors(writer, list(av[3]))
            if inner is None:
                return _valid(prefixes)
            return _valid([p + i for p in prefixes for i in inner])
        else:
            return _valid(prefixes)
        if len(prefixes) > _MAX_ANCHORS:
            return None
    return _valid(prefixes)


def _lit(writer: _Writer, code: int) -> bytes:
    if writer.lowered and 0x41 <= code <= 0x5A:
        code += 0x20
    return bytes([code]) if code < 0x100 else chr(code).encode()


def _valid(prefixes: list[bytes]) -> list[bytes] | None:
    if len(prefixes) > _MAX_ANCHORS or any(len(p) < 2 for p in prefixes):
        return None
    return sorted(set(prefixes))
