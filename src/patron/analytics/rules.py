"""Frequent itemsets and association rules, straight from basket lines.

Definitions (Agrawal, Imieliński & Swami, SIGMOD 1993; the metrics as mlxtend's
``association_rules`` computes them). For ``N`` baskets, disjoint itemsets ``A`` and ``C``, and
``A + C`` their union, ``count(X)`` is the number of baskets that contain every item of ``X``:

* ``support(X) = count(X) / N``, a fraction of baskets; an itemset is *frequent* when
  ``support(X) >= min_support``;
* a rule ``A → C`` has ``support = support(A + C)`` (the baskets holding both sides),
  ``antecedent_support = support(A)`` and ``consequent_support = support(C)``;
* ``confidence = support(A + C) / support(A)``, the estimate of ``P(C | A)``.
  (This ratio is sometimes miscalled the "support" of a rule; it is the confidence.)
* ``lift = confidence / support(C)``: 1 when ``A`` and ``C`` are independent;
* ``leverage = support(A + C) - support(A) · support(C)``;
* ``conviction = (1 - support(C)) / (1 - confidence)``, infinite when ``confidence == 1``.

The itemsets are found by occurrence delivery over the encoded baskets
(:mod:`patron.analytics._itemsets`), a few array operations per level. The rules are derived a
split at a time for all itemsets of one length: each side is looked up in the prefix tree of
itemsets, the metrics computed column-wise, and each side's frozenset is the itemset table's own
object, made once per itemset. The results equal mlxtend's ``fpgrowth`` + ``association_rules``
(tested to 1e-9).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable
from typing import Any, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from patron.analytics._baskets import Baskets, encode_baskets
from patron.analytics._params import ParamsMixin
from patron.analytics.engines import local

ITEMSET_COLUMNS = ("itemset", "support", "count")
RULE_METRICS = (
    "antecedent_support",
    "consequent_support",
    "support",
    "confidence",
    "lift",
    "leverage",
    "conviction",
)
RULE_COLUMNS = ("antecedents", "consequents", *RULE_METRICS)


def min_support_count(min_support: float | int, n_baskets: int) -> int:
    """The smallest basket count that meets ``min_support``.

    An integer (``>= 1``) is already a count. A float in ``(0, 1]`` is a fraction: the result is
    the smallest ``c`` with ``c / n_baskets >= min_support`` evaluated in floating point (the
    test that defines a frequent itemset). ``ceil(min_support * n_baskets)`` is not always it:
    ``0.28 * 25`` is ``7.000000000000001``, yet 7 of 25 baskets have support 0.28.
    """
    if isinstance(min_support, bool) or not isinstance(min_support, numbers.Real):
        raise TypeError(f"min_support must be a number, got {min_support!r}")
    if isinstance(min_support, numbers.Integral):
        if min_support < 1:
            raise ValueError(f"min_support as a count must be at least 1, got {min_support}")
        return int(min_support)
    fraction = float(min_support)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"min_support as a fraction must be in (0, 1], got {min_support}")
    count = max(1, math.ceil(fraction * n_baskets))
    while count > 1 and (count - 1) / n_baskets >= fraction:
        count -= 1
    while count / n_baskets < fraction:
        count += 1
    return count


def _check_max_len(max_len: int | None) -> None:
    if max_len is None:
        return
    if isinstance(max_len, bool) or not isinstance(max_len, numbers.Integral) or max_len < 1:
        raise ValueError(f"max_len must be None or an integer >= 1, got {max_len!r}")


class _Catalogue:
    """The frequent itemsets in output order: shorter first, then higher support, then item order.

    ``sets[r]`` and ``count[r]`` are the frozenset and basket count of output row ``r``;
    ``row_of[k - 1][i]`` is the row of the itemset with id ``i`` among those of length ``k``.
    """

    def __init__(self, found: local.FrequentItemsets, items: list[Hashable]) -> None:
        # Only the frequent items' labels are boxed, in item-code order (the labels' order);
        # order_of_rank[r] is where the item of rank r sits among them.
        code = found.item_of_rank
        by_code = np.argsort(code)
        order_of_rank = np.empty_like(by_code)
        order_of_rank[by_code] = np.arange(len(by_code))
        labels = _boxed([items[c] for c in code[by_code].tolist()])
        sets: list[frozenset[Hashable]] = []
        counts: list[NDArray[np.int64]] = []
        self.row_of: list[NDArray[np.int64]] = []
        for length, level in enumerate(found.levels, start=1):
            codes = np.sort(order_of_rank[found.ranks(length)], axis=1)
            order = np.lexsort((*codes.T[::-1], -level.count))
            row = np.empty(len(order), dtype=np.int64)
            row[order] = np.arange(len(sets), len(sets) + len(order))
            self.row_of.append(row)
            sets.extend(map(frozenset, labels[codes[order]].tolist()))
            counts.append(level.count[order])
        self.sets = np.empty(len(sets), dtype=object)
        self.sets[:] = sets
        self.count = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)


def _boxed(items: list[Hashable]) -> NDArray[np.object_]:
    """An object array holding ``items`` as they are (a tuple stays one element)."""
    boxed = np.empty(len(items), dtype=object)
    if all(type(item) is str for item in items):
        boxed[:] = items
    else:
        for position, item in enumerate(items):
            boxed[position] = item
    return boxed


def _itemset_frame(catalogue: _Catalogue, n_baskets: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "itemset": pd.Series(catalogue.sets, dtype=object),
            "support": catalogue.count / float(n_baskets),
            "count": catalogue.count,
        }
    )


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


def _rule_frame(
    found: local.FrequentItemsets,
    catalogue: _Catalogue,
    n_baskets: int,
    min_confidence: float,
    min_lift: float | None,
) -> pd.DataFrame:
    """Every rule ``A → C`` with ``A + C`` frequent, ``A``, ``C`` non-empty and disjoint, that meets
    the thresholds; the metrics as defined in the module docstring."""
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
            parts["a"].append(catalogue.row_of[left - 1][antecedents])
            parts["c"].append(catalogue.row_of[right - 1][consequents])
            parts["sac"].append(support_both)
            parts["sa"].append(support_a)
            parts["sc"].append(support_c)
            parts["conf"].append(confidence)
    if not parts["sac"]:
        empty = {name: pd.Series(dtype=object) for name in RULE_COLUMNS[:2]}
        empty |= {name: pd.Series(dtype=float) for name in RULE_METRICS}
        return pd.DataFrame(empty)

    column = {name: np.concatenate(pieces) for name, pieces in parts.items()}
    del parts
    support_ac, support_a, support_c = column["sac"], column["sa"], column["sc"]
    confidence = column["conf"]
    lift = confidence / support_c
    leverage = support_ac - support_a * support_c
    conviction = np.full(len(confidence), np.inf)
    below = confidence < 1.0
    conviction[below] = (1.0 - support_c[below]) / (1.0 - confidence[below])
    del below
    # Strongest first; full ties keep the order of generation (by length, split and itemset
    # id), which depends on the data only.
    order = np.lexsort((_descending(support_ac), _descending(confidence), _descending(lift)))
    # The metrics go straight into the one float block the frame keeps, in order.
    metrics = np.empty((len(RULE_METRICS), len(order)))
    for row, values in enumerate(
        (support_a, support_c, support_ac, confidence, lift, leverage, conviction)
    ):
        np.take(values, order, out=metrics[row])
    del support_ac, support_a, support_c, confidence, lift, leverage, conviction
    frame = pd.DataFrame(metrics.T, columns=list(RULE_METRICS), copy=False)
    frame.insert(0, "antecedents", pd.Series(catalogue.sets[column["a"][order]], dtype=object))
    frame.insert(1, "consequents", pd.Series(catalogue.sets[column["c"][order]], dtype=object))
    return frame


class FrequentItemsetMiner(ParamsMixin):
    """Every itemset that appears in at least ``min_support`` of the baskets.

    Parameters
    ----------
    min_support : float or int, default 0.01
        A float in ``(0, 1]`` is a fraction of the baskets; an int ``>= 1`` is a basket count.
    max_len : int or None, default None
        The longest itemset to report.

    Attributes
    ----------
    itemsets_ : DataFrame
        Columns ``itemset`` (frozenset of items), ``support`` (fraction of baskets) and ``count``
        (baskets), shorter itemsets first, then by decreasing support.
    n_baskets_ : int
        Baskets seen by ``fit``, empty ones included.
    n_items_ : int
        Distinct items seen by ``fit``.
    min_count_ : int
        ``min_support`` as a basket count.
    """

    def __init__(self, min_support: float | int = 0.01, max_len: int | None = None) -> None:
        self.min_support = min_support
        self.max_len = max_len

    def _mine(
        self, baskets: Baskets, order_col: Hashable | None, item_col: Hashable | None
    ) -> tuple[local.FrequentItemsets, _Catalogue]:
        _check_max_len(self.max_len)
        encoded = encode_baskets(baskets, order_col=order_col, item_col=item_col)
        n_baskets = len(encoded)
        if n_baskets == 0:
            raise ValueError("there are no baskets to mine")
        self.min_count_ = min_support_count(self.min_support, n_baskets)
        self.n_baskets_ = n_baskets
        self.n_items_ = encoded.n_items
        found = local.mine_itemsets(
            encoded.indptr, encoded.indices, encoded.n_items, self.min_count_, self.max_len
        )
        return found, _Catalogue(found, encoded.items)

    def fit(
        self,
        baskets: Baskets,
        *,
        order_col: Hashable | None = None,
        item_col: Hashable | None = None,
    ) -> Self:
        """Mine ``baskets``: a long DataFrame of (order, item) rows — ``order_col``/``item_col``,
        or its only two columns — a boolean one-hot DataFrame, a sparse basket-by-item matrix,
        or an iterable of item lists. Returns ``self``."""
        _, catalogue = self._mine(baskets, order_col, item_col)
        self.itemsets_ = _itemset_frame(catalogue, self.n_baskets_)
        return self


class AssociationRuleMiner(FrequentItemsetMiner):
    """Association rules ``antecedents → consequents`` from the frequent itemsets.

    Parameters
    ----------
    min_support : float or int, default 0.01
        As for :class:`FrequentItemsetMiner`; applies to ``antecedents + consequents``.
    min_confidence : float, default 0.0
        Keep rules with ``confidence >= min_confidence``.
    min_lift : float or None, default None
        Also keep only rules with ``lift >= min_lift``.
    max_len : int or None, default None
        The longest itemset (antecedents and consequents together).

    Attributes
    ----------
    rules_ : DataFrame
        ``antecedents``, ``consequents`` (frozensets), then ``antecedent_support``,
        ``consequent_support``, ``support``, ``confidence``, ``lift``, ``leverage`` and
        ``conviction`` (definitions in :mod:`patron.analytics.rules`), highest lift first.
    itemsets_, n_baskets_, n_items_, min_count_
        As for :class:`FrequentItemsetMiner`.
    """

    def __init__(
        self,
        min_support: float | int = 0.01,
        min_confidence: float = 0.0,
        min_lift: float | None = None,
        max_len: int | None = None,
    ) -> None:
        super().__init__(min_support=min_support, max_len=max_len)
        self.min_confidence = min_confidence
        self.min_lift = min_lift

    def fit(
        self,
        baskets: Baskets,
        *,
        order_col: Hashable | None = None,
        item_col: Hashable | None = None,
    ) -> Self:
        """Mine the itemsets of ``baskets`` (shapes as for :class:`FrequentItemsetMiner`), then
        the rules. Returns ``self``."""
        confidence = float(self.min_confidence)
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if self.min_lift is not None and not float(self.min_lift) >= 0.0:
            raise ValueError(f"min_lift must be None or >= 0, got {self.min_lift}")
        found, catalogue = self._mine(baskets, order_col, item_col)
        self.itemsets_ = _itemset_frame(catalogue, self.n_baskets_)
        min_lift = None if self.min_lift is None else float(self.min_lift)
        self.rules_ = _rule_frame(found, catalogue, self.n_baskets_, confidence, min_lift)
        return self
