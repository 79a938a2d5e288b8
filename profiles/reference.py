"""The reference ``overhead_calculator.py`` (protocol §6.1–6.2), kept formula for formula for paper comparisons.

Its omissions are deliberate (protocol §9 Q8): no key activations, no momentum sync, no download of the synced
weights, one weight copy per sync, fp32 only; "MB" are MiB and "FLOPs" multiply-adds. The full accounting is in
:mod:`sflaudit.profiles.traffic`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReferenceOverhead:
    """What the reference ``overhead_calculator.py`` prints (protocol §6.1; MB = MiB of fp32 elements)."""

    params: int
    activation: int
    model_mb: float
    activation_mb: float
    total_mb: float
    client_mflops_per_image: float | None = None      # 3·fwd / 2²⁰
    total_client_gflops: float | None = None          # 3·epochs·images·fwd / 1024³
    total_server_gflops: float | None = None          # N·(epochs // sync)·(2·fwd_server + P) / 1024³


def reference_overhead(
    params: int,
    activation: int,
    *,
    epochs: int = 200,
    images_per_client: int = 50,
    sync_frequency: int = 1,
    num_clients: int = 1000,
    client_fwd_flops: int | None = None,
    server_fwd_flops: int | None = None,
) -> ReferenceOverhead:
    """The reference calculator's numbers, defaults = the MonAcoSFL calculator's (protocol §6.1–6.2).

    The formulas keep the reference's omissions on purpose (protocol §9 Q8): no key activations, no momentum
    sync, no download of synced weights, one copy per sync; "FLOPs" are multiply-adds.

    Args:
        params: P, elements of the client state_dict.
        activation: A, elements the client sends per image.
        client_fwd_flops, server_fwd_flops: forward FLOPs per image (server incl. pooling and projector); the
            FLOP fields are ``None`` unless given.
    """
    mib = 1024**2
    gib = 1024**3
    syncs = epochs // sync_frequency
    model_mb = syncs * params * 4 / mib
    activation_mb = 2 * epochs * images_per_client * activation * 4 / mib
    client_m = client_g = server_g = None
    if client_fwd_flops is not None:
        client_m = 3 * client_fwd_flops / mib
        client_g = 3 * epochs * images_per_client * client_fwd_flops / gib
    if server_fwd_flops is not None:
        server_g = num_clients * syncs * (2 * server_fwd_flops + params) / gib
    return ReferenceOverhead(
        params=params,
        activation=activation,
        model_mb=model_mb,
        activation_mb=activation_mb,
        total_mb=model_mb + activation_mb,
        client_mflops_per_image=client_m,
        total_client_gflops=client_g,
        total_server_gflops=server_g,
    )
