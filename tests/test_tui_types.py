"""The TUI names roles and error codes with the relay's enums, never loose strings.

A code the TUI matches on that the relay does not send (``"auth_faild"``)
would silently never match: reconnecting forever after a refusal, or a toast
for an error meant to stay quiet. These tests read the TUI's tables and its
source, so such a typo, or a new raw string beside the enums, fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

from relay.errors import ErrorCode
from relay.roles import Role
from tui.session_link import FATAL_CODES
from tui.session_screen import QUIET_ERRORS

TUI = Path(__file__).resolve().parent.parent / "tui"
# Codes the TUI makes up for failures the relay never names (a dropped
# connection, a replay with no session given); they are not relay refusals.
LOCAL_CODES = frozenset({"closed", "no_session"})
ROLE_NAMES = frozenset(role.value for role in Role)


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


def test_the_tui_compares_no_raw_roles_or_codes() -> None:
    found = [
        line
        for path in sorted(TUI.rglob("*.py"))
        for line in strays(path.read_text(), str(path.relative_to(TUI.parent)))
    ]
    assert not found, "use relay.roles.Role and relay.errors.ErrorCode:\n" + "\n".join(found)


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
