"""Analytic and measured costs of a cut: bytes on the wire, FLOPs, parameters, client memory (DESIGN §5)."""

from profiles.depths import parse_depths, range_text
from profiles.flops import FlopCount, SplitFlops, count_flops, cut_flops, moco_projector, split_flops
from profiles.memory import MemoryProfile, client_step_memory
from profiles.reference import ReferenceOverhead, reference_overhead
from profiles.table import SYMMETRIC_MODES, profile_row, profile_rows
from profiles.traffic import (
    KINDS,
    METHODS,
    RunTraffic,
    ScheduleLike,
    StepTraffic,
    SyncTraffic,
    activation_traffic,
    rows_per_client,
    run_traffic,
    run_traffic_for_schedule,
    state_dict_bytes,
    step_traffic,
    sync_traffic,
    wire_dtype_bytes,
)

__all__ = [
    "KINDS",
    "METHODS",
    "FlopCount",
    "MemoryProfile",
    "ReferenceOverhead",
    "RunTraffic",
    "SYMMETRIC_MODES",
    "ScheduleLike",
    "SplitFlops",
    "StepTraffic",
    "SyncTraffic",
    "activation_traffic",
    "client_step_memory",
    "count_flops",
    "cut_flops",
    "moco_projector",
    "parse_depths",
    "profile_row",
    "profile_rows",
    "range_text",
    "reference_overhead",
    "rows_per_client",
    "run_traffic",
    "run_traffic_for_schedule",
    "split_flops",
    "state_dict_bytes",
    "step_traffic",
    "sync_traffic",
    "wire_dtype_bytes",
]
