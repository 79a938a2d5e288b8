"""``run_invert``: checkpoint → invert.json + invert.png; one-line errors for bad or incompatible checkpoints."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
import torch
from PIL import Image

import sflaudit.attacks.job
from sflaudit.attacks.decoder_file import decoder_path, read_decoder
from sflaudit.attacks.inversion import AttackResult
from sflaudit.attacks.job import attack_indices, invert_settings, reconstruction_grid, run_invert
from sflaudit.attacks.kinds import activation_shape, run_attack, threat_model
from sflaudit.auditors import attack_names
from sflaudit.attacks.metrics import LpipsUnavailable, summarize
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
    assert doc.attack_id == "decoder-res_normN0C8-aux0.01-ep1-b32-lr0.001-stop12-n8-clean"
    assert run.attack_ids() == [doc.attack_id]
    saved = json.loads(run.attack_json(doc.attack_id).read_text())
    assert saved["format"] == "sflaudit-invert/2" and saved["mean"] == doc.mean
    assert 0 < saved["mean"]["mse"] < 1 and -1 < saved["mean"]["ssim"] <= 1
    assert len(saved["metrics"]["mse"]) == 8
    tm = saved["threat_model"]
    assert tm["attacker"] == "honest-but-curious server" and tm["aux_images"] == 50 and tm["client_weights"]
    assert saved["training"]["epochs_run"] == 1 and saved["settings"]["patience"] == 12
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


class ForwardRaises(torch.nn.Module):
    """A client whose forward raises: any attack that reads an activation through it fails."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the client was run")


def test_run_attack__prior_never_runs_the_client() -> None:
    cfg = load_config(preset="smoke", overrides=["model.depth=1", "attack.epochs=1", 'attack.decoder="res_normN0C8"'])
    images = torch.randint(0, 256, (40, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    result = run_attack("prior", ForwardRaises(), cfg, images, images, torch.arange(20), torch.arange(4),
                        mean=(0.5,) * 3, std=(0.25,) * 3, lpips=LpipsUnavailable("none"))
    assert result.reconstructions.shape == (4, 3, 16, 16) and result.extra["chosen"] in ("mean_image", "noise_decoder")
    assert result.activation_shape == (8, 16, 16)   # analytic: width 0.125 stem, no weights read


def test_run_invert__prior_does_not_load_the_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = hand_checkpoint(tmp_path / "best.pt")

    def refuse(*args: object, **kwargs: object) -> torch.nn.Module:
        raise AssertionError("the prior loaded the client")

    monkeypatch.setattr(sflaudit.attacks.job, "served_client", refuse)
    doc = run_invert(ckpt, invert_settings(ckpt, kind="prior", **FAST), lpips_weights=tmp_path / "none.pt")
    assert doc.attack_id == "prior-res_normN0C8-aux0.01-ep1-b32-lr0.001-stop12-n8-clean"
    tm = doc.threat_model
    assert (tm["client_weights"], tm["target_activations"], tm["aux_images"]) == (False, False, 50)
    cands = doc.training["candidates"]
    assert set(cands) == {"mean_image", "noise_decoder"} and doc.training["chosen"] == min(cands, key=cands.get)
    assert doc.run["activation_shape"] == [8, 32, 32] and len(doc.metrics["mse"]) == 8


def test_run_invert__hybrid_records_activation_errors(tmp_path: Path) -> None:
    ckpt = hand_checkpoint(tmp_path / "best.pt")
    doc = run_invert(ckpt, invert_settings(ckpt, kind="hybrid", hybrid_steps=3, **FAST),
                     lpips_weights=tmp_path / "none.pt")
    assert doc.attack_id == ("hybrid-res_normN0C8-aux0.01-ep1-b32-lr0.001-stop12-steps3-hlr0.01-tv0.01-pull0.1-n8"
                             "-clean")
    t = doc.training
    assert all(e <= s for e, s in zip(t["activation_mse_end_per_image"], t["activation_mse_start_per_image"]))
    assert doc.threat_model["client_weights"] and doc.threat_model["aux_images"] == 50
    assert doc.settings["early_stop"] == ("after 12 epochs (of ≥ 15 batches) with neither a better validation loss "
                                          "nor a better validation SSIM")


def test_run_invert__hybrid_starts_from_the_decoder_attacks_decoder_with_the_same_result(tmp_path: Path) -> None:
    fast = dict(FAST, epochs=3)
    for d in ("alone", "after"):
        (tmp_path / d).mkdir()
        hand_checkpoint(tmp_path / d / "best.pt")
    alone = run_invert(tmp_path / "alone" / "best.pt", invert_settings(tmp_path / "alone" / "best.pt", kind="hybrid",
                       hybrid_steps=3, **fast), lpips_weights=tmp_path / "none.pt")
    ckpt = tmp_path / "after" / "best.pt"
    dec = run_invert(ckpt, invert_settings(ckpt, **fast), lpips_weights=tmp_path / "none.pt")
    assert decoder_path(RunDir(tmp_path / "after"), dec.attack_id).is_file()
    after = run_invert(ckpt, invert_settings(ckpt, kind="hybrid", hybrid_steps=3, **fast),
                       lpips_weights=tmp_path / "none.pt")
    assert after.training["decoder_reused"] and not alone.training["decoder_reused"]
    assert after.metrics["mse"] == alone.metrics["mse"]                  # the same decoder, not a retrained one
    assert after.training["val_loss"] == alone.training["val_loss"] == dec.training["val_loss"]


def test_run_invert__a_decoder_saved_for_other_client_weights_is_not_used(tmp_path: Path) -> None:
    ckpt = hand_checkpoint(tmp_path / "best.pt")
    dec = run_invert(ckpt, invert_settings(ckpt, **FAST), lpips_weights=tmp_path / "none.pt")
    run = RunDir(tmp_path)
    assert read_decoder(run, dec.attack_id, client_digest="another client") is None
    decoder_path(run, dec.attack_id).write_bytes(b"not safetensors")
    assert read_decoder(run, dec.attack_id, client_digest="x") is None
    hyb = run_invert(ckpt, invert_settings(ckpt, kind="hybrid", hybrid_steps=2, **FAST),
                     lpips_weights=tmp_path / "none.pt")
    assert not hyb.training["decoder_reused"]


def test_run_invert__a_prior_of_the_same_key_is_copied_from_another_cell_and_never_across_shapes(
        tmp_path: Path) -> None:
    for name, depth in (("a", 1), ("b", 3), ("c", 7)):    # depths 1 and 3 both send 8×32×32 at width 0.125
        (tmp_path / name).mkdir()
        hand_checkpoint(tmp_path / name / "best.pt", depth=depth)
    settings = lambda d: invert_settings(tmp_path / d / "best.pt", kind="prior", **FAST)  # noqa: E731
    first = run_invert(tmp_path / "a" / "best.pt", settings("a"), lpips_weights=tmp_path / "none.pt")
    assert "shared_from" not in first.threat_model and first.settings["shared_key"]
    others = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    copy = run_invert(tmp_path / "b" / "best.pt", settings("b"), lpips_weights=tmp_path / "none.pt",
                      share_from=others)
    assert copy.threat_model["shared_from"] == str(tmp_path / "a")
    assert copy.threat_model["checkpoint"] == str(tmp_path / "b" / "best.pt")
    assert copy.metrics == first.metrics and RunDir(tmp_path / "b").attack_png(copy.attack_id).is_file()
    deeper = run_invert(tmp_path / "c" / "best.pt", settings("c"), lpips_weights=tmp_path / "none.pt",
                        share_from=others)                  # another activation shape: computed anew
    assert "shared_from" not in deeper.threat_model and deeper.settings["shared_key"] != first.settings["shared_key"]


def test_run_invert__substitute_is_dispatched_with_the_agreed_signature(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = hand_checkpoint(tmp_path / "best.pt")
    calls: list[dict] = []

    def fake(client, cfg, train, test, aux_idx, tgt_idx, *, mean, std, lpips, progress) -> AttackResult:
        calls.append(dict(n_aux=len(aux_idx), n_tgt=len(tgt_idx), kind=cfg.attack.kind))
        gt = test[tgt_idx].float() / 255
        return AttackResult(reconstructions=gt * 0.5, targets=gt, metrics=summarize(gt * 0.5, gt),
                            activation_shape=(8, 32, 32))

    monkeypatch.setitem(sys.modules, "sflaudit.attacks.substitute", types.SimpleNamespace(run_substitute=fake))
    doc = run_invert(ckpt, invert_settings(ckpt, kind="substitute", **FAST), lpips_weights=tmp_path / "none.pt")
    assert doc.attack_id.startswith("substitute-") and calls == [dict(n_aux=50, n_tgt=8, kind="substitute")]
    tm = doc.threat_model
    assert (tm["client_weights"], tm["training_activations"], tm["target_activations"]) == (False, True, True)


def test_threat_model__what_each_kind_holds() -> None:
    held = {k: (threat_model(k, aux_images=9)["client_weights"], threat_model(k, aux_images=9)["aux_images"])
            for k in attack_names()}
    assert held == {"prior": (False, 9), "decoder": (True, 9), "hybrid": (True, 9), "substitute": (False, 9),
                    "whitebox": (True, 0), "fsha": (False, 9)}
    assert threat_model("fsha", aux_images=9)["attacker"] == "active (malicious) server"
    with pytest.raises(SflauditError, match="attack.kind"):
        threat_model("telepathy", aux_images=0)


def test_activation_shape__mid_block_cut_sums_both_tensors() -> None:
    cfg = load_config(preset="smoke", overrides=["model.depth=2"])
    assert activation_shape(cfg, 32) == (16, 32, 32)   # mid activation + shortcut, 8 channels each
