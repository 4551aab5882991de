"""The TUI names roles and error codes with the relay's types, never loose strings.

A code the TUI matches on that the relay does not send (``"auth_faild"``)
would silently never match: reconnecting forever after a refusal, or a toast
for an error meant to stay quiet. These tests read the TUI's tables and its
source, so such a typo, or a new raw string beside the enums, fails here.
A role kept as a plain ``str`` (a field, a parameter) lets any string through
unchecked; roles are typed ``Role`` (a participant's) or ``GrantRole`` (what a
grant names, ``driver`` included), so mypy checks every one.
"""

from __future__ import annotations

import ast
from typing import get_args

from relay.core.access import GrantRole
from relay.core.errors import ErrorCode
from relay.core.roles import Role
from tests.tools import ROOT
from tui.session_link import FATAL_CODES
from tui.session_screen import QUIET_ERRORS

TUI = ROOT / "tui"
# Codes the TUI makes up for failures the relay never names (a dropped
# connection, a replay with no session given); they are not relay refusals.
LOCAL_CODES = frozenset({"closed", "no_session"})
ROLE_NAMES = frozenset(role.value for role in Role)
# What a grant or an access request names: the roles, and "driver" (a grant to drive).
GRANT_NAMES = frozenset(get_args(GrantRole))
TYPED_ROLES = frozenset({"Role", "GrantRole"})  # the relay core's types for a role


def test_the_code_tables_hold_only_error_codes() -> None:
    for table in (FATAL_CODES, QUIET_ERRORS):
        assert table, "an empty table matches nothing"
        strays = [code for code in table if not isinstance(code, ErrorCode)]
        assert not strays, f"not ErrorCode members: {strays}"


def test_a_code_from_the_wire_still_matches() -> None:
    """The relay's frames carry plain strings; a StrEnum member equals its value."""
    assert "auth_failed" in FATAL_CODES
    assert "session_ended" in FATAL_CODES
    assert "paused" in QUIET_ERRORS
    assert "rate_limited" not in FATAL_CODES | QUIET_ERRORS


def _literals(node: ast.AST) -> list[ast.Constant]:
    """The string constants of a comparison's right side: ``"x"``, ``("x", "y")``..."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [c for elt in node.elts for c in _literals(elt)]
    return []


def _mentions_role(node: ast.AST) -> bool:
    """``role``, ``room.role``, ``who.get("role")``: an expression holding a role."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id == "role":
            return True
        if isinstance(sub, ast.Attribute) and sub.attr == "role":
            return True
        if isinstance(sub, ast.Constant) and sub.value == "role":
            return True
    return False


def strays(source: str, filename: str = "<source>") -> list[str]:
    """Raw role names compared with a role, and relay error codes written as strings."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Compare) and _mentions_role(node.left):
            for right in node.comparators:
                for lit in _literals(right):
                    if lit.value in ROLE_NAMES:
                        found.append(f"{filename}:{lit.lineno}: role {lit.value!r} as a string")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "RelayError"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            code = node.args[0].value
            if code in {c.value for c in ErrorCode}:
                found.append(f"{filename}:{node.lineno}: {code!r}: write ErrorCode.{code.upper()}")
            elif code not in LOCAL_CODES:
                found.append(f"{filename}:{node.lineno}: {code!r} is no relay error code")
    return found


def _is_role_name(name: str) -> bool:
    return name == "role" or name.endswith("_role")


def _typed(annotation: ast.expr | None) -> bool:
    """``Role``, ``GrantRole | None``, ``list[Role]``: an annotation naming a role type."""
    if annotation is None:
        return False
    return any(
        (isinstance(sub, ast.Name) and sub.id in TYPED_ROLES)
        or (isinstance(sub, ast.Attribute) and sub.attr in TYPED_ROLES)
        or (
            isinstance(sub, ast.Constant)
            and isinstance(sub.value, str)
            and sub.value in TYPED_ROLES
        )
        for sub in ast.walk(annotation)
    )


def _target_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _grant_literals(node: ast.AST | None) -> list[ast.Constant]:
    """Role names written as strings in a value: ``"driver"``, ``"viewer" if x else "driver"``."""
    if node is None:
        return []
    return [
        sub
        for sub in ast.walk(node)
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value in GRANT_NAMES
    ]


def loose_roles(source: str, filename: str = "<source>") -> list[str]:
    """Roles held as plain ``str``: a field, a parameter or a variable named ``role``
    that is not typed with the relay's ``Role`` or ``GrantRole``, and role names
    written as strings into one. A typed ``GrantRole`` literal is checked by mypy."""
    found = []

    def untyped(name: str, lineno: int, annotation: ast.expr | None) -> None:
        shown = ast.unparse(annotation) if annotation is not None else "no annotation"
        found.append(f"{filename}:{lineno}: {name} is {shown}: type it Role or GrantRole")

    def literal(lit: ast.Constant, where: str) -> None:
        found.append(f"{filename}:{lit.lineno}: role {lit.value!r} as a string in {where}")

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.AnnAssign) and _is_role_name(_target_name(node.target)):
            if not _typed(node.annotation):
                untyped(_target_name(node.target), node.lineno, node.annotation)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if _is_role_name(_target_name(target)):
                    for lit in _grant_literals(node.value):
                        literal(lit, f"{ast.unparse(target)} = ...")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            positional = [*arguments.posonlyargs, *arguments.args]
            defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults))
            pairs = [
                *zip(positional, [*defaults, *arguments.defaults], strict=True),
                *zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True),
            ]
            for arg, default in pairs:
                if not _is_role_name(arg.arg):
                    continue
                if arg.annotation is not None and not _typed(arg.annotation):
                    untyped(f"parameter {arg.arg}", arg.lineno, arg.annotation)
                elif not _typed(arg.annotation):
                    for lit in _grant_literals(default):
                        literal(lit, f"the default of {arg.arg}")
            if _is_role_name(node.name) and node.returns is not None and not _typed(node.returns):
                untyped(f"{node.name}()", node.lineno, node.returns)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "role":
                    for lit in _grant_literals(value):
                        literal(lit, '{"role": ...}')
        elif isinstance(node, ast.keyword) and node.arg is not None and _is_role_name(node.arg):
            for lit in _grant_literals(node.value):
                literal(lit, f"{node.arg}=...")
    return found


def _tui_sources() -> list[tuple[str, str]]:
    return [
        (path.read_text(), str(path.relative_to(TUI.parent))) for path in sorted(TUI.rglob("*.py"))
    ]


def test_the_tui_holds_roles_typed() -> None:
    found = [line for source, name in _tui_sources() for line in loose_roles(source, name)]
    assert not found, "use relay.core.roles.Role and relay.core.access.GrantRole:\n" + "\n".join(
        found
    )


def test_the_role_scan_is_not_blind() -> None:
    """The leftover it was written for (a grant's role kept as ``str``), and its cousins."""
    planted = "\n".join(
        [
            "class AccessWish:",
            "    role: str",  # 1
            "    reason: str",
            'def ask(scope: str, role: str = "driver") -> None: ...',  # 2: str parameter
            'def pick(scope, role="viewer"): ...',  # 3: untyped default
            "def role(self) -> str: ...",  # 4
            'role = "viewer" if room.role == Role.REVIEWER else "driver"',  # 5, 6
            'send({"type": "access_request", "role": "driver"})',  # 7
            'Grant(user, role="reviewer")',  # 8
            "room.role: str | None = None",  # 9
        ]
    )
    assert len(loose_roles(planted)) == 9, loose_roles(planted)
    fine = "\n".join(
        [
            "class AccessWish:",
            "    role: GrantRole",
            'def ask(scope: str, role: GrantRole = "driver") -> None: ...',
            "def role(self) -> GrantRole: ...",
            'role: GrantRole = "viewer" if room.role == Role.REVIEWER else "driver"',
            'send({"type": "access_request", "role": wish.role})',
            "room.role: Role | None = None",
            'message.get("driver")',  # a field of the roster, not a role
            'columns = ("user", "role", "driver")',
        ]
    )
    assert loose_roles(fine) == []


def test_the_tui_compares_no_raw_roles_or_codes() -> None:
    found = [
        line
        for path in sorted(TUI.rglob("*.py"))
        for line in strays(path.read_text(), str(path.relative_to(TUI.parent)))
    ]
    assert not found, "use relay.core.roles.Role and relay.core.errors.ErrorCode:\n" + "\n".join(
        found
    )


def test_the_scan_is_not_blind() -> None:
    """What the scan must catch, and what it must let be."""
    planted = "\n".join(
        [
            'if room.role == "reviewer": pass',
            'ok = who.get("role") in ("lead", "viewer")',
            'raise RelayError("auth_failed", "no")',
            'raise RelayError("auth_faild", "typo")',
        ]
    )
    assert len(strays(planted)) == 5
    fine = "\n".join(
        [
            "if room.role == Role.REVIEWER: pass",
            'ok = who.get("role") in (Role.LEAD, Role.VIEWER)',
            'raise RelayError(ErrorCode.AUTH_FAILED, "no")',
            'raise RelayError("closed", "connection lost")',
            'if kind == "lead": pass',  # not a role expression
        ]
    )
    assert strays(fine) == []
