"""Config: TOML round trip, presets, overrides and one-line errors."""

from pathlib import Path

import pytest

from sflaudit.config import PRESETS, Config, config_from_toml, config_to_toml, load_config
from sflaudit.errors import SflauditError


@pytest.mark.parametrize("preset", PRESETS)
def test_round_trip__toml_to_config_to_toml_is_identical(preset: str) -> None:
    text = config_to_toml(load_config(preset=preset))
    assert config_to_toml(config_from_toml(text)) == text


def test_defaults__demo_preset_without_file_or_preset() -> None:
    assert load_config() == load_config(preset="demo")


def test_override__dotted_set_parses_types() -> None:
    cfg = load_config(preset="smoke", overrides=["sfl.clients=5", "sfl.method=mocosfl", "optim.lr=0.1",
                                                 "optim.channels_last=true"])
    assert (cfg.sfl.clients, cfg.sfl.method, cfg.optim.lr, cfg.optim.channels_last) == (5, "mocosfl", 0.1, True)


def test_override__int_accepted_for_float_field() -> None:
    assert load_config(preset="smoke", overrides=["optim.lr=1"]).optim.lr == 1.0


def test_file__overrides_preset_and_set_overrides_file(tmp_path: Path) -> None:
    f = tmp_path / "run.toml"
    f.write_text('[model]\ndepth = 5\n[sfl]\nclients = 3\n')
    cfg = load_config(f, "smoke", ["sfl.clients=4"])
    assert (cfg.model.depth, cfg.sfl.clients, cfg.model.width) == (5, 4, 0.125)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sfl.nope=1", "unknown config key sfl.nope"),
        ("nope.x=1", "unknown config section 'nope'"),
        ("sfl.clients=two", "sfl.clients must be an integer"),
        ("sfl.clients=0", "sfl.clients = 0 is out of range [1, inf)"),
        ("sfl.sampling_ratio=1.5", "sfl.sampling_ratio = 1.5 is out of range (0, 1]"),
        ("sfl.method=fedavg", "sfl.method = 'fedavg' is not one of mocosfl, monacosfl"),
        ("sfl.momentum_sync_every=0", "sfl.momentum_sync_every = 0 is out of range [1, inf)"),
        ("model.depth=18", "depth 18 is out of range for resnet18 (1..17)"),
        ("optim.channels_last=1", "optim.channels_last must be true or false"),
        ("data.dataset=imagenet", "data.dataset = 'imagenet' is not one of"),
        ("clients=3", "--set expects section.field=value"),
    ],
)
def test_validation__bad_input_gives_one_line_error(override: str, message: str) -> None:
    with pytest.raises(SflauditError) as err:
        load_config(preset="smoke", overrides=[override])
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_validation__monacosfl_requires_moco_v2() -> None:
    with pytest.raises(SflauditError, match="requires V2"):
        load_config(preset="smoke", overrides=["ssl.moco_version=V1"])
    assert load_config(preset="smoke", overrides=["sfl.method=mocosfl", "ssl.moco_version=V1"]).ssl.moco_version == "V1"


def test_momentum_sync_every__defaults_to_every_sync_and_round_trips() -> None:
    cfg = load_config(preset="smoke", overrides=["sfl.momentum_sync_every=3"])
    assert Config().sfl.momentum_sync_every == 1
    assert config_from_toml(config_to_toml(cfg)).sfl.momentum_sync_every == 3


def test_file__missing_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(SflauditError, match="does not exist"):
        load_config(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[sfl\nclients=")
    with pytest.raises(SflauditError, match="not valid TOML"):
        load_config(bad)


def test_unknown_preset_lists_valid_ones() -> None:
    with pytest.raises(SflauditError, match="valid: smoke, demo"):
        load_config(preset="huge")


def test_saved_config_reloads_equal() -> None:
    cfg = load_config(preset="paper-resnet18-20c")
    assert config_from_toml(config_to_toml(cfg)) == cfg
    assert isinstance(cfg, Config)
