"""Tenancy is decided only in services/kit/auth.py: no role string comparisons anywhere else.

Reads every module of ours (services, gateway, skillpass, bench) and fails on a comparison
(``==``, ``!=``, ``in``, ``not in``) whose one side is something called ``role`` or a role name
("admin", "university", ...) or a collection of them. Use the Principal API instead
(``is_admin``, ``owns_org``, ``may_read_org``, ``org_scope``, ``require_org`` ...).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from services.kit.auth import ROLES

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("services", "gateway", "skillpass", "bench")
ALLOWED = {ROOT / "services" / "kit" / "auth.py"}
COMPARISONS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _is_role_name(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id.lower().endswith("role")
    if isinstance(node, ast.Attribute):
        return node.attr.lower().endswith("role")
    return False


def _is_role_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in ROLES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return bool(node.elts) and all(_is_role_literal(e) for e in node.elts)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"frozenset", "set"}:
        return bool(node.args) and _is_role_literal(node.args[0])
    return False


def role_comparisons(source: str, filename: str = "<source>") -> list[int]:
    """Line numbers of comparisons that decide something by a role's string."""
    lines = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Compare) or not any(isinstance(op, COMPARISONS) for op in node.ops):
            continue
        sides = [node.left, *node.comparators]
        if any(_is_role_name(s) or _is_role_literal(s) for s in sides):
            lines.append(node.lineno)
    return lines


def sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if ".venv" not in p.parts)


@pytest.mark.parametrize(
    "snippet",
    [
        'principal.role == "university"',
        "p.role != 'admin'",
        'principal.role in ("platform", "service")',
        'role not in {"admin"}',
        '"student" == who',
        'x in frozenset({"admin", "platform"})',
        'if self.role == "university" and not self.org: pass',
    ],
)
def test_the_check_finds_role_comparisons(snippet):
    assert role_comparisons(snippet) == [1]


@pytest.mark.parametrize("snippet", ["principal.is_admin", "kind == 'employer'", "for role in ROLES: pass"])
def test_the_check_leaves_other_code_alone(snippet):
    assert role_comparisons(snippet) == []


def test_no_role_string_comparisons_outside_the_kit():
    files = sources()
    assert len(files) > 50  # the walk really found the tree
    found = {
        str(path.relative_to(ROOT)): hits
        for path in files
        if path not in ALLOWED and (hits := role_comparisons(path.read_text(encoding="utf-8"), str(path)))
    }
    assert found == {}, f"decide tenancy with the Principal API (services/kit/auth.py), not role strings: {found}"
