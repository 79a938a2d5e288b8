"""What the benchmark scripts share: where the data lies, the default attack's benchmark data, the paper-setting
trainer with its raw-PyTorch floor and step timing, peak memory, and the run-directory reads of the table scripts.

The scripts run as ``python benchmarks/NAME.py`` from the repository root. Python puts the script's own folder
(``benchmarks/``) first on ``sys.path``, so ``import common`` finds this module: no script edits ``sys.path``, imports
another script or imports a private (underscore) name of the package. Run-directory paths come from
:class:`sflaudit.artifacts.RunDir`, the only owner of their names.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import random
import resource
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import binom
from torch import Tensor

from sflaudit.artifacts import AttackRecord, RunDir
from sflaudit.config import Config, load_config
from sflaudit.data import load_dataset
from sflaudit.sfl.schedule import pool_size
from sflaudit.sfl.setup import to_nchw

if TYPE_CHECKING:
    from sflaudit.sfl.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
CIFAR = REPO.parent / "shared" / "data" / "cifar10"   # real CIFAR-10 (train.npz / test.npz), never downloaded
PAPER_PRESET = "paper-resnet18-20c"                   # 20 clients, 5 sampled × B 20, K 6000, ResNet-18 width 1
TINY = ("model.width=0.125", "sfl.batch=4", "ssl.K=256")   # the paper setting shrunk for seconds-long CPU checks


# ------------------------------------------------------------------------------------------------------------ data

def cifar_available() -> bool:
    """Whether real CIFAR-10 lies at ``../shared/data/cifar10`` relative to the repository root."""
    return (CIFAR / "train.npz").is_file() and (CIFAR / "test.npz").is_file()


def dataset_spec() -> str:
    """``npz:<CIFAR-10 folder>`` when CIFAR-10 is present, else the embedded ``photos`` dataset."""
    return f"npz:{CIFAR.resolve()}" if cifar_available() else "photos"


def default_attack_data() -> tuple[Tensor, Tensor, tuple, tuple, str]:
    """The default attack's benchmark data: (500 aux images, 128 targets — uint8 N×3×32×32 —, mean, std, source):
    the aux images seeded 123 from the training split, the first 128 test images."""
    spec = dataset_spec()
    ds = load_dataset(spec)
    source = f"CIFAR-10 ({CIFAR})" if spec != "photos" else "embedded photos (no CIFAR-10 at ../shared/data/cifar10)"
    train, test = to_nchw(ds.train.x), to_nchw(ds.test.x)
    g = torch.Generator().manual_seed(123)
    return train[torch.randperm(train.shape[0], generator=g)[:500]], test[:128], ds.mean, ds.std, source


def to_channels_last(x: Tensor) -> Tensor:
    """N×C×H×W ``x`` in channels-last memory order (what the decoder attack trains on)."""
    return x.contiguous(memory_format=torch.channels_last)


# ------------------------------------------------------------------------------------- the paper-setting trainer

def paper_setting(cfg: Config) -> str:
    """One line naming the paper-setting trainer's size: preset, width, pool × batch, K, symmetric mode, data."""
    pool = pool_size(cfg.sfl.clients, cfg.sfl.sampling_ratio)
    return (f"{PAPER_PRESET}: ResNet-18 width {cfg.model.width:g}, {pool} clients × B {cfg.sfl.batch}, "
            f"K {cfg.ssl.K}, symmetric {cfg.ssl.symmetric}, data {cfg.data.dataset}")


def make_trainer(depth: int, symmetric: str, precision: str, channels_last: bool, out: Path, *,
                 device: str = "cpu", dataset: str | None = None, overrides: Sequence[str] = ()) -> Trainer:
    """A :class:`Trainer` of the paper's 20-client ResNet-18 setting with its first pool drawn (pool 0..4).

    Args:
        depth: cut depth; symmetric: ``client`` | ``original``; precision: ``fp32`` | ``bf16``.
        device: ``run.device`` (``cpu`` | ``cuda``).
        dataset: ``data.dataset`` (None: CIFAR-10 when present, else ``photos``).
        overrides: further ``--set`` style ``key=value`` overrides, e.g. :data:`TINY`.
    """
    from sflaudit.sfl.trainer import Trainer   # here: the table scripts never build one

    cfg = load_config(preset=PAPER_PRESET, overrides=[
        f'data.dataset="{dataset or dataset_spec()}"', f"model.depth={depth}", f'ssl.symmetric="{symmetric}"',
        f'optim.precision="{precision}"', f"optim.channels_last={'true' if channels_last else 'false'}",
        f'run.device="{device}"', *overrides])
    t = Trainer(cfg, out)
    t.pool = list(range(t.schedule.pool_size))
    return t


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); a no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def warm_up(fn: Callable[[], object], *, max_steps: int = 8, faults: int = 2000) -> int:
    """Run ``fn`` until one call takes fewer than ``faults`` minor page faults (the process's heap has reached its
    steady size) or ``max_steps`` calls; returns the calls made. A trainer holds far more live tensors than a floor
    (every client's models, the queue, the wire's payloads), so its first steps grow the heap and pay first-touch
    page faults (measured ≈ 1–2 s of system time per step at depth 1) that a run of hundreds of steps pays once."""
    for n in range(1, max_steps + 1):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        fn()
        if resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < faults:
            return n
    return max_steps


def time_call(fn: Callable[[], object], device: torch.device = torch.device("cpu")) -> float:
    """Seconds of one call of ``fn``; on CUDA timed to the end of its queued kernels."""
    synchronize(device)
    t0 = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - t0


def time_it(fn: Callable[[], object], steps: int, warmup: int | None = None, *,
            device: torch.device = torch.device("cpu")) -> float:
    """Median seconds per call of ``fn`` over ``steps`` calls, after ``warmup`` calls (None: :func:`warm_up`).
    On CUDA every call is timed to the end of its queued kernels."""
    if warmup is None:
        warm_up(fn)
    for _ in range(warmup or 0):
        fn()
    return statistics.median(time_call(fn, device) for _ in range(steps))


def floor_step(t: Trainer, precision: str, per_client: bool = False) -> Callable[[], None]:
    """The equal-work monolithic step for trainer ``t`` (same modules, same rows, one SGD step), on ``t.device``.

    per_client: the client part runs as ``pool`` separate weight copies on their own rows (forward, no-grad
    momentum forward), as the protocol requires — the floor of any implementation with per-client weights.
    """
    device = t.device
    client = copy.deepcopy(t.clients.online[0])
    server = copy.deepcopy(t.server.online)
    model = torch.nn.Sequential(client, server)
    momentum = copy.deepcopy(model).requires_grad_(False)
    pool = t.schedule.pool_size
    clients = [client] + [copy.deepcopy(client) for _ in range(pool - 1)] if per_client else [client]
    momentum_clients = [copy.deepcopy(c).requires_grad_(False) for c in clients] if per_client else [momentum[0]]
    params = [p for c in clients for p in c.parameters()] + list(server.parameters())
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4)
    rows = t.schedule.rows_per_client * pool
    x = torch.randn(rows, 3, 32, 32, device=device).contiguous(memory_format=t.memory_format)
    labels = torch.zeros(rows, dtype=torch.long, device=device)
    queue = t.server.queue.keys
    ctx = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
           else contextlib.nullcontext())
    original = t.cfg.ssl.symmetric == "original"

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with ctx:
            chunks = x.chunk(len(clients))
            h = torch.cat([c(xc) for c, xc in zip(clients, chunks)])
            q = F.normalize(server(h), dim=1)
            with torch.no_grad():
                hk = torch.cat([c(xc) for c, xc in zip(momentum_clients, chunks)])
                k = F.normalize(momentum[1](hk), dim=1)
            logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t().to(q.dtype)], 1).float() / 0.1
            loss = F.cross_entropy(logits, labels)
            if original:   # the server-only second term of the MocoSFL loss
                q2 = F.normalize(server(h.detach()), dim=1)
                with torch.no_grad():
                    k2 = F.normalize(momentum[1](h.detach()), dim=1)
                logits2 = torch.cat([(q2 * k2).sum(1, keepdim=True), q2 @ queue.t().to(q2.dtype)], 1).float()
                loss = loss + F.cross_entropy(logits2 / 0.1, labels)
        loss.backward()
        opt.step()

    return step


def sync_share(t: Trainer) -> float:
    """Syncs per training step of trainer ``t``: syncs per epoch ÷ steps per epoch (11 / 125 in the paper setting)."""
    return t.schedule.syncs_per_epoch / t.schedule.steps_per_epoch


def trainer_seconds(t: Trainer, steps: int, warmup: int | None = None) -> tuple[float, float]:
    """(seconds per step including its share of the syncs, seconds per sync) of trainer ``t``: the median
    ``Trainer.train_step`` plus one sync × :func:`sync_share` (11 per 125 in the paper setting)."""
    step_s = time_it(t.train_step, steps, warmup, device=t.device)
    sync_s = time_it(t.sync, 1, warmup=0, device=t.device)
    return step_s + sync_s * sync_share(t), sync_s


# ------------------------------------------------------------------------ paired, interleaved timing statistics

def balanced_orders(k: int, rounds: int, seed: int = 0) -> list[tuple[int, ...]]:
    """The order in which to call ``k`` timed functions in each of ``rounds`` interleaved rounds.

    All ``k!`` permutations of ``range(k)``, shuffled once by ``random.Random(seed)``, are used in turn, so every
    function takes every position equally often over each ``k!`` consecutive rounds (none always goes first) and
    the schedule is the same on every run with the same seed.
    """
    perms = list(itertools.permutations(range(k)))
    random.Random(seed).shuffle(perms)
    return [perms[r % len(perms)] for r in range(rounds)]


@dataclass(frozen=True)
class RatioSummary:
    """The per-repetition ratios floor ÷ trainer of one benchmark row, summarised by :func:`ratio_summary`."""

    n: int                 # repetitions
    median: float          # median ratio
    low: float             # distribution-free confidence interval for the median: order statistics
    high: float            # ``rank`` and ``n + 1 - rank`` of the sorted ratios
    rank: int
    coverage: float        # the interval's exact coverage, 1 − 2 · P(Binomial(n, ½) ≤ rank − 1)
    q1: float              # lower and upper quartiles (numpy's default, linear interpolation): the IQR
    q3: float
    verdict: str           # "yes" | "no" | "can't tell" (ratio ≥ threshold?)


def ratio_summary(pairs: Sequence[tuple[float, float]], *, threshold: float = 0.97,
                  confidence: float = 0.95) -> RatioSummary:
    """Median of the paired ratios floor s ÷ trainer s, with a distribution-free interval, IQR and verdict.

    Args:
        pairs: (trainer seconds, floor seconds) per repetition, each pair measured in the same repetition.
        threshold: the ratio the verdict asks about (median ratio ≥ ``threshold``?).
        confidence: the interval's nominal coverage.

    The interval for the median is the pair of order statistics ``[x_(l), x_(n+1-l)]`` of the sorted ratios with
    ``l = scipy.stats.binom.ppf((1 - confidence) / 2, n, 1/2)`` (at least 1): the number of ratios below the true
    median is Binomial(n, ½) whatever the ratios' distribution, so the interval covers the median with probability
    ``1 - 2 · binom.cdf(l - 1, n, 1/2)`` ≥ ``confidence`` (the sign-test interval). With too few repetitions for
    ``confidence`` (fewer than 6 at 95 %) it is the full range ``[min, max]`` and its coverage is below ``confidence``.

    Verdict: ``yes`` when the interval lies at or above ``threshold``, ``no`` when it lies below, ``can't tell``
    when it straddles ``threshold`` or when its coverage is below ``confidence``.
    """
    if not pairs:
        raise ValueError("ratio_summary needs at least one (trainer, floor) pair")
    ratios = sorted(floor / trainer for trainer, floor in pairs)
    n = len(ratios)
    rank = max(1, int(binom.ppf((1 - confidence) / 2, n, 0.5)))
    coverage = float(1 - 2 * binom.cdf(rank - 1, n, 0.5))
    low, high = ratios[rank - 1], ratios[n - rank]
    q1, q3 = (float(q) for q in np.percentile(ratios, [25, 75]))
    if coverage < confidence or low < threshold <= high:
        verdict = "can't tell"
    else:
        verdict = "yes" if low >= threshold else "no"
    return RatioSummary(n=n, median=float(statistics.median(ratios)), low=low, high=high, rank=rank,
                        coverage=coverage, q1=q1, q3=q3, verdict=verdict)


# ----------------------------------------------------------------------------------------------------- memory

def reset_peak_memory(device: torch.device) -> int:
    """Start a peak-memory window; returns the bytes allocated on ``device`` now (CUDA), 0 on CPU."""
    if device.type != "cuda":
        return 0
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    return torch.cuda.memory_allocated(device)


def peak_memory_mib(device: torch.device, base: int = 0) -> float:
    """MiB at the peak since :func:`reset_peak_memory`: ``torch.cuda.max_memory_allocated`` minus ``base`` on CUDA;
    on CPU the process's peak resident set so far (``ru_maxrss``: CPU has no per-window counter)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


# ------------------------------------------------------------------------------------------- run directories

def attack_records(run: RunDir) -> list[AttackRecord]:
    """Every complete attack result of ``run``, in attack-id order."""
    return [rec for ident in run.attack_ids() if (rec := run.read_attack(ident)) is not None]


def attacked_runs(folder: Path) -> list[RunDir]:
    """The run directories directly under ``folder`` that hold at least one attack result, by name."""
    if not folder.is_dir():
        return []
    return [RunDir(p) for p in sorted(folder.iterdir()) if p.is_dir() and RunDir(p).attack_ids()]


def finished_runs(roots: Iterable[Path]) -> list[RunDir]:
    """Every run directory at or below ``roots`` whose training finished (``RunDir.is_complete``), by path."""
    found = {p.resolve() for root in roots for p in (root, *root.rglob("*"))
             if p.is_dir() and RunDir(p).is_complete()}
    return [RunDir(p) for p in sorted(found)]
