"""Study (issue 46, bench/RESULTS.md "A numerical outcome's arm means from both releases"):
r = the DP noise SE of a declared numerical outcome's arm difference of means ÷ the trial's own
OLS SE of the arm effect, from the sums alone, the arm × outcome table's bin-centre means alone,
and their inverse-variance combination (as the branch h46-means-tilt's ``combined_means`` did); and
the bin-centre bias of the table's difference (noise-free, on the real training rows), in units
of the trial's SE.

    OMP_NUM_THREADS=1 python -m bench.dev.studies.mean_precision licorice,supraclavicular,actg175 [1,2,4,8]

The releases come from the fit's own preparation (``prepare``), one draw per ε; the variances
are the releases' formulas (σ only), so one draw suffices. Arm 1 against arm 0.
"""
import sys
import warnings

import numpy as np
import statsmodels.formula.api as smf

from bench.analysis import TRIALS, declared
from bench.trials import load_trial
from bench.common import split_by_patient
from synth import Metadata
from synth.distributed.group import Ranks
from synth.models.train_config import TrainConfig
from synth.preparation import PrivacyOptions, prepare
from synth.privacy.domain import default_delta


def _released_table(mean, tables):
    """(each arm's released count of values, its noisy bin counts, their σ): the arm × outcome table."""
    for t in tables:
        if tuple(b.start for b in t.blocks) == (mean.outcome.start,) and t.by_label and not t.groups \
                and t.pooled_by is None and t.totals is not None:
            keep = slice(0, mean.outcome.width)
            return np.asarray(t.totals, dtype=float) * t.conditional()[:, keep].sum(axis=1), t.counts[:, keep], t.sigma
    raise ValueError("no arm x outcome table")


def table_means(counts, sigma, n):
    """Bin-centre means of 2u − 1 and their variance σ² Σ_b v_b² / n²."""
    centres = (2 * np.arange(counts.shape[1]) + 1) / counts.shape[1] - 1
    return counts @ centres / n, sigma ** 2 * float((centres ** 2).sum()) / n ** 2


def combined_means(a, var_a, b, var_b):
    """Inverse-variance combination of two independent estimates, and its variance."""
    return (a / var_a + b / var_b) / (1 / var_a + 1 / var_b), 1 / (1 / var_a + 1 / var_b)


def main() -> None:
    warnings.simplefilter("ignore")
    epsilons = [float(e) for e in (sys.argv[2] if len(sys.argv) > 2 else "1,2,4,8").split(",")]
    print("| trial | outcome | ε | σ sums | σ table | r sums | r table | r combined | combined/sums | bin bias / SE |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for ds in sys.argv[1].split(","):
        analysis, _ = TRIALS[ds]
        df, mp = load_trial(ds)
        doc = declared(mp, analysis)
        meta = Metadata.load(doc)
        train, _ = split_by_patient(df, meta.primary_key, 0)
        arm = analysis["arm"]
        for eps in epsilons:
            p = prepare(train, doc, None, PrivacyOptions(eps, default_delta(len(train))), TrainConfig(), Ranks(), "cpu")
            for m in (p.marginals.means.means if p.marginals.means else []):
                name = m.outcome.column
                lo, hi = meta.columns[name]["range_min"], meta.columns[name]["range_max"]
                counts, bins, table_sigma = _released_table(m, p.marginals.tables)
                n = np.maximum(counts, 1.0)
                var_s = m.sigma ** 2 / n ** 2
                _, var_t = table_means(bins, table_sigma, n)
                _, var_c = combined_means(m.sums / n, var_s, *table_means(bins, table_sigma, n))
                fit = smf.ols(f"Q('{name}') ~ C(Q('{arm}'))", data=train).fit()
                se_trial = fit.bse.iloc[1]
                scale = (hi - lo) / 2
                r = [np.sqrt(v[0] + v[1]) * scale / se_trial for v in (var_s, var_t, var_c)]
                # noise-free: the real rows' exact mean of 2u − 1 against their bins' centres, by arm
                x, y, w = p.x, p.y, m.outcome.width
                b = x[:, m.outcome.start:m.outcome.start + w].argmax(axis=1)
                u = (b + (x[:, m.outcome.start + w] + 1) / 2) / w
                present = np.ones(len(x), bool) if m.outcome.missing is None else x[:, m.outcome.missing + 1] < 0.5
                exact = [np.mean(2 * u[(y == k) & present] - 1) for k in (0, 1)]
                centre = [np.mean((2 * b[(y == k) & present] + 1) / w - 1) for k in (0, 1)]
                bias = ((centre[1] - centre[0]) - (exact[1] - exact[0])) * scale / se_trial
                print(f"| {ds} | {name} | {eps:g} | {m.sigma:.2f} | {table_sigma:.2f} | {r[0]:.2f} | {r[1]:.2f} | "
                      f"{r[2]:.2f} | {r[2] / r[0]:.2f} | {bias:+.2f} |", flush=True)


if __name__ == "__main__":
    main()
