"""Run setup helpers: native-bf16 detection and the precision warning."""

from __future__ import annotations

import pytest
import torch

from sflaudit.config import load_config
from sflaudit.sfl import setup
from sflaudit.sfl.setup import cpu_has_native_bf16, precision_warning

EMULATED = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\n"
NATIVE = "processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_tile\n"


def test_cpu_has_native_bf16__reads_the_flags_line() -> None:
    assert cpu_has_native_bf16(EMULATED) is False
    assert cpu_has_native_bf16(NATIVE) is True
    assert cpu_has_native_bf16("model name: something\n") is None


def test_precision_warning__only_for_bf16_on_an_emulating_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    bf16 = load_config(preset="smoke", overrides=['optim.precision="bf16"'])
    fp32 = load_config(preset="smoke")
    monkeypatch.setattr(setup, "cpu_has_native_bf16", lambda: False)
    message = precision_warning(bf16, torch.device("cpu"))
    assert message is not None and message.startswith("warning:") and "\n" not in message
    assert precision_warning(fp32, torch.device("cpu")) is None
    assert precision_warning(bf16, torch.device("cuda")) is None
    monkeypatch.setattr(setup, "cpu_has_native_bf16", lambda: True)
    assert precision_warning(bf16, torch.device("cpu")) is None
