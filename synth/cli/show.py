"""Rich tables for the CLI: the privacy ledger and a model's info."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["show_privacy", "show_info", "show_summary", "show_verdict"]


def _num(x: Any) -> str:
    if x is None:
        return "inf"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def show_privacy(console: Console, ledger: dict[str, Any], header: str = "") -> None:
    style = "bold red" if ledger["epsilon"] is None else "bold green"
    if header:
        console.print(header, highlight=False)
    console.print(f"[{style}]privacy guarantee: {ledger['guarantee']}[/]", highlight=False)
    n = ledger.get("n_patients", ledger.get("n_patients_public"))
    table = Table("mechanism", "σ", "q", "steps", "ε alone", "what", title="privacy ledger",
                  caption=f"accountant: {ledger['accountant']}; δ = {ledger['delta']:.3g} "
                          f"(of which {ledger['delta_threshold']:.3g} for category thresholds); "
                          f"N ≈ {n} ({ledger.get('n_patients_source', 'public')})")
    for m in ledger["mechanisms"]:
        table.add_row(m["name"], _num(m["noise_multiplier"]), _num(m["sample_rate"]), str(m["steps"]),
                      _num(m["epsilon_alone"]), m["description"])
    console.print(table)


def show_info(console: Console, info: dict[str, Any]) -> None:
    schema = Table("column", "sdtype", "domain from", "range / values", title="schema")
    for name, col in info["columns"].items():
        rng = col.get("range") or col.get("values")
        schema.add_row(name, col["sdtype"], col["domain"], ", ".join(_num(v) for v in rng))
    if info["label"]:
        props = ", ".join(f"{'missing' if v is None else v}: {p:.3f}" for v, p in zip(info["label_values"], info["label_proportions"]))
        schema.add_row(info["label"], "label", "", props)
    console.print(schema)
    seq = info.get("sequence")
    if seq:
        over = seq.get("patients_over_max_visits_dp")
        console.print(f"visit sequences: key '{seq['key']}', index '{seq['index']}', max_visits {seq['max_visits']} "
                      f"({seq['max_visits_source']}); static {', '.join(seq['static'])}; patients with more visits "
                      f"(truncated to the first {seq['max_visits']}): about {over:.0f} (DP count)"
                      + (f"; no visit after '{seq['end']}'" if seq.get("end") else "")
                      + (f"; first visit at {seq['start']:g}" if seq.get("start") is not None else "")
                      + (f"; visits at {', '.join(f'{t:g}' for t in seq['schedule'])}" if seq.get("schedule") else "")
                      if over is not None else "", highlight=False)
    if info.get("analysis"):
        a = info["analysis"]
        told = [*a.get("outcomes", []), *(f"{t['time']}/{t['event']}" for t in a.get("time_to_event", []))]
        console.print(f"declared analysis: the effect of '{a['arm']}' on {', '.join(told)} (its tables: "
                      "marginals:analysis in the ledger)", highlight=False)
    if info.get("inequalities"):
        console.print(f"kept in every sampled row: {'; '.join(info['inequalities'])}", highlight=False)
    show_privacy(console, info["ledger"])
    train = info["train"]
    console.print(f"training: {train['steps']} discriminator steps, σ = {train['noise_multiplier']:.4g}, "
                  f"q = {train['sample_rate']:.4g}; options {train['config']}", highlight=False)
    tables = train.get("tables")  # absent in files from before it was recorded
    if tables:
        stage = ("label tables at full resolution" if tables["label_groups"] is None
                 else f"label tables on at most {tables['label_groups']} groups per column")
        refined = (f"; {len(tables['refined'])} of these also matched at full resolution, derived from released "
                   "tables at no privacy cost" if tables["refined"] else "")
        smoothed = (f"; {len(tables['smoothed'])} one-column tables smoothed over their ordered bins"
                    if tables.get("smoothed") else "")  # absent in files from before smoothing
        console.print(f"generator matched {tables['released']} released tables ({stage}{refined}{smoothed})",
                      highlight=False)
    chosen = train.get("checkpoint")  # absent in files from before checkpoint selection
    if chosen:
        console.print(f"generator kept from epoch {chosen['epoch']} of {chosen['of']} (closest to the released "
                      "tables; 0 = as pretrained)", highlight=False)


def show_summary(console: Console, summary, warnings: list[str]) -> None:
    table = Table("section", "metric", "value", "good", title="evaluation")
    for r in summary.itertuples():
        table.add_row(r.section, r.metric, _fmt(r.value), r.good)
    console.print(table)
    for w in warnings:
        console.print(f"[bold yellow]warning:[/] {w}", highlight=False)


def _fmt(v: float) -> str:
    return f"{v:.3g}" if v != 0 and abs(v) < 0.01 else f"{v:.3f}"


def show_verdict(console: Console, verdict: dict | None) -> None:
    """The report's verdict: one row per check, then its summary line."""
    if not verdict:
        return
    from synth.eval.verdict import WORDS

    colours = {"good": "green", "fair": "yellow", "poor": "red", "not measured": "dim"}
    table = Table("check", "value", "verdict", "in plain words", title="verdict (thresholds: docs/evaluation.md)")
    for c in verdict["checks"]:
        table.add_row(c["title"], "—" if c["value"] is None else f"{c['value']:g}",
                      f"[{colours[c['status']]}]{WORDS[c['status']]}[/]", c["says"].split(". ", 1)[-1])
    console.print(table)
    console.print(f"[bold]{verdict['summary']}[/]", highlight=False)
