"""Study (not shipped; issue 46): shrink the released arm × outcome association by its DP noise,
then offset the generator's outcome logits per arm until P(outcome | arm) equals it.

    OMP_NUM_THREADS=1 python -m bench.dev.studies.analysis_calibration opt,indo_rct 0 4

Fits synth with the declared analysis (the arm as the class), samples, and prints per seed the
real effect, the shrunk released effect, the synthetic effect as shipped and after the
calibration (both post-processing of the model and the release).
"""
import sys, json, warnings, math
import numpy as np, pandas as pd, torch
import synth.synthesizer as S
from synth import Metadata, Synthesizer
from synth.eval.analysis import analysis_fidelity
from synth.privacy.domain import default_delta
from bench.analysis import TRIALS, declared
from bench.trials import load_trial
from bench.common import split_by_patient
from scipy.optimize import brentq
from scipy.special import expit, logit

def shrink(target, counts, sigma):
    """positive-part James-Stein on the released log-OR, by its DP noise; the pooled rate kept"""
    c = np.clip(counts, 0.5, None)
    est = math.log(c[1,1]/c[1,0]) - math.log(c[0,1]/c[0,0])
    se2 = sigma**2 * float((1/c**2).sum())
    f = max(0.0, 1 - se2/est**2) if est else 0.0
    d = f*est
    n = c.sum(1); pbar = (c[:,1].sum())/n.sum()
    g = lambda a: (n[0]*expit(a) + n[1]*expit(a+d))/n.sum() - pbar
    a = brentq(g, -30, 30)
    p0, p1 = expit(a), expit(a+d)
    return np.array([[1-p0, p0],[1-p1, p1]]), est, d

stash = {}
orig = S.prepare
def prepare(*a, **k):
    p = orig(*a, **k); stash["p"] = p; return p
S.prepare = prepare

def logor(p1, p0):
    return math.log(p1 / (1 - p1)) - math.log(p0 / (1 - p0))

def main(datasets, seeds):
    for ds in datasets:
        analysis, _ = TRIALS[ds]
        analysis = {"arm": analysis["arm"], "outcomes": [o for o in analysis["outcomes"]]}
        df, mp = load_trial(ds)
        doc = declared(mp, analysis); meta = Metadata.load(doc)
        for seed in seeds:
            train, _ = split_by_patient(df, meta.primary_key, seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = Synthesizer(epsilon=1.0, delta=default_delta(len(train)), seed=seed).fit(train, doc)
                syn = m.sample(len(train), seed=seed)
                res = analysis_fidelity(train, syn, meta, meta.analysis)
                p = stash["p"]; gen = m._fitted["generator"]; enc = m._fitted["encoder"]
                biases = {}
                for outcome in analysis["outcomes"]:
                    span = next((s for s in enc.spans if s.column == outcome and s.activation == "softmax"), None)
                    tab = next((t for t in p.marginals.tables if len(t.blocks) == 1 and t.blocks[0].column == outcome and t.by_label), None)
                    if span is None or tab is None:
                        continue
                    counts = np.clip(tab.counts[:, :2], 0.5, None)
                    target = counts / counts.sum(1, keepdims=True)
                    if SHRINK:
                        target, est, d = shrink(target, tab.counts[:, :2], tab.sigma)
                    biases[outcome] = (span, target)
                # calibrate
                K = p.n_classes
                bias = torch.zeros(K, gen.out.out_features)
                g = torch.Generator().manual_seed(1234)
                for it in range(6):
                    for c in range(K):
                        z = torch.randn(20000, gen.noise_dim, generator=g)
                        with torch.no_grad():
                            lo = gen.logits(z, torch.full((20000,), c, dtype=torch.long)) + bias[c]
                        for outcome, (span, target) in biases.items():
                            w = target.shape[1]
                            sl = slice(span.start, span.start + w)
                            mean = torch.softmax(lo[:, span.start:span.start + span.width], 1).mean(0).numpy()[:w]
                            mean = mean / mean.sum()
                            bias[c, sl] += torch.as_tensor(np.log(target[c]) - np.log(mean), dtype=torch.float32)
                old = gen.logits
                gen.logits = lambda z, y, old=old: old(z, y) + (bias[y] if y is not None else 0)
                syn2 = m.sample(len(train), seed=seed)
                gen.logits = old
                res2 = analysis_fidelity(train, syn2, meta, meta.analysis)
            for e, e2 in zip(res["effects"], res2["effects"]):
                rel = ""
                if e["label"] in biases:
                    _, t = biases[e["label"]]
                    rel = f"released {logor(t[1][1], t[0][1]):+.3f}"
                print(f"{ds} seed={seed} shrink={SHRINK} {e['label']}: real {e['real']['estimate']:+.3f} p={e['real']['p_value']:.3f} {rel} syn {e['synthetic']['estimate']:+.3f} p={e['synthetic']['p_value']:.3f} "
                      f"ov {e['ci_overlap']:.2f} | calibrated {e2['synthetic']['estimate']:+.3f} p={e2['synthetic']['p_value']:.3f} ov {e2['ci_overlap']:.2f}", flush=True)

SHRINK = True
if __name__ == "__main__":
    main(sys.argv[1].split(","), range(int(sys.argv[2]), int(sys.argv[3])))
