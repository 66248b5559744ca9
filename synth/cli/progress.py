"""What ``synth fit`` shows while it runs: the stage now running, then a bar over the GAN epochs.

The stage line is transient (it disappears when the bar starts or the fit stops), so an input
error still ends the command in one line. Only stage names and the epochs' counters are shown:
no timing of a step on real data is kept anywhere.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.spinner import Spinner

__all__ = ["FitDisplay"]


class FitDisplay:
    """``stage`` and ``progress`` callbacks for :meth:`synth.Synthesizer.fit`; ``close()`` at the end."""

    def __init__(self, console: Console):
        self.console = console
        self.bar = Progress(TextColumn("epoch {task.completed:.0f}/{task.total:.0f}"), BarColumn(),
                            TextColumn("G {task.fields[g]:.3f}  ε spent {task.fields[eps]}"), console=console)
        # No elapsed time: each DP step's time depends on the secret batch size and the exact N.
        self.task: TaskID | None = None
        self.status: Live | None = None

    def stage(self, name: str) -> None:
        if self.status is None:
            self.status = Live(console=self.console, transient=True, refresh_per_second=8)
            self.status.start()
        self.status.update(Spinner("dots", f"{name}…"), refresh=True)  # shown at once, however short the stage

    def progress(self, epoch: int, epochs: int, g: float, eps: float) -> None:
        if self.task is None:  # shown once training starts, after every input check has passed
            if self.status is not None:
                self.status.stop()
            self.bar.start()
            self.task = self.bar.add_task("fit", total=epochs, g=math.nan, eps="-")
        self.bar.update(self.task, completed=epoch, g=g, eps="inf (no privacy)" if math.isinf(eps) else f"{eps:.3f}")

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()
        self.bar.stop()
