"""What ``pip install warroom`` ships: a real wheel, built from this tree, holds every module.

The editable install the developers use finds modules straight in the source
tree, so a package left out of the wheel goes unnoticed until somebody
installs the relay for real and ``warroom relay`` fails to import
``relay.masking``. This builds the wheel the way pip does (an isolated build
with the backend ``pyproject.toml`` names) and compares its file list with
the tree. It builds from a copy, so that a stale ``build/`` (or a compiled
module built in place) left in a developer's checkout cannot lend the wheel a
module the tree no longer has. Where this checkout runs the compiled terminal
model (setup.py), the wheel must hold it too, with the record of its sources.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import relay

ROOT = Path(__file__).resolve().parent.parent


def shipped_sources() -> set[str]:
    """Every module and stylesheet of relay/ and tui/, as paths inside a wheel."""
    found: set[str] = set()
    for package in ("relay", "tui"):
        for path in (ROOT / package).rglob("*"):
            if path.suffix in {".py", ".tcss"} and "__pycache__" not in path.parts:
                found.add(path.relative_to(ROOT).as_posix())
    return found


def test_the_wheel_holds_every_module_and_stylesheet(tmp_path: Path) -> None:
    source = tmp_path / "source"
    skip = shutil.ignore_patterns(
        ".git",
        ".venv",
        "build",
        "dist",
        "*.egg-info",
        "node_modules",
        "__pycache__",
        ".*cache",
        "*.so",
        "native.json",
    )
    shutil.copytree(ROOT, source, ignore=skip)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("warroom-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        inside = set(archive.namelist())
    missing = sorted(shipped_sources() - inside)
    assert not missing, f"not in the wheel: {missing}"
    compiled = relay.native_modules()
    if compiled:  # built here: the wheel (built the same way) holds the same
        assert "relay/native.json" in inside
        extensions = {n.partition(".")[0].replace("/", ".") for n in inside if n.endswith(".so")}
        assert compiled <= extensions, f"compiled here, not in the wheel: {compiled - extensions}"
    entry_points = next(n for n in inside if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        assert "warroom = tui.cli:main" in archive.read(entry_points).decode()
