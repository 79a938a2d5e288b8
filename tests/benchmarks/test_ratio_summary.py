"""benchmarks/common.py's interleaved-timing helpers: the call orders and the paired-ratio summary, on exact cases."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest
from scipy.stats import binom

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def common():
    """benchmarks/common.py imported in-process under a private module name (the scripts import it as ``common``)."""
    spec = importlib.util.spec_from_file_location("benchmarks_common_under_test", REPO / "benchmarks" / "common.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def _pairs(ratios: list[float], trainer_s: float = 2.0) -> list[tuple[float, float]]:
    return [(trainer_s, r * trainer_s) for r in ratios]


def test_ratio_summary__three_ratios_give_their_median_quartiles_and_full_range(common) -> None:
    s = common.ratio_summary(_pairs([1.1, 0.9, 1.0]))
    assert s.n == 3 and s.median == pytest.approx(1.0)
    assert (s.rank, s.low, s.high) == (1, pytest.approx(0.9), pytest.approx(1.1))
    assert s.coverage == pytest.approx(0.75)             # 1 − 2 · (1/2)³: too few for 95 %
    assert (s.q1, s.q3) == (pytest.approx(0.95), pytest.approx(1.05))
    assert s.verdict == "can't tell"


def test_ratio_summary__ratio_is_floor_over_trainer_of_the_same_pair(common) -> None:
    s = common.ratio_summary([(4.0, 3.0), (1.0, 1.0), (2.0, 2.5)])
    assert s.median == pytest.approx(1.0) and (s.low, s.high) == (pytest.approx(0.75), pytest.approx(1.25))


def test_ratio_summary__seven_ratios_clearly_above_say_yes(common) -> None:
    s = common.ratio_summary(_pairs([1.00, 0.98, 1.02, 0.99, 1.01, 1.03, 0.985]))
    assert s.rank == 1 and s.coverage == pytest.approx(1 - 2 / 128) and s.coverage >= 0.95
    assert (s.low, s.high) == (pytest.approx(0.98), pytest.approx(1.03))
    assert s.median == pytest.approx(1.00) and s.verdict == "yes"


def test_ratio_summary__interval_straddling_the_threshold_says_cant_tell(common) -> None:
    s = common.ratio_summary(_pairs([0.95, 0.96, 0.98, 0.99, 1.00, 1.01, 1.02]))
    assert s.low < 0.97 <= s.high and s.verdict == "can't tell"


def test_ratio_summary__interval_below_the_threshold_says_no(common) -> None:
    s = common.ratio_summary(_pairs([0.90, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96]))
    assert s.high < 0.97 and s.verdict == "no"


def test_ratio_summary__nine_ratios_drop_one_order_statistic_each_side(common) -> None:
    ratios = [0.50, 0.98, 0.99, 1.00, 1.01, 1.02, 1.03, 1.04, 2.00]
    s = common.ratio_summary(_pairs(ratios))
    assert s.rank == 2 == int(binom.ppf(0.025, 9, 0.5))
    assert s.coverage == pytest.approx(1 - 2 * 10 / 512)    # P(B ≤ 1) = (1 + 9) / 2⁹
    assert (s.low, s.high) == (pytest.approx(0.98), pytest.approx(1.04))   # the outliers 0.5 and 2.0 drop out
    assert s.verdict == "yes"


def test_ratio_summary__refuses_no_pairs(common) -> None:
    with pytest.raises(ValueError):
        common.ratio_summary([])


def test_balanced_orders__every_step_takes_every_place_equally_and_the_seed_fixes_them(common) -> None:
    orders = common.balanced_orders(3, 12, seed=0)
    assert len(orders) == 12 and all(sorted(o) == [0, 1, 2] for o in orders)
    for place in range(3):
        assert Counter(o[place] for o in orders) == {0: 4, 1: 4, 2: 4}
    assert len(set(orders[:6])) == 6 and orders[6:] == orders[:6]
    assert common.balanced_orders(3, 12, seed=0) == orders
    assert common.balanced_orders(3, 6, seed=1) != orders[:6]
