"""The ``sflaudit`` command line: thin wrappers that parse → resolve the config → call library code → print.

Heavy modules are imported inside the commands so that ``sflaudit --help`` stays fast. Every
:class:`~sflaudit.errors.SflauditError` becomes one ``error: …`` line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from sflaudit.errors import SflauditError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train split-federated SSL models (MocoSFL, MonAcoSFL) and audit privacy, accuracy and "
                       "bandwidth per cut depth.")

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML config file (see presets).")]
PresetOpt = Annotated[Optional[str], typer.Option("--preset", help="smoke | demo | paper-resnet18-20c | "
                                                  "paper-mobilenetv2-20c (default demo without --config).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: --set sfl.clients=5.")]


def _config(config: Path | None, preset: str | None, sets: list[str] | None, **flags: object):
    """Resolve preset/file/--set and the command's convenience flags (flags win)."""
    from sflaudit.config import load_config

    overrides = list(sets or [])
    mapping = {"method": "sfl.method", "depth": "model.depth", "arch": "model.arch", "dataset": "data.dataset",
               "data_dir": "data.data_dir", "precision": "optim.precision", "epochs": "optim.epochs",
               "device": "run.device", "seed": "run.seed"}
    for name, value in flags.items():
        if value is None:
            continue
        if isinstance(value, bool):
            overrides.append(f"{mapping[name]}={'true' if value else 'false'}")
        elif isinstance(value, str):
            overrides.append(f'{mapping[name]}="{value}"')
        else:
            overrides.append(f"{mapping[name]}={value}")
    return load_config(config, preset, overrides)


def _console():
    from rich.console import Console

    return Console(stderr=True)


@app.command()
def train(
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    method: Annotated[Optional[str], typer.Option(help="mocosfl | monacosfl")] = None,
    depth: Annotated[Optional[int], typer.Option(help="Cut depth (client main-path conv layers).")] = None,
    arch: Annotated[Optional[str], typer.Option(help="resnet18 | resnet34 | mobilenetv2")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="photos | digits | cifar10 | cifar100 | npz:PATH | "
                                                        "folder:PATH")] = None,
    data_dir: Annotated[Optional[str], typer.Option(help="Folder of torchvision datasets.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Base epochs.")] = None,
    precision: Annotated[Optional[str], typer.Option(help="fp32 | bf16")] = None,
    channels_last: Annotated[Optional[bool], typer.Option("--channels-last/--no-channels-last")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto | cpu | cuda")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run directory (default runs/<method>-<arch>-d<depth>).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite a finished run.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Train MocoSFL/MonAcoSFL; writes a run directory (config.toml, metrics.jsonl, traffic.json, ckpt.pt, ...)."""
    sets = list(set_ or [])
    if channels_last is not None:
        sets.append(f"optim.channels_last={'true' if channels_last else 'false'}")
    cfg = _config(config, preset, sets, method=method, depth=depth, arch=arch, dataset=dataset, data_dir=data_dir,
                  epochs=epochs, precision=precision, device=device)
    run_dir = out or Path("runs") / f"{cfg.sfl.method}-{cfg.model.arch}-d{cfg.model.depth}"
    from sflaudit.jobs import run_training

    summary = run_training(cfg, run_dir, force=force, quiet=quiet, console=_console())
    _print_summary(summary, run_dir)


def _print_summary(summary: dict, run_dir: Path) -> None:
    knn = summary.get("knn_best")
    probe = summary.get("linear_probe_best")
    parts = [f"run complete: {run_dir}", f"kNN best {knn:.2f}%" if knn is not None else "kNN n/a"]
    if probe is not None:
        parts.append(f"linear probe {probe:.2f}% (last {summary['linear_probe_last']:.2f}%)")
    parts.append(f"{summary.get('images_per_s') or 0:.0f} img/s")
    typer.echo(" | ".join(parts))


@app.command("eval")
def eval_(
    checkpoint: Annotated[Path, typer.Option(help="ckpt.pt or best.pt of a run.")],
    linear_epochs: Annotated[Optional[int], typer.Option(help="Linear-probe epochs (default from the config).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Where to write eval.json (default beside the checkpoint).")] = None,
) -> None:
    """Run the kNN monitor and the linear probe on a checkpoint; writes eval.json."""
    from sflaudit.jobs import evaluate_checkpoint

    result = evaluate_checkpoint(checkpoint, linear_epochs=linear_epochs, out=out)
    typer.echo(" | ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()))


def main() -> None:
    """Console-script entry point: one-line errors, exit code 2."""
    try:
        app(standalone_mode=False)
    except SflauditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: the run directory keeps its last checkpoint; run the same command to resume",
              file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
