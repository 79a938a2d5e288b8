"""Feature-quality monitors of a run (protocol §4) on client 0's online model and the server's online model.

Used by the trainer (kNN every ``eval.every`` epochs) and by the evaluation stage (kNN and linear probe of a
checkpoint), which builds only these two models instead of a whole trainer (all N clients, online and momentum).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sflaudit.artifacts import Checkpoint
from sflaudit.config import Config, config_from_toml
from sflaudit.sfl.evaluate import extract_features, knn_accuracy, linear_probe
from sflaudit.sfl.checkpoint import read_checkpoint
from sflaudit.sfl.setup import RunData, load_client0, load_run_data, load_server, pick_device


def bank_indices(n_train: int, bank_size: int, seed: int) -> Tensor:
    """Indices of the kNN memory bank / probe training set: all ``n_train`` images when ``bank_size`` ≤ 0 or ≥ n,
    else a fixed random subset of ``bank_size`` (seeded by ``seed + 7``, so every evaluation of a run uses the same)."""
    if bank_size <= 0 or bank_size >= n_train:
        return torch.arange(n_train)
    return torch.randperm(n_train, generator=torch.Generator().manual_seed(seed + 7))[:bank_size]


@contextlib.contextmanager
def _frozen(modules: list[nn.Module]) -> Iterator[None]:
    """Eval mode for the duration; each module's training flag restored afterwards."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, modes, strict=True):
            m.train(mode)


def knn_monitor(client: nn.Module, server: nn.Module, data: RunData, bank_idx: Tensor, cfg: Config, *,
                device: torch.device, memory_format: torch.memory_format = torch.preserve_format,
                autocast: contextlib.AbstractContextManager | None = None) -> float:
    """kNN top-1 accuracy (%) of client → server (backbone + projector) features: cosine, k / T from ``cfg.eval``.

    Bank = the training images at ``bank_idx``; queries = the whole test split.
    """
    ctx = autocast if autocast is not None else contextlib.nullcontext()
    with _frozen([client, server]), ctx:
        model = lambda x: server(client(x.to(device)))  # noqa: E731
        kw: dict[str, Any] = dict(mean=data.mean, std=data.std, normalize_out=True, memory_format=memory_format)
        bank = extract_features(model, data.train[bank_idx], **kw).cpu()
        query = extract_features(model, data.test, **kw).cpu()
    return _knn(bank, query, data, bank_idx, cfg)


def _knn(bank: Tensor, query: Tensor, data: RunData, bank_idx: Tensor, cfg: Config) -> float:
    """kNN accuracy (%) of L2-normalised bank (M×D) and test (Q×D) features."""
    return knn_accuracy(query, data.test_labels, bank, data.train_labels[bank_idx], data.dataset.num_classes,
                        k=cfg.eval.knn_k, temperature=cfg.eval.knn_t)


def _probe(train_x: Tensor, test_x: Tensor, data: RunData, bank_idx: Tensor, cfg: Config) -> dict[str, float]:
    """Linear probe on backbone features of the bank (M×D) and the test split (Q×D)."""
    res = linear_probe(train_x, data.train_labels[bank_idx], test_x, data.test_labels, data.dataset.num_classes,
                       epochs=cfg.eval.linear_epochs, batch=cfg.eval.linear_batch,
                       generator=torch.Generator().manual_seed(cfg.run.seed))
    return {"linear_probe_best": res.best, "linear_probe_last": res.last}


def _backbone_features(client: nn.Module, backbone: nn.Module, data: RunData, bank_idx: Tensor, *,
                       device: torch.device, memory_format: torch.memory_format) -> tuple[Tensor, Tensor]:
    """Backbone features (client → server backbone, no projector) of the bank (M×D) and the test split (Q×D)."""
    with _frozen([client, backbone]):
        model = lambda x: backbone(client(x.to(device)))  # noqa: E731
        kw: dict[str, Any] = dict(mean=data.mean, std=data.std, memory_format=memory_format)
        return extract_features(model, data.train[bank_idx], **kw), extract_features(model, data.test, **kw)


def probe_monitor(client: nn.Module, backbone: nn.Module, data: RunData, bank_idx: Tensor, cfg: Config, *,
                  device: torch.device, memory_format: torch.memory_format = torch.preserve_format) -> dict[str, float]:
    """Linear probe on frozen client → server-backbone features (no projector); protocol §4.2.

    Returns {"linear_probe_best": reference variant (best test epoch), "linear_probe_last": last epoch}.
    """
    train_x, test_x = _backbone_features(client, backbone, data, bank_idx, device=device, memory_format=memory_format)
    return _probe(train_x.cpu(), test_x.cpu(), data, bank_idx, cfg)


@torch.no_grad()
def _project(projector: nn.Module, feats: Tensor, *, batch: int = 512) -> Tensor:
    """L2-normalised projector outputs (N×K) of backbone features (N×D), in the batches :func:`extract_features`
    uses, so the kNN features equal those of the whole model applied to the images."""
    with _frozen([projector]):
        return torch.cat([F.normalize(projector(feats[i:i + batch]).float(), dim=1)
                          for i in range(0, feats.shape[0], batch)])


def evaluate_state(ckpt: Checkpoint, cfg: Config, *, source: str) -> dict[str, float]:
    """kNN (and the linear probe when ``cfg.eval.linear_epochs`` > 0) of a checkpoint's client 0 + server.

    Builds only those two models (not the whole pool). ``source`` names the checkpoint in error messages.
    """
    data = load_run_data(cfg, np.random.default_rng(cfg.run.seed))
    device = pick_device(cfg.run.device)
    client = load_client0(ckpt, cfg, input_size=int(data.train.shape[-1]), device=device, source=source)
    server = load_server(ckpt, cfg, input_size=int(data.train.shape[-1]), device=device, source=source)
    fmt = torch.channels_last if cfg.optim.channels_last else torch.preserve_format
    client = client.to(memory_format=fmt)
    server = server.to(memory_format=fmt)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if cfg.optim.precision == "bf16"
                else contextlib.nullcontext())
    bank = bank_indices(int(data.train.shape[0]), cfg.eval.bank_size, cfg.run.seed)
    result: dict[str, float] = {"test_images": int(data.test.shape[0])}
    if cfg.eval.linear_epochs > 0 and cfg.optim.precision == "fp32":
        # One pass through the network for both monitors: the probe's backbone features, and the projector on them
        # for the kNN — the same arithmetic as the whole model on the images, for half the forward passes.
        train_x, test_x = _backbone_features(client, server[0], data, bank, device=device, memory_format=fmt)
        result["knn"] = _knn(_project(server[1:], train_x).cpu(), _project(server[1:], test_x).cpu(), data, bank, cfg)
        result.update(_probe(train_x.cpu(), test_x.cpu(), data, bank, cfg))
        return result
    result["knn"] = knn_monitor(client, server, data, bank, cfg, device=device, memory_format=fmt, autocast=autocast)
    if cfg.eval.linear_epochs > 0:
        result.update(probe_monitor(client, server[0], data, bank, cfg, device=device, memory_format=fmt))
    return result


def evaluate_checkpoint_file(path: Path, *, linear_epochs: int | None = None) -> dict[str, Any]:
    """Read ``path``, rebuild its config and evaluate it: {"step", "knn", [linear_probe_*]}."""
    ckpt = read_checkpoint(path)
    cfg = config_from_toml(ckpt.config, source=f"{path} (config)")
    if linear_epochs is not None:
        cfg.eval.linear_epochs = linear_epochs
    return {"step": int(ckpt.step), **evaluate_state(ckpt, cfg, source=str(path))}
