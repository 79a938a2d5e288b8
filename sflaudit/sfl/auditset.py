"""The images a membership audit asks about, and the training images of the auditor's reference models.

* **Audit set** (:func:`audit_set`): members drawn evenly from every client's partition, as many non-members from
  the held-out pool (training images no client received when ``data.fraction`` < 1, else the test split), and a
  *population* sample from what is left of that pool (what RMIA compares against). Seeded with
  :data:`MEMBER_SEED`, disjoint.
* **Reference models** (``data.audit_exclude`` > 0): the auditor's own training runs — the target's exact settings
  on another random subset of the training split, of the target's size, that leaves out every audited image (its
  members and, from the training split, its non-members): the *offline* reference models of LiRA and RMIA, all
  "out" for every candidate. ``data.audit_seed`` is the target's ``run.seed`` (its partition and audit set);
  the reference's own ``run.seed`` draws its subset, its initialisation and its batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sflaudit.errors import SflauditError

MEMBER_SEED = 125          # fixed draw of the audited images (beside the attacks' AUX_SEED 123, TARGET_SEED 124)
REFERENCE_SEED_STRIDE = 1_000_003
"""Reference model k trains with ``run.seed = target seed + k · stride`` (its own subset, init and batches)."""


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


@dataclass(frozen=True)
class AuditSet:
    """Indices of one audit. ``source`` says where non-members and population come from: ``train-unused``
    (indices into the training split) or ``test``."""

    members: np.ndarray        # training-split indices
    clients: np.ndarray        # each member's client
    nonmembers: np.ndarray     # indices into `source`
    population: np.ndarray     # indices into `source`, disjoint from nonmembers (may be empty)
    source: str


def audit_set(parts: list[np.ndarray], n_train: int, n_test: int, fraction: float, images: int) -> AuditSet:
    """The audit set of a run whose clients hold ``parts`` (see the module doc)."""
    used = np.concatenate(parts)
    unused = np.setdiff1d(np.arange(n_train), used)
    source, pool = ("train-unused", unused) if fraction < 1.0 and len(unused) >= 2 else ("test", np.arange(n_test))
    members, clients, nonmembers = audit_sample(parts, pool, images, MEMBER_SEED)
    rest = np.setdiff1d(pool, nonmembers)
    population = np.random.default_rng(MEMBER_SEED + 1).permutation(rest)[: len(members)]
    return AuditSet(members, clients, nonmembers, population, source)


def reference_subset(target: AuditSet, target_used: int, n_train: int, rng: np.random.Generator) -> np.ndarray:
    """A reference model's training images: ``target_used`` random training-split indices that no audited image is
    among (sorted). Raises when the split minus the audit set is smaller than the target's training set."""
    left_out = np.concatenate([target.members, target.nonmembers if target.source == "train-unused" else []])
    pool = np.setdiff1d(np.arange(n_train), left_out.astype(np.int64))
    if len(pool) < target_used:
        raise SflauditError(f"reference models need {target_used} training images outside the audit set, the "
                            f"split has {len(pool)}: lower membership.images or data.fraction")
    return np.sort(rng.permutation(pool)[:target_used])
