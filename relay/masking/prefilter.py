"""Which patterns can match in a text: one pass of a compiled multi-literal scanner.

Every default pattern begins with one of a few literals (``ghp_``, ``AKIA``,
``eyJ``, ``://``, ``password``...): its *anchors* (:func:`relay.masking.prefix._anchors`,
or its ``triggers``). Python's re finds one literal at a time, at one to three
GB/s, so twenty patterns cost twenty passes over every frame: on the relay's
hot path that was ~40% of its CPU (docs/performance.md). Hyperscan (Intel's
regex engine, the ``hyperscan`` package) looks for all the anchors at once,
in one pass, several GB/s; the masker then runs only the patterns whose
anchors are in the frame. Ordinary output holds none, so it costs one pass.

The prefilter only ever says "maybe": a pattern without anchors (a config
pattern that starts with a class) is always run, and where the hyperscan
package cannot be imported (it ships wheels for x86-64) every pattern is
run, which gives the same result, slower. Case-insensitive patterns'
anchors are matched ignoring case.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from relay.masking.patterns import SecretPattern

_hs: Any
try:  # pragma: no cover - which branch runs depends on the platform
    import hyperscan as _hs
except ImportError:  # pragma: no cover
    _hs = None

__all__ = ["AVAILABLE", "BlockScanner", "Prefilter", "prefilter_for"]

AVAILABLE = _hs is not None
"""Whether the compiled scanner is there (otherwise every pattern is always run)."""


class Prefilter:
    """Scans a text once; says which patterns (by index) may match in it.

    ``extra`` literals (case-sensitive) get ids after the patterns': the
    masker uses one for the private-key header.
    """

    def __init__(
        self,
        patterns: Sequence[SecretPattern],
        extra: Sequence[bytes] = (),
        *,
        compiled: bool = True,
    ) -> None:
        self.size = len(patterns)
        self.always = frozenset(i for i, p in enumerate(patterns) if not p._anchors)
        self._db: Any = None
        self._local = threading.local()  # one hyperscan scratch space per thread
        self._all = frozenset(range(self.size + len(extra)))
        if not (compiled and AVAILABLE):
            return
        expressions: list[bytes] = []
        ids: list[int] = []
        flags: list[int] = []
        for i, pattern in enumerate(patterns):
            if pattern._anchors:
                expressions.append(b"|".join(_escape(a) for a in pattern._anchors))
                ids.append(i)
                caseless = _hs.HS_FLAG_CASELESS if pattern._lowered else 0
                flags.append(_hs.HS_FLAG_SINGLEMATCH | caseless)
        for j, literal in enumerate(extra):
            expressions.append(_escape(literal))
            ids.append(self.size + j)
            flags.append(_hs.HS_FLAG_SINGLEMATCH)
        if not expressions:
            return
        db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        db.compile(expressions=expressions, ids=ids, elements=len(ids), flags=flags)
        self._db = db

    def scan(self, text: bytes) -> frozenset[int]:
        """The indexes of the patterns (and extras) that may match in ``text``."""
        if self._db is None:
            return self._all
        found: set[int] = set(self.always)

        def hit(pattern_id: int, start: int, end: int, flags: int, context: object) -> None:
            found.add(pattern_id)

        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = _hs.Scratch(self._db)
        self._db.scan(text, match_event_handler=hit, scratch=scratch)
        return frozenset(found)


class BlockScanner:
    """Whether any of some byte expressions matches in a text: one compiled pass.

    For the questions the hot path asks of every frame (:mod:`relay.masking.screen`:
    does it only append?). Where hyperscan is missing, :attr:`available` is
    False and the caller answers by its own slower means.
    """

    def __init__(self, expressions: Sequence[bytes]) -> None:
        self._db: Any = None
        self._local = threading.local()
        if not AVAILABLE:
            return
        db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        db.compile(
            expressions=list(expressions),
            ids=list(range(len(expressions))),
            elements=len(expressions),
            flags=[_hs.HS_FLAG_SINGLEMATCH] * len(expressions),
        )
        self._db = db

    @property
    def available(self) -> bool:
        return self._db is not None

    def search(self, text: bytes) -> bool:
        """Whether an expression matches somewhere in ``text`` (the scan stops at the first)."""
        found = False

        def hit(pattern_id: int, start: int, end: int, flags: int, context: object) -> bool:
            nonlocal found
            found = True
            return True  # stop scanning

        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = _hs.Scratch(self._db)
        with contextlib.suppress(_hs.ScanTerminated):  # raised when ``hit`` stops the scan
            self._db.scan(text, match_event_handler=hit, scratch=scratch)
        return found


@lru_cache(maxsize=32)
def prefilter_for(patterns: tuple[SecretPattern, ...], extra: tuple[bytes, ...]) -> Prefilter:
    """One compiled prefilter per pattern set: compiling takes milliseconds, and
    a masker is made for every chat message and string sequence."""
    return Prefilter(patterns, extra)


def _escape(literal: bytes) -> bytes:
    """``literal`` as a hyperscan expression that matches exactly it."""
    return b"".join(b"\\x%02x" % byte for byte in literal)
