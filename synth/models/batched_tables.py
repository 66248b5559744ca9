"""The tables' term of the marginal loss in a handful of batched tensor ops.

:class:`BatchedTables` computes the same value as looping over the tables one by one
(``tests/helpers/references.py: table_terms_reference``, the slow, obviously correct version
the tests compare it with), but as one padded softmax over every column's cells, one weighted
scatter into every table's cells (merged groups, visit slots pooled with their weights, missing
cells by visit phase), one product with the label for the one-column tables and one outer
product per size class of the two-column tables.

Like the rest of the marginal loss it is post-processing: it reads the generator's logits and
the already released tables, never real data.
"""

from __future__ import annotations

import numpy as np
import torch

from synth.encode.table import CellBlock
from synth.models import padding_classes
from synth.models.padding_classes import merged_classes, width_groups
from synth.models.probabilities import last_dim_softmax, visit_slots, visit_weights
from synth.models.row_blocks import by_blocks
from synth.privacy.marginals import MarginalTable

__all__ = ["BatchedTables"]

_ONE = -1  # an entry's "block" that is the constant one (a visit slot's "no visit" cell times its weight)


def _padded(width: int) -> int:
    """Pair tables are grouped by their slots' widths rounded up to a power of two."""
    return 1 << max(0, int(width - 1).bit_length())


class _FeatureLayout:
    """The features every table reads: each slot's cells once (shared by the tables using the same
    cells), as entries (block, cell, block width) × weight column → feature."""

    def __init__(self):
        self.block_index: dict[tuple, int] = {}
        self.blocks: list[CellBlock] = []
        self.visit_index: dict[tuple, int] = {}
        self.visit_blocks: list[CellBlock] = []
        self.src: list[tuple[int, int, int]] = []
        self.wcol: list[int] = []
        self.tgt: list[int] = []
        self.features: dict[tuple, tuple[int, int]] = {}  # a slot's key → (offset, cells)
        self.offset = 0
        self.single_used: set[tuple[int, bool]] = set()  # a one-slot table's cells must be its own within its kind

    def block_id(self, b: CellBlock) -> int:
        key = (b.start, b.width, b.missing)
        if key not in self.block_index:
            self.block_index[key] = len(self.blocks)
            self.blocks.append(b)
        return self.block_index[key]

    def add_feature(self, key: tuple, n: int, entries) -> tuple[int, int]:
        if key not in self.features:
            for j, c, w, weight_column, cell in entries():
                self.src.append((j, c, w))
                self.wcol.append(weight_column)
                self.tgt.append(self.offset + cell)
            self.features[key] = (self.offset, n)
            self.offset += n
        return self.features[key]

    def table_slots(self, i: int, t: MarginalTable, slot) -> list[tuple[int, int]]:
        """(offset, cells) of each slot of table ``i``, ``t``, in the features."""
        keyed = [slot(t, k, self.block_id, self.visit_index, self.visit_blocks)
                 for k in range(len(t.blocks) if t.pooled_by is None else 1)]
        slots = [self.add_feature(key, n, entries) for key, n, entries in keyed]
        if len(slots) == 1:
            if (slots[0][0], t.by_label) in self.single_used:
                key, n, entries = keyed[0]
                slots = [self.add_feature((*key, "copy", i), n, entries)]
            self.single_used.add((slots[0][0], t.by_label))
        return slots


class BatchedTables:
    """Σ over tables of the label-weighted squared distance between generated and target cells."""

    def __init__(self, tables: list[MarginalTable], targets: list[np.ndarray], padding: float | None = None):
        """``padding``: how many times its own cells a padded class may hold (None: ``PAIR_PADDING``)."""
        self.padding = padding_classes.PAIR_PADDING if padding is None else padding
        layout = _FeatureLayout()
        slices = [layout.table_slots(i, t, self._slot) for i, t in enumerate(tables)]
        self.n_features = layout.offset
        self.n_blocks = len(layout.blocks)
        self.visit_blocks = layout.visit_blocks
        self._lay_out_blocks(layout)
        self._lay_out_targets(tables, targets, slices)

    def _lay_out_blocks(self, layout: _FeatureLayout) -> None:
        """Blocks are computed together width class by width class, narrower classes padded into a
        wider one while that pads at most ``self.padding`` times their cells (padded cells are
        masked to probability 0): each block's cells, then its missing cell, laid out group by
        group; the entries' indices into them."""
        blocks = layout.blocks
        by_width: dict[int, list[int]] = {}
        for j, b in enumerate(blocks):
            by_width.setdefault(b.width, []).append(j)
        position, padded, offset_cells = {}, {}, 0
        self.width_groups = []
        for width, members in width_groups(by_width, self.padding):
            for i, j in enumerate(members):
                position[j], padded[j] = offset_cells + i * (width + 1), width
            offset_cells += len(members) * (width + 1)
            group = {
                # a padded cell reads the block's last column, masked out below
                "columns": torch.as_tensor([[blocks[j].start + min(k, blocks[j].width - 1) for k in range(width)]
                                            for j in members]),
                # a block without a missing cell reads column 0 twice (any valid column: has_missing is 0)
                "missing_columns": torch.as_tensor([blocks[j].missing or 0 for j in members]),
                "absent_columns": torch.as_tensor([0 if blocks[j].missing is None else blocks[j].missing + 1
                                                   for j in members]),
                "has_missing": torch.as_tensor([blocks[j].missing is not None for j in members], dtype=torch.float32)}
            if any(blocks[j].width < width for j in members):
                group["padding"] = torch.as_tensor([[k >= blocks[j].width for k in range(width)] for j in members])
            self.width_groups.append(group)
        position[_ONE], padded[_ONE] = offset_cells, 0  # the constant-one column after every block's cells
        self.src = torch.as_tensor([position[j] + (c if c < w else padded[j]) for j, c, w in layout.src],
                                   dtype=torch.long)
        self.wcol = torch.as_tensor(layout.wcol, dtype=torch.long)
        self.tgt = torch.as_tensor(layout.tgt, dtype=torch.long)

    def _lay_out_targets(self, tables: list[MarginalTable], targets: list[np.ndarray],
                         slices: list[list[tuple[int, int]]]) -> None:
        """One-column tables (and pooled ones): targets laid out on the features, by label or not;
        two-column tables grouped by their slots' padded widths."""
        offset = self.n_features
        rows = max((len(target) for target, t in zip(targets, tables) if t.by_label), default=1)
        self.rows = rows
        self.single_label = torch.zeros(rows, offset)
        self.single_whole = torch.zeros(offset)
        self.mask_label = torch.zeros(offset)
        self.mask_whole = torch.zeros(offset)
        pairs: dict[tuple[int, int], list[tuple[MarginalTable, np.ndarray, list]]] = {}
        for t, target, slots in zip(tables, targets, slices):
            if len(slots) == 1:
                start, n = slots[0]
                flat = torch.as_tensor(np.asarray(target, dtype=np.float32).reshape(len(target), n))
                if t.by_label:
                    self.single_label[:, start:start + n] = flat
                    self.mask_label[start:start + n] = 1.0
                else:
                    self.single_whole[start:start + n] = flat[0]
                    self.mask_whole[start:start + n] = 1.0
            else:
                pairs.setdefault((_padded(slots[0][1]), _padded(slots[1][1])), []).append((t, target, slots))
        self.pair_groups = [self._pair_group(wa, wb, members, rows, offset)
                            for (wa, wb), members in merged_classes(pairs, self.padding).items()]

    @staticmethod
    def _slot(t: MarginalTable, i: int, block_id, visit_index: dict, visit_blocks: list):  # noqa: C901
        """Slot ``i`` of table ``t``: its key (equal for equal cells), its number of cells, and a
        function listing its entries (block, cell, block width, weight column, the slot's cell)."""
        groups = t.groups or (None,) * len(t.blocks)
        g = groups[i]
        group_key = None if g is None else tuple(int(v) for v in g)

        def weight_columns(v: CellBlock) -> int:
            """The first of visit block v's weight columns: Σ_{n > k} P(n)/n, then P(visits > k),
            then P(visits ≤ k), one per slot k."""
            if (v.start, v.width) not in visit_index:
                visit_index[(v.start, v.width)] = sum(3 * visit_slots(u) for u in visit_blocks)
                visit_blocks.append(v)
            return 1 + visit_index[(v.start, v.width)]

        if t.pooled_by is None:
            b = t.blocks[i]
            spec = t.spec
            if not spec.absent(i):
                def cells():
                    return [(block_id(b), c, b.width, 0, int(g[c]) if g is not None else c)
                            for c in range(b.n_cells)]
                return ("cells", b.start, b.width, b.missing, group_key), spec.n_cells(i), cells
            k, first = spec.slots[i], weight_columns(spec.present_by)
            width = visit_slots(spec.present_by)

            def visit_cells():  # slot k's cells weighed by P(visits > k), then "no visit k": P(visits ≤ k)
                out = [(block_id(b), c, b.width, first + width + k, int(g[c]) if g is not None else c)
                       for c in range(b.n_cells)]
                absent = b.n_cells
                return out + [(_ONE, 0, 0, first + 2 * width + k, int(g[absent]) if g is not None else absent)]
            key = ("slot", b.start, b.width, b.missing, group_key, k, spec.present_by.start)
            return key, spec.n_cells(i), visit_cells
        first_weight, phases = weight_columns(t.pooled_by), t.spec.phases

        def pooled():  # slot k of a patient's visits weighs Σ_{n > k} P(n)/n: weight column first_weight + k
            out = []
            for k, b in enumerate(t.blocks):
                for c in range(b.n_cells):
                    cell = c
                    if phases and c == b.width:
                        cell = b.width + min(k, phases - 1)
                    elif g is not None:
                        cell = int(g[c])
                    out.append((block_id(b), c, b.width, first_weight + k, cell))
            return out
        visits = (t.pooled_by.start, t.pooled_by.width)
        key = ("pooled", tuple((b.start, b.width, b.missing) for b in t.blocks), visits, phases, group_key)
        return key, t.spec.n_cells(0), pooled

    @staticmethod
    def _pair_group(wa: int, wb: int, members: list, rows: int, pad: int) -> dict:
        """Index, targets and masks of the two-column tables padded to (wa, wb) cells."""
        index_a = torch.full((len(members), wa), pad, dtype=torch.long)  # pad: the features' zero column
        index_b = torch.full((len(members), wb), pad, dtype=torch.long)
        label = torch.zeros(rows, len(members), wa, wb)
        whole = torch.zeros(len(members), wa, wb)
        is_label = torch.zeros(len(members))
        for i, (t, target, ((sa, na), (sb, nb))) in enumerate(members):
            index_a[i, :na] = torch.arange(sa, sa + na)
            index_b[i, :nb] = torch.arange(sb, sb + nb)
            values = torch.as_tensor(np.asarray(target, dtype=np.float32).reshape(len(target), na, nb))
            if t.by_label:
                label[:, i, :na, :nb] = values
                is_label[i] = 1.0
            else:
                whole[i, :na, :nb] = values[0]
        return {"a": index_a, "b": index_b, "label": label, "whole": whole, "is_label": is_label}

    def to(self, device: torch.device | str) -> BatchedTables:
        """Every index, target and mask on ``device`` (in place); returns self."""
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(device))
        self.width_groups = [{k: v.to(device) for k, v in g.items()} for g in self.width_groups]
        self.pair_groups = [{k: v.to(device) for k, v in g.items()} for g in self.pair_groups]
        return self

    def features(self, raw: torch.Tensor, block: int | None = None) -> torch.Tensor:
        """(B, features + 1): every table's generated cell probabilities side by side, then a zero
        column; ``block`` rows at a time (:func:`by_blocks`: the same values; for scores, without
        a gradient)."""
        return by_blocks(self._features, raw, self.n_features + 1, block)

    def _features(self, raw: torch.Tensor) -> torch.Tensor:
        batch = len(raw)
        parts = []
        for g in self.width_groups:
            columns = g["columns"]
            logits = raw.index_select(1, columns.reshape(-1)).reshape(batch, *columns.shape)
            if "padding" in g:
                logits = logits.masked_fill(g["padding"], float("-inf"))
            p = last_dim_softmax(logits)
            present = raw.index_select(1, g["missing_columns"])
            absent = raw.index_select(1, g["absent_columns"])
            missing = torch.sigmoid(absent - present) * g["has_missing"]  # the softmax of [present, missing]
            parts.append(torch.cat([p * (1 - missing)[:, :, None], missing[:, :, None]], dim=2).reshape(batch, -1))
        cells = torch.cat(parts + [raw.new_ones(batch, 1)], dim=1)  # the last column: constant one
        weights = [raw.new_ones(batch, 1)]
        for v in self.visit_blocks:
            pooled, present = visit_weights(raw, v)  # Σ_{n > k} P(n)/n and P(visits > k) for a count
            weights.extend([pooled, present, 1.0 - present])
        weight = torch.cat(weights, dim=1)
        values = cells.index_select(1, self.src) * weight.index_select(1, self.wcol)
        return raw.new_zeros(batch, self.n_features + 1).index_add(1, self.tgt, values)

    def __call__(self, raw: torch.Tensor, by_label: torch.Tensor, weights: torch.Tensor,
                 block: int | None = None) -> torch.Tensor:
        """The tables' term: ``by_label`` (B, rows) one-hot label (a column of ones without a
        label), ``weights`` (rows,) the label proportions (ones without a label); ``block``: see
        :meth:`features`."""
        feats = self.features(raw, block)
        batch = len(raw)
        count = by_label.sum(dim=0)
        row_weight = (count > 0).float() * weights
        scale = count.clamp(min=1)
        cond = (by_label.T @ feats[:, :-1]) / scale[:, None]
        loss = (row_weight * (((cond - self.single_label) ** 2) * self.mask_label).sum(dim=1)).sum()
        whole = feats[:, :-1].sum(dim=0) / batch
        loss = loss + (((whole - self.single_whole) ** 2) * self.mask_whole).sum()
        onehot = torch.cat([by_label, by_label.new_ones(batch, 1)], dim=1)
        for g in self.pair_groups:
            a = feats.index_select(1, g["a"].reshape(-1)).reshape(batch, *g["a"].shape)  # (B, tables, wa)
            b = feats.index_select(1, g["b"].reshape(-1)).reshape(batch, *g["b"].shape)
            outer = (a[:, :, :, None] * b[:, :, None, :]).reshape(batch, -1)
            joint = (onehot.T @ outer).reshape(len(onehot.T), *g["label"].shape[1:])
            err_label = ((joint[:-1] / scale[:, None, None, None] - g["label"]) ** 2).sum(dim=(2, 3))
            loss = loss + (row_weight[:, None] * err_label * g["is_label"]).sum()
            err_whole = ((joint[-1] / batch - g["whole"]) ** 2).sum(dim=(1, 2))
            loss = loss + (err_whole * (1 - g["is_label"])).sum()
        return loss
