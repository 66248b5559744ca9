"""The streaming sampler computes the output layer and draws only for the visit slots a drawn
patient reaches (synth/sample/reached.py): every reached column and cell is the old whole-output
path's (``forward_draw(..., block=None)``: every column of every row at once) bit for bit, every
unreached one 0, every kept visit reached, and the written CSV the reference's."""

import numpy as np
import pytest
import torch

from synth import Synthesizer
from synth.sample import draw as D, reached as R
from synth.sample.draw import forward_draw, input_slices
from tests.conftest import FAST
from tests.encode.test_slots import meta as slots_meta, scheduled
from tests.helpers.visits import make_visits, SEQ_META
from tests.sample.test_streaming import CHUNK, _rich_visits, reference_csv


@pytest.fixture(scope="module", params=["count", "rich", "slots", "schedule"])
def model(request):
    data = {"count": lambda: (make_visits(), SEQ_META), "rich": _rich_visits,
            "slots": lambda: (scheduled(), slots_meta()),
            "schedule": lambda: (scheduled(), slots_meta(max_visits=3))}[request.param]()  # 4 times, 3 visits
    return request.param, Synthesizer(epsilon=1.0, label="arm", noise_seed=0, **FAST).fit(*data)


def _against_the_whole_output(part, rows, chosen) -> tuple[int, np.ndarray]:
    """Assert the reached path's ``rows`` and ``chosen`` against the whole output of the slice;
    the number of unreached (patient, slot) pairs, and which slots each patient reaches."""
    groups, need = part.layout["reached"]["groups"], part.layout["reached"]["need"].numpy()
    whole = {k: v for k, v in part.layout.items() if k != "reached"}
    ref_rows, ref = forward_draw(part.gen, whole, part.z, part.labels, part.uniform, block=None)
    w, row = part.layout["reached"]["visits"]
    reach = need[ref[part.layout["widths"][w][1][row]]]  # patients × slots, from the reference's own visit counts
    skipped = 0
    for g in groups:
        mask = np.ones(len(ref_rows), bool) if g.slot < 0 else reach[:, g.slot]
        np.testing.assert_array_equal(rows[mask, g.start:g.stop].view(np.int32),
                                      ref_rows[mask, g.start:g.stop].view(np.int32))  # bit for bit
        unreached = rows[~mask, g.start:g.stop]  # 0, or a row's own values where it pads a product
        padding = (unreached != 0).any(axis=1)
        assert padding.sum() < R.MIN_ROWS * 2 * len(groups)
        np.testing.assert_array_equal(unreached[padding].view(np.int32),
                                      ref_rows[~mask, g.start:g.stop][padding].view(np.int32))
        for start in (s for s in ref if g.start <= s < g.stop):
            np.testing.assert_array_equal(chosen[start][mask], ref[start][mask])
            assert (chosen[start][~mask][~padding] == 0).all()
        skipped += int((~mask).sum())
    assert set(chosen) == set(ref)
    return skipped, reach


def test_reached_columns_and_cells_are_the_whole_outputs_and_cover_every_kept_visit(model):
    name, s = model
    st = s._state()
    enc = st["encoder"]
    assert enc.layout.slots == (name in ("slots",)) and (enc.layout.schedule is not None) == (name in (
        "slots", "schedule"))
    skipped = 0
    for part in input_slices(st["generator"], enc, st["domain"], 6_000, 5, chunk_size=CHUNK):
        assert "reached" in part.layout
        _, _, rows, chosen = part.draw()
        skipped += _against_the_whole_output(part, rows, chosen)[0]
        ref_rows, ref = forward_draw(part.gen, {k: v for k, v in part.layout.items() if k != "reached"}, part.z,
                                     part.labels, part.uniform, block=None)
        kept, _, _ = enc.kept_visits(enc.decode(ref_rows, ref))
        reach = part.layout["reached"]["need"].numpy()[ref[enc.visits_span.start]]
        assert not (kept & ~reach).any()
    assert skipped > 0


def test_slots_reached_by_fewer_rows_than_a_product_needs_keep_their_bits(model):
    """Blocks of 4-9 rows: some slots are reached by 1-3 rows, computed among MIN_ROWS rows."""
    name, s = model
    st = s._state()
    part = next(input_slices(st["generator"], st["encoder"], st["domain"], 4_096, 11, chunk_size=CHUNK))
    few = 0
    for k, at in ((4, 0), (5, 8), (6, 16), (9, 24), (4, 40), (4, 44), (5, 48), (4, 60)):
        cut = slice(at, at + k)
        small = part._replace(z=part.z[cut], uniform=part.uniform[cut],
                              labels=None if part.labels is None else part.labels[cut])
        rows, chosen = R.reached_rows(small.gen, small.layout, small.z, small.labels, small.uniform, block=k)
        _, reach = _against_the_whole_output(small, rows.numpy(), chosen)
        few += int(((reach.sum(axis=0) > 0) & (reach.sum(axis=0) < R.MIN_ROWS)).sum())
    assert few > 0 or name == "slots"  # its drawn patterns (4 scheduled times) attend nearly every slot


def test_the_csv_with_reached_slots_only_is_the_references(model, tmp_path):
    _, s = model
    expected = reference_csv(s, tmp_path / "reference.csv", 9_001, 2)
    s.write_csv(tmp_path / "streamed.csv", 9_001, seed=2, chunk_size=CHUNK)
    assert (tmp_path / "streamed.csv").read_bytes() == expected


def test_a_product_that_would_change_its_bits_computes_every_slot(model, monkeypatch):
    _, s = model
    st = s._state()
    layout = D._span_layout(st["generator"], st["encoder"].spans)
    assert "reached" in R.reached_layout(layout, st["generator"], st["encoder"])
    monkeypatch.setattr(R, "_same_bits", lambda gen, groups: False)
    assert R.reached_layout(layout, st["generator"], st["encoder"]) is layout


def test_a_table_has_no_reached_layout(tmp_path):
    from tests.conftest import TRIAL_META, make_trial
    s = Synthesizer(epsilon=1.0, label="arm", noise_seed=0, **FAST).fit(make_trial(120), TRIAL_META)
    st = s._state()
    layout = D._span_layout(st["generator"], st["encoder"].spans)
    assert R.reached_layout(layout, st["generator"], st["encoder"]) is layout
    assert torch.is_tensor(layout["tanh"])


def test_a_joint_draw_over_a_padded_slot_computes_every_slot(model, monkeypatch):
    """The joint draw of a time-to-event pair reads its columns of every row: only outside the slots."""
    from types import SimpleNamespace
    _, s = model
    st = s._state()
    gen, enc = st["generator"], st["encoder"]
    layout = D._span_layout(gen, enc.spans)
    first = R.reached_layout(layout, gen, enc)["reached"]["groups"][1].start

    def pair(at):
        return SimpleNamespace(event_start=0, event_width=2, time_start=at, time_width=1, position=at)
    monkeypatch.setattr(gen, "joint", SimpleNamespace(pairs=[pair(first - 1)]))
    assert "reached" in R.reached_layout(layout, gen, enc)
    monkeypatch.setattr(gen, "joint", SimpleNamespace(pairs=[pair(first)]))
    assert R.reached_layout(layout, gen, enc) is layout
