"""Parts of the HTML report written for people: the verdict, the ledger as a table, and numbers
with 3 significant digits everywhere (tables, key-value lists, the figures' hover labels)."""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from synth.eval.verdict import WORDS

__all__ = ["human", "verdict_html", "ledger_html", "readable", "HOVER_FORMAT"]

HOVER_FORMAT = ".3~g"  # d3-format: 3 significant digits, no trailing zeros
COLOURS = {"good": "#1b5e20", "fair": "#8a6d00", "poor": "#b00020", "not measured": "#555"}


def human(value: Any, digits: int = 3) -> str:
    """A value as a person reads it: numbers to ``digits`` significant digits (no 16-digit
    floats, no exponent between 0.001 and a million), lists and dicts item by item."""
    if value is None:
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if math.isnan(x):
            return "—"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if x == 0:
            return "0"
        a = abs(x)
        if not 1e-3 <= a < 1e6:
            return f"{x:.{digits}g}"
        mag = math.floor(math.log10(a))
        places = digits - 1 - mag
        shown = f"{round(x, places):.{max(places, 0)}f}"
        return shown.rstrip("0").rstrip(".") if "." in shown else shown
    if isinstance(value, dict):
        return "; ".join(f"{k}: {human(v, digits)}" for k, v in value.items())
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(human(v, digits) for v in list(value))
    return str(value)


def _row(cells: list[str], head: bool = False) -> str:
    tag = "th" if head else "td"
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def verdict_html(verdict: dict | None) -> str:
    """The report's first section: the summary line, one row per check, then the collapsed pairs
    and the declared inequalities when there are any."""
    if not verdict:
        return ""
    parts = ['<h2 id="verdict">Verdict: what held and what did not</h2>',
             f'<p class="verdict"><b>{html.escape(verdict["summary"])}</b></p>',
             "<table>" + _row(["check", "value", "verdict", "threshold", "in plain words"], head=True)]
    for c in verdict["checks"]:
        colour = COLOURS[c["status"]]
        shown = {"collapsed_pairs": f"{human(c['value'])} collapsed", "declared_analysis": "—"}.get(
            c["check"], human(c["value"]))
        parts.append(_row([html.escape(c["title"]), shown,
                           f'<b style="color:{colour}">{html.escape(WORDS[c["status"]])}</b>',
                           html.escape(c["threshold"]), html.escape(c["says"])]))
    parts.append("</table>")
    if verdict.get("collapsed_pairs"):
        parts.append("<h3>Strong real correlations that collapsed</h3><table>"
                     + _row(["columns", "r", "real", "synthetic"], head=True)
                     + "".join(_row([html.escape(" ~ ".join(p["columns"])), p.get("method", "spearman").title(),
                                     human(p["real"]), human(p["synthetic"])])
                               for p in verdict["collapsed_pairs"]) + "</table>")
    tails = [t for t in verdict.get("tails", []) if (t["synthetic_share"] or 0) > 0.03]
    if tails:
        parts.append("<h3>Implausible tails (share of values beyond the real 0.5%–99.5% percentiles)</h3><table>"
                     + _row(["column", "real 0.5%", "real 99.5%", "synthetic", "real"], head=True)
                     + "".join(_row([html.escape(t["column"]), human(t["low"]), human(t["high"]),
                                     _share(t["synthetic_share"]), _share(t["real_share"])]) for t in tails)
                     + "</table>")
    if verdict.get("inequalities"):
        parts.append("<h3>Declared inequalities (share of rows that break them)</h3><table>"
                     + _row(["inequality", "synthetic", "real"], head=True)
                     + "".join(_row([html.escape(p["rule"]), _share(p["synthetic_rate"]),
                                     _share(p["real_rate"])]) for p in verdict["inequalities"]) + "</table>")
    parts.append("<p>The thresholds and why they were chosen: docs/evaluation.md, “The verdict”.</p>")
    return "\n".join(parts)


def _share(rate: float | None) -> str:
    return "—" if rate is None else f"{human(100 * rate)}%"


def ledger_html(formal: dict) -> str:
    """The formal guarantee from the CSV's ``.privacy.json``: one line, then the ledger as a
    table (mechanism, σ, sample rate, steps, ε alone, what it released)."""
    ledger = formal.get("ledger") or {}
    parts = [f"<p><b>{html.escape(str(formal.get('guarantee', 'not stated')))}</b></p>",
             "<p>" + "; ".join(f"{name} {human(value)}" for name, value in (
                 ("ε", formal.get("epsilon")), ("δ", formal.get("delta")))) + "; "
             + html.escape(f"accountant: {ledger.get('accountant', 'not stated')}; "
                           f"N: {human(ledger.get('n_patients'))} ({ledger.get('n_patients_source', 'not stated')})")
             + "</p>"]
    rows = [_row(["mechanism", "σ", "sample rate q", "steps", "ε alone", "what"], head=True)]
    for m in ledger.get("mechanisms", []):
        rows.append(_row([html.escape(str(m.get("name"))), human(m.get("noise_multiplier")),
                          human(m.get("sample_rate")), human(m.get("steps")),
                          human(m.get("epsilon_alone")) if m.get("epsilon_alone") is not None else "inf",
                          html.escape(str(m.get("description", "")))]))
    return "\n".join(parts) + "<table>" + "".join(rows) + "</table>"


def readable(fig):
    """A plotly figure whose hover labels show 3 significant digits (its data stay as they are)."""
    fig.update_xaxes(hoverformat=HOVER_FORMAT)
    fig.update_yaxes(hoverformat=HOVER_FORMAT)
    fig.update_traces(zhoverformat=HOVER_FORMAT, selector={"type": "heatmap"})
    return fig
