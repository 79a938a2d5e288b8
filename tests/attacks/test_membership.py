"""Label-free membership inference: ROC maths on hand-made scores, the audit sample, and the audit on real runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sflaudit.attacks.membership import (audit_sample, roc_auc, run_membership, score_summary, tpr_at_fpr,
                                        tpr_interval, view_similarity)
from sflaudit.artifacts import RunDir
from sflaudit.config import load_config
from sflaudit.data import AugmentSpec
from sflaudit.data.augment import augment
from sflaudit.sfl.checkpoint import write_checkpoint


def test_roc_auc__pairs_counted_by_hand() -> None:
    # members 3 and 4 against non-members 1, 2, 3.5: 3 beats two, 4 beats three → 5 of 6 pairs
    assert roc_auc(np.array([3.0, 4.0]), np.array([1.0, 2.0, 3.5])) == pytest.approx(5 / 6)


def test_tpr_at_fpr__read_off_the_roc_exactly() -> None:
    nonmember = np.arange(100) / 100.0                       # 0.00 … 0.99
    member = np.array([0.995, 0.985, 0.5])
    # threshold 0.995: no false positive, 1 of 3 members; 0.985: one false positive (0.99) = 1 % FPR, 2 of 3;
    # the third member (0.5) is reached only when the 50 non-members ≥ 0.5 are flagged too (50 % FPR)
    assert tpr_at_fpr(member, nonmember, 0.0) == pytest.approx(1 / 3)
    assert tpr_at_fpr(member, nonmember, 0.01) == pytest.approx(2 / 3)
    assert tpr_at_fpr(member, nonmember, 0.10) == pytest.approx(2 / 3)
    assert tpr_at_fpr(member, nonmember, 0.49) == pytest.approx(2 / 3)
    assert tpr_at_fpr(member, nonmember, 0.50) == pytest.approx(1.0)


def test_score_summary__identical_distributions_cover_chance() -> None:
    rng = np.random.default_rng(0)
    s = score_summary(rng.normal(size=300), rng.normal(size=300), resamples=500, seed=1)
    assert s["auc_low"] < 0.5 < s["auc_high"] and s["auc_high"] - s["auc_low"] < 0.15


def test_tpr_interval__exact_clopper_pearson_around_the_members_above_the_threshold() -> None:
    members, nonmembers = np.array([10.0, 9.0, 8.0, 1.0]), np.array([5.0, 4.0, 3.0, 2.0])
    tpr, low, high = tpr_interval(members, nonmembers, 0.001)    # no false positive allowed: 3 of 4 members above
    assert tpr == 0.75
    assert low == pytest.approx(0.19412, abs=1e-5) and high == pytest.approx(0.99369, abs=1e-5)   # Beta quantiles


def test_score_summary__untrained_scores_tpr_at_low_fpr_within_its_interval_around_the_fpr() -> None:
    """Members and non-members from one distribution: TPR@1 % FPR is a chance count, and its exact interval covers
    the 1 % a blind guess achieves."""
    rng = np.random.default_rng(0)
    s = score_summary(rng.normal(size=300), rng.normal(size=300), resamples=200, seed=1)
    assert s["tpr_at_1fpr_low"] <= 0.01 <= s["tpr_at_1fpr_high"]
    assert s["tpr_at_01fpr_low"] <= s["tpr_at_01fpr"] <= s["tpr_at_01fpr_high"] <= s["tpr_at_1fpr_high"]


def test_audit_sample__members_from_every_client_never_overlap_nonmembers() -> None:
    parts = [np.arange(0, 40), np.arange(40, 100)]
    pool = np.arange(100, 160)                                # e.g. training images no client received
    members, clients, nonmembers = audit_sample(parts, pool, 20, seed=3)
    assert len(members) == len(nonmembers) == 20 and len(set(members.tolist())) == 20
    assert not set(members.tolist()) & set(nonmembers.tolist())
    assert set(nonmembers.tolist()) <= set(pool.tolist())
    assert np.bincount(clients).tolist() == [10, 10]          # balanced across clients
    for c, p in enumerate(parts):
        assert set(members[clients == c].tolist()) <= set(p.tolist())
    again = audit_sample(parts, pool, 20, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(again, (members, clients, nonmembers)))   # seeded


def test_view_similarity__an_encoder_that_ignores_augmentation_scores_one() -> None:
    images = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    spec = AugmentSpec(kind="mocov2", size=16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    constant = lambda x: torch.ones(x.shape[0], 4)  # noqa: E731
    s = view_similarity(constant, images, spec, 4, torch.Generator().manual_seed(0))
    assert torch.allclose(s, torch.ones(5))


def _blob_images(n: int, side: int, seed: int) -> torch.Tensor:
    """n distinct synthetic images (a flat colour with four coloured ellipses): n×3×side×side uint8."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    out = torch.empty(n, 3, side, side)
    for i in range(n):
        img = torch.rand(3, 1, 1, generator=g).expand(3, side, side).clone()
        for _ in range(4):
            cy, cx = (torch.rand(2, generator=g) * side).tolist()
            ry, rx = (2 + torch.rand(2, generator=g) * side / 3).tolist()
            img[:, ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1] = torch.rand(3, 1, generator=g)
        out[i] = img
    return out.mul(255).round().to(torch.uint8)


VIEW_BANK = 400                  # augmented views of the member batch the over-training draws its pairs from


def _tiny_encoder() -> torch.nn.Module:
    """A two-conv CNN for 32×32 inputs: B×3×32×32 → B×64."""
    return torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, 2, 1), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3, 2, 1),
                               torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(32 * 8 * 8, 64))


def test_view_similarity__separates_the_images_a_tiny_encoder_was_over_trained_on() -> None:
    # 16 members, 16 non-members from the same distribution (a seeded split of 32 images); a tiny CNN trained with
    # in-batch InfoNCE for 5,000 steps on pairs drawn from a bank of the members' mocov2 views (the augmentation cost
    # paid once), then audited with fresh views of the same augmentation.
    images = _blob_images(32, 32, seed=0)
    order = torch.randperm(32, generator=torch.Generator().manual_seed(0))
    members, nonmembers = images[order[:16]], images[order[16:]]
    spec = AugmentSpec(kind="mocov2", size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))

    def auc_of(enc: torch.nn.Module) -> dict:
        with torch.no_grad():
            s_mem = view_similarity(enc, members, spec, 8, torch.Generator().manual_seed(7)).numpy()
            s_non = view_similarity(enc, nonmembers, spec, 8, torch.Generator().manual_seed(7)).numpy()
        return score_summary(s_mem, s_non, resamples=500, seed=0)

    torch.manual_seed(0)
    enc = _tiny_encoder()
    before = auc_of(enc)
    opt = torch.optim.Adam(enc.parameters(), 1e-3)
    g = torch.Generator().manual_seed(1)
    bank = torch.stack([augment(members, spec, g) for _ in range(VIEW_BANK)])   # V×16×3×32×32 training views
    pick = torch.randint(0, VIEW_BANK, (5000, 2), generator=g)
    for i, j in pick.tolist():
        a = F.normalize(enc(bank[i]), dim=1)
        b = F.normalize(enc(bank[j]), dim=1)
        loss = F.cross_entropy(a @ b.t() / 0.2, torch.arange(16))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = auc_of(enc)
    assert after["auc"] > 0.9 and after["auc_low"] > 0.5, after
    assert before["auc_low"] <= 0.5 <= before["auc_high"], before      # untrained: no separation


def _checkpoint(tmp_path: Path, overrides: list[str], steps: int | None) -> Path:
    from sflaudit.sfl.trainer import Trainer

    cfg = load_config(preset="smoke", overrides=overrides)
    trainer = Trainer(cfg, tmp_path / "run")
    if steps:
        trainer.fit()
        return tmp_path / "run" / "best.pt"
    write_checkpoint(trainer.weights(), tmp_path / "run" / "best.pt")
    return tmp_path / "run" / "best.pt"


def test_membership__untrained_model_is_at_chance_within_its_interval(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, ["membership.images=150", "membership.resamples=500"], steps=None)
    rec = run_membership(ckpt)
    assert rec.nonmember_source == "train-unused" and not set(rec.members) & set(rec.nonmembers)
    for name, s in rec.scores.items():
        assert s["auc_low"] <= 0.5 <= s["auc_high"], (name, s)
    assert RunDir(ckpt.parent).read_membership(rec.membership_id) == rec
