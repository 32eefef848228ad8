"""Pure computation on plain tables: RFM, segmentation, frequent itemsets and association rules.

Nothing here touches the database, the web app or the domains (an import-linter contract keeps it
so): callers hand in DataFrames or iterables and get DataFrames and fitted estimators back. The
estimators follow scikit-learn's habits: parameters in ``__init__``, checked in ``fit``, which
returns ``self``; learned attributes end in ``_``; an integer ``random_state`` makes them
deterministic; they keep no copy of the training data.

Names are imported on first use, so ``import patron.analytics`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from patron.analytics.rfm import rfm
    from patron.analytics.rules import AssociationRuleMiner, FrequentItemsetMiner
    from patron.analytics.segmentation import RFMSegmenter

_EXPORTS = {
    "rfm": "patron.analytics.rfm",
    "RFMSegmenter": "patron.analytics.segmentation",
    "FrequentItemsetMiner": "patron.analytics.rules",
    "AssociationRuleMiner": "patron.analytics.rules",
}

__all__ = ["AssociationRuleMiner", "FrequentItemsetMiner", "RFMSegmenter", "rfm"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'patron.analytics' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
