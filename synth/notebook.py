"""How synth's objects show themselves in Jupyter.

:func:`synthesizer_html` renders a fitted :class:`~synth.Synthesizer`'s :meth:`~synth.Synthesizer.info`
(schema, ledger, training), which holds public metadata, DP releases and post-processing of them
only, so the page is as shareable as the model file. :func:`analysis_html` renders an evaluation
report's trial-analysis table (the arm's effects on real and synthetic data): it is computed on
real rows and, like the whole :class:`~synth.eval.EvaluationReport`, is for the data holder only.
:func:`analysis_frame` gives the same table as a DataFrame; the forest plot is the report's
``figures["analysis"]``.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

__all__ = ["synthesizer_html", "analysis_html", "analysis_frame"]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return html.escape(", ".join(_cell(v) for v in value[:12]) + (" …" if len(value) > 12 else ""))
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{_cell(v)}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def synthesizer_html(info: dict[str, Any]) -> str:
    """The guarantee line, the schema, the ledger and the training summary as one HTML block."""
    ledger, train = info["ledger"], info["train"]
    colour = "#b00020" if ledger["epsilon"] is None else "#1b5e20"
    parts = [f"<p style='color:{colour}'><b>synth model: {html.escape(ledger['guarantee'])}</b></p>"]
    columns = [[name, c["sdtype"], c["domain"], c.get("range") or c.get("values") or ""]
               for name, c in info["columns"].items()]
    if info["label"]:
        columns.append([info["label"], "label", "dp" if ledger["epsilon"] is not None else "exact",
                        [f"{'missing' if v is None else v}: {p:.3f}" for v, p in zip(info["label_values"], info["label_proportions"])]])
    parts.append("<details open><summary><b>Schema</b></summary>"
                 + _table(["column", "sdtype", "domain from", "range / values"], columns) + "</details>")
    mechanisms = [[m["name"], m["noise_multiplier"], m["sample_rate"], m["steps"],
                   "" if m["epsilon_alone"] is None else m["epsilon_alone"], m["description"]]
                  for m in ledger["mechanisms"]]
    parts.append("<details open><summary><b>Privacy ledger</b></summary>"
                 f"<p>accountant: {html.escape(ledger['accountant'])}; δ = {ledger['delta']:.3g}; "
                 f"adjacency: {html.escape(str(ledger.get('adjacency', 'not recorded')))}; "
                 f"N ≈ {ledger.get('n_patients', ledger.get('n_patients_public'))} "
                 f"({html.escape(str(ledger.get('n_patients_source', 'public')))})</p>"
                 + _table(["mechanism", "σ", "q", "steps", "ε alone", "what"], mechanisms) + "</details>")
    summary = [["discriminator steps", train["steps"]], ["σ (DP-SGD)", train["noise_multiplier"]],
               ["sample rate q", train["sample_rate"]]]
    if train.get("checkpoint"):
        summary.append(["generator kept from epoch", f"{train['checkpoint']['epoch']} of {train['checkpoint']['of']}"])
    summary += [[k, v] for k, v in train["config"].items() if v is not None]
    parts.append("<details><summary><b>Training</b></summary>" + _table(["", ""], summary) + "</details>")
    return "\n".join(parts)


def _interval(side: dict[str, Any]) -> str:
    if side["status"] == "failed":
        return "—"
    return f"{side['estimate']:.3g} [{side['ci_low']:.3g}, {side['ci_high']:.3g}]"


def analysis_frame(analysis: dict[str, Any]) -> pd.DataFrame:
    """One row per arm effect: the outcome, the contrast, each side's estimate [95% CI] and p-value,
    the agreement figures and each side's status (an evaluation report's ``analysis`` block)."""
    rows = []
    for e in analysis["effects"]:
        r, s = e["real"], e["synthetic"]
        rows.append({"outcome": e["label"], "contrast": f"{e['level']} vs {e['reference']}", "effect": e["scale"],
                     "real": _interval(r), "real p": r.get("p_value"), "synthetic": _interval(s),
                     "synthetic p": s.get("p_value"), "CI overlap": e["ci_overlap"],
                     "standardized difference": e["standardized_difference"], "same sign": e["sign_agrees"],
                     "same significance": e["significance_agrees"],
                     "status": r["status"] if r["status"] != "ok" else s["status"]})
    return pd.DataFrame(rows)


def analysis_html(analysis: dict[str, Any]) -> str:
    """The arm-effect table with the model, the covariates, the reference arm and every note."""
    frame = analysis_frame(analysis)
    covariates = ", ".join(analysis["covariates"]) or "none"
    parts = [f"<p>Arm <code>{html.escape(analysis['arm'])}</code> (reference "
             f"<code>{html.escape(str(analysis['reference']))}</code>), adjusted for: {html.escape(covariates)} "
             f"({html.escape(analysis['encoding'])}). Declared in: {html.escape(analysis['source'])}.</p>",
             _table(list(frame.columns), [["" if v is None else v for v in row] for row in frame.itertuples(index=False)])]
    for note in [*analysis["problems"], *analysis["notes"]]:
        parts.append(f"<p>⚠ {html.escape(note)}</p>")
    return "\n".join(parts)
