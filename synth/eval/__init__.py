"""Evaluation of synthetic data against real data: fidelity, downstream utility, sequences, privacy risk."""

from synth.eval.evaluate import evaluate
from synth.eval.fidelity import quality
from synth.eval.report import EvaluationReport
from synth.eval.utility import tstr_auroc

__all__ = ["evaluate", "EvaluationReport", "quality", "tstr_auroc"]
