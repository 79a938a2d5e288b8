"""Seconds per training step of the paper's 20-client ResNet-18 setting, next to the raw-PyTorch equal-work floor.

Setting (protocol §7.1): 5 sampled clients × batch 20, K 6000, MoCo V2. For each depth and symmetric mode the script
times ``Trainer.train_step`` (augmentation, per-client forward, metered wire, server step, per-client backward and
SGD) and a floor: one monolithic network (client + server + projector) doing the same rows in one go — forward and
backward on the query rows, a no-grad forward on the key rows, and for the ``original`` mode the server-only second
loss term — followed by one SGD step. Throughput ratio = floor seconds / trainer seconds (1.0 = no overhead).
A second, per-client floor runs the client part as 5 separate weight copies, each on its own rows (what the
protocol requires: clients do not share weights); the gap between the two floors is the cost of per-client weights
(small-batch convolutions, weight standardisation per model), not of the trainer.
Every timed function is first warmed up until one call takes fewer than 2,000 minor page faults (the heap
has reached its steady size; at most 8 calls), so one-off first-touch costs do not count as per-step overhead.

Run with the allocator settings the project uses:
    GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184 \
        python benchmarks/train_step.py --depths 1,3,11,17 --steps 3
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from sflaudit.config import load_config
from sflaudit.sfl.trainer import Trainer

CIFAR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10"


def make_trainer(depth: int, symmetric: str, precision: str, channels_last: bool, out: Path) -> Trainer:
    dataset = f"npz:{CIFAR.resolve()}" if (CIFAR / "train.npz").is_file() else "photos"
    cfg = load_config(preset="paper-resnet18-20c", overrides=[
        f'data.dataset="{dataset}"', f"model.depth={depth}", f'ssl.symmetric="{symmetric}"',
        f'optim.precision="{precision}"', f"optim.channels_last={'true' if channels_last else 'false'}",
        'run.device="cpu"'])
    t = Trainer(cfg, out)
    t.pool = list(range(t.schedule.pool_size))
    return t


def warm_up(fn, *, max_steps: int = 8, faults: int = 2000) -> int:
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


def time_it(fn, steps: int, warmup: int | None = None) -> float:
    """Median seconds per call of ``fn`` over ``steps`` calls, after ``warmup`` calls (None: :func:`warm_up`)."""
    if warmup is None:
        warm_up(fn)
    for _ in range(warmup or 0):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def floor_step(t: Trainer, precision: str, per_client: bool = False):
    """The equal-work monolithic step for trainer ``t`` (same modules, same rows, one SGD step).

    per_client: the client part runs as ``pool`` separate weight copies on their own rows (forward, no-grad
    momentum forward), as the protocol requires — the floor of any implementation with per-client weights.
    """
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
    fmt = t.memory_format
    x = torch.randn(rows, 3, 32, 32).contiguous(memory_format=fmt)
    queue = t.server.queue.keys
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
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
            loss = F.cross_entropy(logits, torch.zeros(rows, dtype=torch.long))
            if original:   # the server-only second term of the MocoSFL loss
                q2 = F.normalize(server(h.detach()), dim=1)
                with torch.no_grad():
                    k2 = F.normalize(momentum[1](h.detach()), dim=1)
                logits2 = torch.cat([(q2 * k2).sum(1, keepdim=True), q2 @ queue.t().to(q2.dtype)], 1).float()
                loss = loss + F.cross_entropy(logits2 / 0.1, torch.zeros(rows, dtype=torch.long))
        loss.backward()
        opt.step()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", default="1,3,11,17")
    ap.add_argument("--modes", default="client,original")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; 5 clients × B 20, K 6000, ResNet-18")
    print("trainer s/step = Trainer.train_step + its share of the syncs (11 per 125 steps); ratio = floor / trainer")
    print("per-client floor = the same, with the client part as 5 separate weight copies on their own rows")
    print(f"{'depth':>5} {'mode':>8} {'prec':>5} {'trainer s/step':>15} {'(sync s)':>9} {'floor s/step':>13} "
          f"{'ratio':>6} {'vs fp32 floor':>14} {'per-client floor':>17} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for depth in [int(d) for d in args.depths.split(",")]:
            for mode in args.modes.split(","):
                fp32_floor = None
                for prec in args.precisions.split(","):
                    t = make_trainer(depth, mode, prec, args.channels_last, Path(tmp) / f"{depth}{mode}{prec}")
                    trainer_s = time_it(t.train_step, args.steps)
                    sync_s = time_it(t.sync, 1, warmup=0)
                    sch = t.schedule
                    trainer_s += sync_s * sch.syncs_per_epoch / sch.steps_per_epoch
                    floor_s = time_it(floor_step(t, prec), args.steps)
                    pc_floor_s = time_it(floor_step(t, prec, per_client=True), args.steps)
                    if prec == "fp32":
                        fp32_floor = floor_s
                    vs = f"{fp32_floor / trainer_s:.2f}x" if fp32_floor else "-"
                    print(f"{depth:>5} {mode:>8} {prec:>5} {trainer_s:>15.3f} {sync_s:>9.3f} {floor_s:>13.3f} "
                          f"{floor_s / trainer_s:>6.2f} {vs:>14} {pc_floor_s:>17.3f} {pc_floor_s / trainer_s:>6.2f}",
                          flush=True)
                    del t


if __name__ == "__main__":
    main()
