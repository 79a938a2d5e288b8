"""Protocol invariants of the trainer on tiny models (smoke preset: ResNet-18 width 0.125, embedded photos)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sflaudit.artifacts import Checkpoint, RunDir, Summary
from sflaudit.config import Config, load_config
from sflaudit.data import augment
from sflaudit.errors import SflauditError
from sflaudit.runs import read_jsonl
from sflaudit.sfl.checkpoint import read_checkpoint, write_checkpoint
from sflaudit.sfl.moco import info_nce
from sflaudit.sfl.trainer import Trainer, train
from sflaudit.stages import training_id


def _cfg(*overrides: str) -> Config:
    return load_config(preset="smoke", overrides=["eval.linear_epochs=0", *overrides])


def test_one_client__equals_centralised_moco(tmp_path: Path) -> None:
    """1 client, no sampling, sync a no-op: the split run equals MoCo on the unsplit network."""
    cfg = _cfg("sfl.clients=1", "sfl.method=mocosfl", "optim.client_schedule=per_epoch", "optim.epochs=1",
               "sfl.avg_freq=1")
    t = Trainer(cfg, tmp_path / "run")
    model = torch.nn.Sequential(copy.deepcopy(t.clients.online[0]), copy.deepcopy(t.server.online))
    momentum = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.optim.lr, momentum=0.9, weight_decay=5e-4)
    queue = t.server.queue.keys.clone()
    gen = torch.Generator()
    gen.set_state(t.gen.get_state())
    t.pool = [0]
    part = torch.as_tensor(t.data.parts[0])
    steps = 3
    for step in range(steps):
        t.train_step()
        idx = part[torch.randperm(len(part), generator=gen)[: cfg.sfl.batch]]
        x = t.data.train[idx]
        v1, v2 = augment(x, t.spec, gen), augment(x, t.spec, gen)
        with torch.no_grad():
            torch._foreach_lerp_(list(momentum.parameters()), list(model.parameters()), 1 - cfg.ssl.ema)
        q = F.normalize(model(torch.cat([v1, v2])), dim=1)
        with torch.no_grad():
            k = F.normalize(momentum(torch.cat([v2, v1])), dim=1)
        loss, _ = info_nce(q, k, queue, cfg.ssl.T)
        n = k.shape[0]
        queue = _enqueue(queue, k, step * n)
        opt.zero_grad()
        loss.backward()
        opt.step()
    split = torch.nn.Sequential(t.clients.online[0], t.server.online)
    for a, b in zip(split.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), float((a - b).abs().max())


def _enqueue(queue: torch.Tensor, keys: torch.Tensor, ptr: int) -> torch.Tensor:
    out = queue.clone()
    idx = (torch.arange(keys.shape[0]) + ptr) % queue.shape[0]
    out[idx] = keys
    return out


def _run_steps(cfg: Config, path: Path, steps: int) -> Trainer:
    t = Trainer(cfg, path)
    t.fit(stop_after_steps=steps)
    return t


def test_monacosfl_sync__momentum_models_equal_pool_average(tmp_path: Path) -> None:
    cfg = _cfg("sfl.clients=3", "sfl.method=monacosfl", "sfl.avg_freq=1")
    t = Trainer(cfg, tmp_path / "run")
    t.pool = [0, 1, 2]
    t.train_step()
    t.train_step()
    expected = [sum(s[i] for s in t.momentum_states).detach() / 3 for i in range(len(t.momentum_states[0]))]
    t.sync()
    for c in range(3):
        for got, want in zip(t.momentum_states[c], expected, strict=True):
            assert torch.allclose(got, want, atol=1e-6)


def test_mocosfl_sync__leaves_momentum_models_untouched(tmp_path: Path) -> None:
    cfg = _cfg("sfl.clients=3", "sfl.method=mocosfl")
    t = Trainer(cfg, tmp_path / "run")
    t.pool = [0, 1, 2]
    t.train_step()
    before = [[x.detach().clone() for x in s] for s in t.momentum_states]
    t.sync()
    for c in range(3):
        for got, want in zip(t.momentum_states[c], before[c], strict=True):
            assert torch.equal(got, want)
    first = t.online_states[0]
    for c in (1, 2):                                  # online models all equal the average after a sync
        for a, b in zip(t.online_states[c], first, strict=True):
            assert torch.equal(a, b)


def test_monacosfl__online_momentum_divergence_lower_than_mocosfl(tmp_path: Path) -> None:
    """At the same sync step, MonAcoSFL's online-to-momentum gap is below MocoSFL's (Jensen: mean‖ō−m_i‖² ≥ ‖ō−m̄‖²)."""
    def rows(method: str) -> list[dict]:
        cfg = _cfg("sfl.clients=4", "sfl.sampling_ratio=0.5", f"sfl.method={method}", "optim.epochs=1",
                   "data.partition=shards", "sfl.noniid_ratio=0.2")
        train(cfg, tmp_path / method)
        return [r for r in read_jsonl(tmp_path / method / "metrics.jsonl") if r["type"] == "sync"]

    moco, mona = rows("mocosfl"), rows("monacosfl")
    assert moco[0]["ol-ml/mean"] == pytest.approx(mona[0]["ol-ml/mean"])   # identical until the first sync
    assert mona[0]["ol-ml/after"] < moco[0]["ol-ml/after"]


def test_queue__pointer_advances_by_keys_enqueued(tmp_path: Path) -> None:
    cfg = _cfg("sfl.clients=2", "ssl.K=50")
    t = _run_steps(cfg, tmp_path / "run", 3)
    rows = 2 * cfg.sfl.batch * 2                        # pool 2 × 2B rows
    assert t.server.queue.ptr == (3 * rows) % 50


def test_same_seed__identical_metrics(tmp_path: Path) -> None:
    cfg = _cfg("optim.epochs=1")
    train(cfg, tmp_path / "a")
    train(cfg, tmp_path / "b")
    assert (tmp_path / "a" / "metrics.jsonl").read_text() == (tmp_path / "b" / "metrics.jsonl").read_text()


def test_resume__interrupted_run_ends_with_identical_weights(tmp_path: Path) -> None:
    cfg = _cfg("sfl.clients=2", "sfl.sampling_ratio=0.5", "run.ckpt_every=1000")
    full = train(cfg, tmp_path / "full")
    assert train(cfg, tmp_path / "cut", stop_after_steps=3) is None   # mid-epoch stop
    assert not (tmp_path / "cut" / "summary.json").exists()
    resumed = train(cfg, tmp_path / "cut")
    assert full is not None and resumed is not None
    _assert_same_weights(read_checkpoint(tmp_path / "full" / "ckpt.pt"), read_checkpoint(tmp_path / "cut" / "ckpt.pt"))
    assert (tmp_path / "full" / "metrics.jsonl").read_text() == (tmp_path / "cut" / "metrics.jsonl").read_text()


def _assert_same_weights(a: Checkpoint, b: Checkpoint) -> None:
    for sa, sb in zip([*a.clients_online, *a.clients_momentum], [*b.clients_online, *b.clients_momentum], strict=True):
        assert all(torch.equal(x, y) for x, y in zip(sa.values(), sb.values(), strict=True))
    for sa, sb in ((a.server_online, b.server_online), (a.server_momentum, b.server_momentum)):
        assert all(torch.equal(x, y) for x, y in zip(sa.values(), sb.values(), strict=True))
    assert torch.equal(a.queue, b.queue) and a.queue_ptr == b.queue_ptr


@pytest.fixture
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_resume__runtime_fields_may_change_and_the_weights_stay_identical(tmp_path: Path, one_thread: None) -> None:
    """threads, device, ckpt_every and data_dir are runtime fields: a resume with other values continues exactly.

    ``run.threads`` goes 1 → 0 (0 = keep torch's current count, here 1): the field differs, the arithmetic does not.
    """
    base = ("sfl.clients=2", "optim.epochs=1")
    full = train(_cfg(*base, "run.threads=1"), tmp_path / "full")
    assert train(_cfg(*base, "run.threads=1"), tmp_path / "cut", stop_after_steps=3) is None
    resumed = train(_cfg(*base, "run.threads=0", "run.device=cpu", "run.ckpt_every=7", f"data.data_dir={tmp_path}"),
                    tmp_path / "cut")
    assert full is not None and resumed is not None and resumed.train_id == full.train_id
    _assert_same_weights(read_checkpoint(tmp_path / "full" / "ckpt.pt"), read_checkpoint(tmp_path / "cut" / "ckpt.pt"))


def test_resume__with_another_thread_count_continues(tmp_path: Path, one_thread: None) -> None:
    """A real thread-count change resumes too (CPU parallel reductions then round differently, so the weights are
    not bit-identical to a one-thread run)."""
    assert train(_cfg("run.threads=1"), tmp_path / "run", stop_after_steps=2) is None
    assert train(_cfg("run.threads=2"), tmp_path / "run", stop_after_steps=3) is None
    assert read_checkpoint(tmp_path / "run" / "ckpt.pt").step == 3


def test_fit__returns_the_summary_it_writes_without_a_linear_probe(tmp_path: Path) -> None:
    cfg = _cfg("optim.epochs=1")
    summary = train(cfg, tmp_path / "run")
    assert isinstance(summary, Summary) and RunDir(tmp_path / "run").read_summary() == summary
    assert summary.train_id == training_id(cfg) and summary.steps == summary.schedule.total_steps
    doc = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert doc["schedule"] == summary.schedule.to_json() and not any(k.startswith("linear_probe") for k in doc)


def test_state_dict__weights_load_into_a_fresh_trainer_and_cannot_resume(tmp_path: Path) -> None:
    cfg = _cfg("sfl.clients=2")
    t = _run_steps(cfg, tmp_path / "a", 2)
    best = t.weights()
    assert best.trainer is None and t.state_dict().trainer is not None
    fresh = Trainer(cfg, tmp_path / "b")
    fresh.load_state_dict(best, weights_only=True)
    _assert_same_weights(fresh.weights(), best)
    assert fresh.step == 0                                  # weights only: the loop position is not restored
    write_checkpoint(best, tmp_path / "best.pt")
    with pytest.raises(SflauditError, match="holds weights only"):
        Trainer(cfg, tmp_path / "c").load_state_dict(read_checkpoint(tmp_path / "best.pt"), source="best.pt")


@pytest.mark.parametrize(("depth", "tensors", "shape"), [(3, 1, (8, 32, 32)), (6, 2, (16, 16, 16))])
def test_traffic__measured_bytes_equal_protocol_count(tmp_path: Path, depth: int, tensors: int,
                                                      shape: tuple[int, int, int]) -> None:
    """Width 0.125: depth 3 sends 8×32×32 per image; depth 6 (mid-block of layer2.0) two 16×16×16 tensors."""
    cfg = _cfg("sfl.clients=2", f"model.depth={depth}", "optim.epochs=1", "sfl.method=monacosfl")
    t = _run_steps(cfg, tmp_path / "run", 10**6)
    doc = json.loads((tmp_path / "run" / "traffic.json").read_text())
    a = tensors * shape[0] * shape[1] * shape[2]
    steps = t.schedule.total_steps
    rows = 2 * cfg.sfl.batch                           # client-side symmetric: 2B query rows per client
    assert doc["by_kind"]["query"]["up"] == steps * 2 * rows * a * 4
    assert doc["by_kind"]["key"]["up"] == steps * 2 * rows * a * 4
    assert doc["by_kind"]["grad"]["down"] == steps * 2 * rows * a * 4
    p_bytes = sum(v.numel() * v.element_size() for v in t.clients.online[0].state_dict().values())
    syncs = t.schedule.syncs_per_epoch * t.schedule.epochs
    assert doc["by_kind"]["weights"] == {"up": syncs * 2 * p_bytes, "down": syncs * 2 * p_bytes}
    assert doc["by_kind"]["momentum"] == doc["by_kind"]["weights"]      # MonAcoSFL doubles model sync traffic


def test_bad_checkpoint__one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "ckpt.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SflauditError) as err:
        read_checkpoint(bad)
    assert "\n" not in str(err.value)
    torch.save({"weights": torch.zeros(1)}, bad)
    with pytest.raises(SflauditError, match="not an sflaudit checkpoint"):
        read_checkpoint(bad)
    with pytest.raises(SflauditError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.pt")


def test_resume__with_a_different_training_identity_is_refused_naming_the_keys(tmp_path: Path) -> None:
    _run_steps(_cfg(), tmp_path / "run", 2)
    with pytest.raises(SflauditError, match=r"different training config \(optim\.lr, sfl\.batch differ\)") as err:
        Trainer(_cfg("optim.lr=0.01", "sfl.batch=4"), tmp_path / "run").fit()
    assert "\n" not in str(err.value)


def test_nan_loss__stops_with_one_line_error_and_keeps_last_checkpoint(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg("run.ckpt_every=2")
    t = Trainer(cfg, tmp_path / "run")
    real_step = t.server.step
    calls = {"n": 0}

    def step(*args, **kwargs):
        grad, loss, acc = real_step(*args, **kwargs)
        calls["n"] += 1
        return grad, (float("nan") if calls["n"] == 5 else loss), acc

    monkeypatch.setattr(t.server, "step", step)
    with pytest.raises(SflauditError, match="loss became nan at epoch 0 step 5") as err:
        t.fit()
    assert "\n" not in str(err.value)
    assert read_checkpoint(tmp_path / "run" / "ckpt.pt").step == 4       # the last good checkpoint survives
    assert not (tmp_path / "run" / "summary.json").exists()
