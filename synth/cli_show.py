"""Rich tables for the CLI: the privacy ledger and a model's info."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["show_privacy", "show_info"]


def _num(x: Any) -> str:
    if x is None:
        return "inf"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def show_privacy(console: Console, ledger: dict[str, Any], header: str = "") -> None:
    style = "bold red" if ledger["epsilon"] is None else "bold green"
    if header:
        console.print(header, highlight=False)
    console.print(f"[{style}]privacy guarantee: {ledger['guarantee']}[/]", highlight=False)
    table = Table("mechanism", "σ", "q", "steps", "ε alone", "what", title="privacy ledger",
                  caption=f"accountant: {ledger['accountant']}; δ = {ledger['delta']:.3g} "
                          f"(of which {ledger['delta_threshold']:.3g} for category thresholds)")
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
        props = ", ".join(f"{v}: {p:.3f}" for v, p in zip(info["label_values"], info["label_proportions"]))
        schema.add_row(info["label"], "label", "", props)
    console.print(schema)
    show_privacy(console, info["ledger"])
    train = info["train"]
    console.print(f"training: {train['steps']} discriminator steps, σ = {train['noise_multiplier']:.4g}, "
                  f"q = {train['sample_rate']:.4g}, {train['seconds']} s; options {train['config']}", highlight=False)
