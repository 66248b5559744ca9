"""Evaluation of a synthetic table against real data: fidelity and downstream utility."""

from synth.eval.fidelity import quality
from synth.eval.utility import tstr_auroc

__all__ = ["quality", "tstr_auroc"]
