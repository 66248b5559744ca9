"""The ``synth`` command line: a thin face over :class:`synth.Synthesizer`.

User errors (:class:`SynthError`) and usage errors (an unknown option, an option's value of the
wrong type) print one line and exit 2; anything else is a bug in synth and prints one line asking
for a report, exit 1. ``--debug`` shows the traceback.

Importing this module loads no torch, pandas or scipy (``tests/cli/test_cli_imports.py``): each
command checks its options and paths first, then loads what it needs (:func:`_heavy`), so
``synth --help`` and a mistyped path are answered at once.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperGroup

from synth.errors import SynthError
from synth.cli.meta import meta_app
from synth.lazy import lazy_names

# Synthesizer, Metadata, check_label, read_csv and ReadOptions load on first use (PEP 562); tests
# may replace them here (``synth.cli.Synthesizer = ...``).


def _package(name: str) -> Callable[[], Any]:
    """The package's own lazy name (``synth.Synthesizer``, ``synth.Metadata``)."""

    def load() -> Any:
        import synth

        return getattr(synth, name)

    return load


def _validate(name: str) -> Callable[[], Any]:
    def load() -> Any:
        from synth.schema import validate

        return getattr(validate, name)

    return load


def _read_options() -> type:
    from synth.schema.reading import ReadOptions

    return ReadOptions


__getattr__ = lazy_names(__name__, {"Synthesizer": _package("Synthesizer"), "Metadata": _package("Metadata"),
                                     "check_label": _validate("check_label"), "read_csv": _validate("read_csv"),
                                     "ReadOptions": _read_options})


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


# The commands, each registering itself on ``app`` (they import this module: last).
from synth.cli import evaluate_command, fit_command, model_commands  # noqa: E402,F401
from synth.cli.split import split  # noqa: E402,F401
