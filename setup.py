"""Builds warroom; compiles the hot modules with mypyc when this machine can.

Everything else is in pyproject.toml. The modules in :data:`COMPILED` (the
terminal model, which every byte of a session's output goes through) are
compiled to C extensions with mypyc (part of mypy: the code is already
``mypy --strict`` clean), which makes them about 1.5x faster (docs/performance.md,
row 6). Without a C compiler or Python's headers, or with
``WARROOM_PURE_PYTHON=1``, nothing is compiled and the same modules run as
Python: they are the reference, and the package works either way.

The build records a hash of each compiled module's source in
``relay/native.json``; ``relay/__init__.py`` loads the compiled modules only
while those sources are unchanged, so that an edit after an editable install
never runs old compiled code unnoticed (``make`` rebuilds).

To compile one more module: add its path to :data:`COMPILED` (it must pass
``mypy --strict``, and mypyc's rules: no monkeypatching or interpreted
subclasses of its classes), run ``make``, and check the differential test
(tests/relay/terminal/test_terminal_compiled.py) and the module's own tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent

#: Compiled together into one extension (``relay/native__mypyc``): calls between
#: them are C calls. Paths relative to this file.
COMPILED = [
    "relay/terminal/cells.py",
    "relay/terminal/fastpath.py",
    "relay/terminal/model.py",
    "relay/terminal/modes.py",
    "relay/terminal/motion.py",
    "relay/terminal/parser.py",
    "relay/terminal/screen.py",
    "relay/terminal/scrollback.py",
    "relay/terminal/skim.py",
    "relay/terminal/snapshot.py",
]
GROUP = "relay.native"


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def source_hash(path: Path) -> str:
    """As ``relay.source_hash``, which checks it when the package is imported."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def why_not_compiled() -> str | None:
    """Why this machine cannot compile (None: it can)."""
    if os.environ.get("WARROOM_PURE_PYTHON"):
        return "WARROOM_PURE_PYTHON is set"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.exists():
        return f"no Python headers ({headers})"
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        return "mypyc is not installed (it comes with mypy)"
    return None


class BuildNative(build_ext):
    """build_ext that records what it compiled, or removes the record when it could not."""

    def run(self) -> None:
        self.failed: list[str] = []
        super().run()
        root = HERE if self.inplace else Path(self.build_lib)
        record = root / "relay" / "native.json"
        ours = [e for e in self.extensions if getattr(e, "warroom_native", False)]
        built = [e.name for e in ours if e.name not in self.failed]
        if ours and len(built) == len(ours):
            hashes = {module_name(p): source_hash(HERE / p) for p in COMPILED}
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"group": GROUP, "modules": hashes}, indent=1) + "\n")
        elif record.exists():
            record.unlink()  # (what is left of an older build must not load)

    def build_extension(self, ext: Any) -> None:
        try:
            super().build_extension(ext)
        except Exception:
            self.failed.append(ext.name)
            raise  # (an optional extension's failure is reported and skipped by setuptools)


#: The commands that build (pip also runs this file for metadata, which needs no C).
BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "install", "develop"}


def native_extensions() -> list[Any]:
    if not BUILDS & set(sys.argv[1:]):
        return []
    why = why_not_compiled()
    if why is not None:
        print(f"warroom: not compiling {GROUP} ({why}): pure Python", file=sys.stderr)
        return []
    from mypyc.build import mypycify

    try:
        extensions = mypycify(COMPILED, group_name=GROUP, opt_level="3")
    except (Exception, SystemExit) as e:  # mypy's errors end in SystemExit
        print(f"warroom: mypyc cannot compile {GROUP} ({e!r}): pure Python", file=sys.stderr)
        return []
    for extension in extensions:
        extension.optional = True  # a compiler that fails leaves the pure modules
        extension.warroom_native = True
    return extensions


setup(ext_modules=native_extensions(), cmdclass={"build_ext": BuildNative})
