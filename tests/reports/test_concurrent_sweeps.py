"""One writer per run directory: two ``sflaudit report`` on one --runs folder train each cell once; a lock file left by
a killed process does not block ``sflaudit train``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from sflaudit.locks import RunLock
from sflaudit.runs import read_jsonl

from report_cli import TINY, TINY_SETS  # tests/reports/report_cli.py

SFLAUDIT = Path(sys.executable).parent / "sflaudit"       # the console script of this environment
TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184"
TIMEOUT_S = 600


def cli_env() -> dict[str, str]:
    """This environment (SFLAUDIT_LPIPS_WEIGHTS passes through when set) with one torch thread per process."""
    return dict(os.environ, GLIBC_TUNABLES=TUNABLES, OMP_NUM_THREADS="1")


def train_steps(run_dir: Path) -> list[int]:
    return [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("type") == "train"]


def table(html: Path) -> list[tuple[str, float | None, str]]:
    doc = json.loads(html.with_suffix(".json").read_text())
    return [(r["cell"], r["knn_best"], r["status"]) for r in doc["rows"]]


def test_two_reports_on_one_runs_folder__each_cell_is_trained_once(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    logs, procs = {}, {}
    for name in ("a", "b"):
        logs[name] = (tmp_path / f"{name}.log").open("w")
        procs[name] = subprocess.Popen(
            [str(SFLAUDIT), "report", *TINY, "--depths", "1", "--methods", "mocosfl,monacosfl", "--runs", str(runs),
             "--out", str(tmp_path / f"{name}.html"), "--quiet"],
            stdout=logs[name], stderr=subprocess.STDOUT, cwd=tmp_path, env=cli_env())
    try:
        codes = {name: proc.wait(timeout=TIMEOUT_S) for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in logs.values():
            log.close()
    output = {name: (tmp_path / f"{name}.log").read_text()[-2000:] for name in procs}
    assert codes == {"a": 0, "b": 0}, output

    cells = sorted(p.parent for p in runs.glob("*/metrics.jsonl"))
    assert [c.name for c in cells] == ["mocosfl-d1", "monacosfl-d1"]
    for cell in cells:
        steps = json.loads((cell / "summary.json").read_text())["steps"]
        assert train_steps(cell) == list(range(1, steps + 1)), cell.name   # each step once, in order, none missing

    a, b = table(tmp_path / "a.html"), table(tmp_path / "b.html")
    assert a == b
    assert [(cell, status) for cell, _, status in a] == [("mocosfl-d1", "ok"), ("monacosfl-d1", "ok")]


KILLED_HOLDER = """
import sys, time
from sflaudit.locks import RunLock
assert RunLock(sys.argv[1], make_parents=True).acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_train__a_lock_file_left_by_a_killed_process_does_not_block(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "mocosfl-d1"
    holder = subprocess.Popen([sys.executable, "-c", KILLED_HOLDER, str(run_dir / ".lock")], stdout=subprocess.PIPE,
                              text=True, env=cli_env())
    try:
        assert holder.stdout.readline().strip() == "held"
        holder.send_signal(signal.SIGKILL)
        assert holder.wait(timeout=10) == -signal.SIGKILL
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdout.close()
    assert (run_dir / ".lock").is_file() and RunLock.holder(run_dir / ".lock")["pid"] == holder.pid

    sets = [arg for item in TINY_SETS if item.startswith(("optim.", "eval.")) for arg in ("--set", item)]
    res = subprocess.run([str(SFLAUDIT), "train", "--preset", "smoke", *sets, "--method", "mocosfl", "--depth", "1",
                          "--out", str(run_dir), "--quiet"], capture_output=True, text=True, cwd=tmp_path,
                         env=cli_env(), timeout=TIMEOUT_S)
    assert res.returncode == 0, res.stderr
    steps = json.loads((run_dir / "summary.json").read_text())["steps"]
    assert train_steps(run_dir) == list(range(1, steps + 1))
    assert RunLock(run_dir / ".lock").acquire()                        # train let go of the lock when it finished
