"""The marginal-matching loss: soft cells agree with the encoder's cells; zero at the target."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synth.encode.table import CellBlock
from synth.models import padding_classes
from synth.models.marginal_loss import PADDED_ROWS, MarginalLoss, measured_distance, pair_mask, soft_cells, within_label_dependence
from synth.privacy.marginals import MarginalTable
from tests.helpers.references import table_terms_reference

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


def _slow_dependence(cells, y, a, b, n_classes):
    """Loop over classes and cell pairs: Σ_ij cov(1[a = i], 1[b = j] | class)², per class."""
    out = []
    for c in range(n_classes):
        rows = [r for r in range(len(y)) if y[r] == c]
        pa, pb = cells[a][rows].double(), cells[b][rows].double()
        total = 0.0
        for i in range(pa.shape[1]):
            for j in range(pb.shape[1]):
                cov = (pa[:, i] * pb[:, j]).mean() - pa[:, i].mean() * pb[:, j].mean()
                total += float(cov) ** 2
        out.append(total)
    return np.array(out)


def test_within_label_dependence_equals_the_slow_covariance_and_skips_unlisted_pairs():
    torch.manual_seed(0)
    y = torch.tensor([0, 1, 0, 1, 0, 1, 0, 0])
    cells = [torch.softmax(torch.randn(8, k), dim=1) for k in (3, 2, 4)]
    fast = within_label_dependence(cells, F.one_hot(y, 2).float(), pair_mask([3, 2, 4], [(0, 2), (1, 2)]))
    slow = _slow_dependence(cells, y, 0, 2, 2) + _slow_dependence(cells, y, 1, 2, 2)
    np.testing.assert_allclose(fast.numpy(), slow, rtol=1e-5)
    assert within_label_dependence(cells, F.one_hot(y, 2).float(), pair_mask([3, 2, 4], [])).abs().sum() == 0


def test_dependence_is_zero_when_independent_given_the_label_even_if_both_follow_it():
    # a and b both copy the label (dependent overall) but are constant within each class
    y = torch.tensor([0, 0, 1, 1])
    a = F.one_hot(y, 2).float()
    b = F.one_hot(y, 2).float()
    assert within_label_dependence([a, b], F.one_hot(y, 2).float(), pair_mask([2, 2], [(0, 1)])).abs().max() < 1e-7
    # within class 0, b now copies a: dependent given the label
    a2 = F.one_hot(torch.tensor([0, 1, 1, 1]), 2).float()
    b2 = F.one_hot(torch.tensor([0, 1, 0, 0]), 2).float()
    dep = within_label_dependence([a2, b2], F.one_hot(y, 2).float(), pair_mask([2, 2], [(0, 1)]))
    assert dep[0] > 0.1 and dep[1].abs() < 1e-7


def test_marginal_loss_leaves_measured_pairs_out_of_the_independence_term():
    a = CellBlock("a", start=0, width=2)
    b = CellBlock("b", start=2, width=2)
    c = CellBlock("c", start=4, width=2)
    singles = [MarginalTable((blk,), np.ones((2, 2))) for blk in (a, b, c)]
    pair = MarginalTable((a, b), np.ones((1, 2, 2)), by_label=False)
    loss = MarginalLoss(singles + [pair], [0.5, 0.5], independence=1.0)
    assert loss.free_pairs == [(0, 2), (1, 2)]  # a × b is measured: its dependence is the table's
    off = MarginalLoss(singles + [pair], [0.5, 0.5], independence=0.0)
    y = torch.tensor([0, 0, 0, 0])
    raw = torch.zeros(4, 6)
    raw[torch.arange(4), torch.tensor([0, 1, 0, 1])] = 50.0  # a
    raw[torch.arange(4), 2 + torch.tensor([0, 1, 0, 1])] = 50.0  # b copies a: allowed
    raw[torch.arange(4), 4 + torch.tensor([0, 1, 1, 0])] = 50.0  # c independent of a and b
    assert abs(loss(raw, y).item() - off(raw, y).item()) < 1e-6
    raw[:, 4:] = raw[:, :2]  # c copies a: penalised
    assert loss(raw, y).item() - off(raw, y).item() > 0.05


def test_independence_term_spares_pairs_two_measured_steps_apart_but_not_three():
    blocks = [CellBlock(name, start=2 * i, width=2) for i, name in enumerate("abcd")]
    singles = [MarginalTable((blk,), np.ones((2, 2))) for blk in blocks]
    chain = [MarginalTable((blocks[i], blocks[i + 1]), np.ones((1, 2, 2)), by_label=False) for i in range(3)]
    loss = MarginalLoss(singles + chain, [0.5, 0.5], independence=1.0)
    # a-b, b-c, c-d measured; a-c and b-d are implied by the tables (distance 2); a-d is free
    assert loss.free_pairs == [(0, 3)]
    np.testing.assert_array_equal(measured_distance(5, [(0, 1), (1, 2), (2, 3)])[0], [0, 1, 2, 3, np.inf])


def _layout_tables(rows: int, seed: int = 0) -> tuple[list[MarginalTable], int]:
    """Every kind of table the loss matches, over a 32-wide layout: one- and two-column tables by
    label and not, merged groups, a repeated table, visit slots pooled (with missing cells by
    phase, and on groups)."""
    rng = np.random.default_rng(seed)
    a = CellBlock("a", 0, 4, missing=4, ordered=True)
    b, c = CellBlock("b", 6, 3), CellBlock("c", 9, 5)
    visits = CellBlock("visits", 14, 3, ordered=True)
    slots = tuple(CellBlock(f"v@{k}", 17 + 5 * k, 3, missing=20 + 5 * k, ordered=True) for k in range(3))

    def table(blocks, shape, **kw):
        return MarginalTable(blocks, rng.uniform(0.1, 5, (rows if kw.get("by_label", True) else 1, *shape)), **kw)

    tables = [
        table((a,), (5,)), table((a,), (5,), by_label=False), table((a,), (5,)),  # the same cells twice
        table((b,), (2,), groups=(np.array([0, 0, 1]),)),
        table((a, b), (3, 3), groups=(np.array([0, 0, 1, 1, 2]), None)),
        table((b, c), (3, 5), by_label=False), table((c, a), (5, 5)),
        table((visits,), (3,)),
        table(slots, (5,), pooled_by=visits, missing_phases=2),
        table(slots, (2,), groups=(np.array([0, 0, 1, 1]),), pooled_by=visits, by_label=False),
        # per-visit tables: slot k's cells and "no visit k", alone, on groups, and in pairs
        table((slots[1],), (5,), present_by=visits, slots=(1,)),
        table((slots[2],), (3,), groups=(np.array([0, 0, 1, 1, 2]),), present_by=visits, slots=(2,)),
        table((slots[0], slots[2]), (4, 5), by_label=False, present_by=visits, slots=(0, 2)),
        table((b, slots[1]), (3, 5), present_by=visits, slots=(0, 1)),
    ]
    return tables, 32


@pytest.mark.parametrize("padding", [0.0, 2.0, float("inf")])  # classes apart, the default, all padded into one
@pytest.mark.parametrize("labelled", [True, False])
def test_batched_tables_equal_the_table_by_table_loss_and_its_gradient(labelled, padding, monkeypatch):
    monkeypatch.setattr(padding_classes, "PAIR_PADDING", padding)
    rows = 3 if labelled else 1
    tables, width = _layout_tables(rows)
    loss = MarginalLoss(tables, [0.5, 0.3, 0.2] if labelled else [], refine_groups=False)
    torch.manual_seed(0)
    raw = torch.randn(64, width, requires_grad=True)
    y = torch.randint(0, rows, (64,)) if labelled else None
    y_less = y if y is None else torch.where(y == 2, 0, y)  # a label value absent from the batch
    for labels in ([y, y_less] if labelled else [y]):
        by_label = torch.ones(64, 1) if labels is None else F.one_hot(labels, rows).float()
        weights = loss.weights if labels is not None else torch.ones(1)
        fast = loss.batched(raw, by_label, weights)
        slow = table_terms_reference(loss, raw, labels)
        torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)
        (g_fast,), (g_slow,) = torch.autograd.grad(fast, raw), torch.autograd.grad(slow, raw)
        torch.testing.assert_close(g_fast, g_slow, rtol=1e-4, atol=1e-7)
    # Cells shared by tables are computed once (a: 5, its repeat: 5, b on groups: 2, a on groups: 3, b: 3,
    # c: 5, visits: 3, the pooled slots: 5, on groups: 2, slot 1 with "no visit": 5, slot 2 on groups: 3,
    # slot 0: 4, slot 2: 5), a repeated one-column table gets its own copy.
    assert loss.batched.n_features == 50


def test_padding_joins_narrower_classes_only_within_the_bound(monkeypatch):
    tables, width = _layout_tables(3)
    groups = {p: [] for p in (0.0, 2.0, float("inf"))}
    for padding in groups:
        monkeypatch.setattr(padding_classes, "PAIR_PADDING", padding)
        b = MarginalLoss(tables, [0.5, 0.3, 0.2], refine_groups=False).batched
        groups[padding] = (len(b.width_groups), len(b.pair_groups))
    apart, default, one = groups[0.0], groups[2.0], groups[float("inf")]
    assert one == (1, 1) and apart[0] > 1 and apart[1] > 1
    assert default[0] <= apart[0] and default[1] <= apart[1]


def test_small_batches_take_the_padded_classes_and_large_ones_the_classes_apart(monkeypatch):
    tables, width = _layout_tables(3)
    loss = MarginalLoss(tables, [0.5, 0.3, 0.2], refine_groups=False)
    assert len(loss.batched.width_groups) < len(loss.batched_large.width_groups)
    used, apart = [], loss.batched_large
    for name in ("batched", "batched_large"):
        layout = getattr(loss, name)
        monkeypatch.setattr(loss, name, lambda *a, _l=layout, _n=name: used.append(_n) or _l(*a))
    torch.manual_seed(0)
    for rows in (PADDED_ROWS, PADDED_ROWS + 1):
        raw, y = torch.randn(rows, width), torch.randint(0, 3, (rows,))
        by_label = F.one_hot(y, 3).float()
        torch.testing.assert_close(loss(raw, y), apart(raw, by_label, loss.weights) + loss.other_terms(raw, y, by_label))
    assert used == ["batched", "batched_large"]
