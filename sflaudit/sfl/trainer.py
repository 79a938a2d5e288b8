"""The MocoSFL / MonAcoSFL training loop (protocol §1), with metering, evaluation, checkpoint and exact resume."""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sflaudit.config import Config, config_to_toml
from sflaudit.data import augment
from sflaudit.errors import SflauditError
from sflaudit.runs import RunDir, append_jsonl, atomic_write_json, atomic_write_text, read_jsonl
from sflaudit.sfl import checkpoint as ckpt_io
from sflaudit.sfl.clients import ClientPool, float_state
from sflaudit.sfl.monitor import bank_indices, knn_monitor, probe_monitor
from sflaudit.sfl.sampling import ClientBatches, sample_pool
from sflaudit.sfl.schedule import Schedule, plan_schedule, scheduled_lr
from sflaudit.sfl.server import Server
from sflaudit.sfl.setup import augment_spec, build_split, key_dim, load_run_data, pick_device
from sflaudit.sfl.sync import average_states, divergence, divergence_mask, load_states, online_momentum_gap
from sflaudit.sfl.wire import Link

ProgressFn = Callable[[dict[str, Any]], None]


class Trainer:
    """Simulates N clients and one server step-synchronously in one process (DESIGN.md §4)."""

    def __init__(self, cfg: Config, run_dir: str | Path, *, progress: ProgressFn | None = None) -> None:
        self.cfg = cfg
        self.run = RunDir(Path(run_dir))
        self.progress = progress or (lambda _: None)
        self.device = pick_device(cfg.run.device)
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        seed = cfg.run.seed
        torch.manual_seed(seed)                                   # model initialisation
        self.np_rng = np.random.default_rng(seed)                 # partition and per-epoch client sampling
        self.gen = torch.Generator().manual_seed(seed + 1)        # batches, augmentation, queue init, key shuffle
        self.data = load_run_data(cfg, self.np_rng)
        self.spec = augment_spec(cfg, self.data)
        self.schedule: Schedule = plan_schedule(cfg, len(self.data.parts[0]))
        split, projector = build_split(cfg, int(self.data.train.shape[-1]))
        self.info = split.info
        o, c = cfg.optim, cfg.sfl
        self.clients = ClientPool(split.client, c.clients, lr=o.client_lr, momentum=o.momentum,
                                  weight_decay=o.weight_decay, ema=cfg.ssl.ema)
        self.server = Server(split.server, projector, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay,
                             ema=cfg.ssl.ema, queue_size=cfg.ssl.K, temperature=cfg.ssl.T, key_dim=key_dim(cfg),
                             generator=self.gen)
        self.memory_format = torch.channels_last if o.channels_last else torch.preserve_format
        self.clients.to(self.device, self.memory_format)
        self.server.to(self.device, self.memory_format)
        self.link = Link(c.wire_dtype)
        self.batches = ClientBatches(self.data.parts, c.batch, c.batch_sampling, self.gen)
        keys = list(self.clients.online[0].state_dict().keys())
        self.div_mask = divergence_mask(keys)
        self.online_states = [float_state(m) for m in self.clients.online]
        self.momentum_states = [float_state(m) for m in self.clients.momentum]
        self.autocast = (torch.autocast(self.device.type, dtype=torch.bfloat16) if o.precision == "bf16"
                         else contextlib.nullcontext())
        # loop position and run state
        self.epoch, self.batch_idx, self.step = 0, 0, 0
        self.pool: list[int] = []
        self.best_knn: float | None = None
        self.last_knn: float | None = None
        self.bank_idx = bank_indices(int(self.data.train.shape[0]), cfg.eval.bank_size, seed)
        self.eval_seconds = 0.0                                   # wall time spent in the kNN monitor

    # ------------------------------------------------------------------------------------------------ one step

    def _views(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        x = self.data.train[idx]
        v1, v2 = augment(x, self.spec, self.gen), augment(x, self.spec, self.gen)
        return (v1.to(self.device).contiguous(memory_format=self.memory_format),
                v2.to(self.device).contiguous(memory_format=self.memory_format))

    def train_step(self) -> tuple[float, float]:
        """Protocol §1.2 steps 1–5 for the current pool; returns (loss, contrastive accuracy %)."""
        cfg, pool = self.cfg, self.pool
        idx = [self.batches.next(c) for c in pool]
        v1, v2 = self._views(torch.cat(idx))
        sym = cfg.ssl.symmetric == "client"
        graphs, queries, keys, start = [], [], [], 0
        for c, ci in zip(pool, idx, strict=True):
            xq, xk = v1[start:start + len(ci)], v2[start:start + len(ci)]
            start += len(ci)
            q_in, k_in = (torch.cat([xq, xk]), torch.cat([xk, xq])) if sym else (xq, xk)
            with self.autocast:
                h_q = self.clients.online[c](q_in)
            self.clients.update_momentum(c)
            with torch.no_grad(), self.autocast:
                h_k = self.clients.momentum[c](k_in)
            graphs.append(h_q)
            queries.append(self.link.send_activation(h_q, direction="up", kind="query", client=c))
            keys.append(self.link.send_activation(h_k, direction="up", kind="key", client=c))
        grad, loss, acc = self.server.step(torch.cat(queries), torch.cat(keys), symmetric=cfg.ssl.symmetric,
                                           autocast=self.autocast)
        start = 0
        for c, h_q in zip(pool, graphs, strict=True):
            g = self.link.send_activation(grad[start:start + h_q.shape[0]], direction="down", kind="grad",
                                          client=c)
            start += h_q.shape[0]
            h_q.backward(g.to(h_q.dtype))
            self.clients.set_lr(c, self._client_lr(c))
            self.clients.optimizers[c].step()
            self.clients.optimizers[c].zero_grad(set_to_none=True)
            self.clients.steps[c] += 1
        self.link.end_step()
        return loss, acc

    def _client_lr(self, client: int) -> float:
        o = self.cfg.optim
        t = self.clients.steps[client] if o.client_schedule == "per_step" else self.epoch
        return scheduled_lr(o.schedule, o.client_lr, t, self.schedule.epochs, gamma=0.2)

    # ------------------------------------------------------------------------------------------------ one sync

    def sync(self) -> dict[str, float]:
        """FedAvg over the pool, broadcast to all N clients; MonAcoSFL also averages the momentum models."""
        cfg, pool, link = self.cfg, self.pool, self.link
        mona = cfg.sfl.method == "monacosfl"
        for c in pool:
            link.send_weights(self.online_states[c], direction="up", kind="weights", client=c)
            if mona:
                link.send_weights(self.momentum_states[c], direction="up", kind="momentum", client=c)
        q2 = cfg.sfl.seed_average_with_client0
        avg_online = average_states(self.online_states, pool, seed_with_client0=q2)
        avg_momentum = average_states(self.momentum_states, pool, seed_with_client0=q2)
        div = divergence(self.online_states, self.momentum_states, avg_online, avg_momentum, pool, self.div_mask)
        for c in range(cfg.sfl.clients):
            link.send_weights(avg_online, direction="down", kind="weights", client=c)
            if mona:
                link.send_weights(avg_momentum, direction="down", kind="momentum", client=c)
        load_states(self.online_states, avg_online)
        if mona:
            load_states(self.momentum_states, avg_momentum)
        link.end_sync()
        div["ol-ml/after"] = online_momentum_gap(self.online_states, self.momentum_states, pool, self.div_mask)
        return div

    # ------------------------------------------------------------------------------------------------ evaluation

    def knn(self) -> float:
        """kNN monitor: client 0 online → server online incl. projector, cosine, k / T from the config."""
        return knn_monitor(self.clients.online[0], self.server.online, self.data, self.bank_idx, self.cfg,
                           device=self.device, memory_format=self.memory_format, autocast=self.autocast)

    def probe(self) -> dict[str, float]:
        """Linear probe on frozen backbone features of client 0 + server backbone (no projector)."""
        return probe_monitor(self.clients.online[0], self.server.online[0], self.data, self.bank_idx, self.cfg,
                             device=self.device, memory_format=self.memory_format)

    # ------------------------------------------------------------------------------------------------ the loop

    def fit(self, *, stop_after_steps: int | None = None) -> dict[str, Any] | None:
        """Train to the end (or stop after ``stop_after_steps`` total steps, leaving a resumable ckpt.pt).

        Returns the summary of a finished run, or None when stopped early.
        """
        cfg, sch, run = self.cfg, self.schedule, self.run
        if run.ckpt.is_file():
            ckpt_io.restore(self, run.ckpt)
            kept = [r for r in read_jsonl(run.metrics) if r.get("step", 0) <= self.step]
            atomic_write_text(run.metrics, "".join(json.dumps(r) + "\n" for r in kept))
        else:
            run.path.mkdir(parents=True, exist_ok=True)
            atomic_write_text(run.config, config_to_toml(cfg))
            atomic_write_text(run.metrics, "")
        t0, step0 = time.perf_counter(), self.step
        images = 0
        while self.epoch < sch.epochs:
            if self.batch_idx == 0:
                self.pool = sample_pool(cfg.sfl.clients, sch.pool_size, self.np_rng)
            self.server.set_lr(scheduled_lr(cfg.optim.schedule, cfg.optim.lr, self.epoch, sch.epochs, gamma=0.1))
            while self.batch_idx < sch.steps_per_epoch:
                loss, acc = self.train_step()
                if not math.isfinite(loss):
                    raise SflauditError(
                        f"loss became {loss} at epoch {self.epoch} step {self.step + 1}; training stopped and "
                        f"the last good checkpoint {run.ckpt} is kept (try a lower optim.lr)")
                self.step += 1
                images += cfg.sfl.batch * len(self.pool)
                append_jsonl(run.metrics, {"type": "train", "epoch": self.epoch, "step": self.step,
                                           "loss": round(loss, 6), "acc": round(acc, 4),
                                           "lr": self.server.optimizer.param_groups[0]["lr"],
                                           "client_lr": self._client_lr(self.pool[0])})
                if self.batch_idx in sch.sync_batches:
                    div = self.sync()
                    append_jsonl(run.metrics, {"type": "sync", "epoch": self.epoch, "step": self.step,
                                               **{k: float(f"{v:.6g}") for k, v in div.items()}})
                self.batch_idx += 1
                elapsed = time.perf_counter() - t0
                self.progress({"epoch": self.epoch, "step": self.step, "total": sch.total_steps, "loss": loss,
                               "knn": self.last_knn, "img_s": images / max(elapsed, 1e-9)})
                if self.batch_idx == sch.steps_per_epoch:
                    self._end_epoch()
                    break
                if self.step % cfg.run.ckpt_every == 0:
                    self._save()
                if stop_after_steps is not None and self.step >= stop_after_steps:
                    self._save()
                    return None
            if stop_after_steps is not None and self.step >= stop_after_steps and self.epoch < sch.epochs:
                return None
        wall = time.perf_counter() - t0
        return self._finish(wall, self.step - step0, images)

    def _end_epoch(self) -> None:
        cfg, sch = self.cfg, self.schedule
        last = self.epoch == sch.epochs - 1
        every = cfg.eval.every
        if (every and (self.epoch + 1) % every == 0) or last:
            t0 = time.perf_counter()
            self.last_knn = self.knn()
            self.eval_seconds += time.perf_counter() - t0
            append_jsonl(self.run.metrics, {"type": "eval", "epoch": self.epoch, "step": self.step,
                                            "knn": round(self.last_knn, 4)})
            if self.best_knn is None or self.last_knn > self.best_knn:
                self.best_knn = self.last_knn
                ckpt_io.save_best(self, self.run.best)
        self.epoch += 1
        self.batch_idx = 0
        self._save()

    def _save(self) -> None:
        ckpt_io.save(self, self.run.ckpt)
        atomic_write_json(self.run.traffic, self.link.to_json())

    def _finish(self, wall: float, steps: int, images: int) -> dict[str, Any]:
        run = self.run
        final_knn = self.last_knn
        ckpt_io.load_weights(self, run.best)             # the probe evaluates the best checkpoint (§4.2)
        probe = self.probe() if self.cfg.eval.linear_epochs > 0 else {}
        ckpt_io.load_weights(self, run.ckpt)
        summary = {
            "complete": True, "method": self.cfg.sfl.method, "arch": self.cfg.model.arch,
            "depth": self.cfg.model.depth, "epochs": self.schedule.epochs, "steps": self.step,
            "knn_final": final_knn, "knn_best": self.best_knn, **probe,
            "final_loss": _last_loss(run.metrics), "wall_time_s": round(wall, 3),
            "knn_monitor_s": round(self.eval_seconds, 3),
            "knn_monitor_share": round(self.eval_seconds / wall, 4) if wall > 0 else None,
            "steps_per_s": round(steps / wall, 4) if wall > 0 else None,
            "images_per_s": round(images / wall, 2) if wall > 0 else None,
            "traffic_total": self.link.total(),
            "schedule": {"steps_per_epoch": self.schedule.steps_per_epoch, "epochs": self.schedule.epochs,
                         "pool_size": self.schedule.pool_size, "clients": self.schedule.clients,
                         "sync_batches": list(self.schedule.sync_batches),
                         "rows_per_client": self.schedule.rows_per_client},
        }
        atomic_write_json(run.summary, summary)
        return summary


def _last_loss(path: Path) -> float | None:
    rows = [r for r in read_jsonl(path) if r.get("type") == "train"]
    return rows[-1]["loss"] if rows else None


def train(cfg: Config, run_dir: str | Path, *, progress: ProgressFn | None = None,
          stop_after_steps: int | None = None) -> dict[str, Any] | None:
    """Train (or resume) the run in ``run_dir``; returns summary.json's content, or None when stopped early."""
    return Trainer(cfg, run_dir, progress=progress).fit(stop_after_steps=stop_after_steps)
