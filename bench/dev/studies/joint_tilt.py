"""Study (issue 46): a declared time-to-event pair drawn jointly per arm, tilted to the released
(shrunk) arm × event × time table, and the time's within-bin position made arm-blind.

    OMP_NUM_THREADS=1 python -m bench.dev.studies.joint_tilt colon,myeloid,veteran 0 9 [out.csv]

After the shipped fit, four samplings of the same model (post-processing only): as shipped; with
the pair's (event, time bin) cell drawn from p_event ⊗ p_time · exp(θ_arm) (θ fitted by
iterative proportional fitting on generated rows so that each arm's joint equals the released
table's); with the time's within-bin position permuted among rows of the same (bin, event) in
the slice (so it carries no arm); and both. Prints each variant's effects and writes them.
"""
import sys, warnings
import numpy as np, pandas as pd, torch
import synth.synthesizer as S
import synth.sample.draw as sampling
from synth import Metadata, Synthesizer
from synth.eval.analysis import analysis_fidelity
from synth.models.calibrate import shrunk_rates
from synth.privacy.domain import default_delta
from bench.analysis import TRIALS, declared
from bench.trials import load_trial
from bench.common import split_by_patient

stash = {}
orig = S.calibrate_outcomes
def capture(gen, p, seed):
    stash["p"] = p
    return orig(gen, p, seed)
S.calibrate_outcomes = capture

HOOK = {}
orig_forward_draw = sampling.forward_draw
def forward_draw(gen, layout, z, labels, uniform):
    out, chosen = orig_forward_draw(gen, layout, z, labels, uniform)
    h = HOOK
    if not h or labels is None:
        return out, chosen
    e0, ew, t0, tw = h["e0"], h["ew"], h["t0"], h["tw"]
    rng = np.random.default_rng(h["seed"] + int(z.shape[0]))
    lab = labels.numpy()
    if h.get("tilt") is not None:
        pe = torch.softmax(torch.as_tensor(out[:, e0:e0 + ew]), 1).numpy()
        pt = torch.softmax(torch.as_tensor(out[:, t0:t0 + tw]), 1).numpy()
        joint = pe[:, :, None] * pt[:, None, :] * np.exp(h["tilt"][lab])
        flat = joint.reshape(len(out), -1)
        cdf = np.cumsum(flat, 1); u = rng.random(len(out)) * cdf[:, -1]
        cell = np.minimum((cdf < u[:, None]).sum(1), flat.shape[1] - 1)
        chosen[e0] = cell // tw; chosen[t0] = cell % tw
    if h.get("shuffle"):
        pos = t0 + tw
        for b in range(tw):
            for e in range(ew):
                idx = np.flatnonzero((chosen[t0] == b) & (chosen[e0] == e))
                out[idx, pos] = out[rng.permutation(idx), pos]
    return out, chosen
sampling.forward_draw = forward_draw

def fit_tilt(gen, target, e0, ew, t0, tw, seed, rows=20000, iters=30):
    """θ (classes, ew, tw) with mean over generated rows of the tilted joint = target."""
    g = torch.Generator().manual_seed(seed + 17)
    theta = np.zeros_like(target)
    for c in range(len(target)):
        z = torch.randn(rows, gen.noise_dim, generator=g)
        with torch.inference_mode():
            raw = gen.logits(z, torch.full((rows,), c, dtype=torch.long))
        pe = torch.softmax(raw[:, e0:e0 + ew], 1).double().numpy()
        pt = torch.softmax(raw[:, t0:t0 + tw], 1).double().numpy()
        base = pe[:, :, None] * pt[:, None, :]
        want = np.clip(target[c], 1e-6, None); want = want / want.sum()
        for _ in range(iters):
            w = base * np.exp(theta[c])
            have = (w / w.sum(axis=(1, 2), keepdims=True)).mean(0)
            theta[c] += np.log(want / np.clip(have, 1e-9, None))
            theta[c] -= theta[c].max()
    return theta

def _f(v):
    return "na" if v is None or not np.isfinite(v) else f"{v:+.3f}"

def main(datasets, seeds, out_csv):
    rows = []
    for ds in datasets:
        analysis, _ = TRIALS[ds]
        pair = analysis["time_to_event"][0]
        df, mp = load_trial(ds)
        doc = declared(mp, analysis); meta = Metadata.load(doc)
        for seed in seeds:
            train, _ = split_by_patient(df, meta.primary_key, seed)
            HOOK.clear()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = Synthesizer(epsilon=1.0, delta=default_delta(len(train)), seed=seed).fit(train, doc)
                p = stash["p"]; gen = m._fitted["generator"]
                table = next(t for t in p.marginals.tables if [b.column for b in t.blocks] == [pair["event"], pair["time"]])
                eb, tb = table.blocks
                target = table.conditional()
                binary = next((t for t in p.marginals.tables if len(t.blocks) == 1 and t.blocks[0].column == pair["event"]
                               and t.by_label and not t.groups), None)
                if binary is not None and eb.width == 2 and binary.sigma > 0:  # the event's rates: the binary calibration's
                    rates = shrunk_rates(binary.counts[:, :2], binary.sigma)
                    given = target / np.clip(target.sum(axis=2, keepdims=True), 1e-12, None)
                    target = given * np.stack([1 - rates, rates], axis=1)[:, :, None]
                theta = fit_tilt(gen, target, eb.start, eb.width, tb.start, tb.width, seed)
                for variant in ("shipped", "tilt", "shuffle", "tilt+shuffle"):
                    HOOK.clear()
                    if variant != "shipped":
                        HOOK.update(e0=eb.start, ew=eb.width, t0=tb.start, tw=tb.width, seed=seed,
                                    tilt=theta if "tilt" in variant else None, shuffle="shuffle" in variant)
                    syn = m.sample(len(train), seed=seed)
                    res = analysis_fidelity(train, syn, meta, meta.analysis)
                    for e in res["effects"]:
                        r, s = e["real"], e["synthetic"]
                        rows.append({"dataset": ds, "method": variant, "seed": seed, "effect": f"{e['label']} ({e['level']})",
                                     "real": r.get("estimate"), "real_p": r.get("p_value"), "syn": s.get("estimate"),
                                     "syn_p": s.get("p_value"), "overlap": e["ci_overlap"], "sign": e["sign_agrees"],
                                     "quality": np.nan})
                    print(ds, seed, variant, " ".join(f"{x['effect']}: {_f(x['syn'])} (p {_f(x['syn_p'])}, real {_f(x['real'])} p {_f(x['real_p'])})"
                                                      for x in rows if x["seed"] == seed and x["method"] == variant and x["dataset"] == ds),
                          flush=True)
            pd.DataFrame(rows).to_csv(out_csv, index=False)

if __name__ == "__main__":
    main(sys.argv[1].split(","), range(int(sys.argv[2]), int(sys.argv[3]) + 1),
         sys.argv[4] if len(sys.argv) > 4 else "joint_tilt.csv")
