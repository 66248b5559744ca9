"""The streaming sampler draws only the cells of visit slots a drawn patient reaches
(synth/models/reached.py): every reached cell is the reference's (all cells drawn, the whole
slice at once) bit for bit, every unreached cell 0, every kept visit reached, and the written
CSV the reference's (tests/models/test_streaming.py)."""

import numpy as np
import pytest

from synth import Synthesizer
from synth.models.sampling import forward_draw, input_slices
from tests.conftest import FAST
from tests.encode.test_slots import meta as slots_meta, scheduled
from tests.models.test_streaming import CHUNK, _rich_visits, reference_csv


@pytest.fixture(scope="module", params=["rich", "slots", "schedule"])
def model(request):
    data = {"rich": _rich_visits, "slots": lambda: (scheduled(), slots_meta()),
            "schedule": lambda: (scheduled(), slots_meta(max_visits=3))}[request.param]()  # 4 times, 3 visits
    return request.param, Synthesizer(epsilon=1.0, label="arm", noise_seed=0, **FAST).fit(*data)


def test_reached_cells_are_the_references_and_cover_every_kept_visit(model):
    name, s = model
    st = s._state()
    enc = st["encoder"]
    assert enc.layout.slots == (name == "slots") and (enc.layout.schedule is not None) == (name != "rich")
    skipped = 0
    for part in input_slices(st["generator"], enc, st["domain"], 6_000, 5, None, CHUNK):
        plan = part.layout["reached"][0]
        _, _, rows, chosen = part.draw()
        all_cells = {k: v for k, v in part.layout.items() if k != "reached"}
        ref_rows, ref = forward_draw(part.gen, all_cells, part.z, part.labels, part.uniform, block=None)
        assert rows.tobytes() == ref_rows.tobytes() and set(chosen) == set(ref)
        reach = plan["need"].numpy()[ref[plan["visits"]]]  # patients × slots
        for start, cells in ref.items():
            slot = plan["slot_of"].get(start)
            if slot is None:
                np.testing.assert_array_equal(chosen[start], cells)
            else:
                np.testing.assert_array_equal(chosen[start][reach[:, slot]], cells[reach[:, slot]])
                assert (chosen[start][~reach[:, slot]] == 0).all()
                skipped += int((~reach[:, slot]).sum())
        wide = enc.decode(ref_rows, ref)
        kept, _, _ = enc.kept_visits(wide)
        assert not (kept & ~reach).any()
    assert skipped > 0


def test_the_csv_with_reached_cells_only_is_the_references(model, tmp_path):
    _, s = model
    expected = reference_csv(s, tmp_path / "reference.csv", 9_001, 2)
    s.write_csv(tmp_path / "streamed.csv", 9_001, seed=2, chunk_size=CHUNK)
    assert (tmp_path / "streamed.csv").read_bytes() == expected
