"""warroom relay: holds the only SSH session to production and decides who may do what.

Some modules (the terminal model, which every byte of output goes through) may
be compiled with mypyc when the package is built (setup.py). A compiled
module is an extension file next to its ``.py``, and Python prefers the
extension: after an edit of the ``.py``, the old compiled code would run. So
the build records a hash of each compiled module's source (``native.json``),
and the finder installed here lets an extension load only while every
recorded source is unchanged; otherwise every ``relay`` module loads from its
``.py``, with a warning that says how to rebuild (``make`` does). The pure
Python modules are the reference: ``WARROOM_PURE_PYTHON=1`` loads them
whatever was built (the tests compare both).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__version__ = "0.1.0"

#: The build's record of what it compiled: ``{"modules": {name: sha256 of the .py}}``.
NATIVE_RECORD = Path(__file__).with_name("native.json")
_ROOT = Path(__file__).resolve().parent.parent
_EXTENSIONS = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def source_hash(path: Path) -> str:
    """What the build records of a compiled module's source (setup.py uses the same)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _verified() -> tuple[frozenset[str], str]:
    """The modules whose compiled form may load, and why none may (empty if some may)."""
    if os.environ.get("WARROOM_PURE_PYTHON"):
        return frozenset(), "WARROOM_PURE_PYTHON is set"
    try:
        recorded: dict[str, str] = json.loads(NATIVE_RECORD.read_text())["modules"]
    except FileNotFoundError:
        return frozenset(), "this build compiled nothing"
    except (OSError, ValueError, KeyError, TypeError) as e:
        return frozenset(), f"{NATIVE_RECORD} is unreadable ({e})"
    for name, digest in recorded.items():
        path = _ROOT.joinpath(*name.split(".")).with_suffix(".py")
        try:
            current = source_hash(path)
        except OSError:
            current = ""
        if current != digest:
            return frozenset(), f"{path} changed since the build"
    return frozenset(recorded), ""


_NATIVE, _WHY_PURE = _verified()


def native_modules() -> frozenset[str]:
    """The modules that run compiled in this process (none: all are pure Python)."""
    return frozenset(n for n in _NATIVE if _compiled(sys.modules.get(n)))


def pure_reason() -> str:
    """Why no compiled module may load in this process ("" when the build's may)."""
    return _WHY_PURE


def _compiled(module: ModuleType | None) -> bool:
    return module is not None and str(getattr(module, "__file__", "")).endswith(_EXTENSIONS)


_warned: list[str] = []  # (once per process)


class _SourceFirst:
    """A meta path finder: a ``relay`` module whose extension is not vouched for loads its .py.

    Every module of the package goes through it (one lookup, as the default
    finder would do): an extension left over from a build of other sources
    never shadows the code beside it.
    """

    @staticmethod
    def find_spec(
        fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("relay.") or path is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not str(spec.origin).endswith(_EXTENSIONS) or fullname in _NATIVE:
            return spec
        origin = Path(str(spec.origin))
        source = origin.with_name(origin.name.partition(".")[0] + ".py")  # (or __init__.py)
        if not source.exists():
            return spec
        if _WHY_PURE and not _WHY_PURE.startswith("WARROOM_PURE_PYTHON") and not _warned:
            _warned.append(fullname)
            warnings.warn(
                f"{fullname}: running the pure-Python module, not the compiled one "
                f"({_WHY_PURE}); rebuild with `make` (or `pip install -e .`)",
                RuntimeWarning,
                stacklevel=2,
            )
        return importlib.util.spec_from_file_location(
            fullname, source, submodule_search_locations=spec.submodule_search_locations
        )


if not any(isinstance(f, _SourceFirst) for f in sys.meta_path):
    sys.meta_path.insert(0, _SourceFirst())
