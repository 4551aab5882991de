"""The compiled terminal model (setup.py, mypyc) against the pure-Python modules it is built from.

The pure modules are the reference. A worker process that loads them
(``WARROOM_PURE_PYTHON=1``) is fed the same generated streams as the compiled
model in this process, and both must end in the same state after every feed,
on the fast path and on the reference path: cells, cursor, pending wrap,
modes, scrollback, dirty rows, snapshot bytes and device replies. The other
terminal tests run against whatever this process loaded: the compiled model
when the package was built with it (CI requires it).

A compiled module shadows its ``.py``, so ``relay/__init__.py`` loads one only
while the sources the build recorded are unchanged: these tests check that an
edited source, or an extension nobody vouches for, falls back to the ``.py``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relay
from relay.terminal import TerminalModel
from tests.relay.terminal.test_terminal import state
from tests.terminal_streams import SIZES, chunked, shell_streams, streams
from tests.tools import ROOT, in_ci, require_tool

EXAMPLES = settings(max_examples=max(100, settings.default.max_examples))

#: Feeds each stream to a fast and a reference model, and prints what they show.
WORKER = """
import base64, json, sys
import relay
from tests.relay.terminal.test_terminal_compiled import run
assert not relay.native_modules(), "the worker must run the pure modules"
for line in sys.stdin:
    job = json.loads(line)
    chunks = [base64.b64decode(c) for c in job["chunks"]]
    print(json.dumps(run(chunks, *job["size"])), flush=True)
"""


def run(chunks: list[bytes], cols: int, rows: int) -> list[str]:
    """What both paths show after each feed, as text to compare across processes."""
    shown: list[str] = []
    for fast in (True, False):
        model = TerminalModel(cols, rows, fast=fast)
        for chunk in chunks:
            model.feed(chunk)
            shown.append(repr(state(model)) + repr(sorted(model.dirty)))
            model.dirty.clear()
        shown.append(repr(model.snapshot(history_lines=5)) + repr(model.take_replies()))
    return shown


def compiled() -> bool:
    return "relay.terminal.model" in relay.native_modules()


def require_compiled() -> None:
    require_tool(compiled(), f"the terminal model is not compiled here ({relay.pure_reason()})")


def test_the_compiled_model_runs_when_built() -> None:
    """CI compiles it (gcc is there): a build that silently fell back would test nothing."""
    if os.environ.get("WARROOM_PURE_PYTHON") and not in_ci():
        pytest.skip("WARROOM_PURE_PYTHON is set")
    require_compiled()
    record = json.loads(relay.NATIVE_RECORD.read_text())
    assert relay.native_modules() == set(record["modules"])
    assert all(m.startswith("relay.") for m in record["modules"])


@pytest.fixture(scope="module")
def pure_worker() -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "WARROOM_PURE_PYTHON": "1"}
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    yield worker
    assert worker.stdin is not None
    worker.stdin.close()
    worker.wait(timeout=60)


def pure_run(worker: subprocess.Popen[str], chunks: list[bytes], size: tuple[int, int]) -> Any:
    assert worker.stdin is not None and worker.stdout is not None
    job = {"size": size, "chunks": [base64.b64encode(c).decode() for c in chunks]}
    worker.stdin.write(json.dumps(job) + "\n")
    worker.stdin.flush()
    line = worker.stdout.readline()
    assert line, "the pure-Python worker died (its error is above)"
    return json.loads(line)


@EXAMPLES
@given(st.data(), st.one_of(shell_streams(), streams()), st.sampled_from(SIZES))
def test_the_compiled_model_equals_the_pure_one(
    pure_worker: subprocess.Popen[str], data: st.DataObject, stream: str, size: tuple[int, int]
) -> None:
    require_compiled()
    chunks = data.draw(chunked(stream.encode()))
    ours, theirs = run(chunks, *size), pure_run(pure_worker, chunks, size)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"step {i} of {len(ours)}"


# ---------------------------------------------------------------------- stale builds


def copy_package(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "relay", tmp_path / "relay", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def load(where: Path, module: str) -> subprocess.CompletedProcess[str]:
    """Import ``module`` from the copy at ``where`` (and nothing of this checkout)."""
    # -S: no site, so that the editable install's path to this checkout is not read;
    # the dependencies come from site-packages, after the copy.
    path = os.pathsep.join([str(where), sysconfig.get_paths()["purelib"]])
    env = {k: v for k, v in os.environ.items() if k != "WARROOM_PURE_PYTHON"}
    return subprocess.run(
        [sys.executable, "-S", "-c", f"import {module} as m; print(m.__file__)"],
        cwd=where,
        env={**env, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_edited_source_is_loaded_instead_of_its_old_build(tmp_path: Path) -> None:
    require_compiled()
    where = copy_package(tmp_path)
    as_built = load(where, "relay.terminal.model")
    assert as_built.stdout.strip().endswith(".so"), as_built.stderr  # (the copy is vouched for)
    with (where / "relay" / "terminal" / "motion.py").open("a") as f:
        f.write("# an edit after the build\n")
    edited = load(where, "relay.terminal.model")
    assert edited.returncode == 0, edited.stderr
    assert edited.stdout.strip() == str(where / "relay" / "terminal" / "model.py")
    assert "motion.py changed since the build" in edited.stderr
    assert "rebuild with `make`" in edited.stderr


def test_an_extension_nobody_vouches_for_is_never_loaded(tmp_path: Path) -> None:
    """Left over from another build (or no record at all): the .py beside it loads.

    The planted extension is garbage: loading it would fail the import.
    """
    where = copy_package(tmp_path)
    (where / "relay" / "native.json").unlink(missing_ok=True)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    for module, source in (
        ("relay.terminal.modes", "terminal/modes"),
        ("relay.core.roles", "core/roles"),
        ("relay.core", "core/__init__"),  # a package, whose modules must still be found
    ):
        (where / "relay" / f"{source}{suffix}").write_bytes(b"not an extension")
        loaded = load(where, module)
        assert loaded.returncode == 0, loaded.stderr
        assert loaded.stdout.strip() == str(where / "relay" / f"{source}.py")
    assert load(where, "relay.core.roles").returncode == 0  # (through the package)
