"""What a secret looks like: :class:`SecretPattern` and :data:`DEFAULT_PATTERNS`.

The defaults are taken from gitleaks' rule set (``config/gitleaks.toml``,
generated from ``cmd/generate/config/rules/*.go``) and Yelp's detect-secrets
plugins (``detect_secrets/plugins/*.py``); each pattern cites its source.
Extra patterns come from the relay config through :func:`parse_patterns`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relay.masking.errors import PatternError
from relay.masking.prefix import (
    _anchors,
    _c,
    _parser,
    _prefix_regex,
    _secret_min_width,
    _split_alternatives,
    _tail_class,
    _Writer,
)

__all__ = ["CONTEXT_MAX", "DEFAULT_PATTERNS", "PatternError", "SecretPattern", "parse_patterns"]

CONTEXT_MAX = 65536
"""The longest a candidate (a match cut short by the end of the text) is looked for."""


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

    A secret part that ends in a repeated character class (``[^\\s'"]{1,200}``)
    has no end of its own: the masker goes on masking over further characters
    of that class, so a value longer than the repeat's bound, or one that runs
    on past what a frame released, is masked whole. ``tail`` (a regex for one
    character) overrides the class found, for a secret that ends otherwise.

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
    tail: str = ""
    _full: tuple[re.Pattern[bytes], ...] = field(init=False, repr=False)
    _partial: tuple[re.Pattern[bytes], ...] = field(init=False, repr=False)
    _group: str | int = field(init=False, repr=False)
    _lowered: bool = field(init=False, repr=False)
    _reach: int = field(init=False, repr=False)
    _tail: re.Pattern[bytes] | None = field(init=False, repr=False)
    _lines: int = field(init=False, repr=False)
    _lead: int = field(init=False, repr=False)
    _anchors: tuple[bytes, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        full, partial, group, lowered, tail = _compile(self.name, self.regex, "")
        tail = self.tail or tail
        # A pattern that spans a line break (JWT) names \n outside a class: its
        # candidates are looked for on the last two lines, the others' on the last one.
        outside_classes = re.sub(r"\[(?:\\.|[^\]])*\]", "", self.regex)
        object.__setattr__(self, "_lines", 2 if "\\n" in outside_classes else 1)
        object.__setattr__(self, "_tail", re.compile(f"(?:{tail})+".encode()) if tail else None)
        object.__setattr__(self, "_full", full)
        object.__setattr__(self, "_partial", partial)
        object.__setattr__(self, "_group", group)
        object.__setattr__(self, "_lowered", lowered)
        # The longest a match can be: a candidate (a match cut short by the end of
        # the text) starts no further back, so only that much is searched for one.
        # This keeps a line full of near-matches ("token=token=...") linear.
        parsed = _parser.parse(self.regex, 0)
        width = int(parsed.getwidth()[1])
        object.__setattr__(self, "_reach", min(width, CONTEXT_MAX))
        # The longest the part before the secret group can be: a match that ends in
        # a new frame and begins before it has its lead within this much before the
        # frame, or its secret had begun already (and was held back as a candidate).
        secret = parsed.state.groupdict.get("secret")
        lead = next(
            (i for i, (op, av) in enumerate(parsed) if op is _c.SUBPATTERN and av[0] == secret),
            None,
        )
        lead_width = int(parsed[:lead].getwidth()[1]) if secret is not None and lead else 0
        if secret is not None and lead is None:
            lead_width = width  # the group is nested: the whole match may be lead
        object.__setattr__(self, "_lead", min(lead_width, CONTEXT_MAX))
        # Literals one of which every match holds: what the prefilter looks for.
        anchors = self.triggers or _anchors(_Writer("", None, self._lowered), list(parsed))
        object.__setattr__(self, "_anchors", tuple(anchors or ()))

    def finditer(self, text: bytes) -> Iterator[re.Match[bytes]]:
        """Every match in ``text``, searched as the masker searches: with the
        rewritten expressions (lowered for ``(?i)``, alternatives split out), in
        the ASCII-lowered text when the pattern is case-insensitive.

        The masker's hot path does the same over text lowered once for every
        pattern; this is the rule it follows, one pattern at a time.
        """
        subject = text.lower() if self._lowered else text
        for full in self._full:
            yield from full.finditer(subject)

    def secret_span(self, match: re.Match[bytes]) -> tuple[int, int]:
        """The part of ``match`` that is masked: its ``secret`` group, or all of it."""
        return match.span(self._group)

    def held_from(self, text: bytes) -> int | None:
        """Where the masker holds output back when ``text`` ends here: the start of
        the secret part of the earliest match the end of ``text`` may cut short
        (a candidate), or ``None`` when no match can be under way."""
        subject = text.lower() if self._lowered else text
        found = [partial.search(subject) for partial in self._partial]
        return min((m.start("s") for m in found if m is not None), default=None)

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
) -> tuple[
    tuple[re.Pattern[bytes], ...], tuple[re.Pattern[bytes], ...], str | int, bool, str | None
]:
    """The full and prefix ("partial") regexes, the masked group, lowered or not, the tail class."""
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
    return full, partial, group, lowered, _tail_class(writer, items)


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
# A value: after an opening quote, up to the closing one or the end of the line (blanks
# included); otherwise up to a blank, quote or separator. Not a placeholder ($VAR, <x>,
# ***, {{x}}, %x%), nor PEM armour (-----BEGIN ..., masked by the private-key rules).
# A bare value longer than 200 characters is masked whole: the masker goes on over
# the characters both branches allow (see SecretPattern and _tail_class).
_VALUE = r"(?![$<*{%]|-----)(?P<secret>(?<=[\"'])[^\"'\r\n]{1,4096}|[^\s'\"`;,&)}\]<>]{1,200})"
# A command-line argument that is a secret: -pSECRET, -p SECRET, -p 'SECRET'.
_ARGUMENT = r"[\"']?(?![$<*{%]|-----)(?P<secret>[^\s'\"`;&|)<>]{1,200})"
# Characters of a JWT part, and a line break inside one (a program folding the token).
_JWT_PART = r"(?:[A-Za-z0-9/\\_-]|\r?\n(?=[A-Za-z0-9/\\_-]))"
_JWT_SIGNATURE = r"(?:[A-Za-z0-9/\\_-]|\r?\n(?=[A-Za-z0-9/\\_-]{4,}={0,2}\r?\n))"

_DEFAULTS: tuple[tuple[str, str], ...] = (
    # gitleaks "private-key":
    #   (?i)-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S-]{64,}?KEY(?: BLOCK)?-----
    # detect-secrets PrivateKeyDetector:
    #   BEGIN (?: DSA | EC | OPENSSH | PGP | RSA | SSH2 ENCRYPTED | )PRIVATE KEY
    # This is the JSON form ("\n" escapes); the others, multi-line or with blanks for
    # line breaks (`echo $KEY`), are followed by relay.masking.keys.
    (
        "private-key",
        r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?:\\r)?\\n"
        r"(?P<secret>(?:\\[nrt]|[A-Za-z0-9+/=]|-(?!----)){16,})",
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
    # `aws configure get aws_secret_access_key` prints the key alone on the next line
    # (bash may put a carriage return before it).
    (
        "aws-configure-get",
        r"aws[ \t]{1,16}configure[ \t]{1,16}get[ \t]{1,16}(?:aws_)?secret_access_key\b"
        r"[^\n]{0,200}\n\r?(?P<secret>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
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
    # A program that folds long lines (base64, fold, a narrow log viewer) may break the
    # token: a line break inside a part, or before a dot, is part of the token.
    (
        "jwt",
        r"eyJ(?<!\weyJ)(?P<secret>"
        + _JWT_PART
        + r"{14,}(?:\r?\n)?\.(?:\r?\n)?ey"
        + _JWT_PART
        + r"{17,}\.(?:\r?\n)?(?:"
        + _JWT_SIGNATURE
        + r"{10,}={0,2})?)",
    ),
    # detect-secrets BasicAuthDetector: ://[^:]+:([^@]+)@ . A numeric "password" with no "@"
    # yet is a port (http://host:8080), not held back or masked. The password runs to the
    # last "@" before the host: it may hold "@" itself (p@ss@host).
    (
        "url-password",
        r"://[^\s:/?#@'\"]{0,256}:(?!\d{1,5}(?:[/?#\s'\"]|$))(?P<secret>[^\s/?#'\"]{1,256})@",
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
    # MYSQL_PWD, DB_PWD, ORACLE_PWD: "pwd" after an underscore is a password; PWD and
    # OLDPWD alone are directories.
    (
        "pwd-assignment",
        r"(?i)_pwd[\"']?[ \t]{0,16}(?:=>|:=|=|:)[ \t]{0,16}" + _ARGUMENT,
    ),
    # Passwords on command lines (the typed command's echo, shell history, ps output):
    # mysql -pSECRET (mysql's -p takes no space: "-p db" asks for it), sshpass -p SECRET,
    # curl -u user:SECRET, docker login -p SECRET / --password SECRET.
    (
        "command-password",
        r"mysql(?:dump|admin|import|show|check|slap|binlog|sh)?\b[^\r\n|;&]{0,200}?[ \t][\"']?-p"
        + _ARGUMENT,
    ),
    (
        "command-password",
        r"sshpass\b[^\r\n|;&]{0,100}?[ \t]-p[ \t]{0,16}" + _ARGUMENT,
    ),
    (
        "command-password",
        r"curl\b[^\r\n|;&]{0,300}?[ \t](?:-u|--user|--proxy-user|-U)(?:[ \t]{1,16}|=)?[\"']?"
        r"[^\s:'\"]{0,256}:" + _ARGUMENT,
    ),
    (
        "command-password",
        r"docker\b[^\r\n|;&]{0,100}?[ \t]login\b[^\r\n|;&]{0,300}?[ \t]"
        r"(?:-p|--password)(?:[ \t]{1,16}|=)" + _ARGUMENT,
    ),
)

# Necessary literals of the costliest default patterns (see SecretPattern.triggers).
_TRIGGERS: dict[str, tuple[bytes, ...]] = {
    "password-assignment": (b"pass", b"secret", b"token", b"key"),
    "aws-secret-key": (b"secret",),
    "authorization-header": (b"authorization",),
    "jwt": (b"eyJ",),
}
_TAILS: dict[str, str] = {"jwt": r"[A-Za-z0-9/\\_.=-]"}
# Kinds found by more than one rule.
_KINDS = {"pwd-assignment": "password-assignment", "aws-configure-get": "aws-secret-key"}
DEFAULT_PATTERNS: tuple[SecretPattern, ...] = tuple(
    SecretPattern(_KINDS.get(n, n), r, _TRIGGERS.get(n, ()), _TAILS.get(n, ""))
    for n, r in _DEFAULTS
)
"""The patterns a relay uses unless configured otherwise (most specific first)."""
