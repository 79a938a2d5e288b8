"""FSHA as plug-ins: the active server (``attacker.kind = "fsha"``, :mod:`sflaudit.attackers`) that hijacks training,
and the attack (``attack.kind = "fsha"``, :mod:`sflaudit.auditors`) that inverts a hijacked run's target activations
with the decoder the hijack trained. Registered through sflaudit's own entry points.

What the attacker holds and controls: the auxiliary set (the same seeded ``attack.aux_fraction`` share of the training
split that the passive attacks hold), the activations it receives, and the gradients the clients receive. Not the
clients' weights: the pilot is a fresh network of the public architecture, and the evaluation runs the served client
only to produce the target activations the server would receive.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from sflaudit.attackers import ActiveAttackPlugin
from sflaudit.auditors import AttackPlugin, ThreatModel
from sflaudit.errors import SflauditError
from sflaudit.validation import Ranges, check_ranges

PILOT_SEED = 6          # the pilot's initialisation: torch seed run.seed + 6 (the clients' is run.seed)
STREAM_SEED = 7         # the hijack's own aux batches and penalty draws: run.seed + 7


@dataclass(frozen=True)
class FshaSettings:
    """``[attacker]`` fields of FSHA."""

    lr: float = 1e-4                 # Adam learning rate of the pilot, decoder and critic
    batch: int = 64                  # auxiliary images per hijack iteration
    gp: float = 10.0                 # gradient-penalty weight of the WGAN-GP critic
    match_norm: bool = True          # rescale the hijacked gradient to the honest gradient's norm
    decoder: str = "res_normN4C64"   # the decoder network (attack.decoder's names)
    aux_fraction: float = 0.01       # its auxiliary share of the training split (the passive attacks' seeded draw)

    RANGES: ClassVar[Ranges] = (("lr", 0.0, None, False, True), ("batch", 2, None, True, True),
                                ("gp", 0.0, None, True, True),
                                ("aux_fraction", 0.0, 1.0, False, True))

    def validate(self) -> None:
        check_ranges("attacker", self)


def build_fsha(cfg: Any, info: Any, data: Any, device: torch.device) -> Any:
    """The hijack of a run: its pilot (a fresh client network), decoder and critic; ``data`` the run's RunData."""
    from sflaudit.attacks.fsha import FeatureSpaceHijack
    from sflaudit.attacks.inversion import prepare_pairs
    from sflaudit.attacks.job import attack_indices
    from sflaudit.sfl.setup import client_split

    a, s = cfg.attack, cfg.attacker
    aux_idx, _ = attack_indices(int(data.train.shape[0]), int(data.test.shape[0]), s.aux_fraction, a.targets)
    inputs, truth = prepare_pairs(data.train[aux_idx], data.mean.tolist(), data.std.tolist(), faithful=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.run.seed + PILOT_SEED)
        pilot = client_split(cfg, int(data.train.shape[-1])).client
    return FeatureSpaceHijack(pilot, inputs, truth, info.frontier, decoder=s.decoder, lr=s.lr, batch=s.batch,
                              gp=s.gp, match_norm=s.match_norm, seed=cfg.run.seed + STREAM_SEED, device=device)


FSHA = ActiveAttackPlugin(
    name="fsha", settings=FshaSettings, build=build_fsha, evaluation="fsha",
    describe=lambda s: (f"feature-space hijacking (Pasquini et al., CCS 2021): a pilot network, a {s.decoder} "
                        f"decoder and a WGAN-GP critic (gp {s.gp}) trained on the auxiliary set with Adam (lr "
                        f"{s.lr}, batch {s.batch}); the clients receive the critic's gradient"
                        + (", rescaled to the honest gradient's norm" if s.match_norm else "")))


@dataclass(frozen=True)
class FshaInversionSettings:
    """The evaluation reads the hijack's decoder: its only setting is the targets (shared with the other attacks)."""

    targets: int = 128


def run_fsha(client: nn.Module, cfg: Any, train: Tensor, test: Tensor, aux_idx: Tensor, tgt_idx: Tensor, *,
             mean: tuple, std: tuple, lpips: Any, progress: Any, hijack: dict[str, Any] | None = None) -> Any:
    """Reconstruct the targets with the hijack's trained decoder from the served client's activations."""
    from sflaudit.attacks.decoder_fit import decode
    from sflaudit.attacks.decoders import build_decoder
    from sflaudit.attacks.inversion import AttackResult, client_activations, prepare_pairs
    from sflaudit.attacks.metrics import summarize

    del train, aux_idx, progress
    if hijack is None:
        raise SflauditError("the fsha attack inverts with the decoder of a run trained by a hijacking server "
                            "(attacker.kind = fsha); this checkpoint was trained by an honest server")
    start = time.perf_counter()
    inputs, truth = prepare_pairs(test[tgt_idx], mean, std, faithful=False)
    acts = client_activations(client, inputs)
    decoder = build_decoder(cfg.attacker.decoder, int(acts.shape[1]), int(acts.shape[-1]), int(test.shape[-1]))
    decoder.load_state_dict(hijack["decoder"])
    recon = decode(decoder, acts)
    return AttackResult(reconstructions=recon, targets=truth, metrics=summarize(recon, truth, lpips=lpips),
                        wall_s=time.perf_counter() - start, activation_shape=tuple(acts.shape[1:]))


FSHA_INVERSION = AttackPlugin(
    name="fsha", order=5, settings=FshaInversionSettings, run=run_fsha, label="FSHA (active)", style=(0, (3, 1, 1, 1)),
    threat=ThreatModel(holds=("auxiliary set", "the gradients the clients receive (it controls them)",
                              "target activations"),
                       client_weights=False, uses_aux=True, target_activations=True,
                       attacker="active (malicious) server", active=True),
    describe=lambda s: ("feature-space hijacking: the server sent the clients a critic's gradient instead of the "
                        "contrastive one during training, then decodes their activations with its pilot's decoder"),
    id_fields=(("targets", "n"),))
