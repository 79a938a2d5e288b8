"""Every rule of docs/architecture.md, checked on the source: the layers and their import direction, no cycle, the
core's inner order, small modules, and a design page that names every module of the tree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# repository folder → installed package (pyproject.toml's package-dir)
FOLDERS = {"sflaudit": "sflaudit", "attacks": "sflaudit.attacks", "profiles": "sflaudit.profiles",
           "reports": "sflaudit.reports", "cli": "sflaudit.cli"}
# layer → the layers it may import (itself included)
ALLOWED = {
    "core": {"core"},
    "attacks": {"core", "attacks"},
    "profiles": {"core", "profiles"},
    "reports": {"core", "attacks", "profiles", "reports"},   # the named composer: the sweep's stages
    "face": {"core", "attacks", "profiles", "reports", "face"},
}
MAX_LINES = 300


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [FOLDERS[rel.parts[0]], *rel.parts[1:]]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")}


def layer(module: str) -> str:
    """core | attacks | profiles | reports | face, from an installed module name (the face: ``sflaudit.cli``, the
    Python API ``sflaudit.api`` and ``python -m sflaudit``)."""
    if module in ("sflaudit.__main__", "sflaudit.api"):
        return "face"
    parts = module.split(".")
    sub = parts[1] if len(parts) > 1 else ""
    return {"attacks": "attacks", "profiles": "profiles", "reports": "reports", "cli": "face"}.get(sub, "core")


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
    return {m for m in found if m.split(".")[0] == "sflaudit"}


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


def forbidden_edges(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} → {d}" for m, deps in graph.items() for d in deps if layer(d) not in ALLOWED[layer(m)])


def test_cycle_finder__finds_a_hand_made_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_layer_rules__flag_each_forbidden_direction() -> None:
    graph = {"sflaudit.config": {"sflaudit.attacks.job"}, "sflaudit.attacks.job": {"sflaudit.profiles.table"},
             "sflaudit.profiles.table": {"sflaudit.attacks.kinds"}, "sflaudit.reports.sweep": {"sflaudit.cli.commands"},
             "sflaudit.cli.commands": {"sflaudit.reports.sweep", "sflaudit.config"}}
    assert forbidden_edges(graph) == ["sflaudit.attacks.job → sflaudit.profiles.table",
                                      "sflaudit.config → sflaudit.attacks.job",
                                      "sflaudit.profiles.table → sflaudit.attacks.kinds",
                                      "sflaudit.reports.sweep → sflaudit.cli.commands"]


def test_no_import_cycle_among_project_modules() -> None:
    assert _cycle(_graph(top_level_only=False)) is None


def test_every_import_follows_the_layer_rules() -> None:
    """Core imports no outer layer; attacks and profiles never import each other; only the face (sflaudit.cli) and
    the named composer (sflaudit.reports) compose; nothing imports the face."""
    assert forbidden_edges(_graph(top_level_only=False)) == []


def test_core_inner_order() -> None:
    graph = _graph(top_level_only=False)
    assert "sflaudit.config" not in graph["sflaudit.validation"] | graph["sflaudit.errors"]
    assert "sflaudit.stages" not in graph["sflaudit.config"]
    assert "sflaudit.artifacts" not in graph["sflaudit.runs"]


def test_the_checkpoint_module_does_not_know_the_trainer() -> None:
    assert "sflaudit.sfl.trainer" not in _imports(ROOT / "sflaudit/sfl/checkpoint.py", top_level_only=False)


def test_modules_stay_small() -> None:
    long = sorted(f"{m}: {n}" for m, p in _modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES)
    assert long == []


def test_the_design_page_names_every_module() -> None:
    """docs/architecture.md's layout block names every module file of every folder (its stem, as a word)."""
    text = (ROOT / "docs/architecture.md").read_text()
    layout = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    words = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", layout))
    missing = sorted(str(p.relative_to(ROOT)) for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")
                     if p.stem != "__init__" and p.stem not in words)
    assert missing == []


def test_the_install_puts_only_the_sflaudit_package_on_the_path() -> None:
    """attacks/, profiles/, reports/ and cli/ install as sflaudit.* (package-dir): no generic top-level names that
    would shadow another project's modules (run from outside the checkout, as a user's program is)."""
    import subprocess
    import sys

    code = ("import importlib.util, importlib.metadata as m; "
            "print(m.distribution('sflaudit').read_text('top_level.txt').split(), "
            "[n for n in ('attacks', 'profiles', 'reports', 'cli') if importlib.util.find_spec(n)], "
            "[importlib.util.find_spec(f'sflaudit.{n}') is not None for n in ('attacks', 'profiles', 'reports', 'cli')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=60)
    assert out.stdout.strip() == "['sflaudit'] [] [True, True, True, True]", out.stderr
