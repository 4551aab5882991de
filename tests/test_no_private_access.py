"""Tests use what the code offers its callers, never its private names.

A test that reads ``view._left`` or calls ``screen._output(...)`` checks how
the code is built today, not what it does: it breaks on a harmless refactor
and keeps passing when the behaviour it meant to pin moves elsewhere. A test
goes through the public API (Textual's pilot, ``query``, a widget's public
method or message), and where that is not enough the code grows a small
public method with a reason to exist.

This walks every test module's syntax tree and fails on ``x._name`` where
``x`` is not ``self`` or ``cls`` (an object's own privates are its own), on
``getattr(x, "_name")``, and on importing a private name (``from relay.x
import _y``, ``from textual import _time``). Dunders are public. Helpers the
test modules share among themselves (``from tests.x import _y``) are the
suite's own code and not checked here.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# The documented namedtuple API is spelled with a leading underscore.
PUBLIC_ANYWAY = frozenset({"_replace", "_asdict", "_fields", "_field_defaults", "_make"})

# (test module's file name, private name) -> why it is allowed. Keep it short.
ALLOWED: dict[tuple[str, str], str] = {
    # Third-party internals with no public equivalent:
    ("test_tui_terminal.py", "_time"): (
        "textual._time.get_time is the clock Textual's timers read; the test slows "
        "it to reproduce a loaded machine"
    ),
}


def _private(name: str) -> bool:
    dunder = name.startswith("__") and name.endswith("__")
    return name.startswith("_") and not dunder and name not in PUBLIC_ANYWAY


def private_uses(source: str, filename: str = "<test>") -> list[tuple[int, str, str]]:
    """``(line, private name, the code)`` for every private name the source reaches into."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            found.append((node.lineno, node.attr, ast.unparse(node)))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            found.append((node.lineno, node.args[1].value, ast.unparse(node)))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "tests" or node.module.startswith("tests."):
                continue
            parts = node.module.split(".")
            for part in parts:
                if _private(part):
                    found.append((node.lineno, part, f"from {node.module} import ..."))
            for alias in node.names:
                if _private(alias.name):
                    found.append(
                        (node.lineno, alias.name, f"from {node.module} import {alias.name}")
                    )
        elif isinstance(node, ast.Import):
            for alias in node.names:
                for part in alias.name.split("."):
                    if _private(part):
                        found.append((node.lineno, part, f"import {alias.name}"))
    return sorted(found)


def _test_modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "node_modules" not in p.parts)


def test_no_test_reaches_into_private_names() -> None:
    found = []
    used = set()
    for path in _test_modules():
        for line, name, code in private_uses(path.read_text(), str(path)):
            if (path.name, name) in ALLOWED:
                used.add((path.name, name))
                continue
            found.append(f"{path.relative_to(TESTS.parent)}:{line}: {code}")
    assert not found, "go through the public API (or give the code one):\n" + "\n".join(found)
    stale = sorted(set(ALLOWED) - used)
    assert not stale, f"allowed but no longer used, drop them from ALLOWED: {stale}"


def test_the_scan_is_not_blind() -> None:
    """What it must catch, and what it must let be."""
    planted = "\n".join(
        [
            "app._notifications",  # 1
            "screen._output(data)",  # 2
            "pilot._post_mouse_events([kind], view)",  # 3
            "app.screen._compositor.render_update()",  # 4
            'getattr(view, "_left")',  # 5
            "from tui.terminal_view import _cell_at",  # 6
            "from textual import _time",  # 7
            "import textual._context",  # 8
            "type(x)._private_class_attr",  # 9
        ]
    )
    assert [name for _, name, _ in private_uses(planted)] == [
        "_notifications",
        "_output",
        "_post_mouse_events",
        "_compositor",
        "_left",
        "_cell_at",
        "_time",
        "_context",
        "_private_class_attr",
    ]
    fine = "\n".join(
        [
            "self._seen = set()",
            "cls._cache.clear()",
            "point._replace(x=1)",  # namedtuple's public API
            "obj.__class__.__name__",
            "from tests.relay.cli.test_cli import _relay_config",  # the suite's own helper
            "view.first_column",
        ]
    )
    assert private_uses(fine) == []
