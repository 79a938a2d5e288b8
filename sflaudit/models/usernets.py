"""The user's own network: ``model.arch = "torchvision:<builder>"`` or ``"package.module:callable"``.

* ``torchvision:<builder>``: any torchvision classification builder (``torchvision.models.list_models``), randomly
  initialised (``weights=None``: nothing downloads); its classification head — the last ``nn.Linear`` — is
  replaced by the identity, so the backbone returns the features the projector reads.
* ``package.module:callable``: a factory the user writes, called with no argument, returning an ``nn.Module``
  that maps B×3×S×S images to B×F features (or B×C×h×w maps, pooled on the server).

Then, in order: ``model.weights`` (a ``.safetensors`` file, or a ``torch.save`` state dict read with
``weights_only=True``) is loaded — with the torchvision head when the file has one; torchvision's stochastic depth
is switched off (a traced graph would freeze its training flag); and with ``model.norm = "groupnorm"`` (the
default) every BatchNorm becomes a GroupNorm through Opacus's ``ModuleValidator.fix`` — federated clients share no
batch statistics, and the paper's backbones use GroupNorm. ``model.norm = "batchnorm"`` keeps BatchNorm.
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path

import torch
from torch import nn

from sflaudit.errors import SflauditError

NORMS: tuple[str, ...] = ("groupnorm", "batchnorm")


def is_graph_arch(arch: str) -> bool:
    """``torchvision:…`` and ``package.module:callable`` names are cut from a traced graph."""
    return isinstance(arch, str) and ":" in arch


def torchvision_builders() -> list[str]:
    """The classification builders ``torchvision:<name>`` accepts."""
    import torchvision.models as tvm

    return sorted(tvm.list_models(module=tvm))


def _torchvision(builder: str) -> nn.Module:
    import torchvision.models as tvm

    names = torchvision_builders()
    if builder not in names:
        close = difflib.get_close_matches(builder, names, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else f" (valid: {', '.join(names)})"
        raise SflauditError(f"unknown torchvision builder {builder!r}{hint}")
    kwargs = {"aux_logits": False, "init_weights": True} if builder in ("googlenet", "inception_v3") else {}
    return tvm.get_model(builder, weights=None, **kwargs)


def _user(arch: str) -> nn.Module:
    module_name, _, attr = arch.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 — an import of user code can raise anything
        raise SflauditError(f"model.arch {arch!r}: cannot import {module_name!r}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(target, part):
            raise SflauditError(f"model.arch {arch!r}: {module_name} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise SflauditError(f"model.arch {arch!r}: {attr} is not callable")
    try:
        net = target()
    except Exception as exc:  # noqa: BLE001
        raise SflauditError(f"model.arch {arch!r}: {attr}() failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(net, nn.Module):
        raise SflauditError(f"model.arch {arch!r}: {attr}() returned {type(net).__name__}, not an nn.Module")
    return net


def _read_weights(path: str) -> dict[str, torch.Tensor]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise SflauditError(f"model.weights {path!r}: no such file")
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(file))
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 — a corrupt file is bad input
        raise SflauditError(f"model.weights {path!r}: cannot read it: {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SflauditError(f"model.weights {path!r}: not a state dict of tensors")
    return state


def _last_linear(net: nn.Module) -> str | None:
    names = [name for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    return names[-1] if names else None


def _drop_head(net: nn.Module) -> None:
    """Replace the classification head (the last nn.Linear) by the identity."""
    head = _last_linear(net)
    if head is not None:
        parent, _, leaf = head.rpartition(".")
        setattr(net.get_submodule(parent) if parent else net, leaf, nn.Identity())


def _load(net: nn.Module, state: dict[str, torch.Tensor], path: str) -> None:
    result = net.load_state_dict(state, strict=False)
    bad = [*result.missing_keys, *result.unexpected_keys]
    if bad:
        raise SflauditError(f"model.weights {path!r} does not fit the network: {len(result.missing_keys)} missing "
                            f"and {len(result.unexpected_keys)} unexpected keys (e.g. {bad[0]})")


def _no_stochastic_depth(net: nn.Module) -> None:
    from torchvision.ops import StochasticDepth

    for name, m in list(net.named_modules()):
        if isinstance(m, StochasticDepth):
            parent, _, leaf = name.rpartition(".")
            setattr(net.get_submodule(parent) if parent else net, leaf, nn.Identity())


def build_network(arch: str, *, norm: str = "groupnorm", weights: str = "") -> nn.Module:
    """The backbone of ``model.arch`` (freshly initialised from torch's RNG unless `weights` names a file).

    Returns a module mapping B×3×S×S → B×F or B×C×h×w, with ``norm`` applied (see the module doc).
    """
    if norm not in NORMS:
        raise SflauditError(f"model.norm {norm!r} is not one of {', '.join(NORMS)}")
    kind, _, builder = arch.partition(":")
    net = _torchvision(builder) if kind == "torchvision" else _user(arch)
    if kind == "torchvision":
        if weights:
            state = _read_weights(weights)
            head = _last_linear(net)
            if head is not None and not any(k.startswith(head + ".") for k in state):
                _drop_head(net)
            _load(net, state, weights)
        _drop_head(net)
    elif weights:
        _load(net, _read_weights(weights), weights)
    _no_stochastic_depth(net)
    if norm == "groupnorm" and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules()):
        from opacus.validators import ModuleValidator

        net = ModuleValidator.fix(net)
    return net
