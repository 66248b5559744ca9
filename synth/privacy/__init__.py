"""Privacy accounting (the ledger) and the DP mechanisms that feed it."""

from synth.privacy.ledger import Ledger, Mechanism, calibrate_sigma, compose_epsilon

__all__ = ["Ledger", "Mechanism", "calibrate_sigma", "compose_epsilon"]
