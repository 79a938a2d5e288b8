"""The user's own network from the console script: the ResNet-50 profile at 224×224 with no dataset, and one
``error:`` line for a network torch.fx cannot trace or a builder torchvision does not have."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_cli_errors import assert_one_error_line, run_script  # tests/cli/test_cli_errors.py

TESTS = Path(__file__).resolve().parents[1]


def _run_with_zoo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The console script with a copy of tests/netzoo.py importable (the user's own package)."""
    shutil.copy(TESTS / "netzoo.py", cwd / "netzoo.py")
    script = Path(sys.executable).with_name("sflaudit")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(cwd))
    return subprocess.run([str(script), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_profile_resnet50_at_224_lists_every_cut_without_data(tmp_path: Path) -> None:
    """49 cuts (stem + 16 bottlenecks × 3 convs), read from the graph; CIFAR-10 is nowhere on disk."""
    start = time.perf_counter()
    res = run_script("profile", "--arch", "torchvision:resnet50", "--input-size", "224", "--no-memory",
                     "--format", "json", "--set", 'data.dataset="cifar10"', "--set", f'data.data_dir="{tmp_path}"',
                     cwd=tmp_path)
    wall = time.perf_counter() - start
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [r["depth"] for r in rows] == list(range(1, 50))
    assert rows[0]["after"] == "conv1" and rows[0]["sent"] == [[64, 56, 56]]
    assert rows[1]["after"] == "layer1.0.conv1" and rows[1]["sent"] == [[64, 56, 56], [256, 56, 56]]
    assert rows[-1]["sent"] == [[2048, 7, 7]] and rows[-1]["client_params"] == 23_508_032
    # torchvision's ResNet-50 is 4.09 GMAC at 224×224 (conv + linear); GroupNorm adds 5 per element
    assert 4.1e9 < rows[-1]["client_flops"] + rows[-1]["server_flops"] < 4.3e9
    assert wall < 60, wall


@pytest.mark.parametrize("arch, contains", [
    ("netzoo:branchy", "torch.fx cannot trace it"),
    ("torchvision:resnet_50", "unknown torchvision builder 'resnet_50'"),
])
def test_bad_network_is_one_error_line(tmp_path: Path, arch: str, contains: str) -> None:
    res = _run_with_zoo("profile", "--arch", arch, "--list", cwd=tmp_path)
    assert_one_error_line(res, contains=contains)


def test_user_module_profile_names_each_cut(tmp_path: Path) -> None:
    res = _run_with_zoo("profile", "--arch", "netzoo:tiny", "--list", "--format", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [(r["depth"], r["after"]) for r in rows] == [(1, "stem.0"), (2, "a"), (3, "b"), (4, "head")]
    assert rows[1]["sent"] == [[8, 16, 16], [8, 16, 16]]
