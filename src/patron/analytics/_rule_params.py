"""The parameters of a frequent-itemset or rule search, checked without numpy (the command line's
fast path runs without it)."""

from __future__ import annotations

import math
import numbers

RULE_METRICS = (
    "antecedent_support",
    "consequent_support",
    "support",
    "confidence",
    "lift",
    "leverage",
    "conviction",
)
"""A rule's metrics, in the order tables and files hold them."""


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


def check_max_len(max_len: int | None) -> None:
    if max_len is None:
        return
    if isinstance(max_len, bool) or not isinstance(max_len, numbers.Integral) or max_len < 1:
        raise ValueError(f"max_len must be None or an integer >= 1, got {max_len!r}")


def check_thresholds(min_confidence: float, min_lift: float | None) -> tuple[float, float | None]:
    confidence = float(min_confidence)
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
    if min_lift is not None and not float(min_lift) >= 0.0:
        raise ValueError(f"min_lift must be None or >= 0, got {min_lift}")
    return confidence, None if min_lift is None else float(min_lift)


def parse_min_support(text: str) -> float | int:
    """``--min-support`` as written: a fraction when the text has a '.', an exponent or a value
    below 1; else a count. A ``ValueError`` says what is wrong, in the option's terms."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--min-support must be a number, got {text!r}") from None
    if any(mark in text.lower() for mark in (".", "e")) or value < 1:
        if not 0.0 < value <= 1.0:
            raise ValueError(f"--min-support as a fraction must be in (0, 1], got {text}")
        return value
    if not value.is_integer():
        raise ValueError(f"--min-support as a count must be an integer, got {text}")
    return int(value)
