"""Checkpoint selection: the best-scoring epoch comes back, and the training stream is left alone."""

import numpy as np
import pytest
import torch

from synth.models.checkpoints import CheckpointSelector
from synth.encode.table import CellBlock, Span
from synth.models.marginal_loss import MarginalLoss
from synth.models import Generator
from synth.privacy.marginals import MarginalTable

SPANS = [Span("a", 0, 1, "tanh"), Span("b", 1, 3, "softmax")]
PROPORTIONS = torch.tensor([0.5, 0.5])


def _tables():
    counts = np.array([[90.0, 5.0, 5.0], [5.0, 5.0, 90.0]])
    return MarginalLoss([MarginalTable((CellBlock("b", 1, 3),), counts)], [0.5, 0.5])


def _generator(seed):
    torch.manual_seed(seed)
    return Generator(SPANS, 4, 2, noise_dim=4, hidden=16)


def _fit_to_tables(gen, marginals, steps=200):
    opt = torch.optim.Adam(gen.parameters(), lr=1e-2)
    for _ in range(steps):
        z, y = torch.randn(256, 4), torch.randint(0, 2, (256,))
        loss = marginals(gen.logits(z, y), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_the_epoch_closest_to_the_tables_is_restored():
    marginals = _tables()
    gen = _generator(0)
    selector = CheckpointSelector(marginals, PROPORTIONS, noise_dim=4, n_classes=2, seed=1, rows=512)
    selector.score(gen)  # epoch 0: untrained
    _fit_to_tables(gen, marginals)
    selector.score(gen)  # epoch 1: fitted
    fitted = {k: v.clone() for k, v in gen.state_dict().items()}
    with torch.no_grad():
        for p in gen.parameters():  # epoch 2: wrecked
            p.add_(torch.randn_like(p))
    selector.score(gen)
    assert selector.scores[1] < min(selector.scores[0], selector.scores[2])
    assert selector.restore(gen) == 1
    assert all(torch.equal(gen.state_dict()[k], v) for k, v in fitted.items())
    assert selector.score(gen) == pytest.approx(selector.scores[1])  # the same fixed batch each time


def test_a_later_tie_keeps_the_earlier_epoch_and_restore_needs_a_score():
    gen = _generator(0)
    selector = CheckpointSelector(_tables(), PROPORTIONS, noise_dim=4, n_classes=2, seed=1, rows=64)
    with pytest.raises(RuntimeError, match="no checkpoint"):
        selector.restore(gen)
    selector.score(gen)
    selector.score(gen)
    assert selector.restore(gen) == 0


def test_scoring_does_not_touch_the_global_random_stream():
    torch.manual_seed(3)
    before = torch.get_rng_state()
    gen = Generator(SPANS, 4, 2, noise_dim=4, hidden=16)
    after_init = torch.get_rng_state()
    selector = CheckpointSelector(_tables(), PROPORTIONS, noise_dim=4, n_classes=2, seed=1, rows=64)
    selector.score(gen)
    selector.restore(gen)
    assert torch.equal(torch.get_rng_state(), after_init) and not torch.equal(before, after_init)


def test_a_blocked_score_equals_the_whole_batch_bit_for_bit():
    """Checkpoint scores compute the tables' cells SCORE_BLOCK rows at a time: the same value as
    the whole batch at once, for visit sequences' pooled, per-slot and pair tables (two-stage
    releases: merged groups too), and blocks that do and do not divide the batch."""
    import math

    from synth.models.checkpoints import SCORE_BLOCK
    from synth.privacy.ledger import Ledger
    from synth.privacy.resolution import sequence_table_specs
    from synth.release.marginals import Patients, release_label_tables
    from synth.release.sequence import prepare_sequences
    from synth.schema.metadata import Metadata
    from tests.helpers.visits import make_visits, seq_meta

    df = make_visits(n=60, seed=3)
    ledger = Ledger(1.0, 1e-5, 60)
    domain, enc, wide = prepare_sequences(df, Metadata.load(seq_meta(visit_tables="pooled")), "arm", ledger,
                                          np.random.default_rng(0), "t")
    x, y = enc.encode(wide), wide["arm"].map({"a": 0, "b": 1}).to_numpy()
    sizes = 60 * np.asarray(domain.label_proportions)
    tables, _ = release_label_tables(Patients(x, y, 2), sequence_table_specs(enc), sizes, ledger,
                                     np.random.default_rng(1), 0.5)
    marginals = MarginalLoss(tables, list(domain.label_proportions))
    torch.manual_seed(0)
    for rows in (600, 1_025):
        raw, labels = torch.randn(rows, enc.width) * 2, torch.randint(0, 2, (rows,))
        with torch.no_grad():
            whole = marginals(raw, labels)
            for block in (7, SCORE_BLOCK, 512, 4_096):
                assert marginals(raw, labels, block=block).item() == whole.item()
    assert math.isfinite(whole.item())
    gen = Generator(enc.spans, enc.width, 2, noise_dim=8, hidden=16)
    selector = CheckpointSelector(marginals, torch.as_tensor(domain.label_proportions), 8, 2, seed=1, rows=1_000)
    with torch.no_grad():
        expected = float(marginals(gen.logits(selector.z, selector.y), selector.y))
    assert selector.score(gen) == expected
