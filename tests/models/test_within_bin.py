"""The within-bin spread prior: zero for offsets spread uniformly, large for offsets piled on a point."""

import torch

from synth.models.within_bin import offset_spread


def test_spread_is_near_zero_for_uniform_offsets_and_large_for_a_pile():
    batch = 1000
    uniform = torch.atanh(torch.linspace(-1 + 1 / batch, 1 - 1 / batch, batch))[:, None]
    piled = torch.zeros(batch, 1)
    columns = torch.tensor([0])
    assert offset_spread(uniform, columns) < 1e-10
    assert offset_spread(piled, columns) > 0.3  # E[U²] on (−1, 1) is 1/3


def test_spread_reads_only_the_listed_columns_and_its_gradient_spreads_a_pile():
    raw = torch.cat([torch.zeros(64, 1), torch.randn(64, 1) * 5], dim=1).requires_grad_(True)
    loss = offset_spread(raw, torch.tensor([0]))
    (grad,) = torch.autograd.grad(loss, raw)
    assert grad[:, 1].abs().max() == 0  # an unlisted column is left alone
    step = raw.detach()[:, 0] - 0.5 * grad[:, 0]
    assert step.std() > 0  # one step apart: the pile starts to spread
    assert offset_spread(torch.zeros(0, 2), torch.tensor([0])) == 0
