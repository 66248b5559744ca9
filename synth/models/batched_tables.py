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
from synth.privacy.marginals import MarginalTable

__all__ = ["BatchedTables", "last_dim_softmax", "visit_weights", "visit_slots"]

_ONE = -1  # an entry's "block" that is the constant one (a visit slot's "no visit" cell times its weight)


def last_dim_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension, written out: torch's CPU kernel is several times slower
    on a short last dimension (a column's 2-20 cells). -inf entries get probability 0."""
    shifted = logits - logits.amax(dim=-1, keepdim=True).detach()
    e = torch.exp(shifted)
    return e / e.sum(dim=-1, keepdim=True)


def visit_slots(v: CellBlock) -> int:
    """How many visit slots a visit block's cells describe (a count's width, or a pattern's length)."""
    return v.width if v.presence is None else len(v.presence[0])


def visit_weights(raw: torch.Tensor, v: CellBlock) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, slots) each: Σ_n P(n)/n over the visit block's cells that have slot k (a patient's
    weight at slot k in a pooled table), and P(slot k present)."""
    p = last_dim_softmax(raw[:, v.start:v.start + v.width])
    if v.presence is None:  # a visit count: column j ↔ j + 1 visits
        per_visit = p / torch.arange(1, v.width + 1, dtype=raw.dtype, device=raw.device)
        return (torch.flip(torch.cumsum(torch.flip(per_visit, [1]), 1), [1]),
                torch.flip(torch.cumsum(torch.flip(p, [1]), 1), [1]))
    attended = torch.as_tensor(v.presence, dtype=raw.dtype, device=raw.device)  # (patterns, slots)
    return (p / attended.sum(dim=1)) @ attended, p @ attended


def _padded(width: int) -> int:
    """Pair tables are grouped by their slots' widths rounded up to a power of two."""
    return 1 << max(0, int(width - 1).bit_length())


class BatchedTables:
    """Σ over tables of the label-weighted squared distance between generated and target cells."""

    def __init__(self, tables: list[MarginalTable], targets: list[np.ndarray]):
        block_index: dict[tuple, int] = {}
        blocks: list[CellBlock] = []

        def block_id(b: CellBlock) -> int:
            key = (b.start, b.width, b.missing)
            if key not in block_index:
                block_index[key] = len(blocks)
                blocks.append(b)
            return block_index[key]

        visit_index: dict[tuple, int] = {}
        visit_blocks: list[CellBlock] = []
        src, wcol, tgt = [], [], []
        features: dict[tuple, tuple[int, int]] = {}  # a slot's key → (offset, cells): shared by the tables using it
        slices: list[list[tuple[int, int]]] = []  # per table: (offset, cells) of each slot in the features
        offset = 0

        def add_feature(key: tuple, n: int, entries) -> tuple[int, int]:
            nonlocal offset
            if key not in features:
                for j, c, w, weight_column, cell in entries():
                    src.append((j, c, w))
                    wcol.append(weight_column)
                    tgt.append(offset + cell)
                features[key] = (offset, n)
                offset += n
            return features[key]

        single_used: set[tuple[int, bool]] = set()  # a one-slot table's cells must be its own within its kind
        for i, t in enumerate(tables):
            keyed = [self._slot(t, k, block_id, visit_index, visit_blocks) for k in range(len(t.blocks) if
                                                                                 t.pooled_by is None else 1)]
            slots = [add_feature(key, n, entries) for key, n, entries in keyed]
            if len(slots) == 1:
                if (slots[0][0], t.by_label) in single_used:
                    key, n, entries = keyed[0]
                    slots = [add_feature((*key, "copy", i), n, entries)]
                single_used.add((slots[0][0], t.by_label))
            slices.append(slots)
        self.n_features = offset
        self.n_blocks = len(blocks)
        # Blocks of one width are computed together, without padding: each block's cells, then
        # its missing cell, laid out width group by width group.
        by_width: dict[int, list[int]] = {}
        for j, b in enumerate(blocks):
            by_width.setdefault(b.width, []).append(j)
        position, offset_cells = {}, 0
        self.width_groups = []
        for width, members in by_width.items():
            for i, j in enumerate(members):
                position[j] = offset_cells + i * (width + 1)
            offset_cells += len(members) * (width + 1)
            self.width_groups.append({
                "columns": torch.as_tensor([[blocks[j].start + k for k in range(width)] for j in members]),
                # a block without a missing cell reads column 0 twice (any valid column: has_missing is 0)
                "missing_columns": torch.as_tensor([blocks[j].missing or 0 for j in members]),
                "absent_columns": torch.as_tensor([0 if blocks[j].missing is None else blocks[j].missing + 1
                                                   for j in members]),
                "has_missing": torch.as_tensor([blocks[j].missing is not None for j in members], dtype=torch.float32)})
        self.visit_blocks = visit_blocks
        position[_ONE] = offset_cells  # the constant-one column after every block's cells
        self.src = torch.as_tensor([position[j] + min(c, w) for j, c, w in src], dtype=torch.long)
        self.wcol = torch.as_tensor(wcol, dtype=torch.long)
        self.tgt = torch.as_tensor(tgt, dtype=torch.long)

        # One-column tables (and pooled ones): targets laid out on the features, by label or not.
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
        self.pair_groups = [self._pair_group(wa, wb, members, rows, offset) for (wa, wb), members in pairs.items()]

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

    def features(self, raw: torch.Tensor) -> torch.Tensor:
        """(B, features + 1): every table's generated cell probabilities side by side, then a zero column."""
        batch = len(raw)
        parts = []
        for g in self.width_groups:
            columns = g["columns"]
            p = last_dim_softmax(raw.index_select(1, columns.reshape(-1)).reshape(batch, *columns.shape))
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

    def __call__(self, raw: torch.Tensor, by_label: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The tables' term: ``by_label`` (B, rows) one-hot label (a column of ones without a
        label), ``weights`` (rows,) the label proportions (ones without a label)."""
        feats = self.features(raw)
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


class BatchedSlotDrift:
    """Σ over sequence columns of :func:`synth.models.marginal_loss.slot_drift` (label-weighted),
    all columns sharing a visit-count block at once: their slots padded to one width, one
    product per slot."""

    def __init__(self, sequences: list[tuple[tuple[CellBlock, ...], CellBlock]]):
        groups: dict[tuple, list[tuple[CellBlock, ...]]] = {}
        blocks = {}
        for slots, visits in sequences:  # columns of one width together: no padding
            blocks[(visits.start, visits.width)] = visits
            groups.setdefault((visits.start, visits.width, len(slots), max(b.width for b in slots)), []).append(slots)
        self.groups = []
        for (start, width, _, _), columns in groups.items():
            cells = max(b.width for slots in columns for b in slots)
            index = torch.as_tensor([[[b.start + min(v, b.width - 1) for v in range(cells)] for b in slots]
                                     for slots in columns], dtype=torch.long)  # (columns, slots, cells)
            valid = torch.as_tensor([[[v < b.width for v in range(cells)] for b in slots] for slots in columns])
            self.groups.append({"visits": blocks[(start, width)], "index": index, "valid": valid})

    def to(self, device: torch.device | str) -> BatchedSlotDrift:
        for g in self.groups:
            g["index"], g["valid"] = g["index"].to(device), g["valid"].to(device)
        return self

    def __call__(self, raw: torch.Tensor, by_label: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        batch, loss = len(raw), raw.new_zeros(())
        for g in self.groups:
            index, valid = g["index"], g["valid"]
            _, present = visit_weights(raw, g["visits"])  # (B, slots): P(visits > k)
            logits = raw.index_select(1, index.reshape(-1)).reshape(batch, *index.shape)
            values = last_dim_softmax(logits.masked_fill(~valid, float("-inf")))  # (B, columns, slots, cells)
            w = present[:, :, None] * by_label[:, None, :]  # (B, slots, classes)
            mass = w.sum(dim=0)  # (slots, classes)
            columns, slots, cells = index.shape
            per_slot = torch.bmm(w.permute(1, 2, 0), values.permute(2, 0, 1, 3).reshape(slots, batch, -1))
            dist = per_slot.reshape(slots, -1, columns, cells).permute(2, 0, 1, 3)  # (columns, slots, classes, cells)
            dist = dist / mass.clamp(min=1e-6)[None, :, :, None]
            share = mass / mass.sum(dim=0).clamp(min=1e-6)  # (slots, classes)
            pooled = (share[None, :, :, None] * dist).sum(dim=1, keepdim=True)
            drift = (share[None] * ((dist - pooled) ** 2).sum(dim=3)).sum(dim=1)  # (columns, classes)
            loss = loss + (weights * drift).sum()
        return loss
