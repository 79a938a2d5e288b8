"""Backbones (ResNet-18/34, MobileNetV2; GroupNorm + weight standardisation) and their split at a cut depth."""

from sflaudit.models.cuts import (
    ARCHS,
    CutInfo,
    SplitModel,
    build_backbone,
    check_depth,
    cut_info,
    depth_range,
    depth_table,
    feature_dim,
    reference_cut_to_depth,
    split_model,
)
from sflaudit.models.layers import Chain, WSConv2d, group_norm, init_weights, scale_channels

__all__ = [
    "ARCHS",
    "Chain",
    "CutInfo",
    "SplitModel",
    "WSConv2d",
    "build_backbone",
    "check_depth",
    "cut_info",
    "depth_range",
    "depth_table",
    "feature_dim",
    "group_norm",
    "init_weights",
    "reference_cut_to_depth",
    "scale_channels",
    "split_model",
]
