"""The attendance table's σ: a public constant share of the label stage, never a rule on N."""

import math

from synth.privacy.ledger import Ledger, Mechanism
from synth.privacy.marginals import ledger_sigma
from synth.release.attendance import ATTENDANCE_WEIGHT, attendance_sigma


def _ledger(n: int) -> Ledger:
    ledger = Ledger(1.0, 1e-5, None)
    ledger.n_patients = n  # as count:patients would leave it: released, noisy
    ledger.add(Mechanism("count:patients", 68.7, 1.0, 1, "Gaussian count of the patients"))
    return ledger


def test_attendance_sigma_does_not_move_with_the_released_number_of_patients():
    # At ε = 1 the released N of a 40-patient trial spans ~20-60 from fit to fit; the old rule
    # (1, 2 or 4 steps by N against σ) picked a different weight across that span.
    said = {attendance_sigma(_ledger(n), 0.4, 2) for n in (12, 25, 40, 60, 250, 5000)}
    assert len(said) == 1
    ((sigma, weight),) = said
    assert weight == ATTENDANCE_WEIGHT
    label_sigma = ledger_sigma(_ledger(40), 0.4, 2 + weight)  # the label tables' σ, calibrated with it
    assert math.isclose(sigma, label_sigma / math.sqrt(weight))
