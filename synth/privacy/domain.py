"""The Domain: each modelled column's values, from public metadata or a DP estimate.

Nothing here reads real data: the estimates are made by :func:`synth.release.domain.build_domain`
(the patient count, bounds, categories, the label's counts), each recorded in the ledger. A
Domain holds public metadata and those releases only; the guarantee is void if anything else
read off the data reaches it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ColumnDomain", "Domain", "PREP_SHARE", "THRESHOLD_DELTA_SHARE", "default_delta"]

PREP_SHARE = 0.1  # share of ε (and of the accountant's δ) for the releases made here
THRESHOLD_DELTA_SHARE = 0.1  # share of δ for category discovery's thresholding
MAX_DEFAULT_DELTA = 1e-5  # the default δ is min(this, 1/(10·N)), N the released or public count


def default_delta(n: float) -> float:
    """δ = min(1e-5, 1/(10·N)): well below the 1/N at which one patient could be published.
    ``n`` must be public: stated in the metadata or released (``count:patients``)."""
    return min(MAX_DEFAULT_DELTA, 1.0 / (10 * max(float(n), 1.0)))


@dataclass
class ColumnDomain:
    """One column's domain. ``kind`` is "numerical" (also datetimes) or "categorical"."""

    name: str
    sdtype: str
    kind: str
    nullable: bool
    source: str  # "public", "dp" or "exact (no privacy)"
    lo: float | None = None
    hi: float | None = None
    integer: bool = False
    datetime_format: str | None = None
    scale: str = "linear"  # "log": bins of equal width on the log scale (public metadata); "duration": visit times
    categories: list[str] = field(default_factory=list)  # category_key strings
    values: list[Any] = field(default_factory=list)  # what decode writes, aligned with categories


@dataclass
class Domain:
    columns: list[ColumnDomain]
    all_columns: list[str]  # every metadata column in order (ids and the label included)
    label: ColumnDomain | None = None
    label_proportions: list[float] = field(default_factory=list)
    pii_columns: list[str] = field(default_factory=list)  # written as placeholders, never modelled
    released_counts: dict[str, float] = field(default_factory=dict)  # extra DP counts (noisy, ≥ 0)
    # The label counts as released (Gaussian, not clipped) and their σ, for synth.privacy.class_sizes.
    label_counts: list[float] = field(default_factory=list)
    label_sigma: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [asdict(c) for c in self.columns], "all_columns": self.all_columns,
                "label": asdict(self.label) if self.label else None,
                "label_proportions": self.label_proportions, "pii_columns": self.pii_columns,
                "released_counts": self.released_counts, "label_counts": self.label_counts,
                "label_sigma": self.label_sigma}

    @property
    def n_classes(self) -> int:
        """The AC-GAN's classes: the label's values, and one for "missing" where the metadata says
        the label may be missing (``label.nullable``; public, so the number of classes is too)."""
        return 0 if self.label is None else len(self.label.categories) + int(self.label.nullable)

    def release_warnings(self) -> list[str]:
        """What a user should know about the domains DP released (post-processing of them only):
        a column of which DP category discovery kept one value is constant or missing in every
        synthetic row."""
        return [f"column '{c.name}': DP category discovery released only {c.values[0]!r}, so every other value "
                "is written as missing; list its categories as range_values in the metadata"
                for c in self.columns if c.source == "dp" and c.kind == "categorical" and len(c.categories) == 1]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Domain:
        label = data.get("label")
        return cls(columns=[ColumnDomain(**c) for c in data["columns"]], all_columns=list(data["all_columns"]),
                   label=ColumnDomain(**label) if label else None,
                   label_proportions=list(data.get("label_proportions", [])),
                   pii_columns=list(data.get("pii_columns", [])),
                   released_counts=dict(data.get("released_counts", {})),
                   label_counts=list(data.get("label_counts", [])), label_sigma=float(data.get("label_sigma", 0.0)))
