"""The declared analysis's tables: which are released, at what share, and how they join the rest."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest

from synth import Synthesizer
from synth.encode.table import CellBlock
from synth.privacy.analysis_tables import analysis_specs, combine_releases
from synth.privacy.marginals import MarginalTable
from synth.schema.analysis import AnalysisDeclaration, TimeToEvent
from synth.privacy.neighbours import run_neighbours
from tests.conftest import TRIAL_META, make_trial

ARM, OUT, AGE, TIME = (CellBlock("arm", 0, 2), CellBlock("smoker", 2, 2), CellBlock("age", 4, 20, ordered=True),
                       CellBlock("weight", 24, 20, ordered=True))
BLOCKS = [ARM, OUT, AGE, TIME]


def test_the_arm_as_label_gives_label_tables_of_the_outcomes():
    decl = AnalysisDeclaration("arm", ("smoker",), (), (TimeToEvent("weight", "smoker"),))
    specs = analysis_specs(decl, [OUT, AGE, TIME], label="arm")
    assert [(s.name, s.by_label) for s in specs] == [("smoker", True), ("smoker x weight", True)]


def test_a_time_to_event_pair_is_one_table_of_arm_event_and_time(monkeypatch):
    decl = AnalysisDeclaration("arm", (), (), (TimeToEvent("weight", "smoker"),))
    # the arm as the label: label × event × time
    specs = analysis_specs(decl, [OUT, TIME], label="arm")
    assert [(s.name, s.by_label) for s in specs] == [("smoker x weight", True)]
    # another label: the generator matches tables of two blocks, so arm × event and arm × time
    specs = analysis_specs(decl, [ARM, OUT, TIME], label=None)
    assert [(s.name, s.by_label) for s in specs] == [("arm x smoker", False), ("arm x weight", False)]
    # the event as the label: label × arm × time
    specs = analysis_specs(decl, [ARM, TIME], label="smoker")
    assert [(s.name, s.by_label) for s in specs] == [("arm x weight", True)]
    monkeypatch.setattr("synth.privacy.analysis_tables.JOINT_TIME_TO_EVENT", False)
    specs = analysis_specs(decl, [ARM, OUT, TIME], label=None)
    assert [(s.name, s.by_label) for s in specs] == [("arm x smoker", False), ("arm x weight", False)]


def test_another_label_gives_arm_by_outcome_tables_and_the_label_outcome_a_label_table():
    decl = AnalysisDeclaration("arm", ("age", "smoker"))
    specs = analysis_specs(decl, [ARM, AGE, TIME], label="smoker")
    assert [(s.name, s.by_label) for s in specs] == [("arm x age", False), ("arm", True)]


def _table(counts, sigma, blocks=(OUT,)):
    return MarginalTable(tuple(blocks), np.asarray(counts, dtype=float), sigma=sigma)


def test_two_releases_of_the_same_counts_combine_by_inverse_variance():
    old, new = _table([[10.0, 30.0]], 4.0), _table([[14.0, 26.0]], 2.0)
    other = _table([[1.0, 2.0]], 1.0, blocks=(AGE,))
    (merged, kept) = combine_releases([old, other], [new])[0:2]
    assert kept is other
    np.testing.assert_allclose(merged.counts, [[(10 / 16 + 14 / 4) / (1 / 16 + 1 / 4), (30 / 16 + 26 / 4) / (1 / 16 + 1 / 4)]])
    assert merged.sigma == pytest.approx(1 / math.sqrt(1 / 16 + 1 / 4))
    pair = _table([[[1.0, 2.0], [3.0, 4.0]]], 2.0, blocks=(ARM, OUT))
    assert combine_releases([old], [pair])[1] is pair  # no table with those cells: added


def _declared(meta: dict, **analysis) -> dict:
    meta = copy.deepcopy(meta)
    meta["synth_analysis"] = {"arm": "arm", "outcomes": ["smoker"]} | analysis
    return meta


SMALL = dict(epochs=1, g_hidden=16, d_hidden=16, noise_dim=4, pretrain_steps=20)


def test_a_declared_fit_spends_the_stated_share_on_the_analysis_and_conditions_on_the_arm():
    s = Synthesizer(epsilon=1.0, **SMALL).fit(make_trial(300), _declared(TRIAL_META, outcomes=["smoker", "age"]))
    assert s.label == "arm"
    names = [m.name for m in s.ledger.mechanisms]
    (analysis,) = [m for m in s.ledger.mechanisms if m.name == "marginals:analysis"]
    assert analysis.extra["tables"] == ["smoker", "age"] and analysis.steps == 2
    labels = next(m for m in s.ledger.mechanisms if m.name.startswith("marginals:label"))
    assert analysis.noise_multiplier < labels.noise_multiplier  # a larger share on fewer tables
    assert names.index("marginals:analysis") < names.index("dp_sgd:discriminator")
    assert s.ledger.epsilon() == pytest.approx(1.0, rel=1e-3)


def test_without_a_declaration_nothing_changes():
    s = Synthesizer(epsilon=1.0, **SMALL).fit(make_trial(300), TRIAL_META)
    assert s.label is None and "marginals:analysis" not in [m.name for m in s.ledger.mechanisms]


def test_the_analysis_tables_move_by_at_most_their_sensitivity():
    df = make_trial(50)
    fit = lambda d: Synthesizer(epsilon=20.0, label="smoker", noise_seed=5, batch_size=1000, **SMALL).fit(  # noqa: E731
        d, _declared(TRIAL_META, outcomes=["smoker", "age"], time_to_event=[{"time": "weight", "event": "smoker"}]))
    new = df.iloc[[7]].assign(pid=9999, age=89)
    harness = run_neighbours(fit, df, pd.concat([df, new], ignore_index=True))
    assert not harness.check()
    names = [m.name for m in harness.moves]
    assert "table:arm x age" in names and names.count("table:arm") == 2  # the label table, then the analysis's
    assert "sum:age by arm" in names  # the numerical outcome's sums: each patient moves them by at most 1
    assert "table:arm x weight" in names  # the time-to-event pair: label (the event) × arm × time
    assert not harness.check_ledger(harness.results[0].ledger)  # as many releases as charged, at the charged σ


def test_a_numerical_outcome_gets_its_sums_by_arm_within_the_analysis_share():
    s = Synthesizer(epsilon=1.0, **SMALL).fit(make_trial(300), _declared(TRIAL_META, outcomes=["smoker", "age"]))
    (tables,) = [m for m in s.ledger.mechanisms if m.name == "marginals:analysis"]
    (sums,) = [m for m in s.ledger.mechanisms if m.name == "sums:analysis"]
    assert sums.extra["outcomes"] == ["age"] and sums.steps == 1
    assert sums.noise_multiplier == tables.noise_multiplier
    assert s.ledger.epsilon() == pytest.approx(1.0, rel=1e-3)


def test_the_mean_term_is_zero_at_the_released_means_and_pulls_towards_them():
    import torch

    from synth.models.mean_targets import MEAN_WEIGHT, MeanTerm
    from synth.privacy.analysis_tables import AnalysisMean

    age = CellBlock("age", 0, 20, ordered=True)
    table = MarginalTable((age,), np.array([[10.0] * 20, [10.0] * 20]), totals=np.array([200.0, 200.0]))
    mean = AnalysisMean(age, None, np.array([0.0, 100.0]), 1e-9)  # arm 0: mean 0; arm 1: mean 0.5 (no shrinkage)
    term = MeanTerm([mean], [table])
    raw = torch.zeros(4, 21, requires_grad=True)  # uniform bins, offset 0: 2u - 1 = 2 * (9.5 + 0.5) / 20 - 1 = 0
    by_label = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    loss = term(raw, by_label)
    assert loss.item() == pytest.approx(MEAN_WEIGHT * 0.5 * 0.5 ** 2, rel=1e-5)  # arm 1 is 0.5 off, weight 1/2
    loss.backward()
    assert raw.grad[2:, 20].sum() < 0  # arm 1's offsets pushed up, towards its larger mean


def test_info_shows_the_declared_analysis(tmp_path):
    from typer.testing import CliRunner

    from synth.cli import app

    s = Synthesizer(epsilon=1.0, **SMALL).fit(make_trial(300), _declared(TRIAL_META))
    assert s.info()["analysis"] == {"arm": "arm", "outcomes": ["smoker"]}
    s.save(tmp_path / "m.synth")
    out = CliRunner().invoke(app, ["info", str(tmp_path / "m.synth")]).output
    assert "declared analysis: the effect of 'arm' on smoker" in out


NEW_PATIENT = dict(pid=9999, age=89, weight=np.nan, sex=None, smoker=True, visit="2021-01-01", arm="drug")


def _pairs(pairs: list[dict]) -> dict:
    meta = copy.deepcopy(TRIAL_META)
    meta["synth_analysis"] = {"arm": "arm", "outcomes": [], "time_to_event": pairs}
    return meta


# the new patient first, in the middle, last; with a missing time or one above the public range
@pytest.mark.parametrize("at,weight", [(0, np.nan), (25, 500.0), (50, np.nan)])
def test_the_joint_table_moves_by_one_with_the_arm_as_label(at, weight):
    df = make_trial(50)
    fit = lambda d: Synthesizer(epsilon=20.0, noise_seed=5, batch_size=1000, **SMALL).fit(  # noqa: E731
        d, _pairs([{"time": "weight", "event": "smoker"}, {"time": "age", "event": "sex"}]))
    new = pd.DataFrame([NEW_PATIENT | {"weight": weight}])
    harness = run_neighbours(fit, df, pd.concat([df.iloc[:at], new, df.iloc[at:]], ignore_index=True))
    assert not harness.check() and not harness.check_ledger(harness.results[0].ledger)
    assert {"table:smoker x weight", "table:sex x age"} <= {m.name for m in harness.moves}


def test_a_label_outside_the_pair_fits_with_two_tables():
    s = Synthesizer(epsilon=20.0, label="smoker", batch_size=1000, **SMALL).fit(
        make_trial(50), _pairs([{"time": "age", "event": "sex"}]))
    (m,) = [m for m in s.ledger.mechanisms if m.name == "marginals:analysis"]
    assert m.extra["tables"] == ["arm x sex", "arm x age"] and m.steps == 2


def test_an_arm_that_may_be_missing_is_the_class_with_a_missing_class():
    meta = _declared(TRIAL_META)
    meta["tables"]["trial"]["columns"]["arm"]["range_is_nullable"] = True
    df = make_trial(300)
    df.loc[:89, "arm"] = None  # 30% without an arm
    s = Synthesizer(epsilon=4.0, **SMALL).fit(df, meta)
    info = s.info()
    assert s.label == "arm" and info["label_values"][-1] is None and len(info["label_proportions"]) == 3
    assert 0.15 < info["label_proportions"][-1] < 0.45  # the missing class in its released proportion
    assert s._fitted["summary"]["calibrated_outcomes"] == ["smoker"]  # its rate pinned in each class
    out = s.sample(3000, seed=1)
    assert 0.15 < out["arm"].isna().mean() < 0.45 and set(out["arm"].dropna()) == set(df["arm"].dropna())
    assert out["arm"].isna().mean() == pytest.approx(info["label_proportions"][-1], abs=0.04)


def test_a_mean_difference_within_its_noise_goes_to_zero_and_a_clear_one_stays():
    from synth.models.mean_targets import shrunk_means

    weight = np.array([0.5, 0.5])
    counts = np.array([100.0, 100.0])
    noisy = shrunk_means(np.array([0.10, 0.15]), counts, sigma=8.0, weight=weight)  # SE of the difference 0.11
    assert noisy[0] == pytest.approx(noisy[1]) and noisy.mean() == pytest.approx(0.125)
    clear = shrunk_means(np.array([-0.5, 0.5]), counts, sigma=8.0, weight=weight)
    assert clear[1] - clear[0] == pytest.approx(1.0, rel=0.02) and clear.mean() == pytest.approx(0.0)
    assert shrunk_means(np.array([0.1, 0.2]), counts, sigma=0.0, weight=weight) == pytest.approx([0.1, 0.2])
    # an arm without released patients is no reference: the other arms keep their clear difference
    empty = shrunk_means(np.array([0.0, 0.5, -0.5]), np.array([1.0, 30.0, 30.0]), sigma=1.0,
                         weight=np.array([0.0, 0.5, 0.5]))
    assert empty[1] - empty[2] == pytest.approx(1.0, rel=0.01)
