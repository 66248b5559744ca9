"""Sampling draws: exact categorical draws from the generator's softmax, a draw shared within a noise group."""

import numpy as np
import torch

from synth.encode.table import Span
from synth.models import Generator
from synth.sample.draw import _draw_rows, _span_layout, draw_cells, forward_draw
from tests.helpers.references import draw_reference


class _Spans:
    def __init__(self, spans):
        self.spans = spans


def _generator(noise_groups=None):
    spans = [Span("x", 0, 1, "tanh"), Span("a@0", 1, 3, "softmax"), Span("a@1", 4, 3, "softmax"),
             Span("b", 7, 2, "softmax")]
    gen = Generator(spans, 9, 0, noise_dim=4, hidden=8, noise_groups=noise_groups)
    with torch.no_grad():  # fixed logits: the output layer ignores its input
        gen.out.weight.zero_()
        gen.out.bias.copy_(torch.tensor([0.3, 0.0, 1.0, 2.0, 0.0, 1.0, 2.0, -1.0, 1.0]))
    return gen, _Spans(spans)


def test_categorical_draws_follow_the_softmax_and_numbers_pass_through_tanh():
    gen, enc = _generator()
    rows, chosen = _draw_rows(gen, enc, None, 40_000, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(rows[:, 0], np.tanh(0.3), rtol=1e-6)
    freq = np.bincount(chosen[1], minlength=3) / len(rows)
    np.testing.assert_allclose(freq, torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0).numpy(), atol=0.01)
    freq_b = np.bincount(chosen[7], minlength=2) / len(rows)
    np.testing.assert_allclose(freq_b, torch.softmax(torch.tensor([-1.0, 1.0]), 0).numpy(), atol=0.01)
    assert set(chosen) == {1, 4, 7} and all(len(c) == len(rows) for c in chosen.values())


def test_spans_in_one_noise_group_share_their_draw_and_others_do_not():
    shared, enc = _generator(noise_groups=[0, 1, 1, 2])
    _, chosen = _draw_rows(shared, enc, None, 2_000, torch.Generator().manual_seed(0))
    assert (chosen[1] == chosen[4]).all()  # equal probabilities, one uniform
    apart, enc = _generator()
    _, chosen = _draw_rows(apart, enc, None, 2_000, torch.Generator().manual_seed(0))
    assert (chosen[1] != chosen[4]).mean() > 0.3
    assert _span_layout(shared, enc.spans)["uniforms"] == 2  # a@0 and a@1 share one, b has its own


def test_a_seed_fixes_the_draws():
    gen, enc = _generator()
    one = _draw_rows(gen, enc, None, 100, torch.Generator().manual_seed(3))
    two = _draw_rows(gen, enc, None, 100, torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(one[0], two[0])
    for start in one[1]:
        np.testing.assert_array_equal(one[1][start], two[1][start])


def test_batched_gumbel_softmax_equals_the_block_by_block_draw_and_its_gradient():
    gen, _ = _generator(noise_groups=[0, 1, 1, 2])
    torch.manual_seed(0)
    raw = torch.randn(32, 9, requires_grad=True)
    u = torch.rand(32, gen.noise_width)
    for hard in (True, False):
        fast, slow = gen.draw(raw, hard=hard, uniform=u), draw_reference(gen, raw, hard=hard, uniform=u)
        torch.testing.assert_close(fast, slow)
        weights = torch.randn(9)
        (g_fast,), (g_slow,) = (torch.autograd.grad((d * weights).sum(), raw) for d in (fast, slow))
        torch.testing.assert_close(g_fast, g_slow, rtol=1e-4, atol=1e-5)  # float32 rounding at tau = 0.2


def _cells_reference(layout, out, uniform):
    """Each span's cell, span by span: the first cell whose CDF (exp of the logits less their
    maximum, summed in order) exceeds the uniform times the total."""
    chosen = {}
    for width, starts, columns, uniforms in layout["widths"]:
        for start, cols, u in zip(starts, columns, uniforms):
            logits = out[:, cols]
            mass = torch.cumsum(torch.exp(logits - logits.amax(dim=1, keepdim=True)), dim=1)
            below = mass <= (uniform[:, u] * mass[:, -1])[:, None]
            chosen[start] = below.sum(dim=1).clamp(max=width - 1).numpy()
    return chosen


def test_the_in_place_draws_equal_the_span_by_span_reference():
    gen, enc = _generator(noise_groups=[0, 1, 1, 2])
    layout = _span_layout(gen, enc.spans)
    out = torch.randn(5_000, 9) * 3
    out[:100, 1:4] = 0.5  # ties
    uniform = torch.rand(5_000, layout["uniforms"])
    uniform[:10] = 0.0
    fast, slow = draw_cells(layout, out.clone(), uniform.clone()), _cells_reference(layout, out, uniform)
    assert set(fast) == set(slow)
    for start in slow:
        np.testing.assert_array_equal(fast[start], slow[start])


def test_the_blocked_forward_and_draws_equal_the_whole_slice_bit_for_bit():
    """forward_draw runs the generator and the draws a cache-sized block of rows at a time; the
    rows and cells are the reference's (the whole slice at once), bit for bit, with labels and
    per-class offsets, for blocks that do and do not divide the slice (a last block of 1 row
    joins the one before: a 1-row product takes another kernel)."""
    torch.manual_seed(0)
    spans = [Span("x", 0, 1, "tanh"), Span("a@0", 1, 3, "softmax"), Span("a@1", 4, 3, "softmax"),
             Span("b", 7, 2, "softmax"), Span("c", 9, 10, "softmax"), Span("y", 19, 1, "tanh")]
    gen = Generator(spans, 20, 3, noise_dim=6, hidden=16, noise_groups=[0, 1, 1, 2, 3, 4])
    with torch.no_grad():
        gen.class_offsets.copy_(torch.randn(3, 20))
    layout = _span_layout(gen, _Spans(spans).spans)
    k = 1_000
    z, labels = torch.randn(k, 6), torch.randint(0, 3, (k,))
    uniform = torch.rand(k, layout["uniforms"])
    uniform[:5] = 0.0
    whole_rows, whole = forward_draw(gen, layout, z, labels, uniform, block=None)
    for block in (7, 333, 999, 4_096):
        rows, chosen = forward_draw(gen, layout, z, labels, uniform, block=block)
        assert rows.dtype == whole_rows.dtype and rows.tobytes() == whole_rows.tobytes()
        assert set(chosen) == set(whole)
        for start in whole:
            assert chosen[start].dtype == whole[start].dtype
            np.testing.assert_array_equal(chosen[start], whole[start])


def test_a_slice_one_row_past_the_blocks_draws_as_a_whole_one():
    """At a real model's size a 1-row product takes another kernel than a 256-row one (other
    bits): a slice of 2 blocks and 1 row is drawn as 2 blocks, the second with 257 rows."""
    torch.manual_seed(1)
    spans = [Span(f"c{i}", 11 * i, 10, "softmax") for i in range(60)] + [
        Span(f"x{i}", 11 * i + 10, 1, "tanh") for i in range(60)]
    spans.sort(key=lambda s: s.start)
    gen = Generator(spans, 660, 2, noise_dim=64, hidden=128)
    layout = _span_layout(gen, _Spans(spans).spans)
    k = 2 * 256 + 1
    z, labels, uniform = torch.randn(k, 64), torch.randint(0, 2, (k,)), torch.rand(k, layout["uniforms"])
    whole_rows, whole = forward_draw(gen, layout, z, labels, uniform, block=None)
    rows, chosen = forward_draw(gen, layout, z, labels, uniform, block=256)
    assert rows.tobytes() == whole_rows.tobytes()
    for start in whole:
        np.testing.assert_array_equal(chosen[start], whole[start])
