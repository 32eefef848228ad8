"""Where the heavy computation runs.

``local`` (numpy, scipy, pandas, scikit-learn) is the default and the only engine today; the
estimators in :mod:`patron.analytics` call it. A ``spark`` engine (pyspark, imported lazily) will
offer the same functions for data too large for one machine.
"""

from __future__ import annotations

ENGINES = ("local",)
