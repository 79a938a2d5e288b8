"""The threat-model section's defence notes: one per defence the sweep uses, DP-SGD stated as not covering activations."""

from __future__ import annotations

from reports.threats import defence_notes
from sflaudit.config import load_config


def test_defence_notes__one_per_used_defence_with_its_values() -> None:
    cfg = load_config(preset="smoke", overrides=["defence.quantize=int8"])
    notes = defence_notes(cfg, [("defence.dp_epsilon", ["0", "8"]), ("sfl.avg_freq", ["1", "4"])])
    assert [(n["name"], n["values"]) for n in notes] == [("quantize", "int8"), ("dp_epsilon", "8")]
    assert "NOT privatise the forward activations" in notes[1]["text"]
    assert defence_notes(load_config(preset="smoke"), []) == []
