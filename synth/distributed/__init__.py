"""A fit over several processes or machines: torch.distributed with Opacus' distributed DP-SGD."""

from synth.distributed.group import SINGLE, Ranks, join

__all__ = ["Ranks", "SINGLE", "join"]
