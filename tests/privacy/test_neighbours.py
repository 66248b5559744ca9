"""The neighbour harness on the real fit: every mechanism moves by at most what the ledger charges.

D and D plus one patient (first, in the middle, last; a one-row-per-patient table and a visit
table), the same secret stream, outputs coupled (synth/privacy/neighbours.py). Every table,
count, bound, category discovery, pair selection and DP-SGD step is checked. Two mutants show
the harness can fail: the DP-SGD step pairing each patient with a generated row whose place
depends on the batch size (what the code once did), and a count that counts a patient twice.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import synth.models.train as train_module
import synth.release.domain as domain_module
import synth.synthesizer as synthesizer_module
from synth import Synthesizer, SynthError
from synth.models.calibrate import calibrate, shrunk_rates
from synth.models.dp_step import DP_SGD_RELEASE, dp_step
from tests.conftest import TRIAL_META, make_trial
from synth.privacy.neighbours import paired_step, run_neighbours
from tests.helpers.visits import SEQ_META, make_visits

pytestmark = pytest.mark.filterwarnings("ignore::synth.SynthWarning")  # a small table's rare categories

SMALL = dict(epochs=2, g_hidden=16, d_hidden=16, noise_dim=4, pretrain_steps=20)
WHOLE = dict(batch_size=1000)  # q = 1: every patient in every step, and σ calibrated in a blink (the
# subsampled RDP curve takes seconds to calibrate: the subsampled runs are the two main tests)
NOISE_SEED = 11  # the same secret stream for D and D′ (research seed: these fits are never shared)
EPSILON = 20.0  # sensitivities do not depend on ε; at 50 patients a smaller one releases no bounds


def _trial_meta() -> dict:
    """The test trial with N, one column's bounds and one column's categories released under DP."""
    meta = copy.deepcopy(TRIAL_META)
    columns = meta["tables"]["trial"]["columns"]
    del columns["weight"]["range_min"], columns["weight"]["range_max"]
    del columns["sex"]["range_values"]
    return meta


def _with_patient(df: pd.DataFrame, row: dict, at: int) -> pd.DataFrame:
    return pd.concat([df.iloc[:at], pd.DataFrame([row]), df.iloc[at:]], ignore_index=True)


NEW_PATIENT = {"pid": 9999, "age": 89, "weight": 149.0, "sex": "x", "smoker": True, "visit": "2022-12-30",
               "arm": "placebo"}


def _fit(meta, label="arm", epsilon=EPSILON, **options):
    """A fit that returns everything public it makes: the model file's bytes and the progress lines."""
    def fit(df):
        shown = []
        s = Synthesizer(epsilon=epsilon, label=label, noise_seed=NOISE_SEED, seed=3, **(SMALL | options))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            s.fit(df, meta, progress=lambda *line: shown.append(line))
        return s, shown + [str(w.message) for w in caught]  # the progress lines, then every warning
    return fit


def _same_public_output(harness, tmp_path) -> None:
    """Given the same releases, D and D plus one patient give the same model file (weights,
    checkpoint choice, ledger), the same progress lines and the same warnings."""
    (first, shown), (second, shown_again) = harness.results
    assert not harness.check_ledger(first.ledger)  # as many releases as charged, each at the charged σ and q
    files = [s.save(tmp_path / f"{i}.synth") for i, s in enumerate((first, second))]
    (meta, tensors), (meta_again, tensors_again) = (_contents(f) for f in files)
    assert meta == meta_again  # the JSON document (ledger, summary, checkpoint) and its checksum
    assert tensors.keys() == tensors_again.keys()
    assert all(torch.equal(tensors[k], tensors_again[k]) for k in tensors)
    assert shown == shown_again and shown


def _contents(path) -> tuple[dict, dict]:
    """A model file's header metadata and tensors (safetensors writes its header's keys in no fixed order)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}


def _names(harness) -> set[str]:
    return {m.name.split(":")[0] for m in harness.moves}


@pytest.mark.parametrize("at, options", [(25, {}), (0, WHOLE), (50, WHOLE),
                                         pytest.param(0, {}, marks=pytest.mark.slow),
                                         pytest.param(50, {}, marks=pytest.mark.slow),
                                         pytest.param(25, {"device": "cuda"}, marks=pytest.mark.skipif(
                                             not torch.cuda.is_available(), reason="no CUDA device"))])
def test_every_release_of_a_table_fit_moves_by_at_most_its_sensitivity(at, options, tmp_path):
    df = make_trial(50)
    harness = run_neighbours(_fit(_trial_meta(), **options), df, _with_patient(df, NEW_PATIENT, at))
    assert not harness.check()
    _same_public_output(harness, tmp_path)
    assert {"count", "bounds", "categories", "label_counts", "table", "selection", "dp_sgd"} <= _names(harness)
    steps = [m for m in harness.moves if m.name == DP_SGD_RELEASE]
    assert len(steps) >= 2 and max(m.moved for m in steps) > 0.5  # the new patient's term is there, clipped at C = 1


def test_every_release_of_a_visit_fit_moves_by_at_most_its_sensitivity(tmp_path):
    df = make_visits(30)
    visits = pd.DataFrame({"pid": [999] * 5, "arm": ["b"] * 5, "age": [89] * 5, "day": [0, 1, 2, 399, 400],
                           "lab": [9.9, None, 0.1, 9.9, 0.0], "stage": ["2", None, "1", "2", "2"]})
    middle = df["pid"].unique()[15]
    at = int((df["pid"] == middle).idxmax())
    harness = run_neighbours(_fit(SEQ_META), df, _with_patient(df, visits.iloc[0].to_dict(), at).pipe(
        lambda d: pd.concat([d.iloc[:at + 1], visits.iloc[1:], d.iloc[at + 1:]], ignore_index=True)))
    assert not harness.check()
    assert {"count", "label_counts", "table", "dp_sgd"} <= _names(harness)
    _same_public_output(harness, tmp_path)


def test_the_harness_sees_a_step_whose_generated_side_depends_on_the_batch_size(monkeypatch):
    monkeypatch.setattr(train_module, "dp_step", paired_step)
    df = make_trial(50)
    harness = run_neighbours(_fit(_trial_meta(), **WHOLE), df, _with_patient(df, NEW_PATIENT, 25))
    failed = harness.check()
    assert failed and {m.name for m in failed} == {DP_SGD_RELEASE}
    assert max(m.moved for m in failed) > 1.2  # past C = 1 (on ACTG175 at its batch size: about 11)


def test_the_harness_sees_a_count_that_counts_a_patient_twice(monkeypatch):
    counted = domain_module.noisy_counts
    monkeypatch.setattr(domain_module, "noisy_counts",
                        lambda counts, sigma, rng, name="counts": counted(counts * 2, sigma, rng, name))
    df = make_trial(50)
    harness = run_neighbours(_fit(_trial_meta(), **WHOLE), df, _with_patient(df, NEW_PATIENT, 50))
    assert {m.name for m in harness.check()} >= {"count:patients"}


def _step_that_draws_k_numbers(module, optimizer, x, y, fake, y_fake, n_classes):
    """A step that also draws len(x) numbers from torch's global generator (as a library call
    without a generator argument would): the public stream must not notice."""
    torch.rand(len(x))
    dp_step(module, optimizer, x, y, fake, y_fake, n_classes)


def test_a_draw_from_the_global_generator_inside_the_step_leaves_the_public_stream_alone(monkeypatch, tmp_path):
    monkeypatch.setattr(train_module, "dp_step", _step_that_draws_k_numbers)
    df = make_trial(50)
    harness = run_neighbours(_fit(_trial_meta(), **WHOLE), df, _with_patient(df, NEW_PATIENT, 25))
    assert not harness.check()
    _same_public_output(harness, tmp_path)


def test_the_harness_sees_a_public_stream_moved_by_the_batch_size(monkeypatch):
    import contextlib

    monkeypatch.setattr(train_module, "dp_step", _step_that_draws_k_numbers)
    monkeypatch.setattr(train_module, "secret_global_stream", lambda noise: contextlib.nullcontext())
    df = make_trial(50)
    harness = run_neighbours(_fit(_trial_meta(), **WHOLE), df, _with_patient(df, NEW_PATIENT, 25))
    assert {m.name for m in harness.check()} == {DP_SGD_RELEASE}


def test_dropout_in_the_discriminator_is_refused_under_dp():
    with pytest.raises(SynthError, match="d_dropout must be 0 under DP"):
        _fit(_trial_meta(), d_dropout=0.3)(make_trial(50))


def test_the_harness_sees_a_release_noisier_on_paper_than_in_fact(monkeypatch):
    """A count drawn at half the σ the ledger charges: the sensitivity holds, the ledger does not."""
    counted = domain_module.noisy_counts
    monkeypatch.setattr(domain_module, "noisy_counts",
                        lambda counts, sigma, rng, name="counts": counted(counts, sigma / 2, rng, name))
    df = make_trial(50)
    harness = run_neighbours(_fit(_trial_meta(), **WHOLE), df, _with_patient(df, NEW_PATIENT, 50))
    assert not harness.check()
    problems = harness.check_ledger(harness.results[0][0].ledger)
    assert problems and all(p.startswith(("count:patients", "label_counts")) for p in problems)


def _scheduled_visits(n: int = 30) -> pd.DataFrame:
    """Visits on the schedule 0, 30, 60, 90: every patient at baseline, some missing later slots."""
    df = make_visits(n)
    first = df.groupby("pid").cumcount()
    df = df[first < 4].assign(day=lambda d: d.groupby("pid").cumcount() * 30)
    skip = (df["pid"] % 3 == 0) & (df["day"] == 30)  # some patients miss the second slot, not the third
    return df[~skip].reset_index(drop=True)


@pytest.mark.parametrize("attendance,epsilon", [(None, EPSILON), ("complete", EPSILON), (None, 1.0)])
def test_every_release_of_a_scheduled_fit_moves_by_at_most_its_sensitivity(attendance, epsilon, tmp_path):
    meta = copy.deepcopy(SEQ_META)
    meta["synth_sequence"] = {"static_columns": ["arm", "age"], "schedule": [0, 30, 60, 90]}
    df = _scheduled_visits()
    if attendance:
        meta["synth_sequence"]["attendance"] = attendance
        full = df.groupby("pid")["day"].transform("size") == 4
        df = df[full].reset_index(drop=True)
    visits = pd.DataFrame({"pid": [999] * 3, "arm": ["b"] * 3, "age": [89] * 3, "day": [0, 30, 90],
                           "lab": [9.9, None, 0.1], "stage": ["2", None, "1"]})
    if attendance:
        visits = pd.concat([visits.iloc[:2], visits.iloc[1:2].assign(day=60), visits.iloc[2:]], ignore_index=True)
    middle = df["pid"].unique()[len(df["pid"].unique()) // 2]
    at = int((df["pid"] == middle).idxmax())
    plus = pd.concat([df.iloc[:at], visits, df.iloc[at:]], ignore_index=True)
    harness = run_neighbours(_fit(meta, epsilon=epsilon, **WHOLE), df, plus)
    assert not harness.check()
    names = {m.name for m in harness.moves}
    assert ("table:attendance" in names) == (attendance is None)
    assert any("slot j x slot k" in name for name in names)  # the slot-pair tables
    if epsilon < EPSILON:  # at ε = 1 the label tables take two stages (marginals:column, then on groups)
        assert "marginals:column" in {m.name for m in harness.results[0][0].ledger.mechanisms}
    _same_public_output(harness, tmp_path)


# A declared binary outcome calibrated after training (synth.models.calibrate; from a cold audit).
def _declared_binary() -> dict:
    meta = _trial_meta()
    meta["synth_analysis"] = {"arm": "arm", "outcomes": ["smoker", "age"]}  # age: the means, shrunk in training
    return meta


@pytest.mark.parametrize("at", [0, 50])
def test_a_calibrated_outcome_gives_the_same_model_file_on_neighbours(at, tmp_path):
    df = make_trial(50)
    harness = run_neighbours(_fit(_declared_binary(), label=None, **WHOLE), df, _with_patient(df, NEW_PATIENT, at))
    assert not harness.check()
    first = harness.results[0][0]
    assert first.label == "arm" and first._fitted["summary"]["calibrated_outcomes"] == ["smoker"]
    assert first._fitted["generator"].class_offsets.any()
    assert [m.name for m in harness.moves].count("table:smoker") == 2  # the label table and the analysis's
    _same_public_output(harness, tmp_path)  # offsets included: the same tensors and document


@pytest.mark.parametrize("at", [0, 30])
def test_an_arm_that_may_be_missing_moves_its_counts_by_one(at, tmp_path):
    """The missing class of a nullable arm: a patient without an arm moves the label counts and
    the label tables by at most the charged sensitivity, and the public output not at all."""
    meta = _declared_binary()
    meta["tables"]["trial"]["columns"]["arm"]["range_is_nullable"] = True
    df = make_trial(50)
    df.loc[:9, "arm"] = None
    harness = run_neighbours(_fit(meta, label=None, **WHOLE), df, _with_patient(df, NEW_PATIENT | {"arm": None}, at))
    assert not harness.check()
    first = harness.results[0][0]
    assert first.label == "arm" and first.info()["label_values"][-1] is None
    assert "label_counts:arm" in {m.name for m in harness.moves}
    _same_public_output(harness, tmp_path)


def _nullable_arm(discovered: bool = False) -> dict:
    meta = _trial_meta()
    arm = meta["tables"]["trial"]["columns"]["arm"]
    arm["range_is_nullable"] = True
    if discovered:
        del arm["range_values"]
    return meta


def test_a_nullable_label_has_its_missing_class_when_no_patient_of_d_misses_it(tmp_path):
    """The classes follow the metadata, not the data: D holds no missing label, D′ one."""
    df = make_trial(50)
    harness = run_neighbours(_fit(_nullable_arm(), **WHOLE), df, _with_patient(df, NEW_PATIENT | {"arm": None}, 0))
    assert not harness.check()
    assert harness.results[0][0].info()["label_values"] == ["drug", "placebo", None]
    _same_public_output(harness, tmp_path)


@pytest.mark.parametrize("arm", [None, "zzz"])  # missing; a value DP discovery does not release (NO_LABEL)
def test_a_discovered_nullable_label_moves_by_one(arm, tmp_path):
    df = make_trial(80)
    df.loc[:9, "arm"] = None
    harness = run_neighbours(_fit(_nullable_arm(discovered=True), **WHOLE), df,
                             _with_patient(df, NEW_PATIENT | {"arm": arm}, 40))
    assert not harness.check() and {"categories", "label_counts", "table"} <= _names(harness)
    assert harness.results[0][0].info()["label_values"] == ["drug", "placebo", None]
    _same_public_output(harness, tmp_path)


def test_a_visit_patient_missing_the_arm_moves_by_one(tmp_path):
    meta = copy.deepcopy(SEQ_META)
    meta["tables"]["visits"]["columns"]["arm"]["range_is_nullable"] = True
    df = make_visits(30)
    df.loc[df["pid"].isin(df["pid"].unique()[:4]), "arm"] = None
    new = pd.DataFrame({"pid": [999] * 5, "arm": [None] * 5, "age": [89] * 5, "day": [0, 1, 2, 399, 400],
                        "lab": [9.9, None, 0.1, 9.9, 0.0], "stage": ["2", None, "1", "2", "2"]})
    at = int((df["pid"] == df["pid"].unique()[15]).idxmax())
    harness = run_neighbours(_fit(meta), df, pd.concat([df.iloc[:at], new, df.iloc[at:]], ignore_index=True))
    assert not harness.check() and {"count", "label_counts", "table", "dp_sgd"} <= _names(harness)
    _same_public_output(harness, tmp_path)


def test_the_harness_sees_offsets_fitted_to_exact_counts(monkeypatch, tmp_path):
    def leaky(gen, p, seed):  # the mutant: the arm x outcome table counted on the real rows
        block = next(t for t in p.marginals.tables if t.by_label and t.blocks[0].column == "smoker").blocks[0]
        exact = np.zeros((p.n_classes, 2))
        np.add.at(exact, (p.y, p.x[:, block.start:block.start + 2].argmax(1)), 1)
        calibrate(gen, [(block.start, shrunk_rates(exact, 1e-9))], seed)
        return ["smoker"]
    monkeypatch.setattr(synthesizer_module, "calibrate_outcomes", leaky)
    df = make_trial(50)
    harness = run_neighbours(_fit(_declared_binary(), label=None, **WHOLE), df, _with_patient(df, NEW_PATIENT, 25))
    with pytest.raises(AssertionError):
        _same_public_output(harness, tmp_path)
