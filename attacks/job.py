"""``sflaudit invert``: attack a run's checkpoint and write ``invert.json`` + ``invert.png``.

The threat model is data: an honest-but-curious server holding, depending on ``attack.kind`` (the plug-in's
:class:`~sflaudit.auditors.ThreatModel`), client 0's synced online weights (eval mode), an auxiliary set
(``attack.aux_fraction`` of the *training* split, drawn with a generator seeded :data:`AUX_SEED`) and the
activations of the targets (the first ``attack.targets`` test images of a permutation seeded :data:`TARGET_SEED`, so
a smaller target set is a prefix of a larger one). An attack whose threat model grants nothing the client computes
(the prior) does not even load the client.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torchvision.utils import make_grid

from sflaudit.attacks.decoder_file import read_decoder, write_decoder
from sflaudit.attacks.inversion import Q7_TARGET_STD
from sflaudit.attacks.kinds import needs_client, run_attack, threat_model
from sflaudit.auditors import ATTACKS, get_attack
from sflaudit.attacks.metrics import LpipsScorer
from sflaudit.artifacts import AttackRecord, Checkpoint, RunDir
from sflaudit.config import AttackConfig, Config, RunConfig, config_from_toml, validate
from sflaudit.jobs import stage_settings, with_runtime
from sflaudit.stages import attack_id, attack_settings
from sflaudit.data import load_dataset
from sflaudit.errors import SflauditError
from sflaudit.sfl.checkpoint import read_checkpoint
from sflaudit.sfl.client_step import tensors_digest
from sflaudit.models import cut_info
from sflaudit.models.frontier import attacker_view
from sflaudit.sfl.defences import defended
from sflaudit.sfl.setup import load_client0, to_nchw

ProgressFn = Callable[[dict[str, object]], None]

DEFENCE_SEED = 127  # offset of the attack's own draw of the defence noise (aux 123, target 124, member 125, boot 126)
AUX_SEED = 123      # the reference seeds its attacker with 123 (protocol §5.3)
TARGET_SEED = 124   # fixed order of the test split from which the targets are taken
GRID_MAX_IMAGES = 32    # targets shown in invert.png (two rows of 16 above their reconstructions)
GRID_MIN_SIDE = 64      # small images are upscaled (nearest) to at least this many pixels


def attack_indices(n_train: int, n_test: int, aux_fraction: float, targets: int) -> tuple[Tensor, Tensor]:
    """(aux indices into the training split, target indices into the test split), both seeded and fixed.

    Aux: the first ``int(aux_fraction · n_train)`` of ``randperm(n_train)`` seeded AUX_SEED (500 of CIFAR-10's 50k
    at 1%). Targets: the first ``min(targets, n_test)`` of ``randperm(n_test)`` seeded TARGET_SEED.
    """
    n_aux = int(aux_fraction * n_train)
    if n_aux < 2:
        raise SflauditError(f"attack.aux_fraction = {aux_fraction} gives {n_aux} auxiliary image(s) of {n_train}; "
                            f"the decoder attack needs at least 2")
    aux = torch.randperm(n_train, generator=torch.Generator().manual_seed(AUX_SEED))[:n_aux]
    tgt = torch.randperm(n_test, generator=torch.Generator().manual_seed(TARGET_SEED))[:min(targets, n_test)]
    return aux, tgt


def reconstruction_grid(targets: Tensor, recons: Tensor, *, max_images: int = GRID_MAX_IMAGES,
                        nrow: int = 16) -> Tensor:
    """Targets on the top row(s), their reconstructions below, in the same columns.

    targets, recons: N×3×H×W in [0, 1]. Images smaller than GRID_MIN_SIDE are upscaled (nearest). Incomplete rows
    are filled with white. Returns a 3×H'×W' float grid in [0, 1] (2-pixel white padding).
    """
    n = min(targets.shape[0], max_images)
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    side = targets.shape[-1]
    scale = max(1, math.ceil(GRID_MIN_SIDE / side))

    def block(x: Tensor) -> Tensor:
        x = x[:n].detach().float().cpu().clamp(0, 1)
        if scale > 1:
            x = F.interpolate(x, scale_factor=scale, mode="nearest")
        fill = torch.ones(rows * cols - n, *x.shape[1:])
        return torch.cat([x, fill])

    return make_grid(torch.cat([block(targets), block(recons)]), nrow=cols, padding=2, pad_value=1.0)


def served_client(state: Checkpoint, cfg: Config, path: Path, input_size: int) -> torch.nn.Module:
    """Client 0's online model of the checkpoint as the server sees it: frozen, in eval mode, on
    ``pick_device(cfg.run.device)``, its activations passed through the run's defences as they crossed the wire."""
    client = load_client0(state, cfg, input_size=input_size, source=str(path))
    wire = defended(client, cfg.defence, wire_dtype=cfg.sfl.wire_dtype, seed=cfg.run.seed + DEFENCE_SEED)
    m = cfg.model
    return attacker_view(wire, cut_info(m.arch, m.depth, width=m.width, input_size=input_size,
                                        bottleneck=cfg.defence.bottleneck).frontier)


def png_bytes(grid: Tensor) -> bytes:
    """3×H×W [0, 1] grid → PNG file content."""
    arr = grid.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def invert_settings(checkpoint: Path, **overrides: Any) -> AttackConfig:
    """The attack settings of ``checkpoint``'s own config with the given ``attack.*`` fields replaced (None = keep)."""
    return stage_settings(checkpoint, "attack", **overrides)


def run_invert(checkpoint: Path, settings: AttackConfig | None = None, *, runtime: RunConfig | None = None,
               lpips_weights: str | Path | None = None, out: Path | None = None, reuse: bool = False,
               progress: ProgressFn | None = None, share_from: Sequence[Path] = ()) -> AttackRecord:
    """Attack client 0 of ``checkpoint`` with ``settings``; writes ``attacks/<attack id>/invert.json`` + ``.png``.

    Args:
        checkpoint: a ``ckpt.pt`` / ``best.pt`` (its embedded config says arch, depth, width, dataset).
        settings: the attack (None = the checkpoint's own ``attack`` section). Its id names the result folder, so
            results of different settings sit side by side.
        runtime: device and threads to use (None = the checkpoint's).
        lpips_weights: LPIPS AlexNet weights file (None = env SFLAUDIT_LPIPS_WEIGHTS / default cache); missing
            weights make LPIPS "unavailable" with the reason, never an error.
        out: run directory to write into (default: the checkpoint's directory).
        reuse: return an existing result of the same setting without attacking again.
        progress: called with a dict per decoder epoch / white-box report.
        share_from: other run directories (a sweep's other cells) whose result of a ``shared`` attack may be copied:
            the prior never reads the client, so a prior of the same settings, seed, dataset and activation shape
            (:func:`shared_key`; any plug-in declared ``shared``) is the same computation; the copy names its source
            (``threat_model.shared_from``).
    Raises:
        SflauditError: missing/corrupt checkpoint, bad options, or weights that do not fit the config's client.
    """
    start = time.perf_counter()
    path = Path(checkpoint)
    state = read_checkpoint(path)
    cfg = config_from_toml(state.config, source=f"config of {path}")
    if settings is not None:
        cfg = replace(cfg, attack=settings)
        validate(cfg)
    cfg = with_runtime(cfg, runtime)
    run = RunDir(Path(out) if out is not None else path.parent)
    ident = attack_id(cfg.attack)
    if reuse and (done := run.read_attack(ident)) is not None:
        return done
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    ds = load_dataset(cfg.data.dataset, data_dir=cfg.data.data_dir or None, download=cfg.data.download,
                      image_size=cfg.data.image_size)
    train, test = to_nchw(ds.train.x), to_nchw(ds.test.x)
    a = cfg.attack
    plugin = get_attack(a.kind)
    # an attacker that holds nothing the client computes (the prior) never gets it: it is not even loaded
    client = served_client(state, cfg, path, int(train.shape[-1])) if needs_client(plugin) else None
    aux_idx, tgt_idx = attack_indices(train.shape[0], test.shape[0], a.aux_fraction, a.targets)
    if plugin.shared:
        key = shared_key(cfg, ident, int(train.shape[-1]), ds.mean, ds.std)
        if (shared := _shared_result(run, share_from, ident, key, path, state, start)) is not None:
            return shared
    lpips = LpipsScorer.load(lpips_weights)
    digest = tensors_digest(state.clients_online[0])          # which client a saved decoder was trained on
    trained = None
    if plugin.reuse:                              # the same attacker's decoder of the reused attack, trained once
        reused_id = attack_id(replace(a, kind=plugin.reuse))
        if (weights := read_decoder(run, reused_id, client_digest=digest)) is not None \
                and (done := run.read_attack(reused_id)) is not None and done.training.get("best_val_loss") is not None:
            trained = (weights, done.training)
    result = run_attack(a.kind, client, cfg, train, test, aux_idx, tgt_idx, mean=ds.mean, std=ds.std, lpips=lpips,
                        progress=progress, trained_decoder=trained, hijack=state.hijack)
    details: dict[str, Any] = {"protocol": "faithful" if a.faithful else "clean", "targets_used": int(tgt_idx.numel()),
                               "seed": cfg.run.seed, "aux_seed": AUX_SEED, "target_seed": TARGET_SEED,
                               "target_std": list(Q7_TARGET_STD) if a.faithful else list(ds.std),
                               "ground_truth": "jpeg q75" if a.faithful else "exact"}
    if plugin.shared:
        details["shared_key"] = key
    details.update(plugin.notes(attack_settings(a)) if plugin.notes is not None else {})
    metrics = result.metrics
    record = AttackRecord(
        attack_id=ident,
        settings={**attack_settings(a), **details},
        threat_model={**threat_model(a.kind, aux_images=int(aux_idx.numel())),
                      "checkpoint": str(path), "checkpoint_step": state.step, "checkpoint_epoch": state.epoch},
        run={"arch": cfg.model.arch, "depth": cfg.model.depth, "width": cfg.model.width,
             "method": cfg.sfl.method, "dataset": cfg.data.dataset, "image_size": int(train.shape[-1]),
             "activation_shape": list(result.activation_shape)},
        mean={k: metrics[f"{k}_mean"] for k in ("mse", "psnr", "ssim", "ssim_ref", "lpips")},
        metrics=metrics,
        lpips=({"status": "ok", "reason": None, "weights": str(lpips.weights_path)}
               if isinstance(lpips, LpipsScorer)
               else {"status": "unavailable", "reason": lpips.reason, "weights": None}),
        training={"train_loss": result.train_loss, "val_loss": result.val_loss, "best_epoch": result.best_epoch,
                  "best_val_loss": result.best_val if math.isfinite(result.best_val) else None, **result.extra},
        attack_wall_s=result.wall_s,
        wall_s=round(time.perf_counter() - start, 3),
    )
    if result.decoder_state is not None and any(p.reuse == a.kind for p in ATTACKS):
        write_decoder(run, ident, result.decoder_state, client_digest=digest)
    run.write_attack(record, png_bytes(reconstruction_grid(result.targets, result.reconstructions)))
    return record



def shared_key(cfg: Config, ident: str, image_size: int, mean: Sequence[float], std: Sequence[float]) -> str:
    """What the result of a ``shared`` attack (one that reads no client, e.g. the prior) depends on — its settings
    (the id), the dataset, normalisation, seed and the activation shape it imitates — as a SHA-256: two cells with
    the same key compute the same result."""
    from sflaudit.attacks.kinds import activation_shape

    what = {"id": ident, "dataset": cfg.data.dataset, "data_dir": cfg.data.data_dir, "seed": cfg.run.seed,
            "image_size": image_size, "mean": list(mean), "std": list(std),
            "activation_shape": list(activation_shape(cfg, image_size))}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _shared_result(run: RunDir, others: Sequence[Path], ident: str, key: str, checkpoint: Path, state: Checkpoint,
                   start: float) -> AttackRecord | None:
    """Copy the first result of ``others`` with this id and key into ``run`` (threat model pointed at this cell's
    checkpoint, ``shared_from`` naming the source); None when there is none."""
    for other in others:
        src = RunDir(Path(other))
        if src.path.resolve() == run.path.resolve():
            continue
        try:
            done = src.read_attack(ident)
            png = src.attack_png(ident).read_bytes() if done is not None else b""
        except (SflauditError, OSError):
            continue
        if done is None or done.settings.get("shared_key") != key or not png:
            continue
        record = replace(done, threat_model={**done.threat_model, "checkpoint": str(checkpoint),
                                             "checkpoint_step": state.step, "checkpoint_epoch": state.epoch,
                                             "shared_from": str(src.path)},
                         wall_s=round(time.perf_counter() - start, 3))
        run.write_attack(record, png)
        return record
    return None
