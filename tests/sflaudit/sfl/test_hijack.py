"""An active server inside the trainer: honest runs untouched, only the gradient sent back changes, bytes unchanged,
exact resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sflaudit.config import load_config
from sflaudit.errors import SflauditError
from sflaudit.sfl.trainer import Trainer
from sflaudit.stages import training_id

FAST = ["optim.epochs=1", "data.fraction=0.03", "sfl.avg_freq=3", "eval.every=100", "eval.linear_epochs=0"]
HIJACK = ["attacker.kind=fsha", "attacker.batch=8", 'attacker.decoder="res_normN0C8"']


def _trainer(tmp_path: Path, name: str, *overrides: str) -> Trainer:
    return Trainer(load_config(preset="smoke", overrides=[*FAST, *overrides]), tmp_path / name)


def _weights(t: Trainer) -> list[torch.Tensor]:
    return [v.clone() for m in (*t.clients.online, t.server.online) for v in m.state_dict().values()]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Trainer]:
    """The FAST smoke run trained by an honest server and by a hijacking one (same seed and data)."""
    root = tmp_path_factory.mktemp("hijack")
    runs = {"honest": _trainer(root, "h"), "fsha": _trainer(root, "f", *HIJACK)}
    for t in runs.values():
        t.fit()
    return runs


def test_honest_run__keeps_its_id_and_its_weights_with_the_attacker_code_present(
        tmp_path: Path, finished: dict[str, Trainer]) -> None:
    # the id of the smoke preset before [attacker] existed: honest run directories keep their names
    assert training_id(load_config(preset="smoke")) == "train-54d22229353e"
    assert training_id(load_config(preset="smoke", overrides=["attacker.kind=none"])) == "train-54d22229353e"
    plain, explicit = finished["honest"], _trainer(tmp_path, "b", "attacker.kind=none", "attacker.batch=4")
    assert plain.hijack is None and explicit.hijack is None
    explicit.fit()
    assert all(torch.equal(x, y) for x, y in zip(_weights(plain), _weights(explicit), strict=True))
    # this run's client 0 before the attacker code existed (sum of |w| over its state, fp64; 1e-6 leaves room for
    # another CPU's kernels, not for a changed step)
    total = sum(float(v.double().abs().sum()) for v in plain.clients.online[0].state_dict().values())
    assert total == pytest.approx(115.43252438100171, rel=1e-6)
    assert "hijack" not in plain.state_dict().to_state()


def test_hijack__changes_only_what_the_server_sends_back(tmp_path: Path) -> None:
    runs = {"honest": _trainer(tmp_path, "h"), "fsha": _trainer(tmp_path, "f", *HIJACK)}
    sent: dict[str, list[tuple[str, str, torch.Tensor]]] = {}
    returned: list[torch.Tensor] = []
    for name, t in runs.items():
        log = sent.setdefault(name, [])
        original = t.link.send_activation

        def metered(h, *, direction, kind, client, _orig=original, _log=log):
            _log.append((direction, kind, h.detach().clone()))
            return _orig(h, direction=direction, kind=kind, client=client)

        t.link.send_activation = metered
    gradient = runs["fsha"].hijack.gradient
    runs["fsha"].hijack.gradient = lambda *a: returned.append(out := gradient(*a)) or out
    objects = [id(o) for o in (*runs["fsha"].clients.online, *runs["fsha"].clients.optimizers)]
    for t in runs.values():
        t.epoch, t.pool = 0, [0, 1]
        t.train_step()
    ups = {n: [h for d, _, h in s if d == "up"] for n, s in sent.items()}
    downs = {n: [h for d, _, h in s if d == "down"] for n, s in sent.items()}
    assert all(torch.equal(a, b) for a, b in zip(ups["honest"], ups["fsha"], strict=True))   # same clients, same data
    assert not any(torch.equal(a, b) for a, b in zip(downs["honest"], downs["fsha"], strict=True))
    assert torch.equal(torch.cat(downs["fsha"]), returned[0])          # what the clients got is the hijack's
    assert objects == [id(o) for o in (*runs["fsha"].clients.online, *runs["fsha"].clients.optimizers)]


def test_hijack__leaves_the_measured_bytes_unchanged_and_resumes_exactly(
        tmp_path: Path, finished: dict[str, Trainer]) -> None:
    honest, whole = finished["honest"], finished["fsha"]
    assert honest.run.read_traffic() == whole.run.read_traffic()
    assert training_id(whole.cfg) != training_id(honest.cfg)
    first = _trainer(tmp_path, "r", *HIJACK)
    first.fit(stop_after_steps=4)
    resumed = _trainer(tmp_path, "r", *HIJACK)
    resumed.fit()
    assert all(torch.equal(x, y) for x, y in zip(_weights(whole), _weights(resumed), strict=True))
    for part in ("pilot", "decoder", "critic"):
        a, b = whole.hijack.state_dict()[part], resumed.hijack.state_dict()[part]
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_attacker_kind__unknown_names_and_bad_settings_give_one_line() -> None:
    with pytest.raises(SflauditError, match=r"unknown attacker.kind 'fhsa' \(valid: none, fsha"):
        load_config(preset="smoke", overrides=["attacker.kind=fhsa"])
    with pytest.raises(SflauditError, match="attacker.batch"):
        load_config(preset="smoke", overrides=["attacker.kind=fsha", "attacker.batch=1"])
