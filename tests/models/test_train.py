"""The Opacus wiring: one charged step per real batch; generator steps neither clipped nor charged."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from opacus import GradSampleModule
from opacus.optimizers import DPOptimizer

from synth.models.checkpoints import CheckpointSelector
from synth.encode.table import CellBlock, Span
from synth.models.marginal_loss import MarginalLoss
from synth.models import Discriminator, Generator
from synth.privacy.ledger import Ledger
from synth.privacy.marginals import MarginalTable
from synth.privacy.randomness import NoiseSource
from synth.models.generator_steps import GeneratorLoss
from synth.models.dp_step import NO_LABEL, dp_step, private_discriminator, row_losses
from synth.models.poisson import PoissonBatches
from synth.models.train import (TrainConfig, TrainInputs, _generator_step, _pretrain_generator, default_batch_size,
                                train_acgan)

SPANS = [Span("a", 0, 1, "tanh"), Span("b", 1, 3, "softmax")]
WIDTH, CLASSES = 4, 2


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, WIDTH), dtype=np.float32)
    x[:, 0] = rng.uniform(-1, 1, n)
    x[np.arange(n), 1 + rng.integers(0, 3, n)] = 1
    return x, rng.integers(0, CLASSES, n)


def test_one_charged_discriminator_step_per_poisson_batch(monkeypatch):
    calls = {"dp": 0, "gen": 0}
    charged_step = DPOptimizer.step
    monkeypatch.setattr(DPOptimizer, "step", lambda self, *a, **k: (calls.__setitem__("dp", calls["dp"] + 1),
                                                                   charged_step(self, *a, **k))[1])
    import synth.models.train as train_mod

    gen_step = train_mod._generator_step
    monkeypatch.setattr(train_mod, "_generator_step",
                        lambda *a, **k: (calls.__setitem__("gen", calls["gen"] + 1), gen_step(*a, **k))[1])
    x, y = _data()
    ledger = Ledger(2.0, 1e-4, len(x))
    cfg = TrainConfig(epochs=3, batch_size=12, g_hidden=16, d_hidden=16, noise_dim=4)
    result = train_acgan(TrainInputs(x, y, SPANS, CLASSES, [0.5, 0.5]), ledger, cfg)
    (mech,) = ledger.mechanisms
    assert mech.steps == result.steps == calls["dp"] == 3 * 5  # 60/12 = 5 Poisson batches an epoch
    assert calls["gen"] == calls["dp"]  # generator steps ran, and none was charged
    assert mech.sample_rate == pytest.approx(12 / 60)
    assert ledger.epsilon() == pytest.approx(2.0, rel=2e-3)
    assert ledger.epsilon() <= 2.0


def _private_disc(noise=0.0, clip=1e9, batch=8, seed=0):
    torch.manual_seed(seed)
    disc = Discriminator(WIDTH, CLASSES, hidden=8)
    plain = copy.deepcopy(disc)
    gsm, opt = private_discriminator(disc, torch.optim.SGD(disc.parameters(), lr=0.5), noise, clip, batch,
                                     torch.Generator().manual_seed(1))
    return gsm, opt, plain


def _batch(k=8):
    x, y = _data(k, seed=3)
    fake, yf = _data(k, seed=4)
    return [torch.as_tensor(v) for v in (x, y, fake, yf)]


def row_loss_reference(d, x, y, fake, y_fake, n_classes):
    """The mean row loss over two forward passes (real, then generated): the plain AC-GAN loss."""
    s_real, c_real = d(x)
    s_fake, c_fake = d(fake)
    loss = F.binary_cross_entropy_with_logits(s_real, torch.ones_like(s_real), reduction="sum")
    loss = loss + F.binary_cross_entropy_with_logits(s_fake, torch.zeros_like(s_fake), reduction="sum")
    if n_classes:
        loss = loss + F.cross_entropy(c_real, y, reduction="sum", ignore_index=NO_LABEL)
        loss = loss + F.cross_entropy(c_fake, y_fake, reduction="sum")
    return loss / (len(x) + len(fake))


def clipped_sum_reference(d, x, y, fake, y_fake, n_classes, clip):
    """Row by row: each row's gradient by plain autograd, clipped to ``clip``, summed. The slow,
    obviously correct version of what the step adds its noise to."""
    rows = [(x[i:i + 1], y[i:i + 1], fake[:0], y_fake[:0]) for i in range(len(x))]
    rows += [(x[:0], y[:0], fake[j:j + 1], y_fake[j:j + 1]) for j in range(len(fake))]
    total = [torch.zeros_like(p) for p in d.parameters()]
    for xi, yi, fi, yfi in rows:
        d.zero_grad()
        row_losses(d, xi, yi, fi, yfi, n_classes).sum().backward()
        grads = [p.grad.detach().clone() for p in d.parameters()]
        norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
        scale = min(1.0, clip / (norm.item() + 1e-6))  # Opacus' coefficient: C / (‖g‖ + 1e-6), at most 1
        total = [t + scale * g for t, g in zip(total, grads)]
    return total


def test_zero_noise_and_no_clipping_equals_plain_training():
    gsm, opt, plain = _private_disc(batch=16)  # 8 patients + 8 generated rows, averaged over 16
    x, y, fake, yf = _batch()
    dp_step(gsm, opt, x, y, fake, yf, CLASSES)
    plain_opt = torch.optim.SGD(plain.parameters(), lr=0.5)
    row_loss_reference(plain, x, y, fake, yf, CLASSES).backward()
    plain_opt.step()
    for p, q in zip(gsm._module.parameters(), plain.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("clip", [1e-3, 0.3, 1e9])
def test_ghost_clipping_step_equals_row_by_row_clipping(clip):
    """The fast step (one pass, ghost norms) against each row's gradient clipped by hand and
    summed, and against Opacus' materialised per-sample gradients: the same clipped update."""
    fast, fast_opt, plain = _private_disc(clip=clip)
    by_hand = clipped_sum_reference(copy.deepcopy(plain), *_labelled_batch(), CLASSES, clip)
    slow = GradSampleModule(plain)
    slow_opt = DPOptimizer(torch.optim.SGD(slow.parameters(), lr=0.5), noise_multiplier=0.0, max_grad_norm=clip,
                           expected_batch_size=8)
    x, y, fake, yf = _labelled_batch()
    before = [p.detach().clone() for p in plain.parameters()]
    dp_step(fast, fast_opt, x, y, fake, yf, CLASSES)
    slow_opt.zero_grad()
    (row_losses(slow, x, y, fake, yf, CLASSES).mean()).backward()
    slow_opt.step()
    for p, q, b, g in zip(fast._module.parameters(), slow._module.parameters(), before, by_hand):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(p, b - 0.5 * g / 8, rtol=1e-4, atol=1e-6)


def _labelled_batch():
    x, y, fake, yf = _batch()
    y[0] = NO_LABEL  # an unreleased label value: no class loss for that patient
    return x, y, fake, yf


def test_clipping_bounds_the_update():
    clip = 1e-3
    gsm, opt, _ = _private_disc(clip=clip)
    before = [p.detach().clone() for p in gsm.parameters()]
    x, y, fake, yf = _batch()
    dp_step(gsm, opt, x, y, fake, yf, CLASSES)
    moved = torch.sqrt(sum(((p - b) ** 2).sum() for p, b in zip(gsm.parameters(), before)))
    assert 0 < moved <= 0.5 * clip * 16 / 8 * (1 + 1e-4)  # lr · (sum of 16 clipped rows) / 8


def test_empty_poisson_batch_still_takes_a_charged_step():
    gsm, opt, _ = _private_disc(noise=1.0, clip=1.0)
    charged = []
    opt.attach_step_hook(lambda o: charged.append(1))
    before = [p.detach().clone() for p in gsm.parameters()]
    _, _, fake, yf = _batch()
    empty = torch.zeros(0, WIDTH)
    no_labels = torch.zeros(0, dtype=torch.long)
    dp_step(gsm, opt, empty, no_labels, fake, yf, CLASSES)  # the generated rows are there whatever k is
    dp_step(gsm, opt, empty, no_labels, empty, no_labels, CLASSES)
    assert charged == [1, 1]
    assert all(torch.isfinite(p).all() for p in gsm.parameters())
    assert any((p != b).any() for p, b in zip(gsm.parameters(), before))  # the noise still lands


def test_row_losses_ignore_an_unreleased_label_and_match_the_reference():
    torch.manual_seed(0)
    d = Discriminator(3, 2, hidden=4)
    x, fake = torch.randn(4, 3), torch.randn(5, 3)
    y_fake = torch.tensor([0, 1, 0, 1, 1])
    all_ignored = row_losses(d, x, torch.full((4,), NO_LABEL), fake, y_fake, 2)
    labelled = row_losses(d, x, torch.zeros(4, dtype=torch.long), fake, y_fake, 2)
    assert labelled.shape == (9,)
    _, c_real = d(x)
    real_class_term = torch.nn.functional.cross_entropy(c_real, torch.zeros(4, dtype=torch.long), reduction="none")
    torch.testing.assert_close((labelled - all_ignored)[:4], real_class_term)  # only that term vanished
    torch.testing.assert_close((labelled - all_ignored)[4:], torch.zeros(5))
    torch.testing.assert_close(labelled.mean(), row_loss_reference(d, x, torch.zeros(4, dtype=torch.long), fake,
                                                                   y_fake, 2))


def _shipped_clipped_sum(x, y, fake, yf, clip):
    """The pre-noise clipped sum the shipped step computes (as it reports it to observe)."""
    from synth.privacy.observe import listening

    gsm, opt, _ = _private_disc(clip=clip)
    seen = []
    with listening(lambda name, stat, out, sens, ctx: (seen.append(stat), out)[1]):
        dp_step(gsm, opt, x, y, fake, yf, CLASSES)
    return seen[0]


@pytest.mark.parametrize("at", [0, 4, 8])
def test_a_patient_moves_the_shipped_clipped_sum_by_at_most_c(at):
    """Row-level clipping as the shipped step runs it: one more patient anywhere in the batch,
    the same generated rows, moves the clipped sum by one clipped term, at most C (the harness in
    tests/privacy checks the whole fit)."""
    clip = 0.05
    x, y, fake, yf = _batch()
    new_x, new_y = torch.full((1, WIDTH), 0.9), torch.tensor([1])
    more_x, more_y = torch.cat([x[:at], new_x, x[at:]]), torch.cat([y[:at], new_y, y[at:]])
    moved = torch.linalg.vector_norm(_shipped_clipped_sum(more_x, more_y, fake, yf, clip)
                                     - _shipped_clipped_sum(x, y, fake, yf, clip))
    assert clip * 0.99 < moved <= clip * (1 + 1e-4)  # the gradients are large: the term is clipped to C
    by_hand = clipped_sum_reference(_private_disc(clip=clip)[2], more_x, more_y, fake, yf, CLASSES, clip)
    torch.testing.assert_close(_shipped_clipped_sum(more_x, more_y, fake, yf, clip),
                               torch.cat([g.reshape(-1) for g in by_hand]), rtol=1e-4, atol=1e-6)


def test_poisson_batches_are_opacus_samplers_draws():
    from opacus.utils.uniform_sampler import UniformWithReplacementSampler

    x = torch.arange(50, dtype=torch.float32)[:, None]
    ours = PoissonBatches(x, torch.arange(50), 0.2, 5, torch.Generator().manual_seed(7))
    theirs = UniformWithReplacementSampler(num_samples=50, sample_rate=0.2, generator=torch.Generator().manual_seed(7))
    assert len(ours) == len(theirs) == 5
    for (xb, yb), indices in zip(ours, theirs):
        assert yb.tolist() == list(indices)
        assert xb[:, 0].long().tolist() == list(indices)


def test_poisson_batches_keep_each_patient_at_rate_q():
    ours = PoissonBatches(torch.zeros(1000, 1), torch.arange(1000), 0.1, 200, torch.Generator().manual_seed(0))
    counts = torch.zeros(1000)
    sizes = []
    for _, yb in ours:
        counts[yb] += 1
        sizes.append(len(yb))
    assert abs(np.mean(sizes) - 100) < 2  # 200 draws of Binomial(1000, 0.1): sd of the mean 0.67
    assert abs(counts.mean().item() / 200 - 0.1) < 0.002


def test_generator_step_leaves_discriminator_untouched_and_unclipped():
    gsm, opt, _ = _private_disc(noise=1.0, clip=1.0)
    gen = Generator(SPANS, WIDTH, CLASSES, noise_dim=4, hidden=8)
    opt_g = torch.optim.Adam(gen.parameters(), lr=1e-2)
    d_before = [p.detach().clone() for p in gsm.parameters()]
    g_before = [p.detach().clone() for p in gen.parameters()]

    def draw(k):
        return torch.randn(k, 4), torch.randint(0, CLASSES, (k,))

    _generator_step(gen, gsm, opt_g, draw, 8, GeneratorLoss(CLASSES))
    for p, b in zip(gsm.parameters(), d_before):
        assert torch.equal(p, b)
        assert p.grad is None and getattr(p, "grad_sample", None) is None  # no per-sample gradients
        assert p.requires_grad  # restored for the next discriminator step
    assert any((p != b).any() for p, b in zip(gen.parameters(), g_before))


def _generator_weights(noise, seed=0):
    x, y = _data()
    cfg = TrainConfig(epochs=2, batch_size=12, g_hidden=8, d_hidden=8, noise_dim=4, seed=seed)
    result = train_acgan(TrainInputs(x, y, SPANS, CLASSES, [0.5, 0.5]), Ledger(2.0, 1e-4, len(x)), cfg, noise=noise)
    return torch.cat([p.detach().flatten() for p in result.generator.parameters()])


def test_the_user_seed_does_not_fix_the_dp_noise():
    """Poisson batches and gradient noise come from the secret generator, not torch's global
    one (which ``seed`` fixes): the same seed, fresh entropy each time, two different runs."""
    a, b = _generator_weights(None), _generator_weights(None)
    assert not torch.equal(a, b)
    same_seed_other_noise = _generator_weights(NoiseSource(2).torch)
    assert not torch.equal(_generator_weights(NoiseSource(1).torch), same_seed_other_noise)


def test_a_noise_seed_repeats_a_run_exactly():
    torch.testing.assert_close(_generator_weights(NoiseSource(7).torch), _generator_weights(NoiseSource(7).torch),
                               rtol=0, atol=0)


def test_sample_rate_and_averaging_come_from_the_ledgers_public_n():
    x, y = _data(60)
    ledger = Ledger(2.0, 1e-4, 120)  # a released N twice the rows: q and the averaging follow it, not len(x)
    cfg = TrainConfig(epochs=1, batch_size=12, g_hidden=8, d_hidden=8, noise_dim=4)
    result = train_acgan(TrainInputs(x, y, SPANS, CLASSES, [0.5, 0.5]), ledger, cfg)
    assert result.sample_rate == pytest.approx(1 / 10) and result.steps == 10


def test_default_batch_size_fits_small_trials():
    assert default_batch_size(100) == 10
    assert default_batch_size(30) == 8
    assert default_batch_size(5) == 5
    assert default_batch_size(76_800) == 256
    assert default_batch_size(100_000) == 334  # past 256 × 300 patients: one epoch stays 300 steps
    assert default_batch_size(10 ** 6) == 3334


def test_no_privacy_run_records_infinite_epsilon():
    x, y = _data()
    ledger = Ledger(math.inf, 1e-4, len(x))
    train_acgan(TrainInputs(x, y, SPANS, CLASSES, [0.5, 0.5]), ledger, TrainConfig(epochs=1, g_hidden=8, d_hidden=8))
    assert ledger.mechanisms[0].noise_multiplier == 0.0
    assert ledger.epsilon() == math.inf


def _table_loss():
    """A released label × b table: label 0 mostly in cell 0, label 1 mostly in cell 2."""
    counts = np.array([[90.0, 5.0, 5.0], [5.0, 5.0, 90.0]])
    return MarginalLoss([MarginalTable((CellBlock("b", 1, 3),), counts)], [0.5, 0.5])


def test_pretraining_fits_the_generator_to_the_released_tables():
    torch.manual_seed(0)
    gen = Generator(SPANS, WIDTH, CLASSES, noise_dim=4, hidden=16)
    marginals = _table_loss()

    def draw(k):
        return torch.randn(k, 4), torch.randint(0, CLASSES, (k,))

    z, y = draw(2000)
    before = marginals(gen.logits(z, y), y).item()
    _pretrain_generator(gen, marginals, draw, steps=300, lr=1e-2, batch=256)
    after = marginals(gen.logits(z, y), y).item()
    assert after < 0.01 < before
    cells = gen.logits(z, y)[:, 1:4].argmax(dim=1)
    assert (cells[y == 0] == 0).float().mean() > 0.7 and (cells[y == 1] == 2).float().mean() > 0.7


def test_pretraining_is_not_charged(monkeypatch):
    calls = {"dp": 0}
    charged_step = DPOptimizer.step
    monkeypatch.setattr(DPOptimizer, "step", lambda self, *a, **k: (calls.__setitem__("dp", calls["dp"] + 1),
                                                                   charged_step(self, *a, **k))[1])
    import synth.models.train as train_mod

    ran = []
    pretrain_fn = train_mod._pretrain_generator
    monkeypatch.setattr(train_mod, "_pretrain_generator",
                        lambda gen, m, draw, steps, *a: (ran.append((steps, calls["dp"])),
                                                         pretrain_fn(gen, m, draw, steps, *a))[1])
    x, y = _data()
    eps = []
    for pretrain in (0, 40):
        ledger = Ledger(2.0, 1e-4, len(x))
        cfg = TrainConfig(epochs=2, batch_size=12, g_hidden=16, d_hidden=16, noise_dim=4, pretrain_steps=pretrain)
        result = train_acgan(TrainInputs(x, y, SPANS, CLASSES, [0.5, 0.5], _table_loss()), ledger, cfg)
        assert result.summary["config"]["pretrain_steps"] == pretrain
        eps.append(ledger.epsilon())
    assert ran == [(40, 10)]  # pretrained once, only when asked, before the run's first DP step
    assert calls["dp"] == 2 * 2 * 5  # the same 10 charged steps with and without pretraining
    assert eps[0] == eps[1]


def test_checkpoint_selection_is_free_and_changes_only_which_epoch_returns():
    """Same charged steps and ε with and without selection; the run itself is the same run."""
    x, y = _data()
    runs = {}
    for select in (False, True):
        ledger = Ledger(2.0, 1e-4, len(x))
        # Pretrained close to the tables, then a fast GAN phase that barely weighs them drifts away.
        cfg = TrainConfig(epochs=4, batch_size=12, g_hidden=16, d_hidden=16, noise_dim=4, pretrain_steps=200,
                          lr_pretrain=1e-2, lr_g=1e-2, marginal_weight=1e-3, select_checkpoint=select)
        runs[select] = (train_acgan(TrainInputs(x, y, SPANS, CLASSES, [0.5, 0.5], _table_loss()), ledger, cfg,
                                    noise=NoiseSource(3).torch), ledger)  # the same noise: the same run
    (plain, plain_ledger), (chosen, chosen_ledger) = runs[False], runs[True]
    assert plain.summary["checkpoint"] is None
    info = chosen.summary["checkpoint"]
    assert info["of"] == 4 and len(info["table_loss"]) == 5 and 0 <= info["epoch"] <= 4
    assert info["table_loss"][info["epoch"]] == min(info["table_loss"])
    assert chosen_ledger.to_dict() == plain_ledger.to_dict()
    # The last epoch of the selecting run is the plain run's generator: scoring used its own stream.
    check = CheckpointSelector(_table_loss(), torch.tensor([0.5, 0.5]), 4, CLASSES, seed=1)
    assert check.score(plain.generator) == pytest.approx(info["table_loss"][-1], abs=1e-6)
    # ... and the generator returned is the chosen epoch's, not the last one.
    assert info["epoch"] == 0 and info["table_loss"][0] < info["table_loss"][-1] / 10
    assert check.score(chosen.generator) == pytest.approx(min(info["table_loss"]), abs=1e-6)


def test_checkpoint_selection_is_on_under_dp_only():
    x, y = _data()
    for eps, expected in ((2.0, True), (math.inf, False)):
        cfg = TrainConfig(epochs=1, batch_size=12, g_hidden=8, d_hidden=8, noise_dim=4, pretrain_steps=5)
        result = train_acgan(TrainInputs(x, y, SPANS, CLASSES, [0.5, 0.5], _table_loss()),
                             Ledger(eps, 1e-4, len(x)), cfg)
        assert result.summary["config"]["select_checkpoint"] is expected
        assert (result.summary["checkpoint"] is not None) is expected
