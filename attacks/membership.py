"""Label-free membership inference against the trained split encoder (EncoderMI, Liu et al., CCS 2021).

Threat model (as data in the record): an honest-but-curious server that holds the checkpoint's synced client 0
online weights and its own online weights and key queue — exactly what it runs during training — plus candidate
images, the public augmentation recipe, and no labels. It asks: was this image in some client's training set?

Two scores per image, higher = "member":

* ``view_similarity`` — mean pairwise cosine similarity of the encoder's embeddings (client → server backbone →
  projector, L2-normalised) over ``views`` augmented views; a trained contrastive encoder pulls the views of its
  training images closer together than those of unseen images.
* ``contrastive`` — minus the InfoNCE loss of the image's two views (query and key both from the online model: a
  MocoSFL server never receives the clients' momentum models) against the server's queue.

The audit: members are images the clients trained on, sampled evenly from each client's partition; non-members
are as many held-out images (the test split, or training images no client received when ``data.fraction`` < 1);
both seeded with :data:`MEMBER_SEED`. Reported: ROC AUC with a bootstrap interval, TPR at 1 % and 10 % FPR, and the
AUC of each client's members against all non-members.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from sklearn.metrics import roc_curve
from torch import Tensor

from sflaudit.artifacts import MembershipRecord, RunDir
from sflaudit.config import MembershipConfig, RunConfig, config_from_toml, validate
from sflaudit.data import AugmentSpec, augment
from sflaudit.errors import SflauditError
from sflaudit.jobs import with_runtime
from sflaudit.sfl.checkpoint import read_checkpoint
from sflaudit.sfl.defences import defended
from sflaudit.sfl.setup import augment_spec, load_client0, load_run_data, load_server, pick_device
from sflaudit.stages import membership_id

MEMBER_SEED = 125          # fixed draw of the audited images (beside the attacks' AUX_SEED 123, TARGET_SEED 124)
SCORES: tuple[str, ...] = ("view_similarity", "contrastive")
Embed = Callable[[Tensor], Tensor]


# ---------------------------------------------------------------------------------------------------- metrics


def tpr_at_fpr(member: np.ndarray, nonmember: np.ndarray, fpr: float) -> float:
    """Highest true-positive rate of any threshold whose false-positive rate is at most ``fpr`` (from the ROC)."""
    y = np.r_[np.ones(len(member)), np.zeros(len(nonmember))]
    f, t, _ = roc_curve(y, np.r_[member, nonmember])
    return float(t[f <= fpr + 1e-12].max())


def tpr_interval(member: np.ndarray, nonmember: np.ndarray, fpr: float, *,
                 confidence: float = 0.95) -> tuple[float, float, float]:
    """(TPR at ``fpr``, its exact Clopper–Pearson interval): the members above the chosen threshold are a binomial
    count out of the members (scipy.stats.binomtest). At 0.1 % FPR with a few hundred non-members the threshold
    admits no false positive at all — what the auditors' low-FPR regime means on a sample this size."""
    tpr = tpr_at_fpr(member, nonmember, fpr)
    hits = int(round(tpr * len(member)))
    ci = stats.binomtest(hits, len(member)).proportion_ci(confidence_level=confidence, method="exact")
    return tpr, float(ci.low), float(ci.high)


def roc_auc(member: np.ndarray, nonmember: np.ndarray, axis: int = -1) -> float | np.ndarray:
    """Probability that a random member scores above a random non-member, ties counting half (the Mann–Whitney
    form of the ROC AUC, from average ranks); vectorised along ``axis`` for the bootstrap."""
    n1, n2 = member.shape[axis], nonmember.shape[axis]
    ranks = stats.rankdata(np.concatenate([member, nonmember], axis=axis), axis=axis)
    r1 = np.take(ranks, np.arange(n1), axis=axis).sum(axis=axis)
    auc = (r1 - n1 * (n1 + 1) / 2.0) / (n1 * n2)
    return float(auc) if np.ndim(auc) == 0 else auc


def score_summary(member: np.ndarray, nonmember: np.ndarray, *, resamples: int, seed: int) -> dict[str, float | None]:
    """AUC with a 95 % percentile-bootstrap interval (members and non-members resampled independently,
    scipy.stats.bootstrap), and TPR at 0.1 % / 1 % / 10 % FPR, each with its exact Clopper–Pearson interval
    (:func:`tpr_interval`; keys ``tpr_at_01fpr``, ``tpr_at_1fpr``, ``tpr_at_10fpr`` and their ``_low``/``_high``)."""
    auc = roc_auc(member, nonmember)
    ci = stats.bootstrap((member, nonmember), roc_auc, vectorized=True, paired=False, n_resamples=resamples,
                         method="percentile", random_state=np.random.default_rng(seed)).confidence_interval
    low, high = float(ci.low), float(ci.high)
    out: dict[str, float | None] = {"auc": auc, "auc_low": low if math.isfinite(low) else None,
                                    "auc_high": high if math.isfinite(high) else None}
    for key, fpr in (("tpr_at_01fpr", 0.001), ("tpr_at_1fpr", 0.01), ("tpr_at_10fpr", 0.10)):
        out[key], out[f"{key}_low"], out[f"{key}_high"] = tpr_interval(member, nonmember, fpr)
    return out


# ----------------------------------------------------------------------------------------------------- scores


@torch.no_grad()
def view_similarity(embed: Embed, images: Tensor, spec: AugmentSpec, views: int, generator: torch.Generator,
                    *, batch: int = 256) -> Tensor:
    """Mean pairwise cosine similarity over ``views`` augmented views per image.

    images: N×3×H×W uint8. embed: normalised B×3×S×S → B×D. Returns N floats in [-1, 1].
    """
    out = []
    for i in range(0, images.shape[0], batch):
        x = images[i:i + batch]
        z = torch.stack([F.normalize(embed(augment(x, spec, generator)).float(), dim=1) for _ in range(views)], 1)
        gram = z @ z.transpose(1, 2)                                        # n×V×V
        out.append((gram.sum(dim=(1, 2)) - views) / (views * (views - 1)))  # off-diagonal mean
    return torch.cat(out).cpu()


@torch.no_grad()
def contrastive_score(embed: Embed, images: Tensor, spec: AugmentSpec, queue: Tensor, temperature: float,
                      generator: torch.Generator, *, batch: int = 256) -> Tensor:
    """−InfoNCE per image: query = view 1, positive key = view 2, negatives = the K×D ``queue``. Returns N floats."""
    out = []
    for i in range(0, images.shape[0], batch):
        x = images[i:i + batch]
        q = F.normalize(embed(augment(x, spec, generator)).float(), dim=1)
        k = F.normalize(embed(augment(x, spec, generator)).float(), dim=1)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.to(q).t()], dim=1) / temperature
        out.append(-F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device),
                                    reduction="none"))
    return torch.cat(out).cpu()


# ----------------------------------------------------------------------------------------------------- sample


def audit_sample(parts: list[np.ndarray], nonmember_pool: np.ndarray, images: int, seed: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(member indices, each member's client, non-member indices): members evenly from every client's partition,
    then as many non-members from ``nonmember_pool``; seeded, without repeats."""
    rng = np.random.default_rng(seed)
    share = math.ceil(images / len(parts))
    picked = [rng.permutation(p)[:share] for p in parts]
    members = np.concatenate(picked)
    clients = np.concatenate([np.full(len(p), c) for c, p in enumerate(picked)])
    order = rng.permutation(len(members))[:images]
    members, clients = members[order], clients[order]
    n = min(len(members), len(nonmember_pool))
    if n < 2:
        raise SflauditError(f"membership audit needs at least 2 members and 2 non-members, got {n}")
    return members[:n], clients[:n], rng.permutation(nonmember_pool)[:n]


# ---------------------------------------------------------------------------------------------------- the stage


def run_membership(checkpoint: Path, settings: MembershipConfig | None = None, *, runtime: RunConfig | None = None,
                   out: Path | None = None, reuse: bool = False) -> MembershipRecord:
    """Audit ``checkpoint`` for membership leakage; writes ``membership/<id>.json`` in its run directory (or ``out``)."""
    start = time.perf_counter()
    checkpoint = Path(checkpoint)
    ckpt = read_checkpoint(checkpoint)
    cfg = with_runtime(config_from_toml(ckpt.config, source=f"config of {checkpoint}"), runtime)
    if settings is not None:
        cfg = replace(cfg, membership=settings)
        validate(cfg)
    m = cfg.membership
    run = RunDir(Path(out) if out is not None else checkpoint.parent)
    ident = membership_id(m)
    if reuse and (done := run.read_membership(ident)) is not None:
        return done
    if m.images < 2:
        raise SflauditError(f"membership.images = {m.images}: the audit needs at least 2 images per side")
    data = load_run_data(cfg, np.random.default_rng(cfg.run.seed))        # the trainer's own partition
    used = np.concatenate(data.parts)
    unused = np.setdiff1d(np.arange(data.train.shape[0]), used)
    source, pool = ("train-unused", unused) if cfg.data.fraction < 1.0 and len(unused) >= 2 else \
        ("test", np.arange(data.test.shape[0]))
    members, clients, nonmembers = audit_sample(data.parts, pool, m.images, MEMBER_SEED)
    device = pick_device(cfg.run.device)
    size = int(data.train.shape[-1])
    client = load_client0(ckpt, cfg, input_size=size, device=device, source=str(checkpoint))
    server = load_server(ckpt, cfg, input_size=size, device=device, source=str(checkpoint))
    client = defended(client, cfg.defence, wire_dtype=cfg.sfl.wire_dtype, seed=MEMBER_SEED)  # what the server sees
    embed: Embed = lambda x: server(client(x.to(device)))  # noqa: E731
    spec = augment_spec(cfg, data)
    held = data.test if source == "test" else data.train
    scores: dict[str, dict[str, np.ndarray]] = {}
    for name in SCORES:
        side = {}
        for label, imgs in (("member", data.train[torch.as_tensor(members)]),
                            ("nonmember", held[torch.as_tensor(nonmembers)])):
            gen = torch.Generator().manual_seed(MEMBER_SEED + (label == "nonmember"))
            s = (view_similarity(embed, imgs, spec, m.views, gen) if name == "view_similarity"
                 else contrastive_score(embed, imgs, spec, ckpt.queue, cfg.ssl.T, gen))
            side[label] = s.double().numpy()
        scores[name] = side
    summary = {n: score_summary(s["member"], s["nonmember"], resamples=m.resamples, seed=MEMBER_SEED)
               for n, s in scores.items()}
    per_client = {n: [roc_auc(s["member"][clients == c], s["nonmember"]) if (clients == c).any() else None
                      for c in range(cfg.sfl.clients)] for n, s in scores.items()}
    record = MembershipRecord(
        membership_id=ident,
        settings={"images": int(len(members)), "views": m.views, "resamples": m.resamples, "seed": MEMBER_SEED,
                  "augment": cfg.data.augment, "interval": "95% percentile bootstrap (scipy.stats.bootstrap)"},
        threat_model={"attacker": "honest-but-curious server",
                      "holds": ["synced client weights (client 0 online, eval mode)", "server online weights and key "
                                "queue", "candidate images", "the augmentation recipe"],
                      "labels": False, "checkpoint": str(checkpoint), "checkpoint_step": ckpt.step},
        scores=summary, per_client_auc=per_client, members=[int(i) for i in members],
        member_clients=[int(c) for c in clients], nonmembers=[int(i) for i in nonmembers], nonmember_source=source,
        wall_s=round(time.perf_counter() - start, 3))
    run.write_membership(record)
    return record
