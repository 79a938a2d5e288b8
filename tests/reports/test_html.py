"""The HTML report: self-contained, answer first, every section present, strings escaped; CSV/JSON beside it."""

from __future__ import annotations

import csv
import html
import json
from html.parser import HTMLParser
from pathlib import Path

import sflaudit.reports.cellstages as cellstages
from sflaudit.reports.tradeoffs import Constraints
from sflaudit.reports.html import ReportInputs, fmt_bytes, write_report
from sflaudit.config import Config
from sflaudit.errors import SflauditError

from report_cli import run_report  # tests/reports/report_cli.py


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of <title>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def parse(path: Path) -> Tags:
    tags = Tags()
    tags.feed(path.read_text())
    return tags


def test_fmt_bytes__binary_units() -> None:
    assert [fmt_bytes(v) for v in (None, 512, 13184, 3 * 1024 ** 2, 150 * 1024 ** 3)] == \
        ["–", "512 B", "12.9 KiB", "3 MiB", "150 GiB"]


def test_report__is_self_contained(smoke_sweep) -> None:
    page = parse(smoke_sweep.html)
    text = smoke_sweep.html.read_text()
    assert not [t for t, _ in page.tags if t in ("script", "link", "iframe", "object", "embed")]
    for tag, attrs in page.tags:
        for key in ("src", "href", "srcset", "poster"):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith(("data:image/png;base64,", "data:image/webp;base64,", "#")), \
                    (tag, key, value[:60])
    assert "@import" not in text and "url(" not in text and "@font-face" not in text


def test_report__answer_first_then_every_section(smoke_sweep) -> None:
    page = parse(smoke_sweep.html)
    assert page.title == "sflaudit report — where to cut resnet18 on photos"
    ids = [a["id"] for t, a in page.tags if t == "section"]
    assert ids == ["answer", "tradeoff", "plots", "table", "grids", "traffic", "read", "threat", "provenance"]
    plots = sorted(a["data-plot"] for t, a in page.tags if t == "img" and "data-plot" in a)
    assert plots == ["accuracy", "attack", "attacks", "bandwidth", "membership", "membership_roc", "time", "tradeoff"]
    grids = sorted(a["data-grid"] for t, a in page.tags if t == "img" and "data-grid" in a)
    assert grids == ["mocosfl-d1", "mocosfl-d2", "monacosfl-d1", "monacosfl-d2"]
    text = smoke_sweep.html.read_text()
    assert "Cut at depth" in text and "smoke budget" in text and "✓ equal" in text
    assert 'method = "monacosfl"' in html.unescape(text)                  # the full config in <pre>


def test_report__table_files_beside_the_html(smoke_sweep) -> None:
    csv_path, json_path = smoke_sweep.html.with_suffix(".csv"), smoke_sweep.html.with_suffix(".json")
    rows = list(csv.DictReader(csv_path.open()))
    assert [(r["method"], r["depth"], r["status"]) for r in rows] == [
        ("mocosfl", "1", "ok"), ("monacosfl", "1", "ok"), ("mocosfl", "2", "ok"), ("monacosfl", "2", "ok")]
    doc = json.loads(json_path.read_text())
    assert doc["format"] == "sflaudit-report/1" and len(doc["rows"]) == 4
    assert set(doc["pareto"]) <= {r["cell"] for r in doc["rows"]}
    assert doc["recommendation"]["cell"] in doc["pareto"]
    assert [r["knn_best"] for r in doc["rows"]] == [float(r["knn_best"]) for r in rows]


def test_report__escapes_every_string_from_files_and_options(tmp_path: Path, tiny_config: Config) -> None:
    evil = "<script>alert(1)</script>"
    rows = [{"cell": "mocosfl-d1", "method": "mocosfl", "depth": 1, "run_dir": str(tmp_path / "none"),
             "status": "failed", "error": f"RuntimeError: {evil}", "error_stage": "train"}]
    inputs = ReportInputs(rows=rows, config=tiny_config, depths=[1], methods=["mocosfl"], runs=tmp_path / evil,
                          overrides=[f'data.dataset="{evil}"'], preset=evil)
    files = write_report(inputs, tmp_path / "r.html")
    text = files.html.read_text()
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "No depth meets the constraints" in text                      # nothing finished, nothing to pick


def test_only_render__makes_the_page_from_existing_runs_without_training(monkeypatch, smoke_sweep,
                                                                         tmp_path: Path) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("--only-render must not run any stage")

    for stage in ("train_stage", "profile_stage", "eval_stage", "invert_stage", "membership_stage"):
        monkeypatch.setattr(cellstages, stage, refuse)
    out = tmp_path / "again.html"
    # no --preset/--depths: the sweep's own config and grid come from runs/sweep.json
    result = run_report("--only-render", "--runs", str(smoke_sweep.runs), "--out", str(out), "--min-knn", "101")
    assert result.exit_code == 0, (result.output, result.exception)
    assert out.is_file() and out.with_suffix(".csv").is_file()
    text = out.read_text()
    assert "No depth meets the constraints" in text and "kNN ≥ 101%" in text
    assert "no recommendation: No cell meets all limits: kNN ≥ 101% (best reached:" in result.output
    assert "smoke budget" in text and text.count("data-grid=") == 4


def test_report__constraints_choose_among_the_cells_that_meet_them(smoke_sweep, tmp_path: Path) -> None:
    doc = json.loads(smoke_sweep.html.with_suffix(".json").read_text())
    least_leaky = min(doc["rows"], key=lambda r: r["attack_ssim"])
    out = tmp_path / "limited.html"
    result = run_report("--only-render", "--runs", str(smoke_sweep.runs), "--out", str(out),
                        "--max-ssim", repr(least_leaky["attack_ssim"]))
    assert result.exit_code == 0, (result.output, result.exception)
    picked = json.loads(out.with_suffix(".json").read_text())["recommendation"]
    assert picked["cell"] == least_leaky["cell"] and picked["feasible"] == [least_leaky["cell"]]


def test_only_render__without_runs_is_an_error(tmp_path: Path) -> None:
    result = run_report("--only-render", "--preset", "smoke", "--depths", "1", "--runs", str(tmp_path / "none"),
                        "--out", str(tmp_path / "r.html"))
    assert isinstance(result.exception, SflauditError)
    assert "--only-render found no runs of this grid" in str(result.exception)


def test_report__failed_cells_are_shown_and_make_the_command_fail(monkeypatch, tiny_config: Config,
                                                                 tmp_path: Path) -> None:
    def broken_train(cfg: Config, run_dir: Path, *, quiet: bool) -> dict:
        raise RuntimeError("out of memory <at> the cut")

    monkeypatch.setattr(cellstages, "train_stage", broken_train)
    out = tmp_path / "r.html"
    result = run_report("--preset", "smoke", "--depths", "1", "--methods", "mocosfl", "--runs",
                        str(tmp_path / "runs"), "--out", str(out), "--quiet")
    assert isinstance(result.exception, SflauditError)
    assert str(result.exception).startswith("1 of 1 cells failed: mocosfl-d1 (train: RuntimeError: out of memory")
    text = out.read_text()
    assert "out of memory &lt;at&gt; the cut" in text and "1 cell(s) not in the comparison" in text


def test_constraints__describe() -> None:
    assert Constraints(0.3, 12.5, 60).describe() == ["attack SSIM ≤ 0.3", "≤ 12.5 MiB per client per run",
                                                     "kNN ≥ 60%"]


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    for args, message in ((["--methods", "fedavg"], "unknown method 'fedavg'"),
                          (["--depths", "0..3"], "depth 0 is out of range for resnet18 (1..17)"),
                          (["--executor", "slurm"], "unknown executor 'slurm'")):
        result = run_report("--preset", "smoke", "--runs", str(tmp_path / "r"), "--out", str(tmp_path / "x.html"),
                            "--quiet", *args)
        assert isinstance(result.exception, SflauditError), args
        assert message in str(result.exception)


def test_answer_card__a_pick_no_attack_beats_says_so_in_words(tmp_path: Path, tiny_config: Config) -> None:
    """The worst attack below the prior is no negative leakage: the card says no attack beats the knows-nothing
    baseline (the demo read "above prior −0.088")."""
    row = {"cell": "mocosfl-d1", "method": "mocosfl", "depth": 1, "run_dir": str(tmp_path), "status": "ok",
           "knn_best": 40.0, "attack_ssim": 0.1, "attack_ssim_by": "decoder", "prior_ssim": 0.188,
           "attack_ssim_above_prior": -0.088, "attack_prior_ssim": 0.188, "attack_decoder_ssim": 0.1,
           "mb_per_client": 1.0}
    inputs = ReportInputs(rows=[row], config=tiny_config, depths=[1], methods=["mocosfl"], runs=tmp_path,
                          attacks=["prior", "decoder"])
    text = write_report(inputs, tmp_path / "r.html").html.read_text()
    assert "no attack beats the prior" in text and "0.088 below it" in text
    assert "above prior <b>-0.088" not in text and "above prior <b>−0.088" not in text
