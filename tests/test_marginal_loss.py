"""The marginal-matching loss: soft cells agree with the encoder's cells; zero at the target."""

import numpy as np
import torch

from synth.encode import CellBlock
from synth.marginal_loss import MarginalLoss, soft_cells
from synth.privacy.marginals import MarginalTable

BLOCK = CellBlock("x", start=0, width=3, missing=4)  # bins at 0..2, [present, missing] at 4..5


def _logits(bins, missing, scale=50.0):
    raw = torch.zeros(len(bins), 6)
    raw[torch.arange(len(bins)), torch.as_tensor(bins)] = scale
    raw[torch.arange(len(bins)), 4 + torch.as_tensor(missing)] = scale
    return raw


def test_sharp_logits_give_the_encoders_cells():
    raw = _logits([0, 2, 1], [0, 0, 1])
    soft = soft_cells(raw, BLOCK)
    np.testing.assert_array_equal(soft.argmax(dim=1).numpy(), BLOCK.cells(np.eye(6)[[[0, 4], [2, 4], [1, 5]]].sum(1)))
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(3))


def test_loss_is_zero_at_the_target_and_grows_away_from_it():
    y = torch.tensor([0, 0, 1, 1])
    raw = _logits([0, 1, 2, 2], [0, 0, 0, 1])
    counts = np.array([[1.0, 1, 0, 0], [0, 0, 1, 1]])  # class 0: bins 0,1; class 1: bin 2, missing
    loss = MarginalLoss([MarginalTable((BLOCK,), counts)], [0.5, 0.5])
    assert loss(raw, y).item() < 1e-6
    far = loss(_logits([2, 2, 0, 0], [0, 0, 0, 0]), y).item()
    assert far > 0.5


def test_loss_gradient_reaches_the_logits():
    raw = torch.zeros(4, 6, requires_grad=True)
    counts = np.array([[4.0, 0, 0, 0]])
    loss = MarginalLoss([MarginalTable((BLOCK,), counts)], [])
    loss(raw, None).backward()
    assert raw.grad[:, 0].lt(0).all()  # raising bin 0 lowers the loss


def test_pair_table_with_groups_is_matched_over_the_whole_batch():
    a = CellBlock("a", start=0, width=4, ordered=True)  # 4 bins, merged into 2 groups
    b = CellBlock("b", start=4, width=2)
    groups = (np.array([0, 0, 1, 1]), None)
    counts = np.array([[[2.0, 0], [0, 2]]])  # a low ↔ b first, a high ↔ b second
    loss = MarginalLoss([MarginalTable((a, b), counts, groups, by_label=False)], [0.5, 0.5])
    y = torch.tensor([0, 1, 0, 1])  # the label plays no part in a table not crossed with it

    def raw(a_bins, b_cats):
        out = torch.zeros(4, 6)
        out[torch.arange(4), torch.as_tensor(a_bins)] = 50.0
        out[torch.arange(4), 4 + torch.as_tensor(b_cats)] = 50.0
        return out

    assert loss(raw([0, 1, 2, 3], [0, 0, 1, 1]), y).item() < 1e-6  # bins 0 and 1 are one group
    assert loss(raw([0, 1, 2, 3], [1, 1, 0, 0]), y).item() > 0.9  # the relation reversed
