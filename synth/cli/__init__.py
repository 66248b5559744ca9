"""The ``synth`` command line: a thin face over :class:`synth.Synthesizer`.

User errors (:class:`SynthError`) and usage errors (an unknown option, an option's value of the
wrong type) print one line and exit 2; anything else is a bug in synth and prints one line asking
for a report, exit 1. ``--debug`` shows the traceback.

Importing this module loads no torch, pandas or scipy (``tests/cli/test_cli_imports.py``): each
command checks its options and paths first, then loads what it needs (:func:`_heavy`), so
``synth --help`` and a mistyped path are answered at once.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperGroup

from synth.errors import SynthError, SynthWarning
from synth.cli.progress import FitDisplay
from synth.cli.show import show_info, show_privacy, show_summary, show_verdict
from synth.cli.meta import meta_app
from synth.cli.reading import DECIMAL, ENCODING, NA_VALUES, SEP, STRIP, as_args, given, with_read_options
from synth.options import check_options, device_name, require_file
from synth.threads import threads_for

if TYPE_CHECKING:
    from synth.schema.metadata import Metadata
    from synth.synthesizer import Synthesizer

# Synthesizer, Metadata, check_label, read_csv and ReadOptions load on first use (PEP 562); tests
# may replace them here (``synth.cli.Synthesizer = ...``).


def __getattr__(name: str) -> Any:
    if name in ("Synthesizer", "Metadata"):  # the package's own lazy names
        import synth

        value = getattr(synth, name)
    elif name == "check_label":
        from synth.schema.validate import check_label as value
    elif name == "read_csv":
        from synth.schema.validate import read_csv as value
    elif name == "ReadOptions":
        from synth.schema.reading import ReadOptions as value
    else:
        raise AttributeError(f"module 'synth.cli' has no attribute '{name}'")
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def _heavy(name: str) -> Any:
    """``Synthesizer``, ``Metadata``, ``check_label``, ``read_csv`` or ``ReadOptions``, imported now if
    not yet (a bare global name in a function would not call the module's ``__getattr__``)."""
    return globals()[name] if name in globals() else __getattr__(name)


err = Console(stderr=True)
out = Console()
_state = {"debug": False}


class _OneLineErrors(TyperGroup):
    """Every way a command can end without a traceback, in one line on stderr."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        _state["debug"] = False
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except ClickException as exc:  # the option parser's errors
            err.print(f"[bold red]error:[/] {exc.format_message()}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            err.print("aborted", highlight=False)
            sys.exit(1)
        except Exception as exc:  # noqa: BLE001 - a bug: say so in one line
            if _state["debug"]:
                raise
            # the exception's own text is not shown: a library's message may quote a value of the data
            err.print(f"[bold red]error:[/] internal error ({type(exc).__name__}). This is a bug in synth; please "
                      "report it with the output of `synth --debug` and the same arguments (that output may quote "
                      "the data: remove any value before sharing it)", highlight=False, soft_wrap=True, markup=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(cls=_OneLineErrors, add_completion=False, no_args_is_help=True,
                  help="Differentially private synthetic clinical-trial data (DP AC-GAN).")
app.add_typer(meta_app, name="metadata")
BUNDLED = "data"  # the bundled trials (ACTG175, pbcseq) as package data: synth/data/, in a clone and in a wheel


def bundled(name: str) -> resources.abc.Traversable:
    """A bundled trial's file (``actg175.csv``, ``pbcseq.json``, …), found through importlib.resources,
    so that a clone, an editable install and a wheel all find it."""
    return resources.files("synth").joinpath(BUNDLED, name)


THREADS_HELP = ("torch's threads in this process. Default: OMP_NUM_THREADS when set, else 1 (more threads "
                "busy-wait beside other work on a shared machine).")
DEVICE_HELP = "auto (a CUDA GPU when torch sees one, else the CPU), cpu or cuda. The ledger is the same on each."


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")) -> None:
    _state["debug"] = debug


def _follower() -> bool:
    """A rank other than 0 of a fit over several processes (torchrun sets WORLD_SIZE and RANK): rank
    0 speaks for the run. A RANK left in the environment by something else does not silence a fit."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        world = 1
    return world > 1 and os.environ.get("RANK", "0") not in ("", "0")


def _fail(exc: SynthError) -> None:
    if _state["debug"]:
        raise exc
    if not _follower():
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _epsilon(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SynthError(f"--epsilon must be a number > 0 or 'inf', got '{text}'") from None


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
    display = FitDisplay(err)
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
            err.print(f"[bold yellow]warning:[/] {w.message}", highlight=False, soft_wrap=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    show_privacy(out, synth.ledger.to_dict(), header=f"wrote {output}")
    if check and isinstance(data, Path):  # reads the training CSV again; prints only (synth.cli.postfit)
        from synth.cli.postfit import print_post_fit

        print_post_fit(err, synth, data)
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
                err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
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
        err.print(f"next: synth sample {output} -n N -o synthetic.csv, then check it against the real data before "
                  f"sharing it: synth evaluate --real {data} --synthetic synthetic.csv -m {metadata} -o report.html "
                  "(add --holdout with patients the fit never saw: synth split)", highlight=False, soft_wrap=True)


@app.command()
def sample(
    model: Path = typer.Argument(..., help="Model file from `synth fit`."),
    n: int = typer.Option(..., "-n", "--rows", help="Number of synthetic patients."),
    output: Path = typer.Option(..., "--output", "-o", help="CSV to write (plus <csv>.privacy.json)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same model → byte-identical CSV."),
    condition: Optional[str] = typer.Option(None, "--condition", help="LABEL=VALUE: every row gets that label."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    threads: Optional[int] = typer.Option(None, "--threads", help=THREADS_HELP),
) -> None:
    """Write synthetic rows to a CSV and its privacy statement beside it."""
    try:
        require_file(model, "model file")
        device_name(device)
        threads_for(threads)
        synth = _heavy("Synthesizer").load(model, device=device, threads=threads)
        synth.write_csv(output, n, seed=seed, condition=condition, model_path=model)
    except SynthError as exc:
        _fail(exc)
    unit = "patients (all their visits)" if synth.metadata.sequence_key else "rows"
    err.print(f"wrote {n} {unit} to {output} and {output}.privacy.json", highlight=False)


@app.command()
def info(
    model: Path = typer.Argument(..., help="Model file."),
    as_json: bool = typer.Option(False, "--json", help="Print everything as JSON."),
) -> None:
    """Show a model's schema, privacy ledger and training summary."""
    try:
        require_file(model, "model file")
        details = _heavy("Synthesizer").load(model).info()
    except SynthError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(details, indent=2, default=str))
    else:
        show_info(out, details)


@app.command()
def demo(
    output_dir: Path = typer.Option(Path("synth-demo"), "--output-dir", help="Where to write the demo files."),
    epsilon: str = typer.Option("1.0", "--epsilon"),
    rows: int = typer.Option(1000, "-n", "--rows"),
) -> None:
    """Fit ACTG175 (bundled) at ε = 1 with label `cens`, then sample a synthetic CSV."""
    try:
        if not bundled("actg175.csv").is_file():
            raise SynthError("bundled data not found in the installed package synth (synth/data/actg175.csv): "
                             "reinstall synth")
        model = output_dir / "actg175.synth"
        with ExitStack() as files:  # a real path even where the package is zipped
            data, meta = (files.enter_context(resources.as_file(bundled(f"actg175.{ext}"))) for ext in ("csv", "json"))
            synth = _fit(data, meta, "cens", _epsilon(epsilon), None, model)
        csv = output_dir / "synthetic.csv"
        synth.write_csv(csv, rows, seed=0, model_path=model)
    except SynthError as exc:
        _fail(exc)
    err.print(f"wrote {rows} synthetic patients to {csv} (privacy statement: {csv}.privacy.json)")
    out.print(_heavy("read_csv")(str(csv)).head(5).to_string())


@app.command("evaluate")
def evaluate_cmd(
    real: Path = typer.Option(..., "--real", help="Real CSV the synthetic data was trained on."),
    synthetic: Path = typer.Option(..., "--synthetic", help="Synthetic CSV (from synth or any other tool)."),
    metadata: Path = typer.Option(..., "--metadata", "-m", help="Metadata JSON (SDV format)."),
    output: Path = typer.Option(..., "--output", "-o", help="HTML report to write (self-contained)."),
    target: Optional[str] = typer.Option(None, "--target", help="Categorical column to predict (TSTR vs TRTR)."),
    holdout: Optional[Path] = typer.Option(None, "--holdout",
                                           help="Real patients the generator never saw (from synth split)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write every number as JSON."),
    seed: int = typer.Option(0, "--seed"),
    arm: Optional[str] = typer.Option(
        None, "--arm", help="Arm column whose effects to compare on real and synthetic data (with --outcome; "
                            "replaces the metadata's synth_analysis)."),
    outcome: Optional[List[str]] = typer.Option(
        None, "--outcome", help="Outcome column of the arm effect (repeatable): binary → logistic, numerical → OLS."),
    covariate: Optional[List[str]] = typer.Option(
        None, "--covariate", help="Covariate to adjust the arm effects for (repeatable)."),
    strip: Optional[bool] = STRIP, na_values: Optional[str] = NA_VALUES, encoding: Optional[str] = ENCODING,
    sep: Optional[str] = SEP, decimal: Optional[str] = DECIMAL,
) -> None:
    """Compare a synthetic CSV with the real one: fidelity, utility, the trial's analysis, sequences,
    privacy risk.

    The real and holdout CSVs are read as the metadata's synth_read and the options say; the
    synthetic one as `synth sample` writes it (UTF-8, commas), cleaned the same way.
    """
    try:
        for path in (real, synthetic, holdout):
            if path is not None:
                require_file(path, "CSV file")
        require_file(metadata, "metadata file")
    except SynthError as exc:
        _fail(exc)
    from synth.eval import evaluate

    read_csv = _heavy("read_csv")
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err)
    task = None

    def progress(step: str, i: int, total: int) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(step, total=total)
        bar.update(task, completed=i - 1, description=step)

    try:
        sidecar = Path(f"{synthetic}.privacy.json")
        privacy = json.loads(sidecar.read_text()) if sidecar.is_file() else None
        meta = _heavy("Metadata").load(metadata)
        read = meta.read_options(**given(strip, na_values, encoding, sep, decimal))
        written = _heavy("ReadOptions")(strip_whitespace=read.strip_whitespace, na_values=read.na_values)
        from synth.schema.validate import listed_only

        frames = [listed_only(read_csv(str(p), written if p == synthetic else read), meta) if p is not None else None
                  for p in (real, synthetic, holdout)]
        try:
            report = evaluate(frames[0], frames[1], metadata, target=target, holdout=frames[2], seed=seed,
                              privacy=privacy, progress=progress, arm=arm, outcomes=outcome, covariates=covariate)
        finally:
            bar.stop()
        report.to_html(output)
        if json_out is not None:
            report.to_json(json_out)
    except SynthError as exc:
        _fail(exc)
    show_summary(out, report.summary(), report.results.get("warnings", []))
    show_verdict(out, report.results.get("verdict"))
    err.print(f"wrote {output}" + (f" and {json_out}" if json_out else ""), highlight=False)


from synth.cli.split import split  # noqa: E402 - registers `synth split` on app, which it imports
