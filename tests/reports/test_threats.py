"""The threat-model section's defence notes: one per defence the sweep uses, DP-SGD stated as not covering activations."""

from __future__ import annotations

from sflaudit.reports.threats import attack_text, defence_notes
from sflaudit.config import load_config


def test_defence_notes__one_per_used_defence_with_its_values() -> None:
    cfg = load_config(preset="smoke", overrides=["defence.quantize=int8"])
    notes = defence_notes(cfg, [("defence.dp_epsilon", ["0", "8"]), ("sfl.avg_freq", ["1", "4"])])
    assert [(n["name"], n["values"]) for n in notes] == [("quantize", "int8"), ("dp_epsilon", "8")]
    assert "NOT privatise the forward activations" in notes[1]["text"]
    assert defence_notes(load_config(preset="smoke"), []) == []


def test_attack_text__substitute_states_its_step_budget() -> None:
    settings = {"kind": "substitute", "decoder": "res_normN4C64", "epochs": 30, "batch": 32, "lr": 0.001,
                "substitute_steps": 1000, "substitute_budget": 0.75}
    assert "at most 1000 steps, fewer where 0.75 of the inverse network's arithmetic is less" in attack_text(settings)
    assert "fewer where" not in attack_text({**settings, "substitute_budget": 0.0})
