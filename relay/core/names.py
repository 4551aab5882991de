"""When two names would pass for each other on a screen.

A guest picks their display name; another participant reading the roster or
a chat line must not mistake ``guest:a1ice`` for ``alice``. Two names clash
when their skeletons are equal: NFKC, case folding, then the UTS #39
confusables mapping. Names on this relay are ASCII (``config.NAME_PATTERN``),
where confusables.txt maps only a handful of characters (``0`` → ``O``,
``1``/``I``/``|`` → ``l``, ``m`` → ``rn``, and two quote marks), so the table
below is that mapping restricted to ASCII, after case folding; a library
carrying the whole Unicode table would add nothing for these names.
"""

from __future__ import annotations

import unicodedata

GUEST_PREFIX = "guest:"

# confusables.txt (UTS #39), ASCII sources; O and l as case folding leaves them
_BEFORE_FOLDING = str.maketrans({"I": "l"})
_CONFUSABLE = str.maketrans({"0": "o", "1": "l", "|": "l", "m": "rn", "`": "'", '"': "''"})


def skeleton(name: str) -> str:
    """The form two look-alike names share (``guest:`` is not part of the look)."""
    bare = name.removeprefix(GUEST_PREFIX)
    normal = unicodedata.normalize("NFKC", bare).translate(_BEFORE_FOLDING)
    return normal.casefold().translate(_CONFUSABLE)


def confusable(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` would pass for each other (``Alice``, ``a1ice``, ``guest:alice``)."""
    return skeleton(a) == skeleton(b)
