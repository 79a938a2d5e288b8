"""Build what a run needs from its config: device, data (split into clients) and the split network."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from sflaudit.artifacts import Checkpoint
from sflaudit.config import Config
from sflaudit.data import AugmentSpec, Dataset, load_dataset, partition
from sflaudit.data.sources import train_labels
from sflaudit.errors import SflauditError, first_line
from sflaudit.memo import memoized
from sflaudit.models import SplitModel, split_model
from sflaudit.sfl.auditset import audit_set, reference_subset
from sflaudit.sfl.moco import PROJECTOR_DIMS, build_projector
from sflaudit.stages import training_id


def pick_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SflauditError("run.device = 'cuda' but no CUDA device is available (use auto or cpu)")
    return torch.device(name)


NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool | None:
    """Whether the CPU computes bf16 natively (AVX512_BF16 or AMX); None when unknown (no /proc/cpuinfo).

    Without either, oneDNN emulates bf16 convolutions: measured 3.6× *slower* than fp32 on an AVX-512 Xeon.
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return None
    flags = {word for line in cpuinfo.splitlines() if line.startswith("flags") for word in line.split()}
    if not flags:
        return None
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


def precision_warning(cfg: Config, device: torch.device) -> str | None:
    """A one-line warning when ``--precision bf16`` will run emulated (slower than fp32) on this CPU."""
    if cfg.optim.precision != "bf16" or device.type != "cpu" or cpu_has_native_bf16() is not False:
        return None
    return ("warning: this CPU has no native bf16 (no AVX512_BF16/AMX); bf16 is emulated and runs several times "
            "slower than fp32 here")


def to_nchw(x: np.ndarray) -> Tensor:
    """N×H×W×3 uint8 array → contiguous N×3×H×W uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


@dataclass
class RunData:
    """The dataset of a run as tensors, and each client's share of the training split."""

    dataset: Dataset
    train: Tensor                 # N×3×H×W uint8 (the whole training split)
    train_labels: Tensor          # N int64
    test: Tensor                  # M×3×H×W uint8
    test_labels: Tensor           # M int64
    parts: list[np.ndarray]       # per-client indices into `train`
    mean: Tensor                  # 3
    std: Tensor                   # 3


def load_run_data(cfg: Config, rng: np.random.Generator) -> RunData:
    """Load the dataset and partition (a ``fraction`` of) its training split across the clients (protocol §3.3)."""
    ds = load_dataset(cfg.data.dataset, data_dir=cfg.data.data_dir or None, download=cfg.data.download,
                      image_size=cfg.data.image_size)
    n = len(ds.train.y)
    used = np.arange(n)
    if cfg.data.fraction < 1.0:
        used = rng.permutation(n)[: max(1, int(n * cfg.data.fraction))]
    if cfg.data.audit_exclude > 0:           # a membership auditor's reference model (sflaudit.sfl.auditset)
        used = _reference_used(cfg, n, len(ds.test.y), rng)
    scheme = cfg.data.partition
    if scheme == "shards" and cfg.sfl.noniid_ratio >= 1.0:
        scheme = "iid"   # the reference uses contiguous IID slices when noniid_ratio = 1
    local = partition(ds.train.y[used], cfg.sfl.clients, scheme=scheme, noniid_ratio=cfg.sfl.noniid_ratio,
                      alpha=cfg.data.dirichlet_alpha, num_classes=ds.num_classes, rng=rng)
    parts = [used[p] for p in local]
    empty = [i for i, p in enumerate(parts) if len(p) == 0]
    if empty:
        raise SflauditError(f"clients {empty} receive no training images: use fewer clients or more data")
    return RunData(
        dataset=ds,
        train=to_nchw(ds.train.x), train_labels=torch.as_tensor(ds.train.y, dtype=torch.long),
        test=to_nchw(ds.test.x), test_labels=torch.as_tensor(ds.test.y, dtype=torch.long),
        parts=parts, mean=torch.tensor(ds.mean, dtype=torch.float32), std=torch.tensor(ds.std, dtype=torch.float32),
    )


def _reference_used(cfg: Config, n_train: int, n_test: int, rng: np.random.Generator) -> np.ndarray:
    """The training images of a reference model: the target's size, none of the target's audited images."""
    d = cfg.data
    target_cfg = replace(cfg, data=replace(d, audit_exclude=0, audit_seed=0), run=replace(cfg.run, seed=d.audit_seed))
    target = load_run_data(target_cfg, np.random.default_rng(d.audit_seed))
    audit = audit_set(target.parts, n_train, n_test, d.fraction, d.audit_exclude)
    return reference_subset(audit, sum(len(p) for p in target.parts), n_train, rng)


def augment_spec(cfg: Config, data: RunData) -> AugmentSpec:
    return AugmentSpec(kind=cfg.data.augment, size=int(data.train.shape[-1]), mean=tuple(data.dataset.mean),
                       std=tuple(data.dataset.std))


def client_split(cfg: Config, input_size: int) -> SplitModel:
    """The split backbone of the config: arch, depth, width, bottleneck, and GroupNorm for BatchNorm in the client
    when DP-SGD is on (:mod:`sflaudit.sfl.dp`) — the one constructor every trainer, attack and monitor uses."""
    m = cfg.model
    split = split_model(m.arch, m.depth, width=m.width, input_size=input_size, bottleneck=cfg.defence.bottleneck,
                        norm=m.norm, weights=m.weights)
    if cfg.defence.dp_epsilon > 0:
        from sflaudit.sfl.dp import dp_client  # local: Opacus is imported only by DP runs

        split = replace(split, client=dp_client(split.client))
    return split


def build_split(cfg: Config, input_size: int) -> tuple[SplitModel, torch.nn.Module]:
    """The split backbone at the configured depth and the MoCo projector (seeded by the caller)."""
    split = client_split(cfg, input_size)
    projector = build_projector(cfg.ssl.moco_version, split.info.feature_dim)
    return split, projector


def load_client0(ckpt: Checkpoint, cfg: Config, *, input_size: int, device: torch.device | None = None,
                 source: str = "checkpoint") -> torch.nn.Module:
    """Client 0's online model of ``ckpt`` (what the attacker and the monitors use): eval mode, frozen.

    Args:
        ckpt: a checkpoint (``clients_online[0]`` is loaded).
        cfg: its config (arch, depth, width; ``run.device``).
        input_size: image side S (MobileNetV2's client depends on it, quirk Q9).
        device: where the model goes; None = :func:`pick_device` of ``cfg.run.device`` (the one device rule).
        source: names the checkpoint in the error message.
    Returns:
        The client module, B×3×S×S → the cut activation, with ``requires_grad`` off everywhere.
    Raises:
        SflauditError: one line when client 0's weights do not fit the config's client model.
    """
    dev = device if device is not None else pick_device(cfg.run.device)
    def load() -> tuple[Checkpoint, torch.nn.Module]:
        return ckpt, _client0(ckpt, cfg, input_size, dev, source)

    held, client = memoized("client0", (id(ckpt), training_id(cfg), input_size, str(dev)), load)
    return client if held is ckpt else load()[1]     # the memo keeps ckpt alive, so its id is not reused


def _client0(ckpt: Checkpoint, cfg: Config, input_size: int, device: torch.device, source: str) -> torch.nn.Module:
    m = cfg.model
    split = client_split(cfg, input_size)
    try:
        split.client.load_state_dict(ckpt.clients_online[0])
    except (KeyError, IndexError, TypeError, RuntimeError, AttributeError) as exc:
        raise SflauditError(f"incompatible checkpoint {source}: client 0's weights do not fit {m.arch} depth "
                            f"{m.depth} width {m.width} ({first_line(exc)})") from None
    return split.client.to(device).eval().requires_grad_(False)


def load_server(ckpt: Checkpoint, cfg: Config, *, input_size: int, device: torch.device | None = None,
                source: str = "checkpoint") -> torch.nn.Module:
    """The checkpoint's server online model — backbone then projector, ``Sequential(server, projector)`` — in eval
    mode, frozen, on ``device`` (None = :func:`pick_device`): what the monitors and the membership audit run.

    Raises:
        SflauditError: one line when the server's weights do not fit the config.
    """
    split, projector = build_split(cfg, input_size)
    server = torch.nn.Sequential(split.server, projector)
    try:
        server.load_state_dict(ckpt.server_online)
    except (KeyError, IndexError, TypeError, RuntimeError, AttributeError) as exc:
        raise SflauditError(f"incompatible checkpoint {source}: the server's weights do not fit {cfg.model.arch} "
                            f"depth {cfg.model.depth} width {cfg.model.width} ({first_line(exc)})") from None
    server = server.to(device if device is not None else pick_device(cfg.run.device)).eval()
    return server.requires_grad_(False)


def key_dim(cfg: Config) -> int:
    return PROJECTOR_DIMS[cfg.ssl.moco_version][1]


def client0_size(cfg: Config) -> int:
    """Images client 0 holds under ``cfg`` — the seeded partition :func:`load_run_data` draws, from labels alone.

    Repeats load_run_data's steps with the same generator on the labels of :func:`train_labels` (no image is
    decoded, so ``sflaudit profile`` needs no dataset files). Where only the class counts are known (CIFAR without
    files) a class-sorted stand-in with those counts is partitioned instead, which gives client 0 the same size:
    the ``fraction`` draw uses only N; ``iid`` and ``shards`` sizes depend only on N; ``dirichlet`` draws and cuts
    depend only on the per-class counts. The one case that needs the real order — ``dirichlet`` on a
    ``fraction`` < 1 subset, whose class counts depend on which images are drawn — needs the files.
    """
    known = train_labels(cfg.data.dataset, data_dir=cfg.data.data_dir or None)
    rng = np.random.default_rng(cfg.run.seed)
    n = known.size
    used = np.arange(n)
    if cfg.data.fraction < 1.0:
        used = rng.permutation(n)[: max(1, int(n * cfg.data.fraction))]
    scheme = cfg.data.partition
    if scheme == "shards" and cfg.sfl.noniid_ratio >= 1.0:
        scheme = "iid"
    labels = known.labels
    if labels is None:
        if scheme == "dirichlet" and cfg.data.fraction < 1.0:
            raise SflauditError(f"sizing client 0 of a dirichlet partition of data.fraction {cfg.data.fraction} "
                                f"needs {cfg.data.dataset}'s labels in order: its files were not found "
                                f"(pass --data-dir, or use data.fraction = 1)")
        labels = np.repeat(np.arange(known.num_classes), known.counts)
    local = partition(labels[used], cfg.sfl.clients, scheme=scheme, noniid_ratio=cfg.sfl.noniid_ratio,
                      alpha=cfg.data.dirichlet_alpha, num_classes=known.num_classes, rng=rng)
    empty = [i for i, p in enumerate(local) if len(p) == 0]
    if empty:
        raise SflauditError(f"clients {empty} receive no training images: use fewer clients or more data")
    return len(local[0])
