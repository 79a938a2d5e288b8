"""Worst case over the attacks of a cell, and leakage above the prior, on constructed records."""

from __future__ import annotations

from sflaudit.artifacts import AttackRecord

from sflaudit.reports.attackcols import attack_columns, worst_case


def _record(kind: str, ssim: float, psnr: float, mse: float, lpips: float | None, per_image: list[float]
            ) -> AttackRecord:
    return AttackRecord(attack_id=f"{kind}-x", settings={"kind": kind}, threat_model={}, run={},
                        mean={"mse": mse, "psnr": psnr, "ssim": ssim, "ssim_ref": ssim + 0.1, "lpips": lpips},
                        metrics={"ssim": per_image}, lpips={}, training={}, attack_wall_s=1.0, wall_s=2.0)


def test_worst_case__each_metric_names_the_attack_that_leaked_most() -> None:
    means = {"prior": {"ssim": 0.1, "psnr": 11.0, "mse": 0.09, "lpips": 0.7},
             "decoder": {"ssim": 0.5, "psnr": 18.0, "mse": 0.02, "lpips": 0.4},
             "hybrid": {"ssim": 0.45, "psnr": 19.0, "mse": 0.015, "lpips": None}}
    assert worst_case(means, "ssim") == ("decoder", 0.5)
    assert worst_case(means, "psnr") == ("hybrid", 19.0)
    assert worst_case(means, "mse") == ("hybrid", 0.015)
    assert worst_case(means, "lpips") == ("decoder", 0.4)
    assert worst_case({"a": {"ssim": None}}, "ssim") == (None, None)


def test_worst_case__ties_go_to_the_attack_listed_first() -> None:
    assert worst_case({"decoder": {"ssim": 0.3}, "hybrid": {"ssim": 0.3}}, "ssim") == ("decoder", 0.3)


def test_attack_columns__worst_case_interval_and_above_prior() -> None:
    records = {"prior": _record("prior", 0.1, 11.0, 0.09, 0.7, [0.1, 0.1]),
               "decoder": _record("decoder", 0.5, 18.0, 0.02, 0.4, [0.4, 0.6]),
               "hybrid": None}
    cols = attack_columns(records, interval=lambda v: (min(v), max(v)))
    assert (cols["attack_ssim"], cols["attack_ssim_by"]) == (0.5, "decoder")
    assert (cols["attack_ssim_low"], cols["attack_ssim_high"]) == (0.4, 0.6)
    assert cols["attack_ssim_above_prior"] == 0.5 - 0.1
    assert cols["attack_hybrid_ssim"] is None and cols["attacks_run"] == "prior,decoder"
    assert cols["attack_ssim_ref"] == 0.6 and cols["attack_ssim_ref_by"] == "decoder"


def test_attack_columns__prior_alone_has_no_leakage_above_itself() -> None:
    cols = attack_columns({"prior": _record("prior", 0.2, 12.0, 0.05, None, [0.2, 0.2])})
    assert cols["attack_ssim"] == 0.2 and cols["attack_ssim_above_prior"] is None
    assert cols["attack_ssim_low"] is None                      # no interval function given


def test_attack_columns__negatives_are_flagged_only_where_they_beat_the_ssim() -> None:
    sub = _record("substitute", 0.02, 11.0, 0.09, None, [0.0, 0.04])
    sub.training["ssim_of_negatives"] = 0.17
    dec = _record("decoder", 0.6, 18.0, 0.02, None, [0.5, 0.7])
    dec.training["ssim_of_negatives"] = -0.4
    cols = attack_columns({"decoder": dec, "substitute": sub})
    assert cols["attack_substitute_negatives"] == 0.17 and cols["attack_decoder_negatives"] is None
    assert cols["attack_ssim"] == 0.6 and cols["attack_ssim_by"] == "decoder"   # never the worst case
    assert attack_columns({"substitute": None})["attack_substitute_negatives"] is None
