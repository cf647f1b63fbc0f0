"""Cycle transitions happen only in ``alp.services.cycle_flow``: no other module of the
API, the services or the worker assigns a cycle's ``state`` or updates ``Cycle`` rows'
state (a source scan, so a new shortcut fails here)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OWNER = ROOT / "alp" / "services" / "cycle_flow.py"
SCANNED = ("alp", "api", "worker")


def _state_writes(path: Path) -> list[str]:
    """``<x>.state = ...`` where ``<x>`` names a cycle, and ``update(Cycle)....values(state=)``."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            for t in node.targets:
                targets += t.elts if isinstance(t, ast.Tuple) else [t]
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for t in targets:
            if isinstance(t, ast.Attribute) and t.attr == "state":
                owner = ast.unparse(t.value).lower()
                if "cycle" in owner or owner in {"c", "cy"}:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(t)}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "values"
            and any(k.arg == "state" for k in node.keywords)
            and "update(Cycle)" in ast.unparse(node.func.value).replace(" ", "")
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: update(Cycle) state")
    return found


def test_only_cycle_flow_writes_cycle_state() -> None:
    writes = [
        w
        for top in SCANNED
        for path in sorted((ROOT / top).rglob("*.py"))
        if path != OWNER
        for w in _state_writes(path)
    ]
    assert writes == []


def test_the_scan_sees_cycle_flows_own_writes() -> None:
    writes = _state_writes(OWNER)
    assert any("cycle.state" in w for w in writes)
    assert any("update(Cycle)" in w for w in writes)
