import json
import math

import numpy as np
import pandas as pd
import pytest

from synth import Synthesizer, SynthError, SynthWarning
from synth.schema.metadata import Metadata
from tests.conftest import FAST, TRIAL_META, lopsided_trial, make_trial


@pytest.fixture(scope="module")
def fitted():
    # noise_seed (research runs only) pins the noise, so that N's release and the stages are fixed here
    return Synthesizer(epsilon=1.0, label="arm", noise_seed=0, **FAST).fit(make_trial(), TRIAL_META)


def test_fit_spends_exactly_the_target_epsilon(fitted):
    led = fitted.ledger
    assert led.delta == pytest.approx(min(1e-5, 1 / (10 * led.n_patients)))
    assert 0.995 <= led.epsilon() <= 1.0
    names = [m.name for m in led.mechanisms]
    # the patient count first (add/remove: N is not public); everything else was public; about
    # 120 patients: the label tables come in two stages (3 groups at this noise_seed's N)
    assert names == ["count:patients", "label_counts:arm", "marginals:column",
                     "marginals:label x column (at most 3 groups)", "selection:pairs", "marginals:pairs",
                     "dp_sgd:discriminator"]
    assert led.mechanisms[0].noise_multiplier == led.mechanisms[1].noise_multiplier  # one preprocessing σ
    assert led.mechanisms[2].steps == led.mechanisms[3].steps == 5  # per modelled column: age weight sex smoker visit
    assert led.mechanisms[4].steps == led.mechanisms[5].steps == 4  # pairs: one fewer than the columns
    assert len(set(led.mechanisms[5].extra["tables"])) == 4
    assert led.n_patients_source.startswith("dp") and led.n_patients != 120


def test_public_patient_count_is_used_and_not_released():
    meta = Metadata.load(TRIAL_META)
    meta.extra["synth_patients"] = 120
    s = Synthesizer(epsilon=1.0, label="arm", noise_seed=0, **FAST).fit(make_trial(), meta)
    led = s.ledger
    assert led.n_patients == 120 and led.n_patients_source == "public (metadata synth_patients)"
    assert "count:patients" not in [m.name for m in led.mechanisms]
    assert 0.995 <= led.epsilon() <= 1.0
    assert s._state()["summary"]["sample_rate"] == pytest.approx(1 / 10)  # ⌈120 / 12⌉ batches of 12


def test_sample_respects_schema_domain_and_label(fitted):
    df = fitted.sample(300, seed=1)
    assert list(df.columns) == list(make_trial().columns)
    assert df["pid"].tolist() == list(range(1, 301))  # fresh ids, never copied
    assert df["age"].between(18, 90).all() and df["age"].dtype == np.int64
    assert df["weight"].dropna().between(30, 150).all()
    assert set(df["sex"].dropna()) <= {"f", "m"}
    assert set(df["arm"]) <= {"drug", "placebo"}
    assert df["smoker"].dtype == bool
    assert pd.to_datetime(df["visit"], format="%Y-%m-%d").between("2019-01-01", "2022-12-31").all()


def test_condition_on_label(fitted):
    assert set(fitted.sample(50, condition="arm=drug")["arm"]) == {"drug"}
    with pytest.raises(SynthError, match="'age' is not the label"):
        fitted.sample(5, condition="age=3")
    with pytest.raises(SynthError, match="arm=x is not one of"):
        fitted.sample(5, condition={"arm": "x"})


def test_seed_makes_csv_byte_identical(fitted, tmp_path):
    a, b, c = (tmp_path / f"{k}.csv" for k in "abc")
    fitted.write_csv(a, 500, seed=7, chunk_size=128)
    fitted.write_csv(b, 500, seed=7, chunk_size=128)
    fitted.write_csv(c, 500, seed=8, chunk_size=128)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    assert len(pd.read_csv(a)) == 500
    sidecar = json.loads((tmp_path / "a.csv.privacy.json").read_text())
    assert sidecar["rows"] == 500 and sidecar["epsilon"] == pytest.approx(fitted.ledger.epsilon())
    assert sidecar["ledger"]["mechanisms"][-1]["name"] == "dp_sgd:discriminator"


def test_save_load_gives_the_same_samples(fitted, tmp_path):
    path = fitted.save(tmp_path / "m.synth")
    loaded = Synthesizer.load(path)
    pd.testing.assert_frame_equal(loaded.sample(100, seed=3), fitted.sample(100, seed=3))
    assert loaded.ledger.to_dict() == fitted.ledger.to_dict()


def test_small_trial_of_100_patients_fits(tmp_path):
    s = Synthesizer(epsilon=1.0, label="arm", **FAST).fit(make_trial(n=100), TRIAL_META)
    assert s._state()["summary"]["config"]["batch_size"] <= 100
    assert len(s.sample(10)) == 10


def test_private_metadata_values_are_estimated_under_dp():
    draft = Metadata.infer(make_trial(n=3000))
    with pytest.warns(SynthWarning, match="not reviewed"):  # a draft's sdtypes are read off the data too
        s = Synthesizer(epsilon=2.0, label="arm", **FAST).fit(make_trial(n=3000), draft)
    names = {m.name for m in s.ledger.mechanisms}
    assert {"bounds:age", "bounds:weight", "categories:sex", "categories:arm", "label_counts:arm"} <= names
    assert s.ledger.delta_threshold > 0
    assert 0.99 * 2.0 <= s.ledger.epsilon() <= 2.0
    assert {c.name: c.source for c in s.domain.columns}["age"] == "dp"


def test_unconditional_and_no_privacy():
    s = Synthesizer(epsilon=math.inf, **FAST).fit(make_trial(), TRIAL_META)
    assert s.ledger.to_dict()["guarantee"].startswith("none")
    assert s.ledger.mechanisms[-1].noise_multiplier == 0
    assert len(s.sample(20)) == 20


@pytest.mark.parametrize("kwargs,data_change,message", [
    (dict(epsilon=0), None, "epsilon must be > 0"),
    (dict(epsilon=-1), None, "epsilon must be > 0"),
    (dict(delta=0.5, noise_seed=0), None, "must be below 1/N"),  # noise_seed: N is released
    (dict(delta=1.5), None, r"^delta must be in \(0, 1\)"),
    (dict(label="agee"), None, "did you mean 'age'"),
    (dict(label="age"), None, "label must be categorical"),
    (dict(), lambda d: d.assign(weight=d["weight"].astype(object).where(d.index != 5, "heavy")),
     "column 'weight' of the data is numerical, but some of its values are not numbers"),
    (dict(), lambda d: d.drop(columns=["sex"]), "column 'sex' from the metadata is not in the data"),
    (dict(), lambda d: d.assign(extra=1), "column 'extra' of the data is not in the metadata"),
    (dict(), lambda d: d.iloc[:0], "has no rows"),
    (dict(), lambda d: d.assign(sex="x"), "column 'sex' holds a value outside its range_values"),
])
def test_bad_input_is_a_one_line_synth_error(kwargs, data_change, message):
    df = make_trial()
    if data_change:
        df = data_change(df)
    with pytest.raises(SynthError, match=message) as info:
        Synthesizer(**{"epsilon": 1.0, **kwargs, **FAST}).fit(df, TRIAL_META)
    assert "\n" not in str(info.value)


def test_patients_with_unreleased_labels_still_count_in_the_sample_rate():
    """The sample rate must depend on N alone, never on how many label values DP released."""
    df = make_trial(n=3000)
    df.loc[:4, "arm"] = [f"rare-{i}" for i in range(5)]  # each held by one patient: never released
    meta = Metadata.load(TRIAL_META)
    meta.columns["arm"]["range_public"] = False
    s = Synthesizer(epsilon=2.0, label="arm", **FAST).fit(df, meta)
    assert s.domain.label.categories == ["drug", "placebo"]
    dp_sgd = s.ledger.mechanisms[-1]
    assert dp_sgd.sample_rate == pytest.approx(1 / np.ceil(3000 / dp_sgd.extra["expected_batch_size"]))
    assert dp_sgd.extra["expected_batch_size"] == 256  # default_batch_size(3000), not of 2995


@pytest.mark.parametrize("option, weight", [({}, 0.0), ({"independence": 5.0}, 5.0)])
def test_independence_option_reaches_the_marginal_loss(monkeypatch, option, weight):
    import synth.preparation as preparation_module
    from synth.models.marginal_loss import MarginalLoss

    built = []

    def capture(*args, **kwargs):
        built.append(MarginalLoss(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(preparation_module, "MarginalLoss", capture)
    # a fixed research noise seed: with secret noise, 1 run in about 30 selects pairs that link
    # every column, leaving the term nothing to mask
    Synthesizer(epsilon=1.0, label="arm", **FAST, **option, noise_seed=0).fit(make_trial(), TRIAL_META)
    assert built[0].independence == weight  # off by default
    assert (built[0].free_mask is not None) == bool(weight)  # the mask is built only when the term is on


def test_categorical_with_mixed_number_values_writes_a_csv(tmp_path):
    meta = json.loads(json.dumps(TRIAL_META))
    meta["tables"]["trial"]["columns"]["grade"] = {"sdtype": "categorical", "range_values": [0, 0.5, 1],
                                                   "range_is_nullable": False}
    df = make_trial().assign(grade=np.resize([0, 0.5, 1], 120))
    s = Synthesizer(epsilon=1.0, **FAST).fit(df, meta)
    out = pd.read_csv(s.write_csv(tmp_path / "s.csv", 50))
    assert set(out["grade"]) <= {0, 0.5, 1}


def test_a_column_dp_released_with_one_category_warns_and_is_missing_otherwise():
    meta = Metadata.load(TRIAL_META)
    meta.columns["sex"]["range_public"] = False
    with pytest.warns(SynthWarning, match="column 'sex': DP category discovery released only 'f'"):
        synth = Synthesizer(epsilon=1.0, label="arm", **FAST).fit(lopsided_trial(), meta)
    sex = synth.sample(200)["sex"]
    assert set(sex.dropna()) == {"f"} and sex.isna().any()  # "m" was not released: written as missing


def test_jupyter_view_shows_guarantee_schema_and_ledger(fitted):
    page = fitted._repr_html_()
    assert "add/remove one patient" in page and "Privacy ledger" in page and "Schema" in page
    assert "count:patients" in page and "dp_sgd:discriminator" in page and ">age<" in page
    assert "not fitted" in Synthesizer(epsilon=1.0)._repr_html_()


def test_a_fit_that_would_not_fit_in_memory_stops_before_copying_the_table(monkeypatch):
    from synth.io.memory import estimated_bytes
    from synth.schema.columns import resolve_columns

    meta = resolve_columns(Metadata.load(TRIAL_META))
    assert 100 * 1000 < estimated_bytes(1000, meta) < 2000 * 1000  # per row: 64 B a column, 8 B a cell
    monkeypatch.setattr("synth.io.memory.available_memory", lambda: estimated_bytes(120, meta) - 1)
    with pytest.raises(SynthError, match=r"is too large for this machine: fitting it needs about 0.0 GiB of "
                                         r"memory, and this machine has 0.0 GiB free"):
        Synthesizer(epsilon=1.0, label="arm", **FAST).fit(make_trial(120), TRIAL_META)
    monkeypatch.setattr("synth.io.memory.available_memory", lambda: None)  # not Linux: no check
    Synthesizer(epsilon=1.0, label="arm", **FAST).fit(make_trial(120), TRIAL_META)


def test_a_csv_far_too_large_stops_before_it_is_read(monkeypatch, tmp_path):
    from synth.io.memory import estimated_bytes
    from synth.schema.columns import resolve_columns

    path = tmp_path / "big.csv"
    make_trial(120).to_csv(path, index=False)
    meta = resolve_columns(Metadata.load(TRIAL_META))
    monkeypatch.setattr("synth.io.memory.available_memory", lambda: estimated_bytes(120, meta))  # the fit alone fits
    read = []
    monkeypatch.setattr("synth.preparation.read_csv", lambda p: read.append(p))
    with pytest.raises(SynthError, match=r"big.csv' is 0 MB: reading and fitting it needs about"):
        Synthesizer(epsilon=1.0, label="arm", **FAST).fit(path, TRIAL_META)
    assert not read  # stopped before pandas read the file
