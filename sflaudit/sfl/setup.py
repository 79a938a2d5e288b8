"""Build what a run needs from its config: device, data (split into clients) and the split network."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from sflaudit.config import Config
from sflaudit.data import AugmentSpec, Dataset, load_dataset, partition
from sflaudit.errors import SflauditError
from sflaudit.models import SplitModel, split_model
from sflaudit.sfl.moco import PROJECTOR_DIMS, build_projector


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
    ds = load_dataset(cfg.data.dataset, data_dir=cfg.data.data_dir or None, download=cfg.data.download)
    n = len(ds.train.y)
    used = np.arange(n)
    if cfg.data.fraction < 1.0:
        used = rng.permutation(n)[: max(1, int(n * cfg.data.fraction))]
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


def augment_spec(cfg: Config, data: RunData) -> AugmentSpec:
    return AugmentSpec(kind=cfg.data.augment, size=int(data.train.shape[-1]), mean=tuple(data.dataset.mean),
                       std=tuple(data.dataset.std))


def build_split(cfg: Config, input_size: int) -> tuple[SplitModel, torch.nn.Module]:
    """The split backbone at the configured depth and the MoCo projector (seeded by the caller)."""
    split = split_model(cfg.model.arch, cfg.model.depth, width=cfg.model.width, input_size=input_size)
    projector = build_projector(cfg.ssl.moco_version, split.info.feature_dim)
    return split, projector


def key_dim(cfg: Config) -> int:
    return PROJECTOR_DIMS[cfg.ssl.moco_version][1]


def client0_size(cfg: Config) -> int:
    """Images client 0 holds under ``cfg`` — the same seeded partition the trainer draws."""
    return len(load_run_data(cfg, np.random.default_rng(cfg.run.seed)).parts[0])
