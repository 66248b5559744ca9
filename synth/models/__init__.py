"""Networks: Opacus-compatible layers only (no BatchNorm)."""

from synth.models.tabular import Discriminator, Generator

__all__ = ["Generator", "Discriminator"]
