import json

import pytest
from safetensors.torch import save_file

from synth import Synthesizer, SynthError
from tests.conftest import FAST, TRIAL_META, make_trial


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "m.synth"
    Synthesizer(epsilon=1.0, label="arm", **FAST).fit(make_trial(), TRIAL_META).save(path)
    return path


def _copy(model_path, tmp_path, transform):
    bad = tmp_path / "bad.synth"
    bad.write_bytes(transform(model_path.read_bytes()))
    return bad


def test_truncated_file(model_path, tmp_path):
    bad = _copy(model_path, tmp_path, lambda b: b[: len(b) // 2])
    with pytest.raises(SynthError, match="truncated or foreign"):
        Synthesizer.load(bad)


def test_edited_json_fails_checksum(model_path, tmp_path):
    bad = _copy(model_path, tmp_path, lambda b: b.replace(b'\\"label\\": \\"arm\\"', b'\\"label\\": \\"abc\\"'))
    assert bad.read_bytes() != model_path.read_bytes()
    with pytest.raises(SynthError, match="checksum"):
        Synthesizer.load(bad)


def test_edited_weights_fail_checksum(model_path, tmp_path):
    bad = _copy(model_path, tmp_path, lambda b: b[:-8] + bytes(8))
    with pytest.raises(SynthError, match="checksum"):
        Synthesizer.load(bad)


def test_foreign_files(tmp_path):
    csv = tmp_path / "x.synth"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(SynthError, match="not a synth model"):
        Synthesizer.load(csv)
    import torch

    st = tmp_path / "y.synth"
    save_file({"w": torch.zeros(2)}, str(st))
    with pytest.raises(SynthError, match="not a synth model"):
        Synthesizer.load(st)
    with pytest.raises(SynthError, match="not found"):
        Synthesizer.load(tmp_path / "missing.synth")


def test_ledger_claim_is_recomputed_on_load(model_path, tmp_path):
    """A file whose claimed ε disagrees with its own history is refused, checksum or not."""
    from synth.io.modelfile import read_model, write_model

    tensors, doc = read_model(model_path)
    doc = {k: v for k, v in doc.items() if k not in ("format", "format_version")}
    doc["ledger"]["epsilon"] = 0.1
    forged = tmp_path / "forged.synth"
    write_model(forged, tensors, doc)
    with pytest.raises(SynthError, match="claims"):
        Synthesizer.load(forged)


def test_file_holds_no_pickle(model_path):
    head = model_path.read_bytes()
    n = int.from_bytes(head[:8], "little")
    header = json.loads(head[8:8 + n])
    assert set(header["__metadata__"]) == {"synth", "checksum"}
    assert json.loads(header["__metadata__"]["synth"])["format"] == "synth-model"


def test_format_versions_read_and_refused(model_path, tmp_path, monkeypatch):
    import synth.io.modelfile as mf

    tensors, doc = mf.read_model(model_path)
    assert doc["format_version"] == 11
    tensors = {k: v for k, v in tensors.items() if k != "class_offsets"}  # a file before version 9
    doc = {k: v for k, v in doc.items() if k not in ("format", "format_version")}
    for column in doc["domain"]["columns"]:  # what a version-1 file holds
        column.pop("scale")
    old = tmp_path / "v1.synth"
    monkeypatch.setattr(mf, "FORMAT_VERSION", 1)
    mf.write_model(old, tensors, doc)
    loaded = Synthesizer.load(old)
    assert all(c.scale == "linear" for c in loaded.domain.columns) and len(loaded.sample(5)) == 5
    monkeypatch.setattr(mf, "FORMAT_VERSION", 12)
    mf.write_model(tmp_path / "v12.synth", tensors, doc)
    with pytest.raises(SynthError, match="format version 12; this synth reads versions 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11"):
        Synthesizer.load(tmp_path / "v12.synth")


def test_a_format_5_ledger_loads_and_says_what_it_lacked(model_path, tmp_path, monkeypatch):
    """Format 5 stored the exact N and seeded its noise with --seed: such a file still loads, and
    its ledger says both, rather than claiming a release or a secret noise it did not have."""
    import synth.io.modelfile as mf

    tensors, doc = mf.read_model(model_path)
    doc = {k: v for k, v in doc.items() if k not in ("format", "format_version")}
    ledger = doc["ledger"]
    ledger["n_patients_public"] = ledger.pop("n_patients")
    for key in ("n_patients_source", "noise", "adjacency"):
        ledger.pop(key)
    monkeypatch.setattr(mf, "FORMAT_VERSION", 5)
    mf.write_model(tmp_path / "v5.synth", tensors, doc)
    led = Synthesizer.load(tmp_path / "v5.synth").ledger
    assert led.n_patients_source.startswith("exact, read off the data")
    assert "seeded by --seed" in led.noise and "seeded by --seed" in led.to_dict()["guarantee"]


def test_hostile_model_files_are_rejected_in_bounded_time_and_memory_and_run_no_code(model_path, tmp_path):
    """Truncations in every region, bit flips, edited safetensors headers, forged documents with
    a recomputed checksum, and foreign files (pickles carrying a payload among them)."""
    import resource

    import numpy as np

    from bench.dev.hostile_models import bit_flips, foreign_files, forgeries, header_edits, truncations, try_load

    raw, rng, marker = model_path.read_bytes(), np.random.default_rng(0), tmp_path / "ran"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seen = 0
    for cases in (truncations(raw, rng), bit_flips(raw, rng), header_edits(raw), forgeries(model_path),
                  foreign_files(marker)):
        for name, data in cases:
            bad = tmp_path / "bad.synth"
            bad.write_bytes(data)
            kind, message, seconds = try_load(bad)
            assert kind == "rejected", (name, kind, message)
            assert "bad.synth" in message and seconds < 5, (name, message, seconds)
            seen += 1
    assert seen > 100 and not marker.exists()  # no payload ran
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 512 * 1024  # KiB on Linux


def test_no_code_path_can_execute_a_file():
    """Nothing in synth unpickles, evaluates or imports what it reads."""
    from pathlib import Path

    import synth

    import re

    banned = re.compile(r"import pickle|pickle\.load|torch\.load|(?<![\w.])(eval|exec)\(|__import__|import_module"
                        r"|joblib|dill|marshal|allow_pickle=True")
    for path in Path(synth.__file__).parent.rglob("*.py"):
        found = banned.search(path.read_text())
        assert found is None, (path, found)


def test_a_label_whose_classes_disagree_with_its_proportions_is_refused(model_path, tmp_path, monkeypatch):
    """A missing class came with version 11; a file's label proportions and counts must cover its
    classes (else sampling would crash, or never draw a class)."""
    import synth.io.modelfile as mf

    tensors, doc = mf.read_model(model_path)
    doc = {k: v for k, v in doc.items() if k not in ("format", "format_version")}
    short = json.loads(json.dumps(doc))
    short["domain"]["label_proportions"] = short["domain"]["label_proportions"][:1]
    mf.write_model(tmp_path / "short.synth", tensors, short)
    with pytest.raises(SynthError, match="proportions do not match its 2 classes"):
        Synthesizer.load(tmp_path / "short.synth")
    early = json.loads(json.dumps(doc))
    early["domain"]["label"]["nullable"] = True
    monkeypatch.setattr(mf, "FORMAT_VERSION", 10)
    mf.write_model(tmp_path / "v10.synth", tensors, early)
    with pytest.raises(SynthError, match="missing class in a file of format version 10"):
        Synthesizer.load(tmp_path / "v10.synth")
