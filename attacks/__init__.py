"""Inversion attacks on cut-layer activations and the metrics that score them (DESIGN.md §6)."""

from attacks.decoders import build_decoder, parse_decoder_name
from attacks.lpips_weights import convert_alexnet_ckpt, default_weights_path, ensure_lpips_weights
from attacks.metrics import LpipsScorer, LpipsUnavailable, summarize
from attacks.whitebox import whitebox_invert

__all__ = [
    "LpipsScorer",
    "LpipsUnavailable",
    "build_decoder",
    "convert_alexnet_ckpt",
    "default_weights_path",
    "ensure_lpips_weights",
    "parse_decoder_name",
    "summarize",
    "whitebox_invert",
]
