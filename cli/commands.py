"""The ``sflaudit`` command line: thin wrappers that parse → resolve the config → call library code → print.

Heavy modules are imported inside the commands so that ``sflaudit --help`` stays fast. Every
:class:`~sflaudit.errors.SflauditError`, usage error and ``OSError`` becomes one ``error: …`` line on stderr and
exit code 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

from sflaudit.errors import SflauditError, first_line
from sflaudit.cli.options import ConfigOpt, PresetOpt, SetOpt, resolve_config

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train split-federated SSL models (MocoSFL, MonAcoSFL) and audit privacy, accuracy and "
                       "bandwidth per cut depth.")


_config = resolve_config


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
    arch: Annotated[Optional[str], typer.Option(help="resnet18 | resnet34 | mobilenetv2 | a plug-in | "
                                                     "torchvision:NAME | module:callable")] = None,
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
    transport: Annotated[str, typer.Option(help="sim | tcp[,listen=H:P,token-file=F,no-spawn,timeout=S]")] = "sim",
) -> None:
    """Train MocoSFL/MonAcoSFL; writes a run directory (config.toml, metrics.jsonl, traffic.json, ckpt.pt, ...)."""
    sets = list(set_ or [])
    if channels_last is not None:
        sets.append(f"optim.channels_last={'true' if channels_last else 'false'}")
    cfg = _config(config, preset, sets, method=method, depth=depth, arch=arch, dataset=dataset, data_dir=data_dir,
                  epochs=epochs, precision=precision, device=device)
    from sflaudit.api import train as run_train
    from sflaudit.sfl.setup import pick_device, precision_warning

    warning = precision_warning(cfg, pick_device(cfg.run.device))
    if warning:
        typer.echo(warning, err=True)
    result = run_train(cfg, out=out, force=force, transport=transport, quiet=quiet, console=_console())
    _print_summary(result.summary, result.evaluation, result.run_dir)


def _print_summary(summary, evaluation, run_dir: Path) -> None:
    knn = summary.knn_best
    parts = [f"run complete: {run_dir}", f"kNN best {knn:.2f}%" if knn is not None else "kNN n/a"]
    if evaluation is not None and evaluation.linear_probe_best is not None:
        parts.append(f"linear probe {evaluation.linear_probe_best:.2f}% (last {evaluation.linear_probe_last:.2f}%)")
    parts.append(f"{summary.images_per_s or 0:.0f} img/s")
    typer.echo(" | ".join(parts))


@app.command("eval")
def eval_(
    checkpoint: Annotated[Path, typer.Option(help="ckpt.pt or best.pt of a run.")],
    linear_epochs: Annotated[Optional[int], typer.Option(help="Linear-probe epochs (default from the config).")] = None,
    linear_batch: Annotated[Optional[int], typer.Option(help="Linear-probe batch (default from the config).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write the result here instead of the run directory's "
                                                     "evals/<eval id>.json.")] = None,
) -> None:
    """kNN monitor and linear probe of a checkpoint; writes evals/<eval id>.json in its run directory."""
    from sflaudit.api import evaluate

    result = evaluate(checkpoint, linear_epochs=linear_epochs, linear_batch=linear_batch, out=out)
    probe = (f" | linear probe {result.linear_probe_best:.2f}% (last {result.linear_probe_last:.2f}%)"
             if result.linear_probe_best is not None else "")
    knn = f"{result.knn:.2f}%" if result.knn is not None else "n/a"
    typer.echo(f"{result.eval_id} at step {result.step}: kNN {knn}{probe}")


@app.command()
def invert(
    checkpoint: Annotated[Path, typer.Option(help="ckpt.pt or best.pt of a run (its config says arch, depth, data).")],
    attack: Annotated[Optional[str], typer.Option(
        help="A registered attack plug-in (`sflaudit plugins` lists them and what each attacker holds; built in: "
             "prior, decoder, hybrid, substitute, whitebox) | membership")] = None,
    aux_fraction: Annotated[Optional[float], typer.Option(help="Attacker's share of the training split.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Decoder training epochs.")] = None,
    patience: Annotated[Optional[int], typer.Option(help="Stop the decoder after this many epochs with neither a "
                                                         "better validation loss nor a better validation SSIM (0 = "
                                                         "every epoch; epochs of < 15 batches count for less).")] = None,
    targets: Annotated[Optional[int], typer.Option(help="Fixed test images to reconstruct.")] = None,
    decoder: Annotated[Optional[str], typer.Option(help="res_normN{N}C{C} | conv_normN{N}C{C}")] = None,
    substitute_steps: Annotated[Optional[int], typer.Option(help="substitute: most training steps of the "
                                                                 "substitute client.")] = None,
    substitute_budget: Annotated[Optional[float], typer.Option(
        help="substitute: cap its steps at this share of the inverse network's arithmetic (0 = always "
             "--substitute-steps).")] = None,
    lpips_weights: Annotated[Optional[Path], typer.Option(envvar="SFLAUDIT_LPIPS_WEIGHTS",
                                                          help="LPIPS AlexNet weights (sflaudit lpips-weights).")] = None,
    faithful: Annotated[Optional[bool], typer.Option("--faithful/--clean", help="Reproduce the reference's "
                                                     "measurement quirks (JPEG ground truth, Q7).")] = None,
    images: Annotated[Optional[int], typer.Option(help="membership: members (and as many non-members) audited.")]
    = None,
    views: Annotated[Optional[int], typer.Option(help="membership: augmented views per image.")] = None,
    membership_refs: Annotated[Optional[int], typer.Option(
        help="membership: reference models for the calibrated attacks (LiRA, RMIA); 0 = uncalibrated.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run directory to write attacks/<attack id>/ into (default: "
                                                     "the checkpoint's).")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Any attack setting: --set attack.epochs=5 "
                                                      "(a plug-in's own settings too).")] = None,
) -> None:
    """Attack a checkpoint: model inversion of its client (attacks/<attack id>/invert.json and invert.png) or, with
    --attack membership, a label-free membership-inference audit (membership/<id>.json)."""
    if attack == "membership":
        _membership(checkpoint, images=images, views=views, refs=membership_refs, out=out)
        return
    from sflaudit.api import attack_settings
    from sflaudit.api import invert as run_invert

    chosen = attack_settings(checkpoint, attack, aux_fraction=aux_fraction, epochs=epochs, targets=targets,
                             decoder=decoder, faithful=faithful, patience=patience,
                             substitute_steps=substitute_steps, substitute_budget=substitute_budget,
                             **_attack_sets(set_))                  # validated before any progress bar
    kw = dict(lpips_weights=lpips_weights, out=out, settings=chosen)
    if quiet:
        doc = run_invert(checkpoint, **kw)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                      TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=_console()) as bar:
            task = bar.add_task("invert", total=None, info="")

            def show(p: dict) -> None:
                total = p.get("epochs") or p.get("steps") or p.get("total")
                done = p.get("epoch") or p.get("step") or 0
                info = " ".join(f"{k} {v:.4f}" for k, v in p.items() if isinstance(v, float))
                bar.update(task, total=total, completed=done, info=info)

            doc = run_invert(checkpoint, progress=show, **kw)
    from sflaudit.artifacts import RunDir

    m = doc.mean
    lp = f"{m['lpips']:.3f}" if m.get("lpips") is not None else f"unavailable ({doc.lpips['reason']})"
    where = RunDir(Path(out) if out is not None else Path(checkpoint).parent).attack_json(doc.attack_id)
    typer.echo(f"{doc.settings['kind']} attack at depth {doc.run['depth']}: MSE {m['mse']:.4f} | "
               f"PSNR {m['psnr']:.2f} dB | SSIM {m['ssim']:.3f} | LPIPS {lp} → {where}")


def _membership(checkpoint: Path, *, images: int | None, views: int | None, refs: int | None,
                out: Path | None) -> None:
    from sflaudit.api import membership

    rec = membership(checkpoint, images=images, views=views, refs=refs, out=out)
    parts = [f"{name} AUC {s['auc']:.3f} [{s['auc_low']:.3f}, {s['auc_high']:.3f}], TPR@1%FPR {s['tpr_at_1fpr']:.3f}"
             for name, s in rec.scores.items()]
    typer.echo(f"membership audit of {len(rec.members)} members vs {len(rec.nonmembers)} non-members "
               f"({rec.nonmember_source}): " + " | ".join(parts) + f" ({rec.wall_s:.1f} s)")


def _attack_sets(sets: list[str] | None) -> dict[str, object]:
    """``--set attack.X=V`` items of ``invert`` → {X: V}; one line for another section."""
    from sflaudit.config import parse_override

    out = {}
    for item in sets or []:
        section, name, value = parse_override(item)
        if section != "attack":
            raise SflauditError(f"invert --set takes attack.* settings, got {item!r}")
        out[name] = value
    return out


from sflaudit.cli.lpips import lpips_weights  # noqa: E402  (light imports: no torch)
from sflaudit.cli.plugins import plugins  # noqa: E402
from sflaudit.cli.profile import profile  # noqa: E402
from sflaudit.cli.report import report  # noqa: E402

app.command("lpips-weights")(lpips_weights)
app.command("plugins")(plugins)
app.command("profile")(profile)
app.command("report")(report)


def main() -> None:
    """Console-script entry point: every usage error, :class:`SflauditError` and ``OSError`` is one line, exit 2.

    typer ≥ 0.26 raises its vendored click's exceptions (``typer._click``), earlier ones the ``click`` package's;
    :func:`usage_error_type` finds the right class through typer's public API, so both are caught. In
    non-standalone mode typer returns (not raises) the code of an ``Exit``, e.g. 0 after ``--help`` and 130 after
    Ctrl-C.
    """
    usage_error = usage_error_type()
    try:
        code = app(standalone_mode=False)
    except SflauditError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(os_error_line(exc))
    except KeyboardInterrupt:
        _interrupted()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except usage_error as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `sflaudit`: the help text, click's exit code 2
            exc.show()
            sys.exit(2)
        _fail(exc.format_message())
    if code == 130:
        _interrupted()
    if isinstance(code, int) and code:
        sys.exit(code)


def usage_error_type() -> type[Exception]:
    """The base class of the click exceptions the running typer raises (``ClickException`` of its click).

    Found in the MRO of the public ``typer.BadParameter``: ``click.exceptions.ClickException`` up to typer 0.25,
    ``typer._click.exceptions.ClickException`` from 0.26 on.
    """
    mro = typer.BadParameter.__mro__
    return next((c for c in mro if c.__name__ == "ClickException"), mro[mro.index(Exception) - 1])


def os_error_line(exc: OSError) -> str:
    """``<what>: <path>`` for an OS error, e.g. ``Not a directory: runs/x/sub`` (both paths of a rename)."""
    what = exc.strerror or first_line(exc)
    paths = [os.fsdecode(p) if isinstance(p, bytes) else str(p) for p in (exc.filename, exc.filename2)
             if p is not None]
    return f"{what}: {' -> '.join(paths)}" if paths else what


def _fail(message: str) -> NoReturn:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(2)


def _interrupted() -> NoReturn:
    print("interrupted: the run directory keeps its last checkpoint; run the same command to resume",
          file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
    main()
