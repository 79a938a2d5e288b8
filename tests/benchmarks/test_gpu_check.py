"""benchmarks/gpu_check.py --dry: the GPU check's code paths on the CPU, with its tables and a zero exit status."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


def _table(lines: list[str], header_start: str) -> list[list[str]]:
    """The body rows (cells) of the Markdown table whose header row starts with ``header_start``."""
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    assert lines[start + 1].startswith("|---")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("| "):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


@pytest.fixture(scope="module")
def dry_run() -> tuple[int, str]:
    env = {**os.environ, "GPU_CHECK_DRY": "1", "OMP_NUM_THREADS": "1",
           "GLIBC_TUNABLES": "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184"}
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=180)
    return done.returncode, done.stdout + done.stderr


def test_gpu_check__dry_mode_passes_on_cpu(dry_run: tuple[int, str]) -> None:
    code, out = dry_run
    assert code == 0, out
    assert out.splitlines()[0].startswith("gpu_check: device cpu (dry run")
    assert out.rstrip().endswith("ok")


def test_gpu_check__dry_agreement_table_compares_cpu_with_itself(dry_run: tuple[int, str]) -> None:
    rows = _table(dry_run[1].splitlines(), "| quantity | cpu | cpu reference |")
    names = [r[0] for r in rows]
    assert names == ["loss step 1", "loss step 2", "loss step 3", "loss step 4", "final loss (summary)",
                     "kNN final % (summary)"]
    for name, value, reference, diff, tolerance, ok in rows:
        assert all(math.isfinite(float(v)) for v in (value, reference, diff, tolerance)), name
        assert float(value) > 0 and float(tolerance) > 0 and ok == "ok"
        assert float(diff) == 0.0     # the same run twice on one CPU, one thread each: bit-identical
    assert rows[3][1] == rows[4][1]   # the last step's loss is the summary's final loss


def test_gpu_check__dry_timing_table_has_positive_numbers_per_precision(dry_run: tuple[int, str]) -> None:
    lines = dry_run[1].splitlines()
    rows = _table(lines, "| depth | precision | trainer s/step |")
    assert [(r[0], r[1]) for r in rows] == [("1", "fp32"), ("1", "bf16")]
    for row in rows:
        numbers = [float(v) for v in row[2:]]
        assert len(numbers) == 8 and all(math.isfinite(v) and v > 0 for v in numbers), row
    assert any(line.startswith("bf16 ÷ fp32, depth 1: trainer s/step ") for line in lines)
    assert any(line.startswith("peak MiB = the process's peak resident set") for line in lines)


@pytest.fixture
def gpu_check(monkeypatch: pytest.MonkeyPatch):
    """benchmarks/gpu_check.py imported in-process (its folder on sys.path, as when it runs as a script)."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_check", module)   # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("common", None)


def test_agreement__fails_beyond_its_tolerance_or_on_nan(gpu_check) -> None:
    assert gpu_check.Agreement("loss", 4.10, 4.11, tolerance=0.02).ok
    assert not gpu_check.Agreement("loss", 4.10, 4.13, tolerance=0.02).ok
    assert not gpu_check.Agreement("loss", math.nan, 4.10, tolerance=0.02).ok


def test_main__a_failing_part_makes_the_exit_status_1(gpu_check, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*_args, **_kwargs):
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(gpu_check, "agreement", broken)
    monkeypatch.setattr(gpu_check, "step_timing", broken)
    assert gpu_check.main(["--dry"]) == 1
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert "FAILED (3)" in last and "(a) RuntimeError: broken on purpose" in last   # (a), then fp32 and bf16


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU the check runs for real")
def test_main__without_a_gpu_or_dry_mode_exits_2(gpu_check, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPU_CHECK_DRY", raising=False)
    assert gpu_check.main([]) == 2
