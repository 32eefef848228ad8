"""Frequent itemsets and association rules as numpy tables, before any DataFrame.

:mod:`patron.analytics.rules` turns these tables into the estimators' DataFrames; the command
line writes them to a file straight away. Nothing here imports pandas, so ``patron analyze
rules --baskets FILE`` starts without it (importing pandas takes longer than mining Groceries).
The definitions of the metrics are in :mod:`patron.analytics.rules`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

from patron.analytics._baskets import EncodedBaskets
from patron.analytics._rule_params import RULE_METRICS as RULE_METRICS
from patron.analytics._rule_params import check_max_len as check_max_len
from patron.analytics._rule_params import check_thresholds as check_thresholds
from patron.analytics._rule_params import min_support_count as min_support_count
from patron.analytics.engines import local

try:
    from patron.analytics import _fim
except ImportError:  # built without a C compiler: the numpy search and derive_rules do the work
    _fim = None


def _boxed(items: list[Hashable]) -> NDArray[np.object_]:
    """An object array holding ``items`` as they are (a tuple stays one element)."""
    boxed = np.empty(len(items), dtype=object)
    if all(type(item) is str for item in items):
        boxed[:] = items
    else:
        for position, item in enumerate(items):
            boxed[position] = item
    return boxed


class ItemsetTable:
    """The frequent itemsets in output order: shorter first, then higher support, then item order.

    ``count[r]`` is the basket count of output row ``r``; ``row_of[k - 1][i]`` is the row of the
    itemset with id ``i`` among those of length ``k``; ``codes[k - 1]`` holds the itemsets of
    length ``k`` in output order, as rows of ascending codes into ``labels`` (the frequent items'
    labels, in the order of their item codes).
    """

    def __init__(
        self, labels: NDArray[np.object_], codes: list[NDArray], counts: list[NDArray[np.int64]]
    ) -> None:
        self.labels = labels
        self.codes = codes
        self.count = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
        self.row_of: list[NDArray[np.int64]] = []
        self._sets: NDArray[np.object_] | None = None
        # (codes per length, item labels) as the compiled kernel made them: sets() in C.
        self._kernel_codes: tuple[list[bytearray], list[Hashable], Any] | None = None

    @classmethod
    def from_search(cls, found: local.FrequentItemsets, items: list[Hashable]) -> ItemsetTable:
        """The table of the numpy search's itemsets, with ``row_of`` for :func:`derive_rules`."""
        # Only the frequent items' labels are boxed, in item-code order (the labels' order);
        # order_of_rank[r] is where the item of rank r sits among them.
        code = found.item_of_rank
        by_code = np.argsort(code)
        order_of_rank = np.empty_like(by_code)
        order_of_rank[by_code] = np.arange(len(by_code))
        labels = _boxed([items[c] for c in code[by_code].tolist()])
        all_codes: list[NDArray[np.int64]] = []
        row_of: list[NDArray[np.int64]] = []
        counts: list[NDArray[np.int64]] = []
        rows = 0
        for length, level in enumerate(found.levels, start=1):
            codes = order_of_rank[found.ranks(length)]
            if length > 1:
                codes.sort(axis=1)
            order = np.lexsort((*codes.T[::-1], -level.count))
            row = np.empty(len(order), dtype=np.int64)
            row[order] = np.arange(rows, rows + len(order))
            rows += len(order)
            row_of.append(row)
            all_codes.append(codes[order])
            counts.append(level.count[order])
        table = cls(labels, all_codes, counts)
        table.row_of = row_of
        return table

    @classmethod
    def from_kernel(
        cls, kernel: Any, codes: list[bytearray], counts: list[bytearray], items: list[Hashable]
    ) -> ItemsetTable:
        """The table the compiled kernel made (item codes per length, in output order)."""
        levels = [
            np.frombuffer(block, dtype=np.int32).reshape(-1, length)
            for length, block in enumerate(codes, start=1)
        ]
        frequent = np.sort(levels[0][:, 0]) if levels else np.zeros(0, dtype=np.int32)
        labels = _boxed([items[c] for c in frequent.tolist()])
        positions = [np.searchsorted(frequent, level).astype(np.int64) for level in levels]
        table = cls(labels, positions, [np.frombuffer(block, dtype=np.int64) for block in counts])
        table._kernel_codes = (codes, items, kernel)
        return table

    def __len__(self) -> int:
        return len(self.count)

    def items_of(self, row: int) -> list[Hashable]:
        """The labels of the itemset in output row ``row``."""
        for codes in self.codes:
            if row < len(codes):
                return list(self.labels[codes[row]].tolist())
            row -= len(codes)
        raise IndexError("no itemset in that row")

    def sets(self) -> NDArray[np.object_]:
        """One frozenset of labels per row, made once (rules share these objects)."""
        if self._sets is None and self._kernel_codes is not None:
            codes, items, kernel = self._kernel_codes
            labels = items if isinstance(items, list) else list(items)
            sets = np.empty(len(self.count), dtype=object)
            sets[:] = kernel.frozensets(codes, labels)
            self._sets = sets
        if self._sets is None:
            sets = np.empty(len(self.count), dtype=object)
            start = 0
            for codes in self.codes:
                stop = start + len(codes)
                sets[start:stop] = list(map(frozenset, self.labels[codes].tolist()))
                start = stop
            self._sets = sets
        return self._sets

    def texts(self, quote: Callable[[str], str] = str) -> list[str]:
        """Each row as a JSON array of its labels as text, sorted (how files hold an itemset),
        passed through ``quote``."""
        strings = [str(label) for label in self.labels.tolist()]
        labels = np.array([json.dumps(s, ensure_ascii=False) for s in strings], dtype=object)
        in_order = all(a < b for a, b in pairwise(strings))
        texts: list[str] = []
        for codes in self.codes:
            if in_order:  # ascending codes are the sorted texts
                rows = labels[codes].tolist()
            else:
                rows = [sorted(row, key=json.loads) for row in labels[codes].tolist()]
            texts.extend(quote("[" + ", ".join(row) + "]") for row in rows)
        return texts


@dataclass(frozen=True)
class RuleTable:
    """Rules in output order: ``antecedents[j]`` and ``consequents[j]`` are rows of the
    :class:`ItemsetTable`; ``metrics[m, j]`` is metric ``RULE_METRICS[m]`` of rule ``j``."""

    antecedents: NDArray[np.int64]
    consequents: NDArray[np.int64]
    metrics: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.antecedents)


@dataclass(frozen=True)
class Mined:
    """What one mining run found: the itemsets, and the rules when they were asked for."""

    n_baskets: int
    n_items: int
    min_count: int
    itemsets: ItemsetTable
    rules: RuleTable | None


def _subsets(found: local.FrequentItemsets, ranks: NDArray[np.int64]) -> list[NDArray[np.int64]]:
    """For each bit mask over the columns of ``ranks`` (itemsets of one length, as rows of
    ascending item ranks), the ids of the subsets the mask selects, every one of them frequent.

    A subset is the one without its last column plus that column, so each mask costs a single
    look-up."""
    length = ranks.shape[1]
    subsets: list[NDArray[np.int64]] = [np.zeros(0, dtype=np.int64)]
    for mask in range(1, 2**length - 1):
        top = mask.bit_length() - 1
        rest = mask ^ (1 << top)
        if rest == 0:
            subsets.append(ranks[:, top])  # a single item's id is its rank
        else:
            subsets.append(found.find(mask.bit_count(), subsets[rest], ranks[:, top]))
    return subsets


def _descending(values: NDArray[np.float64]) -> NDArray[np.uint64]:
    """Sort keys, ascending as ``values`` descend: the bit patterns of positive floats order as
    the numbers do, and integers sort faster than floats."""
    return ~values.view(np.uint64)


def derive_rules(
    found: local.FrequentItemsets,
    itemsets: ItemsetTable,
    n_baskets: int,
    min_confidence: float,
    min_lift: float | None,
) -> RuleTable:
    """Every rule ``A → C`` with ``A + C`` frequent, ``A``, ``C`` non-empty and disjoint, that meets
    the thresholds, strongest (by lift, then confidence, then support) first.

    The rules are derived a split at a time for all itemsets of one length: each side is looked
    up in the prefix tree of itemsets and the metrics are computed column-wise."""
    n = float(n_baskets)
    parts: dict[str, list[Any]] = {name: [] for name in ("a", "c", "sac", "sa", "sc", "conf")}
    for length in range(2, len(found.levels) + 1):
        count_ac = found.levels[length - 1].count
        if len(count_ac) == 0:
            continue
        support_ac = count_ac / n
        subsets = _subsets(found, found.ranks(length))
        full = 2**length - 1
        for mask in range(1, full):
            left, right = mask.bit_count(), length - mask.bit_count()
            antecedents, consequents = subsets[mask], subsets[full ^ mask]
            support_a = found.levels[left - 1].count[antecedents] / n
            support_c = found.levels[right - 1].count[consequents] / n
            # mlxtend's expression (its null-value corrections are zero for complete data).
            confidence = (support_ac * n) / (support_a * n)
            keep = confidence >= min_confidence
            if min_lift is not None:
                keep &= confidence / support_c >= min_lift
            support_both = support_ac
            if not keep.all():
                if not keep.any():
                    continue
                antecedents, consequents = antecedents[keep], consequents[keep]
                support_a, support_c = support_a[keep], support_c[keep]
                support_both, confidence = support_ac[keep], confidence[keep]
            parts["a"].append(itemsets.row_of[left - 1][antecedents])
            parts["c"].append(itemsets.row_of[right - 1][consequents])
            parts["sac"].append(support_both)
            parts["sa"].append(support_a)
            parts["sc"].append(support_c)
            parts["conf"].append(confidence)
    if not parts["sac"]:
        empty = np.zeros(0, dtype=np.int64)
        return RuleTable(empty, empty, np.zeros((len(RULE_METRICS), 0)))

    # The metrics are made in the block they are kept in (a rule table is the largest thing
    # made here), each column from its pieces, which are dropped as they are used.
    metrics = np.empty((len(RULE_METRICS), sum(map(len, parts["sac"]))))
    support_a, support_c, support_ac, confidence, lift, leverage, conviction = metrics
    for name, row in (("sa", support_a), ("sc", support_c), ("sac", support_ac)):
        np.concatenate(parts.pop(name), out=row)
    np.concatenate(parts.pop("conf"), out=confidence)
    np.divide(confidence, support_c, out=lift)
    np.multiply(support_a, support_c, out=leverage)
    np.subtract(support_ac, leverage, out=leverage)
    below = confidence < 1.0
    np.divide(1.0 - support_c, 1.0 - confidence, out=conviction, where=below)
    conviction[~below] = np.inf
    del below
    # Strongest first; full ties keep the order of generation (by length, split and itemset
    # id), which depends on the data only.
    order = np.lexsort((_descending(support_ac), _descending(confidence), _descending(lift)))
    for row in metrics:
        row[:] = row[order]
    antecedents = np.concatenate(parts.pop("a"))[order]
    consequents = np.concatenate(parts.pop("c"))[order]
    return RuleTable(antecedents, consequents, metrics)


def mine(
    baskets: EncodedBaskets,
    min_support: float | int,
    max_len: int | None,
    thresholds: tuple[float, float | None] | None,
) -> Mined:
    """The frequent itemsets of ``baskets`` and, given ``(min_confidence, min_lift)``, the rules."""
    check_max_len(max_len)
    n_baskets = len(baskets)
    if n_baskets == 0:
        raise ValueError("there are no baskets to mine")
    min_count = min_support_count(min_support, n_baskets)
    kernel = _fim
    if kernel is not None:  # the compiled kernel: itemsets, their order and the rules in C
        min_confidence, min_lift = thresholds if thresholds is not None else (0.0, None)
        made = kernel.mine_rules(
            np.ascontiguousarray(baskets.indptr, dtype=np.int64),
            np.ascontiguousarray(baskets.indices, dtype=np.int32),
            baskets.n_items,
            min_count,
            max_len or 0,
            thresholds is not None,
            min_confidence,
            -1.0 if min_lift is None else min_lift,
        )
        itemsets = ItemsetTable.from_kernel(kernel, made["codes"], made["counts"], baskets.items)
        rules = None
        if thresholds is not None:
            rules = RuleTable(
                np.frombuffer(made["antecedents"], dtype=np.int64),
                np.frombuffer(made["consequents"], dtype=np.int64),
                np.frombuffer(made["metrics"], dtype=np.float64).reshape(len(RULE_METRICS), -1),
            )
        return Mined(n_baskets, baskets.n_items, min_count, itemsets, rules)
    found = local.mine_itemsets(
        baskets.indptr, baskets.indices, baskets.n_items, min_count, max_len
    )
    itemsets = ItemsetTable.from_search(found, baskets.items)
    rules = None if thresholds is None else derive_rules(found, itemsets, n_baskets, *thresholds)
    return Mined(n_baskets, baskets.n_items, min_count, itemsets, rules)
