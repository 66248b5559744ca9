"""Which classes of the marginal loss's tensors are computed together, padded to the widest.

:class:`synth.models.batched_tables.BatchedTables` computes columns by width class and two-column
tables by size class. Padding narrower classes into a wider one trades ops for cells: the same
loss (padded cells have probability 0, read the features' zero column and have zero targets).
Post-processing only: layout of the released tables, never real data.
"""

from __future__ import annotations

__all__ = ["PAIR_PADDING", "merged_classes", "width_groups"]

# Width classes of columns and size classes of two-column tables are computed as one padded class
# when that pads at most this many times their own cells: at a small batch a class's ops cost
# more than its cells, at a large one the padded cells cost more (issue 47: ACTG175's loss
# forward and backward 0.73x at 128 rows, 1.35x at 4,096; pbcseq's 0.88x and 1.5x). 0: never.
PAIR_PADDING = 2.0


def merged_classes(classes: dict[tuple[int, int], list], padding: float) -> dict[tuple[int, int], list]:
    """``classes`` (padded widths → tables) as one class padded to the widest when that pads at
    most ``padding`` times their cells; else as they are. Padding reads the features' zero column
    and has zero targets: the same loss."""
    if len(classes) < 2:
        return classes
    wa, wb = max(a for a, _ in classes), max(b for _, b in classes)
    own = sum(a * b * len(members) for (a, b), members in classes.items())
    count = sum(len(members) for members in classes.values())
    if wa * wb * count > padding * own:
        return classes
    return {(wa, wb): [m for members in classes.values() for m in members]}


def width_groups(by_width: dict[int, list[int]], padding: float) -> list[tuple[int, list[int]]]:
    """(padded width, blocks) groups: from the widest class down, each narrower class joins the
    current group while its padded cells stay within ``padding`` times their own."""
    groups: list[tuple[int, list[int]]] = []
    own = 0
    for width in sorted(by_width, reverse=True):
        members = by_width[width]
        if groups and groups[-1][0] * (len(groups[-1][1]) + len(members)) <= padding * (own + width * len(members)):
            groups[-1][1].extend(members)
            own += width * len(members)
        else:
            groups.append((width, list(members)))
            own = width * len(members)
    return groups
