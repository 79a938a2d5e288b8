"""Run setup helpers: native-bf16 detection, the precision warning and loading client 0 of a checkpoint."""

from __future__ import annotations

import pytest
import torch

from sflaudit.artifacts import Checkpoint
from sflaudit.config import config_to_toml, load_config
from sflaudit.errors import SflauditError
from sflaudit.models import split_model
from sflaudit.sfl import setup
from sflaudit.sfl.setup import cpu_has_native_bf16, load_client0, precision_warning

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


def _checkpoint(cfg_overrides: list[str]) -> Checkpoint:
    """A checkpoint whose client 0 holds recognisable weights (every float entry = 0.5) of the config's client."""
    cfg = load_config(preset="smoke", overrides=cfg_overrides)
    client = split_model(cfg.model.arch, cfg.model.depth, width=cfg.model.width).client
    state = {k: torch.full_like(v, 0.5) if v.is_floating_point() else v for k, v in client.state_dict().items()}
    return Checkpoint(config=config_to_toml(cfg), step=0, epoch=0, batch=0, clients_online=[state],
                      clients_momentum=[state], server_online={}, server_momentum={}, queue=torch.zeros(1, 1),
                      queue_ptr=0, knn=None)


def test_load_client0__weights_of_client_0_frozen_in_eval_mode() -> None:
    cfg = load_config(preset="smoke", overrides=["run.device=cpu"])
    client = load_client0(_checkpoint([]), cfg, input_size=32)
    assert not client.training and not any(p.requires_grad for p in client.parameters())
    assert all(p.device.type == "cpu" and bool((p == 0.5).all()) for p in client.parameters())


def test_load_client0__weights_that_do_not_fit_are_a_one_line_error() -> None:
    cfg = load_config(preset="smoke", overrides=["model.depth=9"])
    with pytest.raises(SflauditError, match=r"^incompatible checkpoint x\.pt: client 0's weights do not fit "
                                            r"resnet18 depth 9 width 0\.125") as err:
        load_client0(_checkpoint([]), cfg, input_size=32, source="x.pt")
    assert "\n" not in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_load_client0__follows_the_one_device_rule() -> None:
    cfg = load_config(preset="smoke", overrides=["run.device=cuda"])
    with pytest.raises(SflauditError, match="no CUDA device"):
        load_client0(_checkpoint([]), cfg, input_size=32)
