"""The AC-GAN: networks (Opacus-compatible layers only, no BatchNorm), the DP training loop, the
marginal loss against released tables, checkpoint selection and sampling."""

from synth.models.networks import Discriminator, Generator

__all__ = ["Generator", "Discriminator"]
