"""The floors of docs/architecture.md, checked on every module's import statements.

Reads (never imports) every module of ``relay/`` and ``tui/`` with :mod:`ast`,
counting every import: at the top, inside functions (the lazy imports that
keep ``warroom --help`` fast) and under ``TYPE_CHECKING`` (a type is a
dependency too). Then:

* the relay never imports the UI: ``tui`` may use ``relay``, not the reverse;
* no import cycles among the modules of ``relay`` and ``tui`` (a package
  importing its own modules does not count: Python always loads a package
  before its modules, so that edge adds no order of its own);
* the pure core imports only the core and the standard library's pure parts
  (no sockets, no tasks, no files, no clock);
* each floor of the relay (a subpackage: ``relay/core/``, ``relay/net/``...)
  imports only the floors :data:`FLOORS` says it may, and says so in its
  ``__init__.py``.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("relay", "tui")

# docs/architecture.md's floors, bottom up: what each may import besides itself.
# The order of the table is the order of the floors; nothing points up.
_BELOW_NET = (
    "relay.core",
    "relay.trust",
    "relay.terminal",
    "relay.masking",
    "relay.evidence",
    "relay.store",
    "relay.storage",
    "relay.config",
)
FLOORS: dict[str, frozenset[str]] = {
    "relay.core": frozenset(),
    "relay.trust": frozenset({"relay.core"}),
    "relay.terminal": frozenset(),
    "relay.masking": frozenset({"relay.core", "relay.terminal"}),
    "relay.evidence": frozenset({"relay.core", "relay.trust", "relay.terminal", "relay.masking"}),
    "relay.store": frozenset({"relay.core", "relay.evidence"}),
    "relay.storage": frozenset({"relay.core", "relay.evidence"}),
    "relay.config": frozenset(_BELOW_NET[:-1]),
    "relay.cluster": frozenset(_BELOW_NET),
    "relay.net": frozenset({*_BELOW_NET, "relay.cluster"}),
    "relay.cli": frozenset({*_BELOW_NET, "relay.cluster", "relay.net"}),
    "tui": frozenset({"relay", *_BELOW_NET, "relay.cluster", "relay.net", "relay.cli"}),
}


def floor(module: str) -> str:
    """The floor a module stands on: its relay subpackage, ``relay.config``, or ``tui``."""
    parts = module.split(".")
    if parts[0] == "tui" or len(parts) == 1:
        return parts[0]
    return ".".join(parts[:2])


# docs/architecture.md's core: rules only, time passed in, actions returned.
CORE = frozenset(
    {"relay.core"}
    | {
        f"relay.core.{p.stem}"
        for p in (ROOT / "relay" / "core").glob("*.py")
        if p.stem != "__init__"
    }
)
# What the core may take from the standard library: nothing that does I/O.
PURE_STDLIB = frozenset(
    {
        "__future__",
        "bisect",
        "collections",
        "collections.abc",
        "dataclasses",
        "enum",
        "functools",
        "itertools",
        "json",
        "math",
        "re",
        "secrets",
        "struct",
        "typing",
        "unicodedata",
    }
)

# Known, and left to the terminal issue: inside relay/terminal/, the screen
# hands runs of plain output to the fast path, which types its argument as the
# screen and builds scratch screens (breaking it takes a Protocol for the
# screen the fast path needs). A cycle that is not wholly inside that package
# fails.
TERMINAL = "relay.terminal."


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports (a module or a name in one)
    line: int


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path) -> list[Import]:
    """Every import in the module, anywhere in it, with relative ones made absolute."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(name, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found.append(Import(name, base, node.lineno))
            # "from relay import identity" imports the module relay.trust.identity
            found += [Import(name, f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], int]]:
    """Edges between our own modules, and the line of each edge's first import."""
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    lines: dict[tuple[str, str], int] = {}
    for name, path in known.items():
        for imp in imports_of(name, path):
            # A package reaching into its own modules (a facade's lazy factory, its
            # re-exports) is no cycle: Python loads every package before its modules.
            inside = imp.target == name or imp.target.startswith(f"{name}.")
            if imp.target in known and not inside:
                edges[name].add(imp.target)
                lines.setdefault((name, imp.target), imp.line)
    return edges, lines


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def describe(
    component: list[str], edges: dict[str, set[str]], lines: dict[tuple[str, str], int]
) -> str:
    inside = set(component)
    return "\n".join(
        f"  {a} -> {b} (line {lines[a, b]})" for a in component for b in sorted(edges[a] & inside)
    )


def test_the_relay_never_imports_the_ui() -> None:
    known = modules()
    wrong = [
        f"{imp.module} imports {imp.target} (line {imp.line})"
        for name, path in known.items()
        if name.split(".")[0] == "relay"
        for imp in imports_of(name, path)
        if imp.target.split(".")[0] == "tui"
    ]
    assert not wrong, "the relay must not import the UI:\n" + "\n".join(wrong)


def test_no_import_cycles() -> None:
    edges, lines = graph()
    found = [c for c in cycles(edges) if not all(m.startswith(TERMINAL) for m in c)]
    assert not found, "import cycles:\n" + "\n\n".join(describe(c, edges, lines) for c in found)


def test_the_core_is_pure() -> None:
    known = modules()
    wrong = [
        f"{imp.module} imports {imp.target} (line {imp.line})"
        for name in sorted(CORE)
        for imp in imports_of(name, known[name])
        if imp.target not in CORE
        and imp.target.rpartition(".")[0] not in CORE  # a name from a core module
        and imp.target not in PURE_STDLIB
        and imp.target.rpartition(".")[0] not in PURE_STDLIB  # a name from a pure module
    ]
    assert not wrong, "the core may import only the core and pure stdlib:\n" + "\n".join(wrong)


def test_each_floor_imports_only_the_floors_below_it() -> None:
    known = modules()
    assert {floor(name) for name in known} == {*FLOORS, "relay"}, "a floor is missing its rule"
    wrong = []
    for name, path in known.items():
        for imp in imports_of(name, path):
            target = imp.target
            while target and target not in known:  # a name imported from a module
                target = target.rpartition(".")[0]
            if not target or floor(target) == floor(name) or floor(name) == "relay":
                continue
            if floor(target) not in FLOORS[floor(name)]:
                wrong.append(f"{name} imports {imp.target} (line {imp.line})")
    assert not wrong, "a floor imports one it may not:\n" + "\n".join(wrong)


def test_each_floor_says_what_it_holds_and_may_import() -> None:
    silent = [
        package
        for package in FLOORS
        if package.startswith("relay.") and package != "relay.config"
        if "may import" not in (importlib.import_module(package).__doc__ or "").lower()
    ]
    assert not silent, f"__init__.py docstrings that do not say what they may import: {silent}"


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    """The walker is not blind: a planted cycle, a lazy import, relative imports."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    lazy = imports_of("tui.cli", modules()["tui.cli"])
    assert any(imp.target == "tui.app" for imp in lazy)  # imported inside a function
    planted = tmp_path / "server.py"
    planted.write_text("from . import session\nfrom ..core.roles import Role\n")
    targets = {imp.target for imp in imports_of("relay.net.server", planted)}
    assert {"relay.net.session", "relay.core.roles", "relay.core.roles.Role"} <= targets
    assert [floor(m) for m in ("relay.core.session", "relay.config", "tui.app", "relay")] == [
        "relay.core",
        "relay.config",
        "tui",
        "relay",
    ]
    order = list(FLOORS)  # the table is bottom up: every floor it allows comes earlier
    assert all(order.index(b) < order.index(a) for a in FLOORS for b in FLOORS[a] if b != "relay")


def test_every_exception_is_a_warroom_error() -> None:
    """One base for the project's exceptions, and its docstring draws all of them."""
    from relay.core.errors import WarroomError

    ours: list[type[BaseException]] = []
    for name in modules():
        module = importlib.import_module(name)
        ours += [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, BaseException)
            and value.__module__ == name
        ]
    assert ours, "no exception classes found: the walk is blind"
    strays = [f"{c.__module__}.{c.__qualname__}" for c in ours if not issubclass(c, WarroomError)]
    assert not strays, f"exceptions outside WarroomError: {strays}"
    drawn = WarroomError.__doc__ or ""
    missing = [c.__qualname__ for c in ours if c.__qualname__ not in drawn]
    assert not missing, f"WarroomError's docstring does not show: {missing}"


# Tests about the project as a whole, and the end-to-end runs through a real terminal.
PROJECT_TESTS = frozenset(
    {
        "test_architecture.py",
        "test_no_private_access.py",
        "test_packaging.py",
        "test_redis_fixture.py",
        "test_sshd_fixture.py",
    }
)


def test_the_tests_mirror_the_source() -> None:
    """tests/relay/<floor>/ for relay/<floor>/, tests/tui/ for tui/, tests/e2e/ for whole runs."""
    tests = ROOT / "tests"
    strays = [p.name for p in tests.glob("test_*.py") if p.name not in PROJECT_TESTS]
    assert not strays, (
        f"put these next to the code they test (tests/relay/..., tests/tui/): {strays}"
    )
    floors = {p.parent.relative_to(tests).as_posix() for p in tests.rglob("test_*.py")}
    mirrored = {floor for floor in floors if floor in {".", "e2e"} or (ROOT / floor).is_dir()}
    assert floors == mirrored, f"test directories with no source beside them: {floors - mirrored}"


# ---------------------------------------------------------------- module size

MAX_LINES = 800
# Modules known to be too long, each leaving this list (and the test then
# insists it does) once it fits. None now.
TOO_LONG_FOR_NOW: frozenset[str] = frozenset()


def test_no_module_is_over_800_lines() -> None:
    """One concept per module: past ~800 lines a module holds more than one, and a
    newcomer cannot see them. Split it by concept (move, don't rewrite)."""
    lengths = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in modules().values()
    }
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert set(too_long) - TOO_LONG_FOR_NOW == set(), too_long
    fits_now = TOO_LONG_FOR_NOW - set(too_long)
    assert not fits_now, f"{sorted(fits_now)} fit(s) now: take it off TOO_LONG_FOR_NOW"
