"""What a curious (or malicious) server can learn: the attack plug-ins and their implementations.

Re-exports are resolved lazily (:mod:`sflaudit.lazy`), so that reading the attack plug-ins' declarations
(:mod:`sflaudit.attacks.builtin`, loaded whenever a config is parsed) does not import torch.
"""

from sflaudit.lazy import lazy_exports

__all__, __getattr__ = lazy_exports("sflaudit.attacks", {
    "decoders": ("build_decoder", "parse_decoder_name"),
    "lpips_weights": ("convert_alexnet_ckpt", "default_weights_path", "ensure_lpips_weights"),
    "metrics": ("LpipsScorer", "LpipsUnavailable", "summarize"),
    "whitebox": ("whitebox_invert",),
})
