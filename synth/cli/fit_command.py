"""``synth fit``: check the options and paths, fit (here, or in ``--nproc`` processes), write the model.

The fit itself is :meth:`synth.Synthesizer.fit` (it reads the real data: the releases and DP-SGD,
every one in the ledger); this module only checks options, shows progress and the ledger, and
relaunches itself over several processes. With ``--check`` it reads the training CSV again
afterwards, for the console only (:mod:`synth.cli.postfit`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

import synth.cli as base  # err and out are looked up there at each use (tests replace them)
from synth.cli import DEVICE_HELP, THREADS_HELP, _epsilon, _fail, _follower, _heavy, _state, app
from synth.cli.progress import FitDisplay
from synth.cli.reading import DECIMAL, ENCODING, NA_VALUES, SEP, STRIP, as_args, given, with_read_options
from synth.cli.show import show_privacy
from synth.errors import SynthError, SynthWarning
from synth.options import check_options, device_name, require_file
from synth.threads import threads_for

if TYPE_CHECKING:
    from synth.schema.metadata import Metadata
    from synth.synthesizer import Synthesizer

__all__ = ["fit"]


def _check_fit(data: Path, metadata: Path, epsilon: str, delta: Optional[float], independence: Optional[float],
               device: str, threads: Optional[int]) -> float:
    """ε, after the checks of Synthesizer and fit, in their order: options, device, threads, the
    metadata and CSV paths. Only ``--device cuda`` loads torch (to ask for a GPU)."""
    eps = check_options(_epsilon(epsilon), delta, independence)
    if device_name(device).startswith("cuda"):
        from synth.models.device import resolve_device

        resolve_device(device)
    threads_for(threads)
    require_file(metadata, "metadata file")
    require_file(data, "CSV file")
    return eps


def _fit(data: Path, metadata: Path | Metadata, label: Optional[str], epsilon: float, delta: Optional[float],
         output: Path, check: bool = False, **train) -> Synthesizer:
    synth = _heavy("Synthesizer")(epsilon=epsilon, delta=delta, label=label,
                                  **{k: v for k, v in train.items() if v is not None})
    display = FitDisplay(base.err)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SynthWarning)
            synth.fit(data, metadata, progress=display.progress, stage=display.stage)
    finally:
        display.close()
    synth.save(output)  # rank 0 only, over several processes
    if _follower():
        return synth
    for w in caught:
        if issubclass(w.category, SynthWarning):
            base.err.print(f"[bold yellow]warning:[/] {w.message}", highlight=False, soft_wrap=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    show_privacy(base.out, synth.ledger.to_dict(), header=f"wrote {output}")
    if check and isinstance(data, Path):  # reads the training CSV again; prints only (synth.cli.postfit)
        from synth.cli.postfit import print_post_fit

        print_post_fit(base.err, synth, data)
    return synth


@app.command()
def fit(
    data: Path = typer.Argument(..., help="CSV with one row per patient."),
    metadata: Path = typer.Option(..., "--metadata", "-m", help="Metadata JSON (SDV format + public range_* keys)."),
    output: Path = typer.Option(..., "--output", "-o", help="Model file to write."),
    label: Optional[str] = typer.Option(None, "--label", help="Categorical column to condition on (e.g. the arm)."),
    epsilon: str = typer.Option("1.0", "--epsilon", help="Privacy budget ε > 0, or 'inf' for no privacy."),
    delta: Optional[float] = typer.Option(
        None, "--delta", help="δ; default min(1e-5, 1/(10·N)), N released under DP or stated as synth_patients."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1,
                                         help="Default: about 300 discriminator steps (3000 at ε = inf)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Expected Poisson batch size."),
    seed: int = typer.Option(0, "--seed", help="Fixes initialisation only: the DP noise is secret (OS entropy)."),
    independence: Optional[float] = typer.Option(
        None, "--independence",
        help="Weight asking columns no released table links to be independent given the label "
             "(README: prediction over pair trends). Default 0, off."),
    refine_groups: Optional[bool] = typer.Option(
        None, "--refine-groups/--no-refine-groups",
        help="Also match grouped label tables at full resolution. Default: on at 4 groups or fewer."),
    smooth_tables: Optional[bool] = typer.Option(
        None, "--smooth-tables/--no-smooth-tables",
        help="Smooth the ordered bins of noisy one-column tables. Default: off."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    threads: Optional[int] = typer.Option(None, "--threads", help=THREADS_HELP),
    nproc: int = typer.Option(1, "--nproc", min=1,
                              help="Train in N processes on this machine (torch.distributed); the ledger is the same. "
                                   "Several machines: torchrun (README)."),
    check: bool = typer.Option(
        False, "--check/--no-check",
        help="Then print one line on what a sample loses against the training CSV (reads the real data "
             "again, without noise: for your console only, not a DP output)."),
    strip: Optional[bool] = STRIP, na_values: Optional[str] = NA_VALUES, encoding: Optional[str] = ENCODING,
    sep: Optional[str] = SEP, decimal: Optional[str] = DECIMAL,
) -> None:
    """Fit a DP synthesizer and write it to a model file.

    The options --independence, --refine-groups and --smooth-tables change only how the generator
    uses the released tables (post-processing): ε is the same with any of them.
    """
    read = given(strip, na_values, encoding, sep, decimal)  # override the metadata's synth_read
    try:
        eps = _check_fit(data, metadata, epsilon, delta, independence, device, threads)
        if nproc > 1 and "WORLD_SIZE" not in os.environ:
            from synth.distributed.launch import RankFailed, launch

            _heavy("Synthesizer")(epsilon=eps, delta=delta, label=label, device=device)  # options, before N starts
            _heavy("check_label")(_heavy("Metadata").load(with_read_options(metadata, read)), label)
            options = {"--label": label, "--epsilon": epsilon, "--delta": delta, "--epochs": epochs,
                       "--batch-size": batch_size, "--seed": seed, "--independence": independence,
                       "--device": device, "--threads": threads}
            flags = {"refine-groups": refine_groups, "smooth-tables": smooth_tables, "check": check or None}
            args = [*(["--debug"] if _state["debug"] else []), "fit", str(data), "--metadata", str(metadata),
                    "--output", str(output), *(x for k, v in options.items() if v is not None for x in (k, str(v))),
                    *(f"--{'' if v else 'no-'}{k}" for k, v in flags.items() if v is not None), *as_args(read)]
            try:
                code = launch(nproc, args)
            except RankFailed as exc:
                if _state["debug"]:
                    raise
                base.err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
                raise typer.Exit(1) from None
            if code:
                raise typer.Exit(code)
            return
        _fit(data, with_read_options(metadata, read), label, eps, delta, output, check, epochs=epochs,
             batch_size=batch_size, seed=seed, independence=independence, refine_groups=refine_groups,
             smooth_tables=smooth_tables, device=device, threads=threads)
    except SynthError as exc:
        _fail(exc)
    if not _follower():  # the full check reads real data with a holdout: synth evaluate
        base.err.print(f"next: synth sample {output} -n N -o synthetic.csv, then check it against the real data before "
                  f"sharing it: synth evaluate --real {data} --synthetic synthetic.csv -m {metadata} -o report.html "
                  "(add --holdout with patients the fit never saw: synth split)", highlight=False, soft_wrap=True)
