"""The local engine: numpy kernels that the estimators call."""

from __future__ import annotations

from patron.analytics._itemsets import FrequentItemsets
from patron.analytics._itemsets import mine as mine_itemsets

__all__ = ["FrequentItemsets", "mine_itemsets"]
