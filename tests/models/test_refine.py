"""Full-resolution label tables from coarse ones: the group masses kept, the column's shape inside."""

import math

import numpy as np
import pytest
import torch

from synth.encode.table import CellBlock
from synth.models.marginal_loss import REFINE_MAX_GROUPS, MarginalLoss, label_groups
from synth.privacy.marginals import MarginalTable
from synth.models.refine import refined_tables, within_group_fill

X = CellBlock("x", start=0, width=4, ordered=True)  # 4 bins, merged into 2 groups by the label stage
GROUPS = np.array([0, 0, 1, 1])


def _two_stage(marginal_counts, label_counts, totals=None):
    marginal = MarginalTable((X,), np.asarray([marginal_counts], dtype=float), by_label=False,
                             totals=np.array([float(sum(marginal_counts))]))
    label = MarginalTable((X,), np.asarray(label_counts, dtype=float), (GROUPS,), totals=totals)
    return marginal, label


WIDE = CellBlock("w", start=0, width=6, ordered=True)  # 6 bins, for label stages of 4 or 5 groups


def _wide_stage(groups):
    """A stage-1 table of WIDE and a label table on ``groups`` (cell → group) of it."""
    marginal = MarginalTable((WIDE,), np.full((1, 6), 100.0 / 6), by_label=False, totals=np.array([100.0]))
    n = max(groups) + 1
    label = MarginalTable((WIDE,), np.full((2, n), 50.0 / n), (np.array(groups),), totals=np.array([50.0, 50.0]))
    return marginal, label


def test_fill_keeps_each_groups_mass_and_takes_the_shape_inside_from_the_cells():
    group_probs = np.array([[0.8, 0.2], [0.3, 0.7]])
    fine = within_group_fill(group_probs, GROUPS, np.array([0.1, 0.3, 0.6, 0.0]))
    np.testing.assert_allclose(fine @ np.eye(2)[GROUPS], group_probs)  # group masses unchanged
    np.testing.assert_allclose(fine[:, 0] / fine[:, 1], [1 / 3, 1 / 3])  # shape inside group 0: 0.1 : 0.3
    np.testing.assert_allclose(fine[:, 3], [0.0, 0.0])  # a cell the column never takes stays empty


def test_fill_is_uniform_inside_a_group_the_column_never_takes():
    fine = within_group_fill(np.array([[0.5, 0.5]]), GROUPS, np.array([0.4, 0.6, 0.0, 0.0]))
    np.testing.assert_allclose(fine, [[0.2, 0.3, 0.25, 0.25]])


def test_refined_table_matches_the_label_stage_on_groups_and_is_label_free_inside_them():
    marginal, label = _two_stage([10, 30, 40, 20], [[30, 10], [10, 50]], totals=np.array([40.0, 60.0]))
    [fine] = refined_tables([marginal, label])
    assert fine.by_label and not fine.groups and fine.blocks == (X,)
    cond = fine.conditional()
    np.testing.assert_allclose(cond @ np.eye(2)[GROUPS], label.conditional(), atol=1e-12)
    for c in range(2):  # inside each group, every label value has the column's own shape
        np.testing.assert_allclose(cond[c, :2] / cond[c, :2].sum(), [0.25, 0.75])
        np.testing.assert_allclose(cond[c, 2:] / cond[c, 2:].sum(), [2 / 3, 1 / 3])
    np.testing.assert_allclose(fine.counts.sum(axis=1), [40.0, 60.0])


def test_one_stage_tables_and_tables_without_a_column_table_are_left_alone():
    marginal, label = _two_stage([10, 30, 40, 20], [[30, 10], [10, 50]])
    one_stage = MarginalTable((X,), np.ones((2, 4)))
    assert refined_tables([one_stage]) == []
    assert refined_tables([label]) == []  # no stage-1 table of x to take the shape from
    other = MarginalTable((CellBlock("z", start=4, width=4, ordered=True),), np.ones((1, 4)), by_label=False)
    assert refined_tables([other, label]) == []


def test_mismatched_cells_are_an_error_not_a_silent_misfit():
    wide = CellBlock("x", start=0, width=5, ordered=True)
    marginal = MarginalTable((wide,), np.ones((1, 5)), by_label=False)
    label = MarginalTable((X,), np.ones((2, 2)), (GROUPS,))
    with pytest.raises(ValueError, match="table x"):
        refined_tables([marginal, label])


def test_loss_prefers_label_values_spread_like_the_column_over_pushed_apart_inside_the_groups():
    # Both batches match the released tables (the column uniform; each label value half in each
    # group), so the released tables alone cannot tell them apart. In the second, the labels are
    # pushed apart inside the groups (class 0 on bins 0 and 2, class 1 on bins 1 and 3).
    marginal, label = _two_stage([25, 25, 25, 25], [[25, 25], [25, 25]], totals=np.array([50.0, 50.0]))
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])

    def raw(bins):
        out = torch.full((8, 4), -50.0)
        out[torch.arange(8), torch.as_tensor(bins)] = 50.0
        return out

    spread, pushed = raw([0, 1, 2, 3, 0, 1, 2, 3]), raw([0, 0, 2, 2, 1, 1, 3, 3])
    for released in (MarginalLoss([marginal], [0.5, 0.5], refine_groups=True),
                     MarginalLoss([label], [0.5, 0.5], refine_groups=True),
                     MarginalLoss([marginal, label], [0.5, 0.5], refine_groups=False)):
        assert len(released.tables) <= 2  # either table alone: nothing to refine; or refinement off
        assert released(spread, y).item() < 1e-6 and released(pushed, y).item() < 1e-6
    for both in (MarginalLoss([marginal, label], [0.5, 0.5], refine_groups=True),
                 MarginalLoss([marginal, label], [0.5, 0.5])):  # by default at 2 groups
        assert len(both.tables) == 3  # the refined table is matched next to the released two
        assert both(spread, y).item() < 1e-6
        assert both(pushed, y).item() > 0.1


def test_refined_by_default_only_when_the_label_stage_has_at_most_four_groups():
    """Items 47, 49, 51, 52 and 54 of bench/RESULTS.md: up at 2 groups (pbcseq, lung, colon), level
    at 3 and 4 (colon and GBSG2 cut small), down at 5 (colon, ACTG175 cut) and 6 (GBSG2's split).
    One-stage tables have no groups and nothing to refine."""
    marginal, label = _two_stage([25, 25, 25, 25], [[25, 25], [25, 25]])
    four, five = _wide_stage([0, 1, 2, 3, 3, 3]), _wide_stage([0, 1, 2, 3, 4, 4])
    one_stage = MarginalTable((X,), np.full((2, 4), 12.5))
    assert REFINE_MAX_GROUPS == 4
    assert label_groups([marginal, label]) == 2 and label_groups([one_stage]) == math.inf
    assert label_groups(list(four)) == 4 and label_groups(list(five)) == 5
    assert len(MarginalLoss([marginal, label], [0.5, 0.5]).tables) == 3
    assert len(MarginalLoss(list(four), [0.5, 0.5]).tables) == 3
    assert len(MarginalLoss(list(five), [0.5, 0.5]).tables) == 2
    assert len(MarginalLoss(list(five), [0.5, 0.5], refine_groups=True).tables) == 3
    assert len(MarginalLoss([marginal, label], [0.5, 0.5], refine_groups=False).tables) == 2


def test_the_loss_says_what_it_matches_for_the_training_summary():
    """``synth info`` reads this: released tables, the refined ones by name, the label stage's
    groups, and the released tables smoothed over their ordered bins."""
    marginal, label = _two_stage([25, 25, 25, 25], [[25, 25], [25, 25]])
    one_stage = MarginalTable((X,), np.full((2, 4), 12.5))
    assert MarginalLoss([marginal, label], [0.5, 0.5]).matched == {"released": 2, "refined": ["x"], "label_groups": 2,
                                                                   "smoothed": []}
    five = list(_wide_stage([0, 1, 2, 3, 4, 4]))
    assert MarginalLoss(five, [0.5, 0.5]).matched == {"released": 2, "refined": [], "label_groups": 5, "smoothed": []}
    assert MarginalLoss([one_stage], [0.5, 0.5]).matched == {"released": 1, "refined": [], "label_groups": None,
                                                             "smoothed": []}
    marginal.smooth, marginal.sigma = True, 3.0  # a noisy one-column table marked for smoothing
    assert MarginalLoss([marginal, label], [0.5, 0.5]).matched["smoothed"] == ["x"]
