"""The MocoSFL / MonAcoSFL training loop (protocol §1), with metering, evaluation, checkpoint and exact resume."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sflaudit.artifacts import Checkpoint, RunDir, Summary
from sflaudit.attackers import build_hijack
from sflaudit.config import Config, config_from_toml, config_to_toml
from sflaudit.errors import SflauditError, first_line
from sflaudit.runs import append_jsonl, atomic_write_text, read_jsonl
from sflaudit.sfl.checkpoint import read_checkpoint, write_checkpoint
from sflaudit.sfl.dp import dp_settings
from sflaudit.sfl.client_step import autocast_context, build_clients, client_lr, memory_format, seeded_setup
from sflaudit.sfl.clients import float_state
from sflaudit.sfl.monitor import bank_indices, knn_monitor
from sflaudit.sfl.sampling import ClientBatches, sample_pool
from sflaudit.sfl.schedule import scheduled_lr
from sflaudit.sfl.server import Server
from sflaudit.sfl.summary import write_run_summary
from sflaudit.sfl.setup import key_dim, pick_device
from sflaudit.sfl.sides import ClientSide, gap_after, local_clients, merge_payloads, sync_divergence
from sflaudit.sfl.strategies import download_payloads, get_strategy, upload_payloads
from sflaudit.sfl.sync import divergence_mask
from sflaudit.sfl.wire import Link
from sflaudit.stages import identity_differences

ProgressFn = Callable[[dict[str, Any]], None]
SideFactory = Callable[["Trainer"], ClientSide]


class Trainer:
    """N clients and one server, step-synchronously (protocol §1); ``side`` builds the clients' half (default
    :func:`~sflaudit.sfl.sides.local_clients`: in this process; ``transport.server.RemoteClients``: over TCP)."""

    def __init__(self, cfg: Config, run_dir: str | Path, *, progress: ProgressFn | None = None,
                 side: SideFactory | None = None) -> None:
        self.cfg = cfg
        self.run = RunDir(Path(run_dir))
        self.progress = progress or (lambda _: None)
        self.device = pick_device(cfg.run.device)
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        seed = cfg.run.seed
        setup = seeded_setup(cfg)                                 # model init, partition, data stream (all processes)
        self.np_rng = setup.np_rng                                # partition and per-epoch client sampling
        self.gen = setup.gen                                      # batches, augmentation, queue init
        self.key_gen = torch.Generator().manual_seed(seed + 3)    # the server's key shuffle (shuffle-BN) only
        self.data, self.spec, self.schedule = setup.data, setup.spec, setup.schedule
        split, projector = setup.split, setup.projector
        self.info = split.info
        o, c = cfg.optim, cfg.sfl
        self.memory_format = memory_format(cfg)
        self.clients = build_clients(cfg, split.client, c.clients, self.device)
        self.server = Server(split.server, projector, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay,
                             ema=cfg.ssl.ema, queue_size=cfg.ssl.K, temperature=cfg.ssl.T, key_dim=key_dim(cfg),
                             generator=self.gen)
        self.server.generator = self.key_gen                      # the data stream stays the clients' alone
        self.server.to(self.device, self.memory_format)
        self.dp = dp_settings(cfg, len(self.data.parts[0]), self.schedule.total_steps)
        if self.dp is not None:
            self.clients.enable_dp(self.dp, seed=seed + 4)        # seed + 4: the DP-SGD noise of client c is + c
        self.link = Link(c.wire_dtype, cfg.defence, seed=seed + 2)   # seed + 2: the defence.noise draws
        self.strategy = get_strategy(c.method)
        self.batches = ClientBatches(self.data.parts, c.batch, c.batch_sampling, self.gen)
        self.div_mask = divergence_mask(list(self.clients.online[0].state_dict().keys()))
        self.online_states = [float_state(m) for m in self.clients.online]
        self.momentum_states = [float_state(m) for m in self.clients.momentum]
        self.autocast = autocast_context(o.precision, self.device)
        # loop position and run state
        self.epoch, self.batch_idx, self.step = 0, 0, 0
        self.pool: list[int] = []
        self.best_knn: float | None = None
        self.last_knn: float | None = None
        self.bank_idx = bank_indices(int(self.data.train.shape[0]), cfg.eval.bank_size, seed)
        self.eval_seconds = 0.0                                   # wall time spent in the kNN monitor
        self.side: ClientSide = (side or local_clients)(self)
        self.hijack = build_hijack(cfg, self.info, self.data, self.device)   # None: an honest server

    # ------------------------------------------------------------------------------------------------ step, sync

    def train_step(self) -> tuple[float, float]:
        """Protocol §1.2 steps 1–5 for the current pool; returns (loss, contrastive accuracy %). The side computes
        (or relays) the clients' half; every activation and gradient crosses the metered link here, in pool order."""
        pool, link, side = self.pool, self.link, self.side
        side.begin_step(self.epoch, self.batch_idx, self.step + 1, pool)
        queries, keys = [], []
        for position, c in enumerate(pool):
            h_q, h_k = side.activations(position, c)
            queries.append(link.send_activation(h_q, direction="up", kind="query", client=c))
            keys.append(link.send_activation(h_k, direction="up", kind="key", client=c))
        pooled = torch.cat(queries)
        grad, loss, acc = self.server.step(pooled, torch.cat(keys), symmetric=self.cfg.ssl.symmetric,
                                           autocast=self.autocast)
        if self.hijack is not None:               # an active server: only what it sends back changes
            grad = self.hijack.gradient(pooled, grad, self.step + 1)
        start = 0
        for c, q in zip(pool, queries, strict=True):
            g = link.send_activation(grad[start:start + q.shape[0]], direction="down", kind="grad", client=c)
            start += q.shape[0]
            side.apply_gradient(c, g)
        link.end_step()
        side.end_step()
        return loss, acc

    def _client_lr(self, client: int) -> float:
        return client_lr(self.cfg.optim, self.clients.steps[client], self.epoch, self.schedule.epochs)

    def sync(self, number: int | None = None) -> dict[str, float]:
        """Sync ``number`` (1-based over the run; default the next one) as the method's strategy plans it: metered
        uploads from the pool, the merge, metered downloads to all N (loaded by the side); returns the divergences
        before loading (over the full states where the side holds them, else over the uploads)."""
        number = number if number is not None else self.link.syncs + 1
        plan, pool, side, n = self.strategy.plan(number, self.cfg.sfl), self.pool, self.side, len(self.clients)
        side.begin_sync(number, plan, pool)
        got = upload_payloads(plan, pool, n, self.link, side.upload)
        full = side.states()
        merged = merge_payloads(self.strategy, self.cfg.sfl, full, got, plan, pool)
        div = sync_divergence(full, got, merged, pool, self.div_mask)
        download_payloads(plan, merged, n, self.link, side.download)
        self.link.end_sync()
        div.update(gap_after(side.states(), merged, plan, pool, n, self.div_mask))
        side.end_sync()
        return div

    def knn(self) -> float:
        """kNN monitor: client 0 online → server online incl. projector, cosine, k / T from the config."""
        return knn_monitor(self.clients.online[0], self.server.online, self.data, self.bank_idx, self.cfg,
                           device=self.device, memory_format=self.memory_format, autocast=self.autocast)

    # ------------------------------------------------------------------------------------------------ state

    def state_dict(self, *, resume: bool = True) -> Checkpoint:
        """The trainer as a checkpoint; ``resume`` adds what only continuing needs (``trainer``, ckpt.pt's form).
        Its tensors are the live model state, not copies: write it (or copy them) before training on."""
        clients, server = self.clients.state_dict(), self.server.state_dict()
        trainer = {
            "optim": {"clients": clients["optimizers"], "server": server["optimizer"]},
            "client_steps": clients["steps"], "pool": list(self.pool), "best_knn": self.best_knn,
            "rng": {"torch": self.gen.get_state(), "numpy": self.np_rng.bit_generator.state,
                    "torch_global": torch.get_rng_state(), "keys": self.key_gen.get_state()},
            "batches": self.batches.state_dict(), "link": self.link.state_dict(),
            **({"dp": clients["dp"]} if "dp" in clients else {}),
        } if resume else None
        return Checkpoint(config=config_to_toml(self.cfg), step=self.step, epoch=self.epoch, batch=self.batch_idx,
                          clients_online=clients["online"], clients_momentum=clients["momentum"],
                          server_online=server["online"], server_momentum=server["momentum"],
                          queue=server["queue"], queue_ptr=server["queue_ptr"], knn=self.last_knn, trainer=trainer,
                          hijack=self.hijack.state_dict() if self.hijack is not None else None)

    def weights(self) -> Checkpoint:
        """Model weights and the queue only (best.pt's form, ``trainer`` None)."""
        return self.state_dict(resume=False)

    def load_state_dict(self, ckpt: Checkpoint, *, weights_only: bool = False, source: str = "checkpoint") -> None:
        """Load ``ckpt``: models and queue, and (unless ``weights_only``) the exact loop state to resume from; resuming
        refuses a checkpoint whose training identity differs (runtime fields such as threads or device may)."""
        if not weights_only:
            differ = identity_differences(config_from_toml(ckpt.config, source=f"config of {source}"), self.cfg)
            if differ:
                raise SflauditError(f"{source} was written with a different training config ({', '.join(differ)} "
                                    "differ); resume with the run's own config.toml or start a new run "
                                    "(--force to overwrite)")
            if ckpt.trainer is None:
                raise SflauditError(f"{source} holds weights only (like best.pt) and cannot resume a run")
        t = ckpt.trainer or {}
        optim = t.get("optim", {})
        try:
            self.clients.load_state_dict({"online": ckpt.clients_online, "momentum": ckpt.clients_momentum,
                                          "optimizers": optim.get("clients"), "steps": t.get("client_steps"),
                                          "dp": t.get("dp")},
                                         weights_only=weights_only)
            self.server.load_state_dict({"online": ckpt.server_online, "momentum": ckpt.server_momentum,
                                         "queue": ckpt.queue, "queue_ptr": ckpt.queue_ptr,
                                         "optimizer": optim.get("server")}, weights_only=weights_only)
            if self.hijack is not None and ckpt.hijack is not None:
                self.hijack.load_state_dict(ckpt.hijack)
            if weights_only:
                return
            self.step, self.epoch, self.batch_idx = int(ckpt.step), int(ckpt.epoch), int(ckpt.batch)
            self.pool = [int(c) for c in t["pool"]]
            self.best_knn, self.last_knn = t["best_knn"], ckpt.knn
            self.gen.set_state(t["rng"]["torch"])
            self.np_rng.bit_generator.state = t["rng"]["numpy"]
            torch.set_rng_state(t["rng"]["torch_global"])
            if "keys" in t["rng"]:                                # absent in checkpoints before the key stream
                self.key_gen.set_state(t["rng"]["keys"])
            self.batches.load_state_dict(t["batches"])
            self.link.load_state_dict(t["link"])
        except (KeyError, RuntimeError, ValueError, TypeError, IndexError, AttributeError) as exc:
            raise SflauditError(f"{source} does not match this run's models or format: {first_line(exc)}") from None

    # ------------------------------------------------------------------------------------------------ the loop

    def fit(self, *, stop_after_steps: int | None = None) -> Summary | None:
        """Train to the end (or stop after ``stop_after_steps`` total steps, leaving a resumable ckpt.pt); returns the
        summary of a finished run (also written to summary.json), or None when stopped early."""
        with self.side.session():
            return self._train(stop_after_steps)

    def _train(self, stop_after_steps: int | None) -> Summary | None:
        cfg, sch, run = self.cfg, self.schedule, self.run
        resumed = run.ckpt.is_file()
        if resumed:
            self.load_state_dict(read_checkpoint(run.ckpt), source=str(run.ckpt))
            kept = [r for r in read_jsonl(run.metrics) if r.get("step", 0) <= self.step]
            atomic_write_text(run.metrics, "".join(json.dumps(r) + "\n" for r in kept))
        else:
            run.path.mkdir(parents=True, exist_ok=True)
            run.write_config(config_to_toml(cfg))
            atomic_write_text(run.metrics, "" if self.dp is None else json.dumps(self.dp.record()) + "\n")
        self.side.start(resumed=resumed, step=self.step)
        if self.side.checkpoint_at_start and not resumed:
            self._save()                          # resumable from the moment the side has started
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
                                           "client_lr": self._client_lr(self.pool[0]), **self.side.step_log(),
                                           **(self.hijack.log() if self.hijack is not None else {})})
                if self.batch_idx in sch.sync_batches:
                    div = self.sync(sch.sync_number(self.epoch, self.batch_idx))
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
        return write_run_summary(self, wall, self.step - step0, images)

    def _end_epoch(self) -> None:
        cfg, sch = self.cfg, self.schedule
        last = self.epoch == sch.epochs - 1
        every = cfg.eval.every
        if (every and (self.epoch + 1) % every == 0) or last:
            self.side.gather(self.step)
            t0 = time.perf_counter()
            self.last_knn = self.knn()
            self.eval_seconds += time.perf_counter() - t0
            append_jsonl(self.run.metrics, {"type": "eval", "epoch": self.epoch, "step": self.step,
                                            "knn": round(self.last_knn, 4)})
            if self.best_knn is None or self.last_knn > self.best_knn:
                self.best_knn = self.last_knn
                write_checkpoint(self.weights(), self.run.best)
        self.epoch += 1
        self.batch_idx = 0
        self._save()

    def _save(self) -> None:
        self.side.gather(self.step)
        write_checkpoint(self.state_dict(), self.run.ckpt)
        self.run.write_traffic(self.link.traffic())


def train(cfg: Config, run_dir: str | Path, *, progress: ProgressFn | None = None,
          stop_after_steps: int | None = None) -> Summary | None:
    """Train (or resume) the run in ``run_dir``; returns the Summary (summary.json), or None when stopped early."""
    return Trainer(cfg, run_dir, progress=progress).fit(stop_after_steps=stop_after_steps)
