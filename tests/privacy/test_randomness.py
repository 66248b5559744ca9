"""The secret torch generators carry the SeedSequence's entropy, not manual_seed's 32 bits."""

import numpy as np
import pytest
import torch

from synth.privacy.randomness import MT_WORDS, NoiseSource, mt19937_state, philox_seed, torch_generator

GPU = torch.cuda.is_available()


def _words(seed: int = 5) -> np.ndarray:
    return np.random.SeedSequence(seed).generate_state(MT_WORDS, dtype=np.uint32)


def _generator(words: np.ndarray) -> torch.Generator:
    g = torch.Generator()
    g.set_state(mt19937_state(words))
    return g


def test_torch_manual_seed_keeps_only_the_low_32_bits():
    """Why synth fills the state instead: if this fails, torch's CPU seeding changed (re-check randomness.py)."""
    s = (0xDEADBEEF << 32) | 12345
    a, b = torch.Generator().manual_seed(s), torch.Generator().manual_seed(s & 0xFFFFFFFF)
    assert a.initial_seed() == s  # it reports the whole seed...
    assert torch.equal(torch.rand(100, generator=a), torch.rand(100, generator=b))  # ...and uses 32 bits


def test_the_state_is_accepted_and_round_trips_with_no_seed_to_read():
    words = _words()
    g = _generator(words)
    assert torch.equal(g.get_state(), mt19937_state(words)) and g.initial_seed() == 0


def test_the_words_are_mt19937s_state_in_torchs_layout():
    """NumPy's MT19937 with the same 624 words yields the same raw stream (torch's randint below
    2**32 takes two words per value and keeps the second: if torch changes that, so must this test)."""
    words = _words()
    reference = np.random.MT19937()
    reference.state = {"bit_generator": "MT19937", "state": {"key": words, "pos": MT_WORDS}}
    drawn = torch.randint(0, 2**32, (500,), dtype=torch.int64, generator=_generator(words)).numpy()
    np.testing.assert_array_equal(drawn, reference.random_raw(1000)[1::2])


@pytest.mark.parametrize("word", [1, 311, MT_WORDS - 1])
def test_every_word_changes_the_stream(word):
    """States that agree in all but one word, one bit of it (what manual_seed could never tell
    apart beyond 32 bits), give different streams."""
    words = _words()
    other = words.copy()
    other[word] ^= 1 << 31
    assert not torch.equal(torch.rand(2000, generator=_generator(words)), torch.rand(2000, generator=_generator(other)))


def test_bad_words_are_refused():
    with pytest.raises(ValueError, match="624 words"):
        mt19937_state(np.zeros(2, dtype=np.uint32))
    with pytest.raises(ValueError, match="624 words"):
        mt19937_state(np.full(MT_WORDS, 2**32, dtype=np.uint64))


def test_a_generator_takes_all_its_words_from_the_sequence():
    words = _words(9)
    words[0] = 0x80000000
    assert torch.equal(torch_generator(np.random.SeedSequence(9)).get_state(), mt19937_state(words))


def test_a_noise_seed_repeats_both_streams_and_other_seeds_differ():
    a, b, c = NoiseSource(3), NoiseSource(3), NoiseSource(4)
    assert torch.equal(torch.rand(5, generator=a.torch), torch.rand(5, generator=b.torch))
    assert a.numpy.normal() == b.numpy.normal()
    assert not torch.equal(torch.rand(5, generator=NoiseSource(3).torch), torch.rand(5, generator=c.torch))


def test_without_a_noise_seed_every_source_is_new():
    a, b = NoiseSource(), NoiseSource()
    assert not torch.equal(torch.rand(5, generator=a.torch), torch.rand(5, generator=b.torch))
    assert a.numpy.normal() != b.numpy.normal() and a.secret


def _cuda_stream(source: NoiseSource) -> tuple[torch.Tensor, int, int]:
    g = source.torch_on("cuda")
    return torch.rand(100, device="cuda", generator=g).cpu(), g.initial_seed(), g.get_offset()


@pytest.mark.skipif(not GPU, reason="needs a CUDA GPU")
def test_the_cuda_generator_takes_a_64_bit_seed_and_an_offset_and_repeats_under_a_noise_seed():
    (a, seed_a, offset_a), (b, seed_b, _) = _cuda_stream(NoiseSource(3)), _cuda_stream(NoiseSource(3))
    assert torch.equal(a, b) and seed_a == seed_b
    assert offset_a % 4 == 0 and offset_a < 2**63
    seeds = [_cuda_stream(NoiseSource())[1] for _ in range(8)]
    assert max(seeds) >= 2**32  # not a 32-bit seed (fails with probability 2**-256)
    assert not torch.equal(_cuda_stream(NoiseSource())[0], _cuda_stream(NoiseSource())[0])


def test_the_philox_seed_has_64_bits_and_a_philox_offset_and_repeats():
    """torch_on's draws for a GPU generator, on the CPU (the CUDA test above needs a GPU)."""
    source = NoiseSource().torch
    drawn = [philox_seed(source) for _ in range(64)]
    assert all(0 <= s < 2**64 and 0 <= o < 2**63 and o % 4 == 0 for s, o in drawn)
    # the top bits are drawn: each assert fails with probability 2**-64
    assert max(s for s, _ in drawn) >= 2**63 and max(o for _, o in drawn) >= 2**62
    assert philox_seed(NoiseSource(3).torch) == philox_seed(NoiseSource(3).torch)
