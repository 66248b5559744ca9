"""Nothing private reaches an output: the model file, `synth info`, the CSV and its sidecar.

The metadata below marks its ranges private (``"range_public": false``, as ``synth metadata
infer`` drafts them) and one site is held by a single patient. After a fit, none of those
values, nor the exact number of patients, nor the noise seed, nor a loss on real batches or a
training time may appear in any byte of any output.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from synth import Synthesizer
from synth.io.modelfile import read_model

N = 1337  # exact patients: must never be written
NOISE_SEED = 918273645  # fixes this test's noise; must never be written either
LONE_SITE = "site-held-by-one-patient-zq"
PRIVATE_MIN, PRIVATE_MAX = 23.731, 88.917


def _private_table() -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(7)
    age = np.round(rng.uniform(PRIVATE_MIN, PRIVATE_MAX, N), 3)
    age[:2] = PRIVATE_MIN, PRIVATE_MAX
    site = rng.choice(["site-alpha-41", "site-beta-52"], N).astype(object)
    site[5] = LONE_SITE
    df = pd.DataFrame({"pid": np.arange(N), "age": age, "site": site, "arm": rng.choice(["a", "b"], N)})
    meta = {"METADATA_SPEC_VERSION": "V1", "tables": {"t": {"primary_key": "pid", "columns": {
        "pid": {"sdtype": "id"},
        "age": {"sdtype": "numerical", "computer_representation": "Float", "range_min": PRIVATE_MIN,
                "range_max": PRIVATE_MAX, "range_is_nullable": False, "range_public": False},
        "site": {"sdtype": "categorical", "range_values": ["site-alpha-41", "site-beta-52", LONE_SITE],
                 "range_is_nullable": False, "range_public": False},
        "arm": {"sdtype": "categorical", "range_values": ["a", "b"], "range_is_nullable": False},
    }}}}
    return df, meta


def _numbers(doc) -> list:
    if isinstance(doc, dict):
        return [x for v in doc.values() for x in _numbers(v)] + [x for k in doc for x in _numbers_in_text(k)]
    if isinstance(doc, list):
        return [x for v in doc for x in _numbers(v)]
    if isinstance(doc, str):
        return _numbers_in_text(doc)
    return [doc] if isinstance(doc, (int, float)) and not isinstance(doc, bool) else []


def _numbers_in_text(text: str) -> list[float]:
    return [float(m) for m in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])", text)]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    df, meta = _private_table()
    s = Synthesizer(epsilon=2.0, label="arm", noise_seed=NOISE_SEED, epochs=1, pretrain_steps=20, batch_size=10**5,
                    g_hidden=16, d_hidden=16, noise_dim=4).fit(df, meta)
    assert s.ledger.n_patients != N  # precondition, fixed by NOISE_SEED: the released N is not the exact one
    folder = tmp_path_factory.mktemp("leak")
    model = s.save(folder / "m.synth")
    csv = s.write_csv(folder / "syn.csv", 300, seed=1, model_path=model)
    info = json.dumps(Synthesizer.load(model).info(), default=str)
    return {"model": model.read_bytes(), "csv": csv.read_bytes(),
            "sidecar": (folder / "syn.csv.privacy.json").read_bytes(), "info": info.encode(),
            "doc": read_model(model)[1], "sidecar_doc": json.loads((folder / "syn.csv.privacy.json").read_text()),
            "info_doc": json.loads(info), "ledger": s.ledger}


@pytest.mark.parametrize("name", ["model", "csv", "sidecar", "info"])
def test_no_private_metadata_value_in_any_output(outputs, name):
    data = outputs[name]
    for secret in (LONE_SITE, str(PRIVATE_MIN), str(PRIVATE_MAX), str(NOISE_SEED)):
        assert secret.encode() not in data, f"{secret} in the {name}"


@pytest.mark.parametrize("name", ["doc", "sidecar_doc", "info_doc"])
def test_no_exact_patient_count_loss_or_time_in_any_document(outputs, name):
    doc = outputs[name]
    assert N not in _numbers(doc)
    text = json.dumps(doc)
    for key in ("final_d_loss", "final_g_loss", "seconds", "n_patients_public", "noise_seed"):
        assert f'"{key}"' not in text


def test_model_metadata_keeps_the_private_marker_without_the_values(outputs):
    columns = next(iter(outputs["doc"]["metadata"]["tables"].values()))["columns"]
    assert columns["age"] == {"sdtype": "numerical", "computer_representation": "Float", "range_public": False}
    assert columns["site"] == {"sdtype": "categorical", "range_public": False}
    assert columns["arm"]["range_values"] == ["a", "b"]  # public values stay


def test_ledger_names_adjacency_noise_and_where_n_came_from(outputs):
    led = outputs["doc"]["ledger"]
    assert led["adjacency"] == "add/remove one patient"
    assert "add/remove" in led["guarantee"] and "seeded by the caller" in led["guarantee"]
    assert led["n_patients_source"].startswith("dp")
    assert led["mechanisms"][0]["name"] == "count:patients"
    assert outputs["sidecar_doc"]["ledger"]["noise"] == led["noise"]
