import numpy as np
import pandas as pd

from synth.privacy.domain import ColumnDomain, Domain
from synth.release.domain import build_domain
from synth.encode.table import NUMERIC_BINS as B
from synth.encode.table import TableEncoder
from synth.privacy.ledger import Ledger
from synth.schema.validate import coerce_frame


def _encoder(trial, meta, label=None, epsilon=1.0):
    frame = coerce_frame(trial, meta)
    ledger = Ledger(epsilon, 1e-5, len(frame))
    domain = build_domain(frame, meta, label, ledger, np.random.default_rng(0))
    return frame, TableEncoder(domain), ledger


def test_round_trip_mixed_columns_with_missing_values(trial, meta):
    frame, enc, _ = _encoder(trial, meta)
    decoded = enc.decode(enc.encode(frame))
    assert list(decoded.columns) == ["age", "weight", "sex", "smoker", "visit", "arm"]
    assert decoded["age"].tolist() == trial["age"].tolist()
    assert decoded["age"].dtype == np.int64
    np.testing.assert_allclose(decoded["weight"], trial["weight"], rtol=1e-5)  # NaN in the same places
    assert decoded["weight"].isna().sum() == trial["weight"].isna().sum() > 0
    assert decoded["sex"].isna().tolist() == trial["sex"].isna().tolist()
    assert decoded["sex"].dropna().tolist() == trial["sex"].dropna().tolist()
    assert decoded["smoker"].tolist() == trial["smoker"].tolist()
    assert decoded["visit"].tolist() == trial["visit"].tolist()
    assert decoded["arm"].tolist() == trial["arm"].tolist()


def test_encoded_layout_and_ranges(trial, meta):
    frame, enc, _ = _encoder(trial, meta, label="arm")
    x = enc.encode(frame)
    # numbers: NUMERIC_BINS + 1 (+ 2 when nullable); sex 2 + missing; smoker 2; the label is not encoded
    assert x.shape == (len(trial), (B + 1) + (B + 1 + 2) + 3 + 2 + (B + 1))
    assert x.min() >= -1 and x.max() <= 1
    for span in enc.spans:
        if span.activation == "softmax":
            np.testing.assert_array_equal(x[:, span.start:span.start + span.width].sum(axis=1), 1)


def test_decode_clips_to_domain_and_rounds_integers(trial, meta):
    frame, enc, _ = _encoder(trial, meta)
    x = enc.encode(frame)
    x[:, :B] = np.eye(B)[B - 1]  # last bin
    x[:, B] = 5.0  # far outside tanh's range
    x[:1, :B] = np.eye(B)[3]
    x[:1, B] = 0.013
    decoded = enc.decode(x)
    assert decoded["age"].iloc[1:].eq(90).all()
    assert decoded["age"].iloc[0] == round((3 + (0.013 + 1) / 2) / B * (90 - 18) + 18)


def test_values_outside_public_bounds_are_clipped_not_leaked(trial, meta):
    trial.loc[0, "age"] = 200
    frame, enc, _ = _encoder(trial, meta)
    assert enc.decode(enc.encode(frame))["age"].iloc[0] == 90


def test_encoder_depends_on_public_domain_only(meta):
    from tests.conftest import make_trial

    a, b = make_trial(seed=1), make_trial(n=80, seed=2)
    _, enc_a, _ = _encoder(a, meta)
    _, enc_b, _ = _encoder(b, meta)
    assert enc_a.spans == enc_b.spans
    assert enc_a.domain.to_dict() == enc_b.domain.to_dict()


def test_log_scale_bins_are_equal_width_in_log_and_round_trip(trial, meta):
    meta.columns["weight"].update(range_min=10, range_max=1000, synth_scale="log")
    frame, enc, _ = _encoder(trial, meta)
    pos = enc.cell_blocks[1].start
    assert enc.cell_blocks[1].column == "weight"
    probe = frame.head(3).copy()
    probe["weight"] = [10.0, 100.0, 999.0]  # log10: 1, 2, 3 over [1, 3]: bins 0, 5, 9
    x = enc.encode(probe)
    assert x[:, pos:pos + B].argmax(axis=1).tolist() == [0, B // 2, B - 1]
    assert x[1, pos + B] == -1.0  # 100 is the lower edge of bin 5: position -1 inside it
    decoded = enc.decode(enc.encode(frame))
    np.testing.assert_allclose(decoded["weight"], frame["weight"].clip(10, 1000), rtol=1e-5)


def test_the_scale_changes_only_its_own_column(trial, meta):
    frame, linear, _ = _encoder(trial, meta)
    meta.columns["age"]["synth_scale"] = "log"
    _, logged, _ = _encoder(trial, meta)
    a, b = linear.encode(frame), logged.encode(frame)
    age = slice(0, B + 1)  # age's bins and position come first
    assert not np.array_equal(a[:, age], b[:, age])
    np.testing.assert_array_equal(a[:, B + 1:], b[:, B + 1:])  # every other column as before
    probe = frame.head(1).copy()
    probe["age"] = 30  # linear: 12/72 of 18–90, bin 1; log: ln(30/18)/ln(90/18) = 0.317, bin 3
    assert linear.encode(probe)[0, :B].argmax() == 1 and logged.encode(probe)[0, :B].argmax() == 3


def test_duration_scale_bins_are_equal_width_in_log1p_and_round_trip():
    gap = ColumnDomain("gap", "numerical", "numerical", False, "public", lo=0.0, hi=6000.0, integer=True,
                       scale="duration")
    enc = TableEncoder(Domain([gap], ["gap"]))
    days = pd.DataFrame({"gap": [0.0, 30.0, 40.0, 200.0, 365.0, 1000.0, 6000.0]})
    # edges 60 · (101^(k/10) − 1): 0, 35, 91, 180, 320, 543, 896, 1457, 2346, 3757, 6000
    assert enc.encode(days)[:, :B].argmax(axis=1).tolist() == [0, 0, 1, 3, 4, 6, 9]
    decoded = enc.decode(enc.encode(days))["gap"]
    assert decoded.tolist() == days["gap"].astype(int).tolist()
    linear = TableEncoder(Domain([ColumnDomain("gap", "numerical", "numerical", False, "public", lo=0.0,
                                               hi=6000.0, integer=True)], ["gap"]))
    assert linear.encode(days)[:, :B].argmax(axis=1).tolist() == [0, 0, 0, 0, 0, 1, 9]
