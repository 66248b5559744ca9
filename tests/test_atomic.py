"""Atomic writes: shared outputs get the user's normal permissions, model files stay private."""

import os
import stat

from synth.atomic import atomic_path, atomic_write_text


def test_shared_outputs_get_the_users_permissions_and_model_files_stay_private(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "shared.csv", "a\n")
        with atomic_path(tmp_path / "m.synth", private=True) as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "m.synth").stat().st_mode) == 0o600
