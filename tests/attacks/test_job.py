"""``run_invert``: checkpoint → invert.json + invert.png; one-line errors for bad or incompatible checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from attacks.job import attack_indices, invert_settings, reconstruction_grid, run_invert
from sflaudit.artifacts import Checkpoint, RunDir
from sflaudit.config import config_to_toml, load_config
from sflaudit.errors import SflauditError
from sflaudit.models import split_model

FAST = dict(epochs=1, targets=8, aux_fraction=0.01, decoder="res_normN0C8")   # 50 of the 5000 photos


def hand_checkpoint(path: Path, *, depth: int = 1, weights_depth: int | None = None) -> Path:
    """A checkpoint per docs/interfaces.md whose config says ``depth`` and whose client 0 has ``weights_depth``."""
    cfg = load_config(preset="smoke", overrides=[f"model.depth={depth}"])
    torch.manual_seed(0)
    client = split_model("resnet18", weights_depth or depth, width=cfg.model.width).client
    torch.save(Checkpoint(config=config_to_toml(cfg), step=7, epoch=1, batch=0, clients_online=[client.state_dict()],
                          clients_momentum=[client.state_dict()], server_online={}, server_momentum={},
                          queue=torch.zeros(1), queue_ptr=0, knn=None).to_state(), path)
    return path


def test_attack_indices__seeded_prefix_order() -> None:
    aux, tgt = attack_indices(50_000, 10_000, 0.01, 128)
    assert len(aux) == 500 and len(set(aux.tolist())) == 500
    _, tgt_small = attack_indices(50_000, 10_000, 0.01, 16)
    assert torch.equal(tgt_small, tgt[:16])   # fewer targets = a prefix of the same fixed order


def test_reconstruction_grid__targets_above_reconstructions_upscaled() -> None:
    t, r = torch.zeros(3, 3, 16, 16), torch.ones(3, 3, 16, 16)
    grid = reconstruction_grid(t, r)
    # 16 px → ×4 = 64 px; 3 columns, 2 rows, 2-px padding: 3·66 + 2 = 200 wide, 2·66 + 2 = 134 high
    assert grid.shape == (3, 134, 200)
    assert grid[:, 2:66, 2:66].max() == 0 and grid[:, 68:132, 2:66].min() == 1


def test_run_invert__trainer_checkpoint_writes_json_and_png(tmp_path: Path) -> None:
    from sflaudit.sfl.trainer import train

    cfg = load_config(preset="smoke", overrides=["model.depth=1"])
    assert train(cfg, tmp_path / "run", stop_after_steps=1) is None   # leaves a resumable ckpt.pt
    ckpt = tmp_path / "run" / "ckpt.pt"
    doc = run_invert(ckpt, invert_settings(ckpt, **FAST), lpips_weights=tmp_path / "missing.pt")
    run = RunDir(tmp_path / "run")
    assert doc.attack_id == "decoder-res_normN0C8-aux0.01-ep1-b32-lr0.001-n8-clean"
    assert run.attack_ids() == [doc.attack_id]
    saved = json.loads(run.attack_json(doc.attack_id).read_text())
    assert saved["format"] == "sflaudit-invert/2" and saved["mean"] == doc.mean
    assert 0 < saved["mean"]["mse"] < 1 and -1 < saved["mean"]["ssim"] <= 1
    assert len(saved["metrics"]["mse"]) == 8
    tm = saved["threat_model"]
    assert tm["attacker"] == "honest-but-curious server" and tm["aux_images"] == 50
    assert (tm["checkpoint"], tm["checkpoint_step"], tm["checkpoint_epoch"]) == (str(ckpt), 1, 0)
    assert saved["lpips"]["status"] == "unavailable" and "missing.pt" in saved["lpips"]["reason"]
    assert saved["run"]["activation_shape"] == [8, 32, 32]   # resnet18 stem at width 0.125
    with Image.open(run.attack_png(doc.attack_id)) as img:
        assert img.size == (8 * 66 + 2, 2 * 66 + 2)   # 8 targets ×2 upscale = 64 px, one row each


def test_run_invert__two_settings_sit_side_by_side_and_reuse_skips_work(tmp_path: Path) -> None:
    ckpt = hand_checkpoint(tmp_path / "best.pt")
    first = run_invert(ckpt, invert_settings(ckpt, **FAST), lpips_weights=tmp_path / "none.pt")
    second = run_invert(ckpt, invert_settings(ckpt, **dict(FAST, targets=4)), lpips_weights=tmp_path / "none.pt")
    assert first.attack_id != second.attack_id
    assert RunDir(tmp_path).attack_ids() == sorted([first.attack_id, second.attack_id])
    again = run_invert(ckpt, invert_settings(ckpt, **FAST), reuse=True)
    assert again == first                                                  # read back, not recomputed


def test_run_invert__out_directory_and_faithful_protocol(tmp_path: Path) -> None:
    ckpt = hand_checkpoint(tmp_path / "best.pt")
    doc = run_invert(ckpt, invert_settings(ckpt, faithful=True, **FAST), out=tmp_path / "elsewhere",
                     lpips_weights=tmp_path / "none.pt")
    assert RunDir(tmp_path / "elsewhere").attack_png(doc.attack_id).is_file()
    assert RunDir(tmp_path).attack_ids() == [] and doc.attack_id.endswith("-faithful")
    assert doc.settings["protocol"] == "faithful" and doc.settings["ground_truth"] == "jpeg q75"


def test_run_invert__whitebox_attack(tmp_path: Path) -> None:
    ckpt = hand_checkpoint(tmp_path / "best.pt")
    doc = run_invert(ckpt, invert_settings(ckpt, kind="whitebox", targets=4), lpips_weights=tmp_path / "none.pt")
    assert doc.settings["kind"] == "whitebox" and doc.settings["whitebox_steps"] == 20   # smoke preset
    assert doc.attack_id.startswith("whitebox-steps20-") and 0 < doc.mean["mse"] < 1


def test_run_invert__corrupt_checkpoint_is_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "ckpt.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(SflauditError) as err:
        run_invert(bad)
    assert "\n" not in str(err.value) and str(bad) in str(err.value)


def test_run_invert__missing_checkpoint_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SflauditError, match="does not exist"):
        run_invert(tmp_path / "nope.pt")


def test_run_invert__incompatible_state_dict_is_one_line_error(tmp_path: Path) -> None:
    ckpt = hand_checkpoint(tmp_path / "best.pt", depth=3, weights_depth=1)   # config depth 3, weights depth 1
    with pytest.raises(SflauditError, match="incompatible checkpoint") as err:
        run_invert(ckpt, invert_settings(ckpt, **FAST))
    assert "\n" not in str(err.value)


def test_run_invert__bad_option_is_rejected(tmp_path: Path) -> None:
    ckpt = hand_checkpoint(tmp_path / "best.pt")
    with pytest.raises(SflauditError, match="attack.kind"):
        invert_settings(ckpt, kind="telepathy")
