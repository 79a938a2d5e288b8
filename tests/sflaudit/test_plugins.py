"""The registry mechanism: entry points of installed distributions (a fake one on sys.path), registration rules and
one-line errors; the attack plug-ins' shared settings namespace."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from sflaudit.auditors import ATTACKS, AttackPlugin, ThreatModel, attack_id, register_attack, settings_of
from sflaudit.config import config_from_toml, config_to_toml, load_config
from sflaudit.errors import SflauditError
from sflaudit.plugins import Registry

from fakedist import MEAN_IMAGE, fake_distribution   # tests/fakedist.py

def test_entry_point__a_fake_distribution_adds_an_attack_after_the_builtins(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = fake_distribution(tmp_path / "site", "sflaudit-meanimg", "sfl_meanimg", MEAN_IMAGE,
                             "[sflaudit.attacks]\nmeanimg = sfl_meanimg:PLUGIN\n")
    monkeypatch.syspath_prepend(str(root))
    registry: Registry[AttackPlugin] = Registry("sflaudit.attacks", "attack", key="attack.kind")
    assert registry.names() == ("prior", "decoder", "hybrid", "substitute", "whitebox", "fsha", "meanimg")
    assert registry.get("meanimg").settings().mean_gain == 1.0


def test_entry_point__a_broken_one_is_one_line_naming_its_distribution(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = fake_distribution(tmp_path / "site", "sflaudit-broken", "sfl_broken", "raise ImportError('no numpy 9')\n",
                             "[sflaudit.attacks]\nbroken = sfl_broken:PLUGIN\n")
    monkeypatch.syspath_prepend(str(root))
    with pytest.raises(SflauditError) as exc:
        Registry("sflaudit.attacks", "attack").names()
    assert str(exc.value) == ("the attack plug-in 'broken' of sflaudit-broken failed to load (sfl_broken:PLUGIN): "
                              "no numpy 9")


def test_entry_point__its_name_must_be_the_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = fake_distribution(tmp_path / "site", "sflaudit-meanimg", "sfl_meanimg2", MEAN_IMAGE,
                             "[sflaudit.attacks]\nother = sfl_meanimg2:PLUGIN\n")
    monkeypatch.syspath_prepend(str(root))
    with pytest.raises(SflauditError, match="entry point 'other' .* gives a plug-in named 'meanimg'"):
        Registry("sflaudit.attacks", "attack").names()


@dataclass(frozen=True)
class _EpochsAgain:
    epochs: int = 7                  # the decoder's ``epochs`` already means 50 by default


def _plugin(name: str, settings: type) -> AttackPlugin:
    return AttackPlugin(name=name, settings=settings, run=lambda *a, **k: None,
                        threat=ThreatModel(holds=(), client_weights=False, uses_aux=False, target_activations=False))


def test_register__a_setting_name_means_one_thing_and_names_are_unique() -> None:
    with pytest.raises(SflauditError, match="declares setting 'epochs' as .* already declares it"):
        register_attack(_plugin("clash", _EpochsAgain))
    assert "clash" not in ATTACKS
    with pytest.raises(SflauditError, match="an attack named 'decoder' is already registered"):
        register_attack(_plugin("decoder", _EpochsAgain))
    with pytest.raises(SflauditError, match="needs a name that is an identifier"):
        register_attack(_plugin("two words", _EpochsAgain))


def test_unknown_kind__one_line_listing_the_registered_ones() -> None:
    with pytest.raises(SflauditError, match=r"attack.kind = 'telepathy' is not one of prior, decoder, hybrid"):
        load_config(preset="smoke", overrides=["attack.kind=telepathy"])


def test_settings__flat_namespace_typed_per_plugin_and_config_round_trip() -> None:
    cfg = load_config(preset="smoke", overrides=["attack.kind=hybrid", "attack.hybrid_steps=7"])
    assert cfg.attack.settings["hybrid_steps"] == 7 and cfg.attack.epochs == 2        # smoke preset's epochs
    hybrid = settings_of("hybrid", cfg.attack.settings)
    assert (hybrid.hybrid_steps, hybrid.epochs, hybrid.whitebox_steps if hasattr(hybrid, "whitebox_steps")
            else None) == (7, 2, None)
    assert config_from_toml(config_to_toml(cfg)) == cfg
    text = config_to_toml(cfg)
    assert "whitebox_steps = 20" in text and "substitute_budget = 0.75" in text        # every setting written
    assert attack_id("whitebox", cfg.attack.settings) == "whitebox-steps20-lr0.05-tv0.01-n16-clean"
    with pytest.raises(SflauditError, match=r"attack.epochs must be an integer"):
        load_config(preset="smoke", overrides=["attack.epochs=1.5"])
