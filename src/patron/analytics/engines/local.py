"""The local engine: numpy / scipy kernels that the estimators call."""

from __future__ import annotations

from patron.analytics._eclat import Itemsets
from patron.analytics._eclat import mine as mine_itemsets

__all__ = ["Itemsets", "mine_itemsets"]
