"""Secret masking for a shared shell: what viewers and the recording may see.

Three pure pieces, no I/O, no clock (the caller owns timers):

* :class:`SecretPattern` and :data:`DEFAULT_PATTERNS`: what a secret looks like.
  The defaults are taken from gitleaks' rule set (``config/gitleaks.toml``,
  generated from ``cmd/generate/config/rules/*.go``) and Yelp's detect-secrets
  plugins (``detect_secrets/plugins/*.py``); each pattern cites its source.
  Extra patterns come from the relay config through :func:`parse_patterns`.
* :class:`OutputMasker`: a streaming masker for terminal output. Secrets are
  replaced by ``*`` before the bytes leave it, also when a secret is split
  across frames or has escape sequences inside it.
* :class:`InputGuard`: decides whether typed input is a password (it follows a
  password prompt) and so must be neither recorded nor echoed to viewers.

Each masking is reported as a :class:`Masking` (the kind and how many, never
the secret) so that the relay can write a marker event to the recording and
the audit log.

How masking looks
-----------------
Every printable character of a secret becomes ``*`` (a double-width character
becomes ``**``); escape sequences and control characters inside it are kept.
A fixed label such as ``[masked:github-token]`` would be easier to read in a
log, but it changes the number of columns, and a full-screen program (vim,
less, top) that positions its cursor by column would then draw the rest of the
screen in the wrong place for every viewer and in the recording. Stars keep
every later cell where the program put it. The kind is not lost: it is in the
:class:`Masking` marker, and most patterns leave a well-known, non-secret
prefix visible (``ghp_************``, ``AKIA****************``,
``password=*******``), which tells a reader what was there.

How a stream is masked
----------------------
Patterns are matched on the *text* of the output: escape sequences are
stripped first (``ghp_\\x1b[31mABC...`` is the text ``ghp_ABC...``), matches
are mapped back to byte positions, and only the text bytes are replaced.

A secret can arrive split over several frames, so :meth:`OutputMasker.feed`
holds back the end of a frame when, and only when, it could be the beginning
of a secret that is not complete yet. "Could be" is exact, not a guess: for
every pattern the masker derives a second regex that matches the *prefixes*
of its matches (see :func:`_prefix_regex`), and holds back from where such a
prefix of the secret part starts at the end of the text. So ordinary output,
and the echo of ordinary typing, is released at once; ``ghp_`` followed by
three token characters is held until the token is complete (and masked) or
proves not to be one (and is released unchanged). The caller should call
:meth:`OutputMasker.flush` when the output has been idle for a short while
(50 ms is plenty): a held candidate is then masked if it is a secret or a
prefix of one (failing closed), so that nothing is delayed for long.

Patterns match within one line; multi-line private keys are handled by a
small state machine (the ``-----BEGIN ... PRIVATE KEY-----`` line switches it
on, every following base64 or header line is masked until the ``END`` line or
a line that cannot belong to a key).

Limits and cost
---------------
``max_holdback`` (8 KiB by default) bounds the text held back. A candidate
that grows longer than that (a JWT with a very large payload) is masked and
released in pieces rather than held whole, and the masker keeps up to 64 KiB
of it as context to recognise its continuation: only a secret longer than
64 KiB on one line, split across frames, could have its tail released
unmasked.

Every default pattern begins with a literal (``ghp_``, ``AKIA``, ``://``,
``token``...), which the re module finds by fast substring search, so plain
output costs little: see ``bench/redaction.py`` (plain logs well above 100
MB/s, coloured logs above 50 MB/s on the development machine). A line crafted
to be nothing but near-matches (``eyJeyJeyJ...``) is slower, a few MB/s at
worst; the masker is pure and per-stream, so a relay that must bound that can
run it off its event loop.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_MAX_HOLDBACK",
    "DEFAULT_PATTERNS",
    "DEFAULT_PROMPT",
    "SECRET_INPUT",
    "InputGuard",
    "Masking",
    "OutputMasker",
    "PatternError",
    "SecretPattern",
    "mask_text",
    "parse_patterns",
]

# The regex parser of the standard library: the only way to take a pattern
# apart without writing a parser. It is private (``sre_parse`` before 3.11) and
# untyped here; everything that touches it is in this module and covered by
# the round-trip tests.
_parser: Any = importlib.import_module("re._parser")
_c: Any = importlib.import_module("re._constants")

DEFAULT_MAX_HOLDBACK = 8192
"""Bytes of text a masker may hold back, and how far back on a line a secret may start."""

_CONTEXT_MAX = 65536
"""How much of a secret that runs past what was released is kept to mask its continuation."""


_BODY_LINE_MAX = 8192
"""A private-key body line longer than this is masked and released without its end."""

_ESC_MAX = 4096
"""An unfinished escape sequence longer than this is released as it is."""


# --------------------------------------------------------------------------
# Patterns


class PatternError(ValueError):
    """A secret pattern is unusable; ``where`` names the config entry and field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message


_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True, eq=False)
class SecretPattern:
    """A kind of secret: a name (the kind reported) and a regular expression.

    The expression is matched against the text of the output (escape sequences
    removed) as UTF-8 bytes, so it must be ASCII; classes such as ``[^\\s"]``
    still match any non-ASCII character. If it has a group named ``secret``,
    only that group is masked and the rest (``password=``, ``ghp_``) stays
    readable; otherwise the whole match is masked. A pattern must not match
    across a line break (the masker keeps only the current line as context
    between frames), must not be able to match an empty string, and may not
    use backreferences.

    A pattern that starts with ``(?i)`` is matched against the ASCII-lowercased
    text with a lowercased copy of the expression: the same matches, but at the
    speed of a case-sensitive search, which matters on the output hot path.

    Several patterns may share a name: the name is the kind of secret.

    ``triggers``, if given, are literals (lowercase for ``(?i)`` patterns) of
    which any match must contain at least one: a frame holding none of them
    skips the pattern's search. A ``bytes.find`` runs at GB/s, the search of a
    case-insensitive assignment pattern at ~300 MB/s, and most output holds no
    ``password``.
    """

    name: str
    regex: str
    triggers: tuple[bytes, ...] = ()
    _full: tuple[re.Pattern[bytes], ...] = field(init=False, repr=False)
    _partial: tuple[re.Pattern[bytes], ...] = field(init=False, repr=False)
    _group: str | int = field(init=False, repr=False)
    _lowered: bool = field(init=False, repr=False)
    _reach: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        full, partial, group, lowered = _compile(self.name, self.regex, "")
        object.__setattr__(self, "_full", full)
        object.__setattr__(self, "_partial", partial)
        object.__setattr__(self, "_group", group)
        object.__setattr__(self, "_lowered", lowered)
        # The longest a match can be: a candidate (a match cut short by the end of
        # the text) starts no further back, so only that much is searched for one.
        # This keeps a line full of near-matches ("token=token=...") linear.
        width = int(_parser.parse(self.regex, 0).getwidth()[1])
        object.__setattr__(self, "_reach", min(width, _CONTEXT_MAX))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretPattern):
            return NotImplemented
        return (self.name, self.regex) == (other.name, other.regex)

    def __hash__(self) -> int:
        return hash((self.name, self.regex))


def parse_patterns(
    entries: Sequence[Mapping[str, Any]], where: str = "patterns"
) -> tuple[SecretPattern, ...]:
    """Extra patterns from config: a list of tables with ``name`` and ``regex``.

    Raises :class:`PatternError` naming the entry and field (``patterns[2].regex``)
    so that the config loader can point at the line to fix.
    """
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence):
        raise PatternError(where, "must be a list of tables with name and regex")
    patterns: list[SecretPattern] = []
    for index, entry in enumerate(entries):
        here = f"{where}[{index}]"
        if not isinstance(entry, Mapping):
            raise PatternError(here, "must be a table with name and regex")
        unknown = sorted(set(entry) - {"name", "regex"})
        if unknown:
            raise PatternError(f"{here}.{unknown[0]}", "unknown key (expected name and regex)")
        for key in ("name", "regex"):
            if key not in entry:
                raise PatternError(f"{here}.{key}", "is required")
            if not isinstance(entry[key], str):
                raise PatternError(f"{here}.{key}", "must be a string")
        name, regex = entry["name"], entry["regex"]
        _compile(name, regex, here)  # to name the entry in the error, if any
        patterns.append(SecretPattern(name, regex))
    return tuple(patterns)


def _compile(
    name: str, regex: str, where: str
) -> tuple[tuple[re.Pattern[bytes], ...], tuple[re.Pattern[bytes], ...], str | int, bool]:
    """The full regexes, the prefix ("partial") regexes, the masked group, lowered or not."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise PatternError(
            f"{where}.name" if where else "name",
            f"{name!r} is not a valid name (lowercase letters, digits, '.', '_', '-')",
        )
    here = f"{where}.regex" if where else f"pattern {name}"
    if not isinstance(regex, str) or not regex:
        raise PatternError(here, "must be a non-empty string")
    if not regex.isascii():
        raise PatternError(here, "must be ASCII (it is matched against UTF-8 bytes)")
    try:
        re.compile(regex)
        parsed = _parser.parse(regex, 0)
    except re.error as exc:
        raise PatternError(here, f"invalid regular expression: {exc}") from None
    flags = parsed.state.flags
    if flags & (_c.SRE_FLAG_LOCALE | _c.SRE_FLAG_ASCII):
        raise PatternError(here, "the a and L flags are not supported")
    groups: dict[str, int] = dict(parsed.state.groupdict)
    secret = groups.get("secret")
    items = list(parsed)
    lowered = bool(flags & _c.SRE_FLAG_IGNORECASE)
    writer = _Writer(here, secret, lowered)
    writer.check(items)
    if parsed.getwidth()[0] == 0:
        raise PatternError(here, "can match an empty string")
    if secret is not None and _secret_min_width(items, secret) == 0:
        raise PatternError(here, "the secret group can match an empty string")
    # The generated text carries no global flags: pass them (never I: a (?i) pattern
    # is lowered instead, and a pattern without it has no global I to pass).
    compile_flags = flags & (_c.SRE_FLAG_MULTILINE | _c.SRE_FLAG_DOTALL)
    try:
        alternatives = _split_alternatives(items, secret)
        if alternatives is not None:
            full = tuple(
                re.compile(writer.exact(a).encode("ascii"), compile_flags) for a in alternatives
            )
        elif lowered:
            full = (re.compile(writer.exact(items).encode("ascii"), compile_flags),)
        else:
            full = (re.compile(regex.encode("ascii")),)
        partial = tuple(
            re.compile(_prefix_regex(writer, a).encode("ascii"), compile_flags)
            for a in (alternatives or [items])
        )
    except (re.error, RecursionError) as exc:  # pragma: no cover - a writer bug, not user error
        raise PatternError(here, f"cannot derive the prefix pattern: {exc}") from None
    group: str | int = "secret" if secret is not None else 0
    return full, partial, group, lowered


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


# --------------------------------------------------------------------------
# The default patterns

# Keywords of the generic assignment rule. From detect-secrets' KeywordDetector
# DENYLIST (plugins/keyword.py) and gitleaks' generic-api-key keywords, minus
# "pass" and "pwd": in a terminal they mostly mean "passed: 12" and the PWD
# environment variable, not a password. client_secret, db_password and the like
# are found by their last word. Each keyword begins with a literal so that the
# rule is matched as four fast substring searches (see _split_alternatives);
# "key" counts only after api, access, auth or private (a lookbehind).
_KEYWORDS = (
    r"pass(?:w(?:or)?d|phrase)|secret|token"
    r"|key(?:(?<=api.key)|(?<=apikey)|(?<=access.key)|(?<=accesskey)|(?<=auth.key)|(?<=authkey)"
    r"|(?<=private.key)|(?<=privatekey))"
)
# Key names that contain a keyword but hold no secret (max_tokens, token_type,
# secret_name ...), after gitleaks' generic-api-key allowlist.
_NOT_SECRET_NAMES = (
    r"(?![\w.-]{0,20}?(?:count|type|types|id|ids|name|names|len|length|size|ttl|expiry|expires|expiration"
    r"|expires_in|expires_at|file|path|url|uri|endpoint|limit|usage|ref|s)[\"']?[ \t]{0,16}[:=])"
)
# A value: after an opening quote, up to the closing one (blanks included); otherwise up to
# a blank, quote or separator. Not a placeholder ($VAR, <x>, ***, {{x}}, %x%), nor PEM
# armour (-----BEGIN ..., masked by the private-key rules).
_VALUE = (
    r"(?![$<*{%]|-----)(?P<secret>(?<=[\"'])[^\"'\r\n]{1,200}(?=[\"'])|[^\s'\"`;,&)}\]<>]{1,200})"
)

_DEFAULTS: tuple[tuple[str, str], ...] = (
    # gitleaks "private-key":
    #   (?i)-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S-]{64,}?KEY(?: BLOCK)?-----
    # detect-secrets PrivateKeyDetector:
    #   BEGIN (?: DSA | EC | OPENSSH | PGP | RSA | SSH2 ENCRYPTED | )PRIVATE KEY
    # This is the one-line form (JSON "\n" escapes, or newlines lost to `echo $KEY`); the
    # usual multi-line form is masked line by line by OutputMasker's private-key state.
    (
        "private-key",
        r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
        r"(?P<secret>(?:\\[nrt]|[A-Za-z0-9+/=:,. \t]|-(?!----)){16,})",
    ),
    # The same, base64-encoded, as `kubectl get secret -o yaml` prints a TLS key: "LS0tLS1CRUdJTi"
    # is base64 for "-----BEGIN", and the three others are "PRIVATE KEY" at each of the three
    # base64 alignments (a certificate, "-----BEGIN CERTIFICATE", has none of them).
    (
        "private-key",
        r"LS0tLS1CRUdJTi(?P<secret>[A-Za-z0-9+/]{0,40}?"
        r"(?:UFJJVkFURSBLRV|BSSVZBVEUgS0VZ|UklWQVRFIEtFW)[A-Za-z0-9+/=]{0,16384})",
    ),
    # gitleaks "aws-access-token": \b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b
    ("aws-access-key", r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)(?<!\w....)(?P<secret>[A-Z2-7]{16})\b"),
    # gitleaks "aws-secret-access-key" ([A-Za-z0-9/+=]{40}, a sub-rule that needs context) and
    # detect-secrets aws.py get_secret_access_key (= *(['"]?)([A-Za-z0-9+/=]{40})(\1)$).
    (
        "aws-secret-key",
        r"(?i)secret_?(?:access_?)?key[\"']?[ \t]{0,16}(?:=>|:=|[:=])[ \t]{0,16}"
        r"[\"']?(?P<secret>[a-z0-9/+=]{40})(?![a-z0-9/+=])",
    ),
    # gitleaks "github-pat" / "github-oauth" / "github-app-token" / "github-refresh-token":
    # gh[pousr]_[0-9a-zA-Z]{36}; longer tokens are masked whole.
    ("github-token", r"gh[pousr]_(?<!\wgh._)(?P<secret>[0-9A-Za-z]{36,251})"),
    # gitleaks "github-fine-grained-pat": github_pat_\w{82}
    ("github-token", r"github_pat_(?<!\wgithub_pat_)(?P<secret>\w{82,240})"),
    # gitleaks "gitlab-pat" (glpat-[\w-]{20}), "gitlab-pat-routable" (glpat-[0-9a-zA-Z_-]{27,300}
    # \.[0-9a-z]{9}) and the other prefixes of gitleaks' gitlab.go (gldt-, glrt-, glptt-, ...).
    (
        "gitlab-token",
        r"gl(?<!\wgl)(?:pat|dt|rt|ptt|cbt|soat|ft|imt|agent|oas)-(?P<secret>[\w.-]{20,300})",
    ),
    # detect-secrets SlackDetector: xox(?:a|b|p|o|s|r)-(?:\d+-)+[a-z0-9]+ ; gitleaks slack-*-token
    # (xoxb-, xoxp-, xoxe-, xapp-).
    ("slack-token", r"x(?<!\wx)(?:ox[abeoprs]|app)-(?P<secret>[0-9A-Za-z][0-9A-Za-z-]{7,250})"),
    # gitleaks "slack-webhook-url": (?:https?://)?hooks.slack.com/(?:services|workflows|triggers)/
    # [A-Za-z0-9+/]{43,56}; detect-secrets allows "_" in the T.../B.../... parts.
    (
        "slack-webhook",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9_+/]{20,120})",
    ),
    # gitleaks "jwt":
    #   \b(ey[a-zA-Z0-9]{17,}\.ey[a-zA-Z0-9\/\\_-]{17,}\.(?:[a-zA-Z0-9\/\\_-]{10,}={0,2})?)
    # detect-secrets JwtTokenDetector: eyJ[A-Za-z0-9-_=]+\.[A-Za-z0-9-_=]+\.?...
    # A JOSE header is a JSON object, so it starts with eyJ ('{"').
    (
        "jwt",
        r"eyJ(?<!\weyJ)(?P<secret>[A-Za-z0-9_-]{14,}\.ey[A-Za-z0-9/\\_-]{17,}\.(?:[A-Za-z0-9/\\_-]{10,}={0,2})?)",
    ),
    # detect-secrets BasicAuthDetector: ://[^:]+:([^@]+)@ . A numeric "password" with no "@"
    # yet is a port (http://host:8080), not held back or masked.
    (
        "url-password",
        r"://[^\s:/?#@'\"]{0,256}:(?!\d{1,5}(?:[/?#\s'\"]|$))(?P<secret>[^\s/?#@'\"]{1,256})@",
    ),
    # gitleaks "curl-auth-header": Authorization:[ \t]{0,5}(?:Basic[ \t]([a-z0-9+/]{8,}={0,3})
    # |(?:Bearer|(?:Api-)?Token)[ \t]([\w=~@.+/-]{8,})|([\w=~@.+/-]{8,})), for any header
    # line rather than only a curl command (curl -v, HTTP logs, `env` of a proxy).
    (
        "authorization-header",
        r"(?i)authorization[\"']?[ \t]{0,16}[:=][ \t]{0,16}[\"']?"
        r"(?:(?:basic|bearer|token|api-token)[ \t]{1,16})?(?![$<*{%])(?P<secret>[\w=~@.+/-]{8,})",
    ),
    # The generic assignment rule, after detect-secrets KeywordDetector (FOLLOWED_BY_EQUAL_SIGNS,
    # FOLLOWED_BY_COLON, ..._QUOTES_REQUIRED) and gitleaks "generic-api-key". `=` (shell, env,
    # logfmt, URL queries) and quoted `:` values (JSON, YAML) are masked whatever they are; a
    # bare `key: value` is masked only if the value looks like a secret (a digit or symbol, or
    # 12+ characters), because "token: refresh it first" in a commit message is prose.
    (
        "password-assignment",
        r"(?i)(?:" + _KEYWORDS + r")" + _NOT_SECRET_NAMES + r"[\w.-]{0,20}?"
        r"(?:[\"']?[ \t]{0,16}(?:=>|:=|=)[ \t]{0,16}[\"']?|[\"']?[ \t]{0,16}:[ \t]{0,16}[\"']"
        r"|[\"']?[ \t]{0,16}:[ \t]{0,16}(?=[^\s'\"]*[0-9!#%+/=_@.^~-]|[^\s'\"]{12}))" + _VALUE,
    ),
)

# Necessary literals of the costliest default patterns (see SecretPattern.triggers).
_TRIGGERS: dict[str, tuple[bytes, ...]] = {
    "password-assignment": (b"pass", b"secret", b"token", b"key"),
    "aws-secret-key": (b"secret",),
    "authorization-header": (b"authorization",),
    "jwt": (b"eyJ",),
}
DEFAULT_PATTERNS: tuple[SecretPattern, ...] = tuple(
    SecretPattern(n, r, _TRIGGERS.get(n, ())) for n, r in _DEFAULTS
)
"""The patterns a relay uses unless configured otherwise (most specific first)."""


# --------------------------------------------------------------------------
# Escape sequences

# ECMA-48: CSI, OSC (ended by BEL or ST), DCS/SOS/PM/APC strings (ended by ST),
# and two- or three-byte escapes (ESC 7, ESC ( B ...).
_ESC = re.compile(
    rb"\x1b(?:\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
    rb"|\][^\x07\x1b]*(?:\x07|\x1b\\)"
    rb"|[PX^_][^\x1b]*\x1b\\"
    rb"|[\x20-\x2f]*[\x30-\x7e])"
)
# The escape sequence that begins at the last ESC, when the end of the data cuts it short.
_ESC_TAIL = re.compile(
    rb"\x1b(?:\[[\x30-\x3f]*[\x20-\x2f]*|\][^\x07\x1b]*|[PX^_][^\x1b]*|[\x20-\x2f]*)\Z"
)
_STRING_STARTS = (b"]", b"P", b"X", b"^", b"_")  # OSC, DCS, SOS, PM, APC: ended by ST (ESC \\)


def _escape_cut(data: bytes) -> int:
    """Where an unfinished escape sequence at the end of ``data`` starts (or ``len(data)``).

    Only the last ESC needs a look: an ESC ends any string sequence before it,
    so an earlier sequence can only be unfinished if the last ESC is a lone
    ESC at the very end, the first byte of the ST that will end it.
    """
    low = max(0, len(data) - _ESC_MAX)
    last = data.rfind(b"\x1b", low)
    if last < 0:
        return len(data)
    if last == len(data) - 1:
        before = data.rfind(b"\x1b", low, last)
        if before >= 0 and data[before + 1 : before + 2] in _STRING_STARTS:
            osc = data[before + 1 : before + 2] == b"]"
            if not (osc and b"\x07" in data[before:last]):
                return before
        return last
    return last if _ESC_TAIL.match(data, last) else len(data)


class _TextMap:
    """Maps positions in the text of ``raw`` (escapes removed) back to bytes of ``raw``."""

    def __init__(self, raw: bytes) -> None:
        self.raw_starts: list[int] = []
        self.text_starts: list[int] = []
        self.text_len = 0
        self.raw_len = len(raw)
        previous = 0
        for m in _ESC.finditer(raw):
            if m.start() > previous:
                self.raw_starts.append(previous)
                self.text_starts.append(self.text_len)
                self.text_len += m.start() - previous
            previous = m.end()
        if previous < len(raw):
            self.raw_starts.append(previous)
            self.text_starts.append(self.text_len)
            self.text_len += len(raw) - previous

    def position(self, index: int) -> int:
        """The byte of ``raw`` holding text character ``index`` (the end for the text's end)."""
        if index >= self.text_len:
            return self.raw_len
        run = _bisect(self.text_starts, index)
        return self.raw_starts[run] + index - self.text_starts[run]

    def intervals(self, start: int, end: int) -> Iterable[tuple[int, int]]:
        """Byte intervals of ``raw`` holding text ``[start, end)`` (escapes skipped)."""
        run = _bisect(self.text_starts, start)
        while start < end and run < len(self.text_starts):
            run_end = (
                self.text_starts[run + 1] if run + 1 < len(self.text_starts) else self.text_len
            )
            stop = min(end, run_end)
            if stop > start:
                offset = self.raw_starts[run] - self.text_starts[run]
                yield start + offset, stop + offset
            start = stop
            run += 1


def _bisect(starts: list[int], index: int) -> int:
    low, high = 0, len(starts)
    while high - low > 1:
        mid = (low + high) // 2
        if starts[mid] <= index:
            low = mid
        else:
            high = mid
    return low


_VISIBLE_ASCII = re.compile(rb"[\x20-\x7e]")


def _stars(chunk: bytes) -> bytes:
    """One ``*`` per column the characters of ``chunk`` take; control characters kept."""
    if chunk.isascii():
        return _VISIBLE_ASCII.sub(b"*", chunk)
    out: list[str] = []
    for ch in chunk.decode("utf-8", "replace"):
        if ch < " " or "\x7f" <= ch < "\xa0":
            out.append(ch)
        elif unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            out.append("**")
        else:
            out.append("*")
    return "".join(out).encode()


# --------------------------------------------------------------------------
# Multi-line private keys

_KEY_HEADER = re.compile(rb"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----")
_KEY_END_SOURCE = r"[ \t]*-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[ \t]*\r?"
# RFC 7468 / RFC 1421 body lines: base64, "Proc-Type: ..." style headers, blank lines.
_KEY_BODY_SOURCE = r"[ \t]*(?:[A-Za-z0-9+/=]+|[A-Za-z][A-Za-z0-9-]*:[^\r\n]*)?[ \t]*\r?"
_KEY_END = re.compile(_KEY_END_SOURCE.encode())
_KEY_BODY = re.compile(_KEY_BODY_SOURCE.encode())


def _prefix_of(source: str) -> re.Pattern[bytes]:
    writer = _Writer("", None, lowered=False)
    return re.compile(writer.prefix(list(_parser.parse(source, 0))).encode() + rb"\Z")


_KEY_END_PREFIX = _prefix_of(_KEY_END_SOURCE)
_KEY_BODY_PREFIX = _prefix_of(_KEY_BODY_SOURCE)

_NONE, _HEADER_LINE, _BODY = 0, 1, 2
_KEY_KIND = "private-key"

_Span = tuple[int, int, int, bool, int]
"""(start, end, rank, counted, origin): text to mask, the index of the pattern that
found it (-1 for a private-key block), whether it is a new secret rather than the
continuation of one released before, and where its match began (the lead, such as
``eyJ``, that the next frame needs to see to recognise a continuation)."""


# --------------------------------------------------------------------------
# The streaming masker


SECRET_INPUT = "secret-input"
"""The kind of a :class:`Masking` for input the :class:`InputGuard` kept out of the record."""


@dataclass(frozen=True)
class Masking:
    """``count`` secrets of ``kind`` were masked in a piece of output.

    What the relay writes as a marker event in the recording and the audit
    log: the kind of secret, never the secret.
    """

    kind: str
    count: int = 1

    def marker(self) -> dict[str, Any]:
        """The data of the recording's ``s`` (redaction) event, see docs/recording.md."""
        return {"what": self.kind, "count": self.count}


class OutputMasker:
    """Masks secrets in a terminal output stream, frame by frame.

    ``feed(data)`` returns the bytes that are safe to release now and the
    maskings done in them; bytes that could be the beginning of a secret are
    held back and come out of a later ``feed`` or of ``flush``. Concatenated,
    the released bytes are the input with secrets masked: nothing is lost,
    reordered or doubled. Call ``flush()`` at the end of the stream and when
    the output has been idle for a short while (see :attr:`pending`).

    The masked stream is not the raw stream with some bytes changed: it comes
    out later (held bytes), and a masked non-ASCII character becomes as many
    ``*`` bytes as it has columns. A relay that gives the driver raw output and
    everyone else masked output must address the two by their own offsets.

    Not thread-safe; one masker per output stream.
    """

    def __init__(
        self,
        patterns: Iterable[SecretPattern] = DEFAULT_PATTERNS,
        *,
        private_key_blocks: bool = True,
        max_holdback: int = DEFAULT_MAX_HOLDBACK,
    ) -> None:
        if max_holdback < 64:
            raise ValueError("max_holdback must be at least 64 bytes")
        self.patterns = tuple(patterns)
        self.private_key_blocks = private_key_blocks
        self.max_holdback = max_holdback
        self._needs_lower = any(p._lowered for p in self.patterns)
        self._held = b""  # raw bytes not released yet
        self._context = b""  # released text of the current line, unmasked (for matching only)
        self._block = _NONE
        self._block_counted = False

    @property
    def pending(self) -> bool:
        """Whether output is held back; the caller should ``flush`` after an idle delay.

        An unfinished escape sequence alone does not count: it is invisible,
        and an idle flush keeps it (see :meth:`flush`).
        """
        return bool(self._held) and _escape_cut(self._held) > 0

    def feed(self, data: bytes) -> tuple[bytes, list[Masking]]:
        """Add output; return what may be released now and the maskings in it."""
        raw = self._held + data if self._held else data
        self._held = b""
        return self._process(raw, final=False)

    def flush(self, end_of_stream: bool = False) -> tuple[bytes, list[Masking]]:
        """Release what is held, masking any secret and any beginning of one (fail closed).

        For an idle flush an unfinished escape sequence at the very end stays
        held: it shows nothing, and releasing it would hide from the patterns a
        secret that continues after the rest of the sequence. At the end of the
        stream (``end_of_stream=True``) everything is released.
        """
        raw, self._held = self._held, b""
        if not raw:
            return b"", []
        return self._process(raw, final=True, end_of_stream=end_of_stream)

    # -- internals --------------------------------------------------------

    def _process(
        self, raw: bytes, final: bool, end_of_stream: bool = False
    ) -> tuple[bytes, list[Masking]]:
        """Mask and release ``raw``; ``final`` masks candidates instead of holding them."""
        cut = len(raw) if end_of_stream else _escape_cut(raw)
        work = raw[:cut]
        has_escapes = b"\x1b" in work
        text = _ESC.sub(b"", work) if has_escapes else work
        base = len(self._context)
        whole = self._context + text if base else text
        lower = whole.lower() if self._needs_lower else whole
        spans: list[_Span] = []
        hold = len(whole)

        if self.private_key_blocks:
            hold = min(hold, self._key_blocks(whole, base, final, spans))

        seen: dict[tuple[bool, bytes], bool] = {}  # each literal is looked for once per frame

        def present(lowered: bool, literal: bytes, subject: bytes) -> bool:
            key = (lowered, literal)
            if key not in seen:
                seen[key] = literal in subject
            return seen[key]

        for priority, pattern in enumerate(self.patterns):
            subject = lower if pattern._lowered else whole
            lowered = pattern._lowered
            if pattern.triggers and not any(present(lowered, t, subject) for t in pattern.triggers):
                continue  # no match is possible in this text (candidates are checked below)
            group = pattern._group
            for full in pattern._full:
                for m in full.finditer(subject):
                    start, end = m.span(group)
                    if end > base and end > start:
                        # A match that starts in the released context continues one
                        # that was released masked (and counted) before.
                        spans.append((start, end, priority, start >= base, m.start()))

        # Candidates: matches that the end of the text may cut short (on the last
        # line: no pattern spans lines). They are held back, unless this is a
        # flush or the earliest has grown past max_holdback: then they are all
        # masked (fail closed), and their continuation is in the next frames.
        line_start = whole.rfind(b"\n") + 1
        candidates: list[_Span] = []
        for priority, pattern in enumerate(self.patterns):
            subject = lower if pattern._lowered else whole
            search_from = max(line_start, len(whole) - pattern._reach)
            for partial in pattern._partial:
                cut_short = partial.search(subject, search_from)
                if cut_short is not None and cut_short.start("s") < len(whole):
                    start = cut_short.start("s")
                    candidates.append(
                        (start, len(whole), priority, start >= base, cut_short.start())
                    )
        if candidates:
            first = min(c[0] for c in candidates)
            if final or len(whole) - first > self.max_holdback:
                spans += candidates
            else:
                hold = min(hold, first)
        hold = max(hold, base)

        # Release whole[base:hold] (= text[:hold - base]) with the spans inside it masked.
        release_text_end = hold - base
        maskings: dict[str, int] = {}
        intervals: list[tuple[int, int]] = []  # in `text` coordinates
        for start, end, rank, counted, _origin in _merge(spans):
            if end <= base or start >= hold:
                continue
            if counted:
                kind = _KEY_KIND if rank < 0 else self.patterns[rank].name
                maskings[kind] = maskings.get(kind, 0) + 1
            a, b = max(start, base) - base, min(end, hold) - base
            while a > 0 and 0x80 <= text[a] < 0xC0:
                a -= 1
            while b < len(text) and 0x80 <= text[b] < 0xC0 and b < release_text_end:
                b += 1
            intervals.append((a, b))

        if has_escapes and (intervals or release_text_end < len(text)):
            mapping = _TextMap(work)
            raw_release = mapping.position(release_text_end)
            raw_intervals = [iv for a, b in intervals for iv in mapping.intervals(a, b)]
        else:  # no escapes, or nothing held back and nothing masked: release it all
            raw_release = len(work) if release_text_end == len(text) else release_text_end
            raw_intervals = intervals
        out = _apply(work, raw_release, raw_intervals)
        self._held = raw[raw_release:]

        # Keep the released text of the current line as context for the next frame:
        # its last max_holdback bytes, and more if a secret runs up to the release
        # point (it was too long to hold back whole), so that its continuation is
        # still recognised, from its lead on.
        released = whole[:hold]
        line_start = released.rfind(b"\n") + 1
        keep = max(line_start, len(released) - self.max_holdback)
        for start, end, _rank, _counted, origin in spans:
            if start < hold <= end and origin >= line_start:
                keep = min(keep, max(origin, len(released) - _CONTEXT_MAX))
        self._context = released[keep:]
        return out, [Masking(kind, count) for kind, count in maskings.items()]

    def _key_blocks(self, whole: bytes, base: int, final: bool, spans: list[_Span]) -> int:
        """Mask the body lines of multi-line private keys; return where to hold back from."""
        n = len(whole)
        pos = base
        while True:
            if self._block == _NONE:
                m = _KEY_HEADER.search(whole, max(pos - 200, 0) if pos == base else pos)
                while m is not None and m.end() <= base:
                    m = _KEY_HEADER.search(whole, m.end())
                if m is None:
                    return n
                self._block = _HEADER_LINE
                self._block_counted = False
                pos = m.end()
            if self._block == _HEADER_LINE:
                newline = whole.find(b"\n", pos)
                rest = whole[pos : newline if newline >= 0 else n]
                if rest.strip():
                    self._block = _NONE  # the one-line form, left to the regex pattern
                    continue
                if newline < 0:
                    return n
                self._block = _BODY
                pos = newline + 1
            # _BODY: pos is at the start of a line
            while True:
                newline = whole.find(b"\n", pos)
                if newline < 0:
                    line = whole[pos:]
                    if not line:
                        return n
                    if _KEY_END_PREFIX.match(line) and not final:
                        return pos
                    if _KEY_BODY_PREFIX.match(line):
                        if final or len(line) > _BODY_LINE_MAX:
                            self._mask_line(whole, pos, n, spans)
                            return n
                        return pos
                    self._block = _NONE
                    break
                line = whole[pos:newline]
                if _KEY_END.fullmatch(line):
                    self._block = _NONE
                    pos = newline + 1
                    break
                if _KEY_BODY.fullmatch(line):
                    self._mask_line(whole, pos, newline, spans)
                    pos = newline + 1
                    continue
                self._block = _NONE
                break

    def _mask_line(self, whole: bytes, start: int, end: int, spans: list[_Span]) -> None:
        """Mask one body line (not its line end); a key counts once, at its first line."""
        while end > start and whole[end - 1] in b"\r":
            end -= 1
        if end > start:
            spans.append((start, end, -1, not self._block_counted, start))
            self._block_counted = True


def _merge(spans: list[_Span]) -> list[_Span]:
    """Overlapping spans become one, of the most specific kind (lowest rank) among them.

    Rank -1 is a private-key block, which outranks every pattern; the merged
    span is counted if any of its parts is a new secret.
    """
    merged: list[_Span] = []
    for start, end, rank, counted, origin in sorted(spans):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (
                last[0],
                max(last[1], end),
                min(last[2], rank),
                last[3] or counted,
                min(last[4], origin),
            )
        else:
            merged.append((start, end, rank, counted, origin))
    return merged


def _apply(work: bytes, release: int, intervals: list[tuple[int, int]]) -> bytes:
    """``work[:release]`` with every interval replaced by stars."""
    if not intervals:
        return work[:release]
    parts: list[bytes] = []
    previous = 0
    for start, end in sorted(intervals):
        start = max(start, previous)
        if start >= release:
            break
        end = min(end, release)
        if end <= start:
            continue
        parts.append(work[previous:start])
        parts.append(_stars(work[start:end]))
        previous = end
    parts.append(work[previous:release])
    return b"".join(parts)


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


# --------------------------------------------------------------------------
# Password prompts


DEFAULT_PROMPT = re.compile(
    rb"(?i)\b(?:password|passwd|passphrase|pass phrase|passcode|pin|otp"
    rb"|one[- ]time (?:password|code|pin)|verification code|security code"
    rb"|authenticat(?:ion|or) code|2fa|mfa|token|secret)\b"
    rb"[^\r\n]{0,100}?[:?][ \t*\x08]*\Z"
)
"""A password prompt at the end of the output: ``Password:``, ``[sudo] password for
alice:``, ``Enter passphrase for key '...':``, ``Enter PIN:``, ``Verification code:``,
``OTP:``, ``Token:``. Stars and backspaces after it are sudo's ``pwfeedback`` echo."""

# Output that leaves the prompt's line: a line feed, clearing the screen, moving the
# cursor to an absolute position, or a terminal reset.
_LEAVES_LINE = re.compile(rb"\n|\x1b\[[0-9;?]*[HfJ]|\x1bc")
_INPUT_ENDS = re.compile(rb"[\r\n\x03\x04]")


class InputGuard:
    """Tells whether typed input answers a password prompt.

    The relay shows it the shell's raw output (:meth:`observe_output`) and asks
    about each piece of input (:meth:`classify_input`). After output that ends
    with a password prompt, the guard is *armed*: input is secret, to be
    forwarded to the shell but neither recorded nor shown to viewers, until the
    input ends it (Enter, ctrl-c, ctrl-d) or the output leaves the prompt's
    line (a new line, a cleared screen). Output on the prompt's own line, such
    as sudo's ``*`` feedback or the echo of a program that reads with echo on,
    keeps it armed. The relay marks the input it kept out of the record with a
    ``Masking(SECRET_INPUT)``.

    The guard errs on the side of secrecy: a command line that itself ends in
    ``password:`` arms it too, until Enter.
    """

    def __init__(self, prompt: re.Pattern[bytes] = DEFAULT_PROMPT) -> None:
        self.prompt = prompt
        self._line = b""  # text of the output's last line, escapes removed
        self._partial_escape = b""
        self._armed = False

    @property
    def armed(self) -> bool:
        """Whether the next input is secret."""
        return self._armed

    def observe_output(self, data: bytes) -> None:
        """Follow the shell's output (raw, before masking)."""
        raw = self._partial_escape + data
        cut = _escape_cut(raw)
        raw, self._partial_escape = raw[:cut], raw[cut:]
        left = _LEAVES_LINE.search(raw) is not None
        text = _ESC.sub(b"", raw) if b"\x1b" in raw else raw
        newline = text.rfind(b"\n")
        if newline >= 0:
            self._line = text[newline + 1 :]
        elif left:
            self._line = text
        else:
            self._line = (self._line + text)[-512:]
        if text.strip(b"\x07") and self.prompt.search(self._line):
            self._armed = True
        elif left:
            self._armed = False

    def classify_input(self, data: bytes) -> bool:
        """Whether ``data`` (or part of it) is secret; Enter, ctrl-c or ctrl-d disarms.

        When ``data`` holds more than the end of the secret (a paste of
        ``hunter2\\rls\\r``), all of it is reported secret; :meth:`split_input`
        tells the parts apart.
        """
        return any(secret for _, secret in self.split_input(data))

    def split_input(self, data: bytes) -> list[tuple[bytes, bool]]:
        """``data`` cut into (piece, is_secret), the secret piece ending with its Enter."""
        if not self._armed or not data:
            return [(data, False)] if data else []
        m = _INPUT_ENDS.search(data)
        if m is None:
            return [(data, True)]
        self._armed = False
        pieces = [(data[: m.end()], True)]
        if m.end() < len(data):
            pieces.append((data[m.end() :], False))
        return pieces

    def disarm(self) -> None:
        """Forget a prompt (the relay knows better, e.g. the session was reset)."""
        self._armed = False
