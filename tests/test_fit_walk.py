"""The fit walk (issue 50): the fit's ``Metadata`` is read by the schema stage, then only by the faces
and the model file; no later stage goes back to it. Counted by ``bench/dev/fit_walk.py``."""

from __future__ import annotations

import copy

from bench.dev.fit_walk import ORCHESTRATOR, Read, issue_walk, record, walk
from synth import Synthesizer
from tests.conftest import FAST, TRIAL_META, make_trial
from tests.helpers.visits import SEQ_META, make_visits

LATER = {"release", "privacy", "encode", "models", "distributed", "io", "sample", "eval"}


def _walk(data, meta, tmp_path, label="arm"):
    def run():
        s = Synthesizer(epsilon=1.0, label=label, noise_seed=0, **FAST).fit(data, meta)
        s.save(tmp_path / "m.synth")
    reads = record(run)
    return reads, walk(reads)


def test_a_fit_reads_the_metadata_in_the_schema_stage_and_never_climbs_back(tmp_path):
    meta = copy.deepcopy(TRIAL_META)
    meta["synth_patients"] = 120  # the orchestrator's public count comes from the resolved schema too
    reads, w = _walk(make_trial(), meta, tmp_path)
    assert reads and w.stays[0][0] == "schema"
    assert len(w.climbs) <= 4, w.climbs
    assert not {r.room for r in reads} & LATER, [r for r in reads if r.room in LATER]
    assert any(r.name == "public_dict" for r in reads)  # the model file's metadata: the tracer sees the save


def test_a_visit_fit_reads_the_metadata_in_the_schema_stage_and_never_climbs_back(tmp_path):
    reads, w = _walk(make_visits(n=30), SEQ_META, tmp_path)
    assert len(w.climbs) <= 4, w.climbs
    assert not {r.room for r in reads} & LATER, [r for r in reads if r.room in LATER]


def test_the_walk_counts_a_later_stage_going_back_to_the_metadata():
    reads = [Read("columns", "schema/columns.py", 1), Read("sequence_key", "preparation.py", 2),
             Read("columns", "release/domain.py", 3), Read("analysis", "preparation.py", 4),
             Read("columns", "schema/validate.py", 5), Read("extra", "encode/inequalities.py", 6),
             Read("public_dict", "synthesizer.py", 7)]
    w = walk(reads)
    assert [room for room, _ in w.stays] == ["schema", ORCHESTRATOR, "release", ORCHESTRATOR, "schema", "encode",
                                             ORCHESTRATOR]
    assert w.climbs == [("release", "schema")]  # the orchestrator between them is transparent
    assert len(issue_walk(reads).climbs) == 2  # by module, every move from a face to an earlier stage counts
