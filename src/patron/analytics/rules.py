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

from collections.abc import Hashable
from typing import Self

import pandas as pd

from patron.analytics._baskets import Baskets, encode_baskets
from patron.analytics._params import ParamsMixin
from patron.analytics._rule_tables import (
    RULE_METRICS,
    ItemsetTable,
    Mined,
    RuleTable,
    check_max_len,
    check_thresholds,
    min_support_count,
    mine,
)

__all__ = [
    "ITEMSET_COLUMNS",
    "RULE_COLUMNS",
    "RULE_METRICS",
    "AssociationRuleMiner",
    "FrequentItemsetMiner",
    "itemset_frame",
    "min_support_count",
    "rule_frame",
]

ITEMSET_COLUMNS = ("itemset", "support", "count")
RULE_COLUMNS = ("antecedents", "consequents", *RULE_METRICS)


def itemset_frame(itemsets: ItemsetTable, n_baskets: int) -> pd.DataFrame:
    """The itemsets as :attr:`FrequentItemsetMiner.itemsets_` has them."""
    return pd.DataFrame(
        {
            "itemset": pd.Series(itemsets.sets(), dtype=object),
            "support": itemsets.count / float(n_baskets),
            "count": itemsets.count,
        }
    )


def rule_frame(itemsets: ItemsetTable, rules: RuleTable) -> pd.DataFrame:
    """The rules as :attr:`AssociationRuleMiner.rules_` has them; each side's frozenset is the
    itemset table's own object, made once per itemset."""
    if len(rules) == 0:
        empty = {name: pd.Series(dtype=object) for name in RULE_COLUMNS[:2]}
        empty |= {name: pd.Series(dtype=float) for name in RULE_METRICS}
        return pd.DataFrame(empty)
    # The metrics go straight into the one float block the frame keeps.
    frame = pd.DataFrame(rules.metrics.T, columns=list(RULE_METRICS), copy=False)
    sets = itemsets.sets()
    frame.insert(0, "antecedents", pd.Series(sets[rules.antecedents], dtype=object))
    frame.insert(1, "consequents", pd.Series(sets[rules.consequents], dtype=object))
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
        self,
        baskets: Baskets,
        order_col: Hashable | None,
        item_col: Hashable | None,
        thresholds: tuple[float, float | None] | None = None,
    ) -> Mined:
        check_max_len(self.max_len)
        encoded = encode_baskets(baskets, order_col=order_col, item_col=item_col)
        mined = mine(encoded, self.min_support, self.max_len, thresholds)
        self.min_count_ = mined.min_count
        self.n_baskets_ = mined.n_baskets
        self.n_items_ = mined.n_items
        self.itemsets_ = itemset_frame(mined.itemsets, mined.n_baskets)
        return mined

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
        self._mine(baskets, order_col, item_col)
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
        thresholds = check_thresholds(self.min_confidence, self.min_lift)
        mined = self._mine(baskets, order_col, item_col, thresholds)
        assert mined.rules is not None
        self.rules_ = rule_frame(mined.itemsets, mined.rules)
        return self
