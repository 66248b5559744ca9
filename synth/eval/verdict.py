"""The report's verdict: what held and what did not, in plain words, against written thresholds.

Each check reads one figure :func:`synth.eval.evaluate` computed (or one computed here: the
declared inequalities' violation rates, the strong real pairs whose synthetic correlation
collapsed, the implausible tails and the declared analysis: :mod:`synth.eval.checks`) and calls it "good", "fair" or "poor" by ``THRESHOLDS``, which docs/evaluation.md
states and explains. A check whose figure is not there (no target, no visits) is left out; an
undefined figure is "not measured".

The verdict is part of the evaluation report: like the rest of it, it is for the data holder.
"""

from __future__ import annotations

import math

import pandas as pd

from synth.eval.checks import analysis_findings, strong_pairs, tail_shares
from synth.schema.columns import Schema
from synth.schema.implications import implication_rates
from synth.schema.inequalities import read_inequalities
from synth.schema.metadata import Metadata
from synth.schema.validate import coerce_frame

__all__ = ["THRESHOLDS", "verdict", "verdict_frame", "collapsed_pairs", "inequality_rates", "rounded"]

# check → its good and fair bounds and which way is better; the reasons are in docs/evaluation.md.
THRESHOLDS: dict[str, dict] = {
    "column_shapes": {"good": 0.85, "fair": 0.75, "better": "higher"},
    "column_pair_trends": {"good": 0.85, "fair": 0.75, "better": "higher"},
    "detection_auroc": {"good": 0.7, "fair": 0.8, "better": "lower"},
    "collapsed_pairs": {"strong_real": 0.5, "collapse": 0.3, "good": 0, "fair": 0, "better": "lower"},
    "tstr_trtr_ratio": {"good": 0.9, "fair": 0.8, "better": "higher", "informative_trtr": 0.6},
    "inequality_violations": {"good": 0.0, "fair": 0.01, "better": "lower"},
    "implausible_tails": {"good": 0.03, "fair": 0.05, "better": "lower"},
    "declared_analysis": {"fair_overlap": 0.5},
    "per_visit_quality": {"good": 0.85, "fair": 0.75, "better": "higher"},
    "visit_count_tvd": {"good": 0.1, "fair": 0.2, "better": "lower"},
    "exact_copies_over_holdout": {"good": 0.0, "fair": 0.01, "better": "lower"},
    "mia_auroc": {"good": 0.6, "fair": 0.7, "better": "lower"},
}
WORDS = {"good": "held", "fair": "held in part", "poor": "did not hold", "not measured": "not measured"}

# check → (title, what each status means); "{…}" fields are filled from the figures.
SAYS: dict[str, tuple[str, dict[str, str]]] = {
    "column_shapes": ("Column shapes", {
        "good": "The synthetic data keeps each column's distribution.",
        "fair": "The synthetic data keeps the columns' distributions roughly; the report's histograms show "
                "the weakest.",
        "poor": "The synthetic data does not keep the columns' distributions: summaries of it would differ."}),
    "column_pair_trends": ("Column pair trends", {
        "good": "The synthetic data keeps how pairs of columns move together.",
        "fair": "The synthetic data keeps how pairs of columns move together roughly.",
        "poor": "The synthetic data does not keep how pairs of columns move together: associations would differ."}),
    "detection_auroc": ("Detection AUROC", {
        "good": "A classifier can hardly tell synthetic rows from real ones.",
        "fair": "A classifier tells synthetic rows from real ones fairly often.",
        "poor": "A classifier tells synthetic rows from real ones easily (usual for DP data; it does not by "
                "itself spoil an analysis)."}),
    "collapsed_pairs": ("Strong real correlations", {
        "good": "Of {strong} numeric pairs with |r| ≥ {strong_real:g} in the real data, none moved by "
                "{collapse:g} or more.",
        "poor": "These strong real relations collapsed: {named}."}),
    "tstr_trtr_ratio": ("TSTR / TRTR", {
        "good": "Models trained on synthetic data predict '{target}' about as well as on real data.",
        "fair": "Models trained on synthetic data keep most of the real data's predictive value for '{target}'.",
        "poor": "Models trained on synthetic data predict '{target}' clearly worse (chance alone gives {chance}).",
        "not measured": "Models trained on the real data barely predict '{target}' (TRTR {trtr:g}), so the ratio "
                        "says little."}),
    "implausible_tails": ("Implausible tails", {
        "good": "Each numerical column keeps its values within the real data's 0.5%–99.5% percentiles, "
                "as the real data do (about 1% beyond).",
        "fair": "Some columns put more synthetic values beyond the real data's 0.5%–99.5% percentiles than the "
                "real data's 1%: {named}.",
        "poor": "These columns put many synthetic values beyond the real data's 0.5%–99.5% percentiles (the "
                "real data: about 1%): {named}."}),
    "declared_analysis": ("Declared analysis", {
        "good": "Each declared arm effect keeps its sign and significance, with overlapping intervals.",
        "fair": "The declared arm effects keep their sign and significance, less precisely: {named}.",
        "poor": "The synthetic data would change the trial's conclusion: {named}."}),
    "inequality_violations": ("Declared inequalities", {
        "good": "Every synthetic row keeps the {n} declared inequalities.",
        "fair": "Some synthetic rows break them: {broken}.",
        "poor": "Synthetic rows break them: {broken}."}),
    "per_visit_quality": ("Per-visit shapes", {
        "good": "Each column's distribution at each visit number is kept.",
        "fair": "Each column's distribution at each visit number is kept roughly.",
        "poor": "The columns' distributions at each visit number are not kept."}),
    "visit_count_tvd": ("Visits per patient", {
        "good": "The share of patients with each number of visits is kept.",
        "fair": "The share of patients with each number of visits differs somewhat.",
        "poor": "The share of patients with each number of visits differs clearly."}),
    "exact_copies_over_holdout": ("Copies of training rows (empirical)", {
        "good": "{copies:.1%} of synthetic rows equal a training row, no more than new patients' rows do "
                "({own:.1%}).",
        "fair": "{copies:.1%} of synthetic rows equal a training row, against {own:.1%} of new patients' rows: "
                "look at them before sharing.",
        "poor": "{copies:.1%} of synthetic rows equal a training row, against {own:.1%} of new patients' rows: "
                "look at them before sharing."}),
    "mia_auroc": ("Membership inference (empirical)", {
        "good": "Closeness to synthetic rows does not reveal who was in the training data; the guarantee "
                "itself is the ledger's ε.",
        "fair": "Closeness to synthetic rows hints at who was in the training data; the guarantee itself is "
                "the ledger's ε.",
        "poor": "Closeness to synthetic rows reveals who was in the training data; the guarantee itself is "
                "the ledger's ε."}),
}


def rounded(value: float | None, digits: int = 3) -> float | None:
    """``value`` to ``digits`` significant digits (None and NaN → None): numbers for people."""
    if value is None or not math.isfinite(float(value)):
        return None
    return float(f"{float(value):.{digits}g}")


def _status(check: str, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "not measured"
    t = THRESHOLDS[check]
    if t["better"] == "higher":
        return "good" if value >= t["good"] else "fair" if value >= t["fair"] else "poor"
    return "good" if value <= t["good"] else "fair" if value <= t["fair"] else "poor"


def _threshold(check: str) -> str:
    t = THRESHOLDS[check]
    if check == "collapsed_pairs":
        return (f"a pair with |r_real| ≥ {t['strong_real']:g} (Pearson or Spearman) and |r_syn − r_real| ≥ "
                f"{t['collapse']:g} collapsed; good: none")
    if check == "declared_analysis":
        return (f"good: every effect keeps its sign and significance and CI overlap ≥ {t['fair_overlap']:g}; "
                "poor: a sign, a significance or a model lost")
    sign = "≥" if t["better"] == "higher" else "≤"
    rule = f"good {sign} {t['good']:g}, fair {sign} {t['fair']:g}"
    return f"share beyond new patients' own: {rule}" if check == "exact_copies_over_holdout" else rule


def _check(check: str, value: float | None, status: str | None = None, shown: str | None = None,
           **fields) -> dict:
    title, says = SAYS[check]
    status = status or _status(check, value)
    shown = shown or ("—" if value is None else f"{rounded(value):g}")
    text = says.get(status, "").format(**THRESHOLDS[check], **fields)
    return {"check": check, "title": title, "value": rounded(value), "status": status,
            "threshold": _threshold(check), "says": f"{title} {WORDS[status]} ({shown}). {text}".strip()}


def collapsed_pairs(real: pd.DataFrame, synthetic: pd.DataFrame, meta: Schema | Metadata) -> dict:
    """Numeric pairs (datetimes as days) with a strong Pearson or Spearman correlation in the real
    data (|r| ≥ ``strong_real``) whose r (the stronger kind) moved by at least ``collapse`` in the
    synthetic data, strongest real first; and how many strong real pairs there were."""
    t = THRESHOLDS["collapsed_pairs"]
    pairs = strong_pairs(real, synthetic, meta, t["strong_real"])
    collapsed = [{"columns": p["columns"], "method": p["method"], "real": rounded(p["real"]),
                  "synthetic": rounded(p["synthetic"])} for p in pairs if abs(p["synthetic"] - p["real"]) >= t["collapse"]]
    collapsed.sort(key=lambda p: -abs(p["real"]))
    return {"strong_real_pairs": len(pairs), "collapsed": collapsed}


def inequality_rates(real: pd.DataFrame, synthetic: pd.DataFrame, meta: Metadata) -> list[dict]:
    """Each declared ``synth_inequalities`` entry's violation rate (a pair's low > high, an
    implication's condition without its value; among the rows with both present) in the synthetic
    data, and in the real data for reference."""
    out = []
    for pair in read_inequalities(meta):
        spec = Metadata(columns={c: meta.columns[c] for c in (pair.low, pair.high)})
        rates = []
        for frame in (synthetic, real):
            v = coerce_frame(frame.rename(columns=str)[[pair.low, pair.high]], spec, "the data")
            both = v[pair.low].notna() & v[pair.high].notna()
            rates.append(float((v[pair.low][both] > v[pair.high][both]).mean()) if both.any() else math.nan)
        out.append({"rule": f"{pair.low} <= {pair.high}", "low": pair.low, "high": pair.high,
                    "synthetic_rate": rounded(rates[0]), "real_rate": rounded(rates[1])})
    return out + [{**r, "synthetic_rate": rounded(r["synthetic_rate"]), "real_rate": rounded(r["real_rate"])}
                  for r in implication_rates(real, synthetic, meta)]


def _figure(results: dict, section: str, key: str) -> float | None:
    value = (results.get(section) or {}).get(key)
    return None if value is None or not math.isfinite(float(value)) else float(value)


def verdict(results: dict, meta: Metadata, real: pd.DataFrame, synthetic: pd.DataFrame,
            real_features: pd.DataFrame, synthetic_features: pd.DataFrame, feature_schema: Schema | Metadata) -> dict:
    """The checks in order, the collapsed pairs, the inequalities' rates, a one-line summary and
    the thresholds. ``*_features``: the tables the models saw (per-patient features for visits),
    ``feature_schema`` their columns; ``meta``: the metadata, for its declared inequalities."""
    checks = [_check(k, _figure(results, "fidelity", k))
              for k in ("column_shapes", "column_pair_trends", "detection_auroc")]
    pairs = collapsed_pairs(real_features, synthetic_features, feature_schema)
    named = "; ".join(f"{p['columns'][0]} ~ {p['columns'][1]} ({p['method']} r: real {p['real']:.2f}, synthetic "
                      f"{p['synthetic']:.2f})" for p in pairs["collapsed"])
    checks.append(_check("collapsed_pairs", float(len(pairs["collapsed"])), "poor" if pairs["collapsed"] else "good",
                         f"{len(pairs['collapsed'])} collapsed", strong=pairs["strong_real_pairs"], named=named))
    if results.get("utility"):
        trtr = _figure(results, "utility", "trtr_auroc")
        barely = trtr is not None and trtr < THRESHOLDS["tstr_trtr_ratio"]["informative_trtr"]
        ratio = _figure(results, "utility", "ratio")
        checks.append(_check("tstr_trtr_ratio", ratio, "not measured" if barely else None,
                             target=(results.get("setup") or {}).get("target"), trtr=rounded(trtr) or 0.0,
                             chance=f"{0.5 / trtr:.2f}" if trtr else "0.5 / TRTR"))
    tails = tail_shares(real_features, synthetic_features, feature_schema)
    if tails:
        worst = tails[0]["synthetic_share"]
        flagged = [t for t in tails if t["synthetic_share"] > THRESHOLDS["implausible_tails"]["good"]]
        checks.append(_check("implausible_tails", worst, named="; ".join(
            f"{t['column']} {t['synthetic_share']:.1%} beyond [{t['low']:.3g}, {t['high']:.3g}] (real "
            f"{t['real_share']:.1%})" for t in flagged)))
    status, findings = analysis_findings(results.get("analysis"), THRESHOLDS["declared_analysis"]["fair_overlap"])
    if status is not None:
        checks.append(_check("declared_analysis", None, status, f"{len(findings)} effect(s) not kept" if findings
                             else "kept", named="; ".join(findings)))
    inequalities = inequality_rates(real, synthetic, meta)
    if inequalities:
        rates = [p["synthetic_rate"] for p in inequalities if p["synthetic_rate"] is not None]
        broken = "; ".join(f"{p['rule']} broken in {p['synthetic_rate']:.1%} of rows (real {p['real_rate'] or 0:.1%})"
                           for p in inequalities if p["synthetic_rate"])
        checks.append(_check("inequality_violations", max(rates) if rates else None, n=len(inequalities),
                             broken=broken))
    if results.get("sequences"):
        checks += [_check(k, _figure(results, "sequences", k)) for k in ("per_visit_quality", "visit_count_tvd")]
    risk = results.get("privacy_risk") or {}
    copies, own = (_figure(results, "privacy_risk", k) for k in ("exact_copy_rate", "holdout_exact_copy_rate"))
    if copies is not None and own is not None:
        checks.append(_check("exact_copies_over_holdout", max(0.0, copies - own), copies=copies, own=own))
    if risk:
        checks.append(_check("mia_auroc", _figure(results, "privacy_risk", "mia_auroc")))
    held = sum(c["status"] == "good" for c in checks)
    part = sum(c["status"] == "fair" for c in checks)
    failed = [c["title"] for c in checks if c["status"] == "poor"]
    summary = (f"{held} of {len(checks)} checks held" + (f", {part} held in part" if part else "")
               + (f"; did not hold: {', '.join(failed)}" if failed else "") + ".")
    return {"summary": summary, "checks": checks, "collapsed_pairs": pairs["collapsed"], "tails": [
                {k: rounded(v) if isinstance(v, float) else v for k, v in t.items()} for t in tails],
            "strong_real_pairs": pairs["strong_real_pairs"], "inequalities": inequalities,
            "thresholds": THRESHOLDS}


def verdict_frame(v: dict) -> pd.DataFrame:
    """The checks as a table: check, value, verdict (in words), threshold, what it means."""
    rows = [{"check": c["title"], "value": c["value"], "verdict": WORDS[c["status"]], "threshold": c["threshold"],
             "says": c["says"]} for c in v.get("checks", [])]
    return pd.DataFrame(rows, columns=["check", "value", "verdict", "threshold", "says"])

