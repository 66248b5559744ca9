"""The command line run in this process, as the tests call it."""

from typer.testing import CliRunner

from synth.cli import app

runner = CliRunner()


def run(*args):
    # a wide terminal: rich wraps table cells at 80 columns, and the ledger's rows vary in width
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
