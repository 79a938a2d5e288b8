"""``data.image_size``: every split a run loads resized once to S×S, part of the training identity (0 = native size,
every existing identity unchanged), and ``sflaudit profile --input-size`` planning without the dataset on disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from sflaudit.config import Config, load_config
from sflaudit.data import load_dataset
from sflaudit.data.images import ImageSet, resize_images
from sflaudit.errors import SflauditError
from sflaudit.memo import stage_memo
from sflaudit.sfl.setup import client_split, load_run_data
from sflaudit.stages import identity_differences, training_id, training_identity

# training_id of these configs computed by the code before data.image_size existed (commit 5d1787c): run directories
# recorded then must still be found
OLD_IDS = {"default": "train-2ba904f26068", "demo": "train-df516ec165b8", "smoke": "train-54d22229353e"}


def smoke(*overrides: str) -> Config:
    return load_config(preset="smoke", overrides=list(overrides))


def test_photos_resized_to_48__both_splits_keep_uint8_and_the_normalisation() -> None:
    native = load_dataset("photos")
    data = load_dataset("photos", image_size=48)
    for split, before in ((data.train, native.train), (data.test, native.test)):
        assert split.x.shape == (len(before), 48, 48, 3) and split.x.dtype == np.uint8
        assert np.array_equal(split.y, before.y)
    assert (data.mean, data.std, data.classes) == (native.mean, native.std, native.classes)
    # bilinear upscaling keeps each image's overall brightness (rounding aside)
    assert np.allclose(data.train.x.mean(axis=(1, 2)), native.train.x.mean(axis=(1, 2)), atol=2.0)


def test_run_data_at_48__nchw_uint8_and_the_model_takes_that_size() -> None:
    cfg = smoke("data.image_size=48")
    data = load_run_data(cfg, np.random.default_rng(cfg.run.seed))
    n, m = len(data.train_labels), len(data.test_labels)
    assert tuple(data.train.shape) == (n, 3, 48, 48) and tuple(data.test.shape) == (m, 3, 48, 48)
    assert data.train.dtype == data.test.dtype == torch.uint8
    split = client_split(cfg, int(data.train.shape[-1]))              # what the trainer builds
    assert split.info.sent != client_split(cfg, 32).info.sent
    with torch.no_grad():
        out = split.client(data.train[:2].float() / 255)
    assert tuple(out.shape[1:]) == tuple(split.info.sent[0])


def test_image_size_0__shapes_unchanged() -> None:
    cfg = smoke()
    assert cfg.data.image_size == 0
    data = load_run_data(cfg, np.random.default_rng(cfg.run.seed))
    assert tuple(data.train.shape[1:]) == (3, 32, 32)
    assert load_dataset("photos", image_size=0).train.x.shape[1:] == (32, 32, 3)


def test_resize__each_source_kind_and_the_same_size_is_a_no_op(tmp_path: Path) -> None:
    x = np.zeros((6, 8, 8, 3), np.uint8)
    x[:, :, 4:] = 255
    np.savez(tmp_path / "all.npz", x=x, y=np.arange(6) % 2)
    data = load_dataset(f"npz:{tmp_path / 'all.npz'}", image_size=20)
    assert data.train.x.shape == (5, 20, 20, 3) and data.test.x.shape == (1, 20, 20, 3)
    assert data.train.x.min() == 0 and data.train.x.max() == 255                 # rounded and clamped to 0..255
    assert load_dataset("digits", image_size=16).test.x.shape[1:] == (16, 16, 3)  # downscaling too (antialiased)
    same = ImageSet(x, np.zeros(6, np.int64))
    assert resize_images(same, 8) is same


def test_memo__a_cell_resizes_its_data_once() -> None:
    cfg = smoke("data.image_size=40")
    with stage_memo() as memo:
        first = load_run_data(cfg, np.random.default_rng(0))
        again = load_run_data(cfg, np.random.default_rng(0))
        load_dataset("photos")                                     # the native size is another value
    assert memo.loads["dataset"] == 2
    assert torch.equal(first.train, again.train) and first.train.shape[-1] == 40


def test_training_identity__default_is_unchanged_and_the_size_is_part_of_it() -> None:
    assert training_id(Config()) == OLD_IDS["default"]
    assert training_id(load_config(preset="demo")) == OLD_IDS["demo"]
    assert training_id(smoke()) == OLD_IDS["smoke"]
    assert "image_size" not in training_identity(smoke())["data"]
    ids = {training_id(smoke(f"data.image_size={s}")) for s in (0, 48, 224)}
    assert len(ids) == 3
    assert identity_differences(smoke(), smoke("data.image_size=48")) == ["data.image_size"]
    assert identity_differences(smoke("data.image_size=48"), smoke()) == ["data.image_size"]
    assert identity_differences(smoke("data.image_size=48"), smoke("data.image_size=48")) == []


@pytest.mark.parametrize("size", [-1, 5000])
def test_validation__out_of_range_sizes_are_one_line_errors(size: int) -> None:
    with pytest.raises(SflauditError, match=r"data.image_size") as err:
        smoke(f"data.image_size={size}")
    assert "\n" not in str(err.value) and "[0, 4096]" in str(err.value)
    assert smoke("data.image_size=4096").data.image_size == 4096


def profile_json(*extra: str) -> list[dict]:
    from sflaudit.cli import app

    args = ["profile", "--arch", "resnet18", "--input-size", "64", "--no-memory", "--depths", "1,3", "--format",
            "json", "--set", "model.width=1.0", *extra]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_profile_input_size__sent_shapes_at_64() -> None:
    rows = {r["depth"]: r for r in profile_json()}
    assert rows[1]["sent"] == [[64, 64, 64]]
    assert all(shape[-2:] == [64, 64] for r in rows.values() for shape in r["sent"])


def test_profile_input_size__needs_no_dataset_on_disk() -> None:
    from sflaudit.cli import app

    rows = profile_json("--set", 'data.dataset="npz:/nonexistent.npz"')
    assert rows[0]["sent"] == [[64, 64, 64]] and rows[0]["run_up_mocosfl"] > 0
    # without --input-size the same config needs the labels, and says so in one line
    res = CliRunner().invoke(app, ["profile", "--depths", "1", "--no-memory", "--format", "json", "--set",
                                   'data.dataset="npz:/nonexistent.npz"'])
    assert res.exit_code != 0 and "not found" in str(res.exception)
