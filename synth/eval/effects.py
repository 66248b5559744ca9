"""One arm-effect model on one data set: OLS, logistic regression or Cox, fitted by statsmodels.

Each fit returns the arm's coefficient for every non-reference arm level (the log-odds ratio, the
difference in means or the log-hazard ratio) with its standard error, 95% confidence interval and
p-value, and a ``status``:

- ``"ok"``: the fit converged and every number is finite;
- ``"separation"``: an arm level in which the binary outcome is all 0 or all 1 (logistic) or
  which has no event (Cox), or statsmodels detected perfect separation: the likelihood has no
  maximum, the estimate runs off towards ±∞ and only its sign means something;
- ``"failed"``: the model could not be fitted (no convergence, a singular design, too few rows,
  an outcome with one value); the message says which, and no number is reported.

Privacy assumption: these fits read real rows; their results go into the evaluation report,
which is for the data holder only.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

__all__ = ["fit_effects", "MODELS"]

# kind → (model name, scale of the effect)
MODELS = {
    "numerical": ("linear regression (OLS)", "difference in means"),
    "binary": ("logistic regression", "log odds ratio"),
    "time_to_event": ("Cox proportional hazards (Efron ties)", "log hazard ratio"),
}


def _failed(levels: list[str], message: str, n: int) -> dict[str, dict[str, Any]]:
    return {lv: {"status": "failed", "message": message, "n": n} for lv in levels}


def fit_effects(kind: str, y: pd.Series, X: pd.DataFrame, arm_columns: dict[str, str],
                event: pd.Series | None = None, where: str = "the data") -> dict[str, dict[str, Any]]:
    """Fit one model; return each arm level's effect (see the module doc), keyed by level.

    ``y`` is the outcome (0/1 for "binary", the time for "time_to_event"), ``event`` the 0/1 event
    of a time-to-event outcome; ``X`` the design without an intercept (arm dummies and covariates,
    no missing value); ``arm_columns`` maps each non-reference arm level to its dummy in ``X``.
    ``where`` names the data set in messages ("the synthetic data").
    """
    n = len(y)
    levels = list(arm_columns)
    X = X.astype(float)
    present = {lv: col for lv, col in arm_columns.items() if X[col].any()}
    out = {lv: {"status": "failed", "message": f"no patient of {where} is in this arm", "n": n}
           for lv in levels if lv not in present}
    if not present:
        return out
    if not X[list(present.values())].sum(axis=1).eq(0).any():
        return {**_failed(levels, f"no patient of {where} is in the reference arm", n), **out}
    # a covariate (or a dummy of one) constant in these rows carries no information: drop it
    keep = [c for c in X.columns if c in present.values() or (c not in arm_columns.values() and X[c].nunique() > 1)]
    X = X[keep]
    if kind != "time_to_event" and y.nunique() < 2:
        return {**_failed(levels, f"the outcome takes one value in {where}", n), **out}
    if kind == "time_to_event" and not event.any():
        return {**_failed(levels, f"no event in {where}", n), **out}
    design = X if kind == "time_to_event" else sm.add_constant(X, has_constant="add")
    if n <= design.shape[1] + 1:
        return {**_failed(levels, f"{where} have {n} complete rows for {design.shape[1]} parameters", n), **out}
    if np.linalg.matrix_rank(design.to_numpy()) < design.shape[1]:
        return {**_failed(levels, f"the model's columns are collinear in {where} (an arm is predicted exactly "
                                  "by the covariates)", n), **out}
    separated = _separated(kind, y, X, present, event)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if kind == "numerical":
                res = sm.OLS(y.astype(float), design).fit()
                converged = True
            elif kind == "binary":
                res = sm.Logit(y.astype(float), design).fit(disp=0, maxiter=200)
                converged = bool(res.mle_retvals.get("converged", False))
            else:
                res = PHReg(y.astype(float), design, status=event.astype(float), ties="efron").fit()
                converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError) as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return {**_failed(levels, f"the model could not be fitted on {where} ({text})", n), **out}
    separated = separated or any(issubclass(w.category, PerfectSeparationWarning) for w in caught)
    names = list(design.columns)
    params, bse = np.asarray(res.params, float), np.asarray(res.bse, float)
    pvalues, ci = np.asarray(res.pvalues, float), np.asarray(res.conf_int(0.05), float)
    for lv, col in present.items():
        i = names.index(col)
        row = {"estimate": params[i], "se": bse[i], "ci_low": ci[i, 0], "ci_high": ci[i, 1],
               "p_value": pvalues[i], "n": n, "status": "ok", "message": None}
        if separated:
            row.update(status="separation", message=f"separation in {where}: an arm has all or none of the "
                       "outcome (or no event); the estimate runs towards ±infinity and only its sign means something")
        elif not converged or not all(math.isfinite(v) for v in (params[i], bse[i], ci[i, 0], ci[i, 1])):
            row = {"status": "failed", "message": f"the model did not converge on {where}", "n": n}
        out[lv] = row
    return {lv: out[lv] for lv in levels}


def _separated(kind: str, y: pd.Series, X: pd.DataFrame, present: dict[str, str], event: pd.Series | None) -> bool:
    """An arm level (the reference included) whose rows all share one outcome, or have no event."""
    dummies = X[list(present.values())].to_numpy(bool)
    groups = [dummies[:, j] for j in range(dummies.shape[1])] + [~dummies.any(axis=1)]
    if kind == "binary":
        values = y.to_numpy(float)
        return any(g.any() and np.unique(values[g]).size < 2 for g in groups)
    if kind == "time_to_event":
        events = event.to_numpy(float)
        return any(g.any() and not events[g].any() for g in groups)
    return False
