"""``synth fit``'s one-line post-fit check, printed on the data holder's console only.

After the model file is written, :func:`post_fit_line` samples from the fitted model
(post-processing) and compares the sample with the training rows the owner gave ``fit``: strong
real relations lost, columns with implausible tails, declared inequalities broken (the checks of
:mod:`synth.eval.verdict`, with its thresholds). It names columns and counts, never a value.

Privacy: this reads the real training data, like ``synth evaluate``, and its line is for the
data holder. It runs after the model file is written and nothing it computes is written to the
model file, the sidecar or any CSV, or enters the ledger: printed to the console only. A log of
that console is as sensitive as the evaluation report.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["post_fit_line", "print_post_fit", "SAMPLE_ROWS"]

SAMPLE_ROWS = 2000


def post_fit_line(synth, data: Path) -> str | None:
    """One line on what the fitted ``synth`` (a :class:`synth.Synthesizer`) loses against the
    training CSV ``data``; None for visit data (``synth evaluate`` compares patients' features)."""
    from synth.eval.checks import tail_shares
    from synth.eval.verdict import THRESHOLDS, collapsed_pairs, inequality_rates
    from synth.schema.reading import read_csv
    from synth.schema.validate import listed_only

    meta = synth.metadata
    if meta.sequence_key:
        return None
    real = listed_only(read_csv(str(data), meta.read_options()), meta)
    syn = synth.sample(SAMPLE_ROWS, seed=0)
    lost = collapsed_pairs(real, syn, meta)["collapsed"]
    tails = [t["column"] for t in tail_shares(real, syn, meta)
             if t["synthetic_share"] > THRESHOLDS["implausible_tails"]["fair"]]
    broken = [r["rule"] for r in inequality_rates(real, syn, meta) if (r["synthetic_rate"] or 0) > 0]
    parts = [f"{len(lost)} strongly related pair{'s' * (len(lost) != 1)} lost"
             + (f" ({', '.join(' ~ '.join(p['columns']) for p in lost[:3])}{', …' if len(lost) > 3 else ''})"
                if lost else ""),
             f"{len(tails)} column{'s' * (len(tails) != 1)} with implausible tails"
             + (f" ({', '.join(tails[:3])}{', …' if len(tails) > 3 else ''})" if tails else "")]
    if broken:
        parts.append(f"{len(broken)} declared rule{'s' * (len(broken) != 1)} broken")
    return ("post-fit check against the training rows (this console only): " + "; ".join(parts)
            + "; see synth evaluate with --holdout")


def print_post_fit(console, synth, data: Path) -> None:
    """Print :func:`post_fit_line` on ``console`` (stderr); a check that fails says so in one line
    instead of failing a fit whose model file is already written."""
    try:
        line = post_fit_line(synth, data)
    except Exception as exc:  # noqa: BLE001 - the model is written; a failed courtesy check must not fail fit
        line = f"post-fit check skipped ({type(exc).__name__}); run synth evaluate"
    if line:
        console.print(line, highlight=False, soft_wrap=True)
