"""The AC-GAN: networks (Opacus-compatible layers only, no BatchNorm), the DP training loop, the
marginal loss against released tables and checkpoint selection (sampling is :mod:`synth.sample`)."""

from synth.models.networks import Discriminator, Generator

__all__ = ["Generator", "Discriminator"]
