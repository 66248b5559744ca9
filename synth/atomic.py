"""Files written so that nothing is lost: a temporary file beside the target, renamed into place.

A process killed at any moment (``kill -9``, a full disk, a power cut after the rename) leaves
either the previous complete file or the new complete one under the target's name, never a
partial one. What a killed process leaves is its hidden temporary file
(``.<name>.<pid>.<random>.tmp``); the next write to the same target removes those whose process
is gone.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text"]


def _user_mode() -> int:
    """The permissions a plain ``open(path, "w")`` would give: 0o666 less the user's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _sweep_stale(target: Path) -> None:
    """Remove temporary files a killed writer of ``target`` left behind."""
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        parts = leftover.name[len(target.name) + 2:].split(".")
        if len(parts) == 3 and parts[0].isdigit() and not _alive(int(parts[0])):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: Path, private: bool = False) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left as it was. The file
    gets the user's normal permissions (umask), as any file they write would; ``private`` keeps
    the temporary file's owner-only 0600 (model files).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if not private:
            os.chmod(tmp, _user_mode())
        _fsync(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)

