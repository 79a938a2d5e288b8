"""One smoke sweep (2 depths × 2 methods, tiny budget) shared by the collect, html, browser and ray tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from sflaudit.config import Config, load_config

from report_cli import DEPTHS, TINY, TINY_SETS, run_report  # tests/reports/report_cli.py


@pytest.fixture(scope="session")
def tiny_config() -> Config:
    """The smoke preset with the tiny budget of :data:`TINY_SETS` (the shared sweep's base config)."""
    return load_config(None, "smoke", TINY_SETS)


@dataclass(frozen=True)
class Sweep:
    runs: Path
    html: Path
    output: str
    config: Config
    depths: list[int]
    methods: list[str]


@pytest.fixture(scope="session")
def smoke_sweep(tmp_path_factory: pytest.TempPathFactory, tiny_config: Config) -> Sweep:
    root = tmp_path_factory.mktemp("sweep")
    runs, html = root / "runs", root / "out" / "report.html"
    result = run_report("--depths", DEPTHS, *TINY, "--runs", str(runs), "--out", str(html), "--quiet")
    assert result.exit_code == 0, (result.output, result.exception)
    return Sweep(runs, html, result.output, tiny_config, [1, 2], ["mocosfl", "monacosfl"])
