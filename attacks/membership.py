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
from sflaudit.sfl.auditset import MEMBER_SEED, audit_sample, audit_set  # noqa: F401 (audit_sample: re-exported)
from sflaudit.sfl.setup import RunData, augment_spec, load_client0, load_run_data, load_server, pick_device
from sflaudit.stages import membership_id

from sflaudit.attacks.membership_refs import CALIBRATION, calibrated_scores, train_references
SCORES: tuple[str, ...] = ("view_similarity", "contrastive")
Embed = Callable[[Tensor], Tensor]


# ---------------------------------------------------------------------------------------------------- metrics


def roc_points(member: np.ndarray, nonmember: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) of every threshold (sklearn's ROC): what the TPR table reads and the log–log ROC draws."""
    y = np.r_[np.ones(len(member)), np.zeros(len(nonmember))]
    f, t, _ = roc_curve(y, np.r_[member, nonmember], drop_intermediate=False)
    return f, t


def tpr_at_fpr(member: np.ndarray, nonmember: np.ndarray, fpr: float) -> float:
    """Highest true-positive rate of any threshold whose false-positive rate is at most ``fpr`` (from the ROC)."""
    f, t = roc_points(member, nonmember)
    return float(t[f <= fpr + 1e-12].max())


def epsilon_lower_bound(member: np.ndarray, nonmember: np.ndarray, *, delta: float = 1e-5,
                        confidence: float = 0.95) -> float:
    """An empirical lower bound on the ε of (ε, δ)-DP from the attack (Jagielski et al., NeurIPS 2020): the largest
    ln((TPR_low − δ) / FPR_high) over the ROC's thresholds, with exact Clopper–Pearson bounds on both rates (0 when
    no threshold gives a positive bound). A DP run's claimed ε must lie above it."""
    f, t = roc_points(member, nonmember)
    tp, fp = np.round(t * len(member)), np.round(f * len(nonmember))
    alpha = 1.0 - confidence                    # exact Clopper–Pearson bounds as beta quantiles (vectorised)
    low = np.where(tp > 0, stats.beta.ppf(alpha / 2, np.maximum(tp, 1), len(member) - tp + 1), 0.0)
    high = np.where(fp < len(nonmember), stats.beta.ppf(1 - alpha / 2, fp + 1, np.maximum(len(nonmember) - fp, 1)),
                    1.0)
    ok = (low - delta > 0) & (high > 0)
    return float(np.log((low[ok] - delta) / high[ok]).max(initial=0.0)) if ok.any() else 0.0


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
    out["epsilon_lower"] = epsilon_lower_bound(member, nonmember)
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


# ---------------------------------------------------------------------------------------------------- the stage


def score_checkpoint(checkpoint: Path, cfg: Config, data: RunData, sets: dict[str, Tensor], views: int,
                     device: torch.device) -> dict[str, dict[str, np.ndarray]]:
    """Both signals of one checkpoint (the target, or a reference model) on each image set (N×3×H×W uint8), as the
    server sees the client (its defences applied); the augmentation draws are seeded per set, the same for every
    model. Returns ``{signal: {set name: N floats}}``."""
    ckpt = read_checkpoint(checkpoint)
    size = int(data.train.shape[-1])
    client = load_client0(ckpt, cfg, input_size=size, device=device, source=str(checkpoint))
    server = load_server(ckpt, cfg, input_size=size, device=device, source=str(checkpoint))
    client = defended(client, cfg.defence, wire_dtype=cfg.sfl.wire_dtype, seed=MEMBER_SEED)  # what the server sees
    embed: Embed = lambda x: server(client(x.to(device)))  # noqa: E731
    spec = augment_spec(cfg, data)
    out: dict[str, dict[str, np.ndarray]] = {name: {} for name in SCORES}
    for i, (label, imgs) in enumerate(sets.items()):
        for name in SCORES:
            gen = torch.Generator().manual_seed(MEMBER_SEED + i)
            s = (view_similarity(embed, imgs, spec, views, gen) if name == "view_similarity"
                 else contrastive_score(embed, imgs, spec, ckpt.queue, cfg.ssl.T, gen))
            out[name][label] = s.double().numpy()
    return out


def run_membership(checkpoint: Path, settings: MembershipConfig | None = None, *, runtime: RunConfig | None = None,
                   out: Path | None = None, reuse: bool = False) -> MembershipRecord:
    """Audit ``checkpoint`` for membership leakage; writes ``membership/<id>.json`` and the per-image scores
    (``.npz``) in its run directory (or ``out``). With ``membership.refs`` = K > 0, K reference models are trained
    (or reused) in ``<run>/refs/`` and the calibrated attacks (LiRA, RMIA) are scored beside the raw signals."""
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
    audit = audit_set(data.parts, data.train.shape[0], data.test.shape[0], cfg.data.fraction, m.images)
    held = data.test if audit.source == "test" else data.train
    sets = {"member": data.train[torch.as_tensor(audit.members)], "nonmember": held[torch.as_tensor(audit.nonmembers)]}
    if m.refs:
        sets["population"] = held[torch.as_tensor(audit.population)]
    device = pick_device(cfg.run.device)
    target = score_checkpoint(checkpoint, cfg, data, sets, m.views, device)
    refs = train_references(cfg, checkpoint.parent, m.images, m.refs) if m.refs else []
    ref_scores = [score_checkpoint(path, ref, data, sets, m.views, device) for ref, path, _ in refs]
    scores = {name: (s["member"], s["nonmember"]) for name, s in target.items()}
    scores.update(calibrated_scores(target, ref_scores, len(audit.members)))
    summary = {n: score_summary(mem, non, resamples=m.resamples, seed=MEMBER_SEED) for n, (mem, non) in scores.items()}
    per_client = {n: [roc_auc(mem[audit.clients == c], non) if (audit.clients == c).any() else None
                      for c in range(cfg.sfl.clients)] for n, (mem, non) in scores.items()}
    record = MembershipRecord(
        membership_id=ident,
        settings={"images": int(len(audit.members)), "views": m.views, "resamples": m.resamples, "seed": MEMBER_SEED,
                  "augment": cfg.data.augment, "refs": m.refs, "calibration": CALIBRATION if m.refs else "none",
                  "reference_train_s": [round(w, 3) for _, _, w in refs],
                  "interval": "AUC: 95% percentile bootstrap (scipy.stats.bootstrap); TPR: exact Clopper-Pearson"},
        threat_model={"attacker": "honest-but-curious server",
                      "holds": ["synced client weights (client 0 online, eval mode)", "server online weights and key "
                                "queue", "candidate images", "the augmentation recipe",
                                *([f"{m.refs} reference models it trained on other images of the pool (offline)",
                                   "population images"] if m.refs else [])],
                      "labels": False, "checkpoint": str(checkpoint), "checkpoint_step": ckpt.step},
        scores=summary, per_client_auc=per_client, members=[int(i) for i in audit.members],
        member_clients=[int(c) for c in audit.clients], nonmembers=[int(i) for i in audit.nonmembers],
        nonmember_source=audit.source, wall_s=round(time.perf_counter() - start, 3))
    arrays = {f"{n}_{side}": v for n, pair in scores.items() for side, v in zip(("member", "nonmember"), pair)}
    arrays.update(members=audit.members, nonmembers=audit.nonmembers, population=audit.population,
                  member_clients=audit.clients)
    for k, rs in enumerate(ref_scores, 1):
        arrays.update({f"ref{k}_{n}_{side}": v for n, s in rs.items() for side, v in s.items()})
    run.write_membership(record, arrays)
    return record
