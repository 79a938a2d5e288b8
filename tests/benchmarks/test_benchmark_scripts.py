"""The benchmark scripts' hygiene (parsed, not run) and their README; the cheap tiny modes run in a subprocess."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sflaudit.artifacts import RunDir

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
SCRIPTS = sorted(BENCH.glob("*.py"))
PACKAGES = ("sflaudit", "attacks", "profiles", "reports", "cli")
ENV = {**os.environ, "OMP_NUM_THREADS": "1",
       "GLIBC_TUNABLES": "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imports(tree: ast.Module) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import statement; ``import a.b`` gives ("a.b", [])."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(("." * node.level + (node.module or ""), [alias.name for alias in node.names]))
    return found


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring constants of the module, its classes and functions."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _run_dir_file_names() -> set[str]:
    """The file names RunDir owns (config.toml, summary.json, …, invert.json): read off RunDir itself."""
    run = RunDir(Path("RUN"))
    paths = [getattr(run, name) for name in vars(run) if isinstance(getattr(run, name), Path) and name != "path"]
    paths += [run.attack_json("ID"), run.attack_png("ID"), run.eval_path("ID"), run.membership_path("ID")]
    return {p.name for p in paths if "ID" not in p.name}


def test_scripts_are_found() -> None:
    names = {p.name for p in SCRIPTS}
    assert {"common.py", "gpu_check.py", "train_step.py", "early_stop.py", "attack_speed.py"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script__imports_no_other_script(script: Path) -> None:
    others = {p.stem for p in SCRIPTS} - {"common", script.stem}
    for module, _ in _imports(_tree(script)):
        top = module.lstrip(".").split(".")[0]
        assert not module.startswith("."), f"{script.name}: relative import {module}"
        assert top not in others, f"{script.name} imports the script {module}; shared code belongs in common.py"
        if top == "benchmarks":
            assert module == "benchmarks.common", f"{script.name} imports {module}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script__imports_no_private_package_name(script: Path) -> None:
    for module, names in _imports(_tree(script)):
        if module.split(".")[0] not in PACKAGES:
            continue
        private = [part for part in module.split(".") if part.startswith("_")]
        private += [n for n in names if n.startswith("_")]
        assert not private, f"{script.name} imports private {private} from {module}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script__does_not_touch_sys_path(script: Path) -> None:
    tree = _tree(script)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "path":
            assert not (isinstance(node.value, ast.Name) and node.value.id == "sys"), \
                f"{script.name}:{node.lineno} uses sys.path"
    for module, names in _imports(tree):
        assert not (module == "sys" and "path" in names), f"{script.name} imports sys.path"
        assert module not in ("site", "importlib.util"), f"{script.name} imports {module}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script__spells_no_run_directory_file_name(script: Path) -> None:
    """Paths inside a run directory come from sflaudit.artifacts.RunDir; docstrings may name the files."""
    tree = _tree(script)
    docs = _docstrings(tree)
    owned = _run_dir_file_names()
    assert {"summary.json", "config.toml", "best.pt", "invert.json"} <= owned
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            spelled = [name for name in owned if name in node.value]
            assert not spelled, f"{script.name}:{node.lineno} spells {spelled}; use RunDir"


def test_shell_scripts__spell_no_run_directory_file_name() -> None:
    owned = _run_dir_file_names() - {".lock"}
    for script in sorted(BENCH.glob("*.sh")):
        code = [line for line in script.read_text().splitlines() if not line.lstrip().startswith("#")]
        for line in code:
            spelled = [name for name in owned if name in line]
            assert not spelled, f"{script.name}: {line.strip()!r} spells {spelled}"


@pytest.mark.parametrize("script", sorted(BENCH.glob("*.sh")), ids=lambda p: p.name)
def test_shell_script__parses(script: Path) -> None:
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_readme__names_every_script() -> None:
    readme = (BENCH / "README.md").read_text()
    for script in sorted(p for p in BENCH.iterdir() if p.suffix in (".py", ".sh")):
        assert re.search(rf"\b{re.escape(script.name)}\b", readme), f"benchmarks/README.md does not name {script.name}"


def test_repository_readme__points_at_the_benchmarks_readme() -> None:
    assert "benchmarks/README.md" in (REPO / "README.md").read_text()


def _run(*args: str, timeout: float = 60) -> str:
    done = subprocess.run([sys.executable, *args], cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_train_step__tiny_mode_prints_one_finite_row() -> None:
    out = _run("benchmarks/train_step.py", "--tiny", "--depths", "1", "--modes", "client", "--precisions", "fp32",
               "--steps", "1", "--repeats", "3")
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| depth | mode | precision |"))
    assert lines[header + 1].startswith("|---")
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines[header + 2:]
            if line.startswith("| ")]
    assert len(rows) == 1 and rows[0][:3] == ["1", "client", "fp32"]
    row = rows[0]
    assert len(row) == len(lines[header].strip().strip("|").split("|")) == 13
    trainer_s, sync_s, floor_s, pc_floor_s = (float(row[i]) for i in (3, 4, 5, 9))
    assert trainer_s > 0 and sync_s > 0 and floor_s > 0 and pc_floor_s > 0
    for ratio, verdict in ((row[6], row[8]), (row[10], row[12])):
        median, low, high = (float(v) for v in re.fullmatch(r"([\d.]+) \[([\d.]+), ([\d.]+)\]", ratio).groups())
        assert 0 < low <= median <= high
        assert verdict == "can't tell"   # 3 repetitions cannot give a 95 % interval
    assert "width 0.125" in out and "B 4" in out and "3 repetitions × 1 round of" in out


def test_augment_throughput__short_window_prints_a_rate() -> None:
    out = _run("benchmarks/augment_throughput.py", "--kinds", "mocov2", "--batch-sizes", "16", "--seconds", "0.05",
               "--repeats", "1", "--threads", "1")
    rate = re.search(r"mocov2\s+batch\s+16:\s+([\d,]+) images/s", out)
    assert rate and int(rate.group(1).replace(",", "")) > 0, out
