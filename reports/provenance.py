"""Where a report came from: sflaudit version, git commit, date, machine, and the training/attack budget in words."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sflaudit.config import Config


def git_commit(where: Path | None = None) -> str | None:
    """Short commit of the source tree sflaudit runs from (``+dirty`` with local changes); None outside git."""
    root = where or Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return sha.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def _memory_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024 ** 3
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """The machine rendering the report (the sweep's cells may have run elsewhere, e.g. on a Ray cluster)."""
    import torch

    mem = _memory_gib()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"platform": platform.platform(), "cpu": _cpu_name(), "cpu_count": os.cpu_count(),
            "memory_gib": round(mem, 1) if mem else None, "gpu": gpu, "python": platform.python_version(),
            "torch": torch.__version__}


def budget_text(cfg: Config, preset: str | None, steps_per_epoch: int | None = None) -> str:
    """The training and attack budget in one sentence (a demo preset says it is a demo budget)."""
    effective = cfg.optim.epochs * max(1, int(1 / cfg.sfl.sampling_ratio))
    steps = f" × {steps_per_epoch} steps" if steps_per_epoch else ""
    a = cfg.attack
    attack = (f"attack decoders trained up to {a.epochs} epoch(s) (early stop after {a.patience} without "
              f"improvement) on {a.aux_fraction:g} of the training split, hybrid refinement up to {a.hybrid_steps} "
              f"steps, white-box {a.whitebox_steps} steps")
    text = (f"{cfg.optim.epochs} base epochs ({effective} effective{steps}), {cfg.sfl.clients} clients, batch "
            f"{cfg.sfl.batch} per client, sampling ratio {cfg.sfl.sampling_ratio:g}, {cfg.data.fraction:g} of the "
            f"training split; linear probe {cfg.eval.linear_epochs} epoch(s); {attack}, {cfg.attack.targets} "
            f"target images")
    if preset in ("demo", "smoke"):
        return (f"{preset} budget — {text}. A {preset} budget is sized to finish in minutes on a CPU; its numbers "
                f"show trends across depths, not paper-grade accuracies.")
    return f"{preset + ' preset — ' if preset else ''}{text}."


def provenance(cfg: Config, *, preset: str | None, config_path: str | None, overrides: list[str],
               steps_per_epoch: int | None = None) -> dict[str, Any]:
    """Everything the report's provenance section shows, as plain values."""
    import sflaudit

    return {"version": sflaudit.__version__, "commit": git_commit(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "dataset": cfg.data.dataset,
            "arch": cfg.model.arch, "width": cfg.model.width, "preset": preset, "config_path": config_path,
            "overrides": list(overrides), "budget": budget_text(cfg, preset, steps_per_epoch),
            "machine": machine()}
