"""--device: auto picks CUDA when torch sees it, else the CPU; the ledger is the same on every device."""

import pytest
import torch
from typer.testing import CliRunner

from synth import Synthesizer
from synth.cli import app
from synth.errors import SynthError
from synth.privacy.randomness import NoiseSource
from synth.models.device import resolve_device
from tests.conftest import FAST, TRIAL_META, make_trial

GPU = torch.cuda.is_available()


def test_auto_is_cuda_only_where_torch_sees_a_gpu():
    assert resolve_device("auto") == ("cuda" if GPU else "cpu")
    assert resolve_device("CPU") == "cpu"
    with pytest.raises(SynthError, match="device must be auto, cpu or cuda"):
        resolve_device("tpu")


@pytest.mark.skipif(GPU, reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path):
    with pytest.raises(SynthError, match="device cuda: torch sees no CUDA GPU"):
        Synthesizer(device="cuda")
    result = CliRunner().invoke(app, ["fit", str(tmp_path / "x.csv"), "-m", str(TRIAL_META), "-o",
                                      str(tmp_path / "m.synth"), "--device", "cuda"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "device cuda: torch sees no CUDA GPU" in result.output and "Traceback" not in result.output


def test_the_noise_generator_for_the_cpu_is_the_sources_own():
    source = NoiseSource(noise_seed=3)
    assert source.torch_on("cpu") is source.torch


@pytest.mark.skipif(not GPU, reason="needs a CUDA GPU")
def test_a_cuda_fit_has_the_cpu_fits_ledger_and_samples_the_same_schema():
    fits = {d: Synthesizer(epsilon=1.0, label="arm", noise_seed=0, device=d, **FAST).fit(make_trial(), TRIAL_META)
            for d in ("cpu", "cuda")}
    cpu, cuda = (fits[d].ledger.to_dict() for d in ("cpu", "cuda"))
    for key in ("epsilon", "delta", "n_patients", "adjacency", "mechanisms"):
        assert cpu[key] == cuda[key]
    rows = fits["cuda"].sample(50, seed=1)
    assert list(rows.columns) == list(fits["cpu"].sample(50, seed=1).columns)
