"""The import direction of docs/architecture.md, checked on the source: no cycle, core imports no outer package."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sflaudit", "attacks", "profiles", "reports")
OUTER = ("attacks", "profiles", "reports")
COMPOSER = "sflaudit.cli"                      # the one core module allowed to compose the outer packages


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Project modules imported by ``path`` (all imports, or only those executed at import time)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def _graph(*, top_level_only: bool) -> dict[str, set[str]]:
    mods = _modules()
    return {name: {m for m in _imports(path, top_level_only=top_level_only) if m in mods and m != name}
            for name, path in mods.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (module names), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder__finds_a_hand_made_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_project_modules() -> None:
    graph = _graph(top_level_only=False)
    assert _cycle(graph) is None


def test_core_never_imports_attacks_profiles_or_reports() -> None:
    bad = sorted(f"{m} → {d}" for m, deps in _graph(top_level_only=False).items()
                 if m.split(".")[0] == "sflaudit" and m != COMPOSER for d in deps if d.split(".")[0] in OUTER)
    assert bad == []


def test_the_checkpoint_module_does_not_know_the_trainer() -> None:
    assert "sflaudit.sfl.trainer" not in _imports(ROOT / "sflaudit/sfl/checkpoint.py", top_level_only=False)


def test_modules_stay_small() -> None:
    long = sorted(f"{m}: {n}" for m, p in _modules().items() if (n := len(p.read_text().splitlines())) > 340)
    assert long == []
