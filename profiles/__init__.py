"""Analytic and measured costs of a cut: bytes on the wire, FLOPs, parameters, client memory."""

from sflaudit.profiles.depths import parse_depths, range_text
from sflaudit.profiles.devices import DEVICES, Device, calibrate, parse_flops, resolve_device
from sflaudit.profiles.flops import FlopCount, SplitFlops, count_flops, cut_flops, moco_projector, split_flops
from sflaudit.profiles.links import LINKS, Link, parse_link, resolve_link
from sflaudit.profiles.memory import MemoryProfile, client_step_memory
from sflaudit.profiles.reference import ReferenceOverhead, reference_overhead
from sflaudit.profiles.runtraffic import RunTraffic, ScheduleLike, run_traffic, run_traffic_for_schedule
from sflaudit.profiles.table import SYMMETRIC_MODES, profile_row, profile_rows
from sflaudit.profiles.timemodel import (
    Node,
    RunTime,
    StepWork,
    TimeSplit,
    row_run_time,
    run_hours,
    run_time,
    step_time,
    step_work,
    sync_time,
    time_columns,
)
from sflaudit.profiles.traffic import (
    KINDS,
    METHODS,
    StepTraffic,
    SyncTraffic,
    activation_traffic,
    rows_per_client,
    state_dict_bytes,
    step_traffic,
    sync_traffic,
    wire_dtype_bytes,
)

__all__ = [
    "DEVICES",
    "KINDS",
    "LINKS",
    "METHODS",
    "Device",
    "FlopCount",
    "Link",
    "MemoryProfile",
    "Node",
    "ReferenceOverhead",
    "RunTime",
    "RunTraffic",
    "SYMMETRIC_MODES",
    "ScheduleLike",
    "SplitFlops",
    "StepTraffic",
    "StepWork",
    "SyncTraffic",
    "TimeSplit",
    "activation_traffic",
    "calibrate",
    "client_step_memory",
    "count_flops",
    "cut_flops",
    "moco_projector",
    "parse_depths",
    "parse_flops",
    "parse_link",
    "profile_row",
    "profile_rows",
    "range_text",
    "reference_overhead",
    "resolve_device",
    "resolve_link",
    "row_run_time",
    "rows_per_client",
    "run_hours",
    "run_time",
    "run_traffic",
    "run_traffic_for_schedule",
    "split_flops",
    "state_dict_bytes",
    "step_time",
    "step_traffic",
    "step_work",
    "sync_time",
    "sync_traffic",
    "time_columns",
    "wire_dtype_bytes",
]
