"""The report grid: --vary parsing, every combination as a named cell, seeds, attacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from sflaudit.reports.grid import parse_attacks, parse_vary, plan_cells, seed_list, settings_of
from sflaudit.config import Config
from sflaudit.errors import SflauditError
from sflaudit.stages import training_id


def test_parse_vary__values_kept_as_written_in_order() -> None:
    assert parse_vary(["sfl.avg_freq=1, 4", "optim.lr=0.06"]) == [("sfl.avg_freq", ["1", "4"]),
                                                                   ("optim.lr", ["0.06"])]


@pytest.mark.parametrize("item, message", [
    ("sfl.avg_freq", "expects section.field=v1,v2"),
    ("model.depth=1,2", "use --depths"),
    ("sfl.avg_freq=1,1", "repeats a value"),
    ("sfl.nope=1", "unknown config key sfl.nope"),
    ("sfl.avg_freq=fast", "must be an integer"),
])
def test_parse_vary__bad_items_are_one_line_errors(item: str, message: str) -> None:
    with pytest.raises(SflauditError, match=message):
        parse_vary([item])


def test_parse_vary__a_key_given_twice_is_refused() -> None:
    with pytest.raises(SflauditError, match="given twice"):
        parse_vary(["sfl.avg_freq=1", "sfl.avg_freq=4"])


def test_settings_of__every_combination_first_axis_slowest() -> None:
    got = settings_of([("a.x", ["1", "2"]), ("b.y", ["u", "v"])])
    assert got == [(("a.x", "1"), ("b.y", "u")), (("a.x", "1"), ("b.y", "v")),
                   (("a.x", "2"), ("b.y", "u")), (("a.x", "2"), ("b.y", "v"))]
    assert settings_of([]) == [()]


def test_plan_cells__names_carry_values_and_seeds(tiny_config: Config, tmp_path: Path) -> None:
    cells = plan_cells(tiny_config, [1], ["mocosfl"], tmp_path, vary=parse_vary(["sfl.avg_freq=1,4"]), seeds=2,
                       attacks=("prior", "decoder"))
    base = tiny_config.run.seed
    assert [c.name for c in cells] == ["mocosfl-d1-sfl.avg_freq=1", f"mocosfl-d1-sfl.avg_freq=1-seed{base + 1}",
                                       "mocosfl-d1-sfl.avg_freq=4", f"mocosfl-d1-sfl.avg_freq=4-seed{base + 1}"]
    assert [c.config().sfl.avg_freq for c in cells] == [1, 1, 4, 4]
    assert [c.config().run.seed for c in cells] == [base, base + 1, base, base + 1]
    assert cells[0].group == cells[1].group != cells[2].group
    assert len({training_id(c.config()) for c in cells}) == 4          # every cell is its own training run
    assert list(cells[0].attack_ids) == ["prior", "decoder"]
    assert cells[0].attack_ids["prior"].startswith("prior-")


def test_plan_cells__a_widened_vary_keeps_the_old_cells(tiny_config: Config, tmp_path: Path) -> None:
    old = plan_cells(tiny_config, [1], ["mocosfl"], tmp_path, vary=parse_vary(["sfl.avg_freq=1"]))
    new = plan_cells(tiny_config, [1], ["mocosfl"], tmp_path, vary=parse_vary(["sfl.avg_freq=1,4"]))
    assert old[0] == new[0] and len(new) == 2


def test_seed_list__first_seed_is_the_base_one() -> None:
    assert seed_list(Config(), 3) == [None, Config().run.seed + 1, Config().run.seed + 2]
    with pytest.raises(SflauditError, match="--seeds"):
        seed_list(Config(), 0)


def test_parse_attacks__unknown_kind_names_the_valid_ones() -> None:
    assert parse_attacks("decoder,prior,decoder") == ["decoder", "prior"]
    with pytest.raises(SflauditError, match="valid: prior, decoder, hybrid, substitute, whitebox"):
        parse_attacks("magic")
