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

The search is Eclat over vertical bitsets (:mod:`patron.analytics._eclat`); the baskets stay a
sparse matrix throughout. The results equal mlxtend's ``fpgrowth`` + ``association_rules``
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
from sklearn.base import BaseEstimator

from patron.analytics._baskets import Baskets, basket_matrix
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


def _itemset_frame(found: local.Itemsets, items: list[Hashable], n_baskets: int) -> pd.DataFrame:
    """One row per itemset: shorter first, then higher support, then item order."""
    sets: list[frozenset[Hashable]] = []
    counts: list[NDArray[np.int64]] = []
    for length in sorted(found):
        codes, count = found[length]
        order = np.lexsort((*codes.T[::-1], -count))
        sets.extend(frozenset(map(items.__getitem__, row)) for row in codes[order].tolist())
        counts.append(count[order])
    count_all = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
    return pd.DataFrame(
        {
            "itemset": pd.Series(sets, dtype=object),
            "support": count_all / float(n_baskets),
            "count": count_all,
        }
    )


class _Lookup:
    """Support counts of the frequent itemsets, found by value in vectorised form."""

    def __init__(self, found: local.Itemsets) -> None:
        self._tables: dict[int, tuple[NDArray[np.void], NDArray[np.int64]]] = {}
        for length, (codes, counts) in found.items():
            keys = self._keys(codes)
            order = np.argsort(keys, kind="stable")
            self._tables[length] = (keys[order], counts[order])

    @staticmethod
    def _keys(codes: NDArray[np.int32]) -> NDArray[np.void]:
        # Big-endian non-negative integers compare bytewise in numeric order.
        rows = np.ascontiguousarray(codes, dtype=">i4")
        return rows.view(np.dtype((np.void, 4 * codes.shape[1]))).ravel()

    def counts(self, codes: NDArray[np.int32]) -> NDArray[np.int64]:
        keys, counts = self._tables[codes.shape[1]]
        query = self._keys(codes)
        where = np.searchsorted(keys, query)
        if np.any(where >= len(keys)) or np.any(keys[np.minimum(where, len(keys) - 1)] != query):
            raise ValueError("an antecedent or consequent is missing from the frequent itemsets")
        return counts[where]


def _frozensets(
    parts: list[NDArray[np.int32]],
    items: list[Hashable],
    cache: dict[tuple[int, ...], frozenset[Hashable]],
) -> list[frozenset[Hashable]]:
    """The item labels of each row of codes, one frozenset object per distinct itemset."""
    result: list[frozenset[Hashable]] = []
    for part in parts:
        for row in map(tuple, part.tolist()):
            found = cache.get(row)
            if found is None:
                found = cache[row] = frozenset(map(items.__getitem__, row))
            result.append(found)
    return result


def _rule_frame(
    found: local.Itemsets,
    items: list[Hashable],
    n_baskets: int,
    min_confidence: float,
    min_lift: float | None,
) -> pd.DataFrame:
    """Every rule ``A → C`` with ``A + C`` frequent, ``A``, ``C`` non-empty and disjoint, that meets
    the thresholds; the metrics as defined in the module docstring."""
    lookup = _Lookup(found)
    n = float(n_baskets)
    parts: dict[str, list[Any]] = {name: [] for name in ("a", "c", "sac", "sa", "sc", "conf")}
    for length in sorted(found):
        if length < 2:
            continue
        codes, count_ac = found[length]
        support_ac = count_ac / n
        for mask in range(1, 2**length - 1):
            left = [b for b in range(length) if mask >> b & 1]
            right = [b for b in range(length) if not mask >> b & 1]
            antecedents, consequents = codes[:, left], codes[:, right]
            support_a = lookup.counts(antecedents) / n
            support_c = lookup.counts(consequents) / n
            # mlxtend's expression (its null-value corrections are zero for complete data).
            confidence = (support_ac * n) / (support_a * n)
            keep = confidence >= min_confidence
            if min_lift is not None:
                keep &= confidence / support_c >= min_lift
            if not keep.any():
                continue
            parts["a"].append(antecedents[keep])
            parts["c"].append(consequents[keep])
            parts["sac"].append(support_ac[keep])
            parts["sa"].append(support_a[keep])
            parts["sc"].append(support_c[keep])
            parts["conf"].append(confidence[keep])
    if not parts["sac"]:
        empty = {name: pd.Series(dtype=object) for name in RULE_COLUMNS[:2]}
        empty |= {name: pd.Series(dtype=float) for name in RULE_METRICS}
        return pd.DataFrame(empty)

    support_ac, support_a, support_c, confidence = (
        np.concatenate(parts[name]) for name in ("sac", "sa", "sc", "conf")
    )
    lift = confidence / support_c
    leverage = support_ac - support_a * support_c
    conviction = np.full(len(confidence), np.inf)
    below = confidence < 1.0
    conviction[below] = (1.0 - support_c[below]) / (1.0 - confidence[below])

    cache: dict[tuple[int, ...], frozenset[Hashable]] = {}
    antecedents = _frozensets(parts["a"], items, cache)
    consequents = _frozensets(parts["c"], items, cache)
    # Strongest first; ties keep the generation order, which is deterministic.
    order = np.lexsort((np.arange(len(lift)), -support_ac, -confidence, -lift))
    frame = pd.DataFrame(
        {
            "antecedents": pd.Series(antecedents, dtype=object),
            "consequents": pd.Series(consequents, dtype=object),
            "antecedent_support": support_a,
            "consequent_support": support_c,
            "support": support_ac,
            "confidence": confidence,
            "lift": lift,
            "leverage": leverage,
            "conviction": conviction,
        }
    )
    return frame.iloc[order].reset_index(drop=True)


class FrequentItemsetMiner(BaseEstimator):  # type: ignore[misc]
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
    ) -> tuple[local.Itemsets, list[Hashable]]:
        _check_max_len(self.max_len)
        matrix, items = basket_matrix(baskets, order_col=order_col, item_col=item_col)
        n_baskets = matrix.shape[0]
        if n_baskets == 0:
            raise ValueError("there are no baskets to mine")
        self.min_count_ = min_support_count(self.min_support, n_baskets)
        self.n_baskets_ = n_baskets
        self.n_items_ = len(items)
        return local.mine_itemsets(matrix, self.min_count_, self.max_len), items

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
        found, items = self._mine(baskets, order_col, item_col)
        self.itemsets_ = _itemset_frame(found, items, self.n_baskets_)
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
        found, items = self._mine(baskets, order_col, item_col)
        self.itemsets_ = _itemset_frame(found, items, self.n_baskets_)
        min_lift = None if self.min_lift is None else float(self.min_lift)
        self.rules_ = _rule_frame(found, items, self.n_baskets_, confidence, min_lift)
        return self
