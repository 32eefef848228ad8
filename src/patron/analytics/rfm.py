"""Recency, frequency and monetary value per customer (RFM).

RFM summarises each customer's purchase history in three numbers (Hughes, *Strategic Database
Marketing*, 1994; Fader, Hardie & Lee, "RFM and CLV", Journal of Marketing Research 42(4), 2005):

* **recency** — whole days from the customer's last purchase to ``as_of`` (0: bought that day);
* **frequency** — how many purchases: distinct orders, or distinct purchase days when there is
  no order column (several lines on one day then count as one purchase);
* **monetary** — ``monetary_total``, the sum of the amounts, and ``monetary_mean``, the average
  per purchase (``monetary_total / frequency``).

Each is also scored 1-5 by quintile of the customers: a higher score is better, so the most recent
fifth gets ``r_score`` 5 while the most frequent and the biggest spenders get ``f_score`` and
``m_score`` 5. Customers are ranked in customer-id order first, so ties (say, the many one-order
customers) are split deterministically; ``rfm_score`` joins the three digits, e.g. ``"535"``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable

import numpy as np
import pandas as pd

RFM_COLUMNS = (
    "recency",
    "frequency",
    "monetary_total",
    "monetary_mean",
    "r_score",
    "f_score",
    "m_score",
    "rfm_score",
)


def quintile_scores(values: pd.Series, *, higher_is_better: bool = True) -> pd.Series:
    """Scores 1-5 by equal-count bins of the ranks (``rank(method="first")``).

    With ``n`` values ranked ``1…n`` from worst to best, rank ``i`` scores ``ceil(5 · i / n)``:
    the same bins as ``pd.qcut(ranks, 5)`` when ``n`` is a multiple of five, and defined for any
    ``n >= 1``. Ties take the order in which they appear.
    """
    n = len(values)
    if n == 0:
        return pd.Series(dtype=np.int64, index=values.index)
    ranks = values.rank(method="first", ascending=higher_is_better).to_numpy()
    scores = np.ceil(5.0 * ranks / n).astype(np.int64)
    return pd.Series(np.clip(scores, 1, 5), index=values.index)


def _utc_day(value: object) -> pd.Timestamp:
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    if pd.isna(stamp):
        raise ValueError(f"as_of must be a date or a timestamp, got {value!r}")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.floor("D")


def _days(values: pd.Series, name: Hashable) -> pd.Series:
    """UTC calendar days; ISO 8601 text is parsed strictly, other text by pandas' inference."""
    try:
        if pd.api.types.is_datetime64_any_dtype(values):
            stamps = pd.to_datetime(values, utc=True)
        else:
            try:
                stamps = pd.to_datetime(values, utc=True, format="ISO8601")
            except ValueError:
                stamps = pd.to_datetime(values, utc=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"column {name!r} does not hold dates: {exc}") from exc
    return stamps.dt.floor("D")


def rfm(
    transactions: pd.DataFrame,
    as_of: dt.date | dt.datetime | pd.Timestamp | str | None = None,
    *,
    customer_col: Hashable = "customer_id",
    order_col: Hashable | None = "order_id",
    date_col: Hashable = "ordered_at",
    amount_col: Hashable = "amount",
) -> pd.DataFrame:
    """The RFM table: one row per customer, indexed by customer id (sorted).

    Parameters
    ----------
    transactions : DataFrame
        One row per purchase or purchase line: customer, date/time, amount and, optionally, order.
    as_of : date, timestamp, ISO string or None
        The day recency is counted to. Purchases dated after that day are left out. ``None``
        takes the day of the latest purchase in ``transactions``.
    customer_col, order_col, date_col, amount_col : column names
        ``order_col=None`` counts distinct purchase days as the frequency.

    Returns
    -------
    DataFrame with columns ``recency`` (days, int), ``frequency`` (int), ``monetary_total``,
    ``monetary_mean`` (floats), ``r_score``, ``f_score``, ``m_score`` (1-5) and ``rfm_score``.

    Dates are read as UTC (naive ones are taken to be UTC already) and compared by calendar day.
    Rows without a customer (anonymous sales) are left out; a missing date, amount or order id is
    an error.
    """
    wanted = [customer_col, date_col, amount_col] + ([order_col] if order_col is not None else [])
    missing = [column for column in wanted if column not in transactions.columns]
    if missing:
        raise ValueError(f"the transactions have no column(s) {missing}")
    frame = transactions.loc[transactions[customer_col].notna(), wanted]
    for column in wanted[1:]:
        if frame[column].isna().any():
            raise ValueError(f"column {column!r} has missing values")
    days = _days(frame[date_col], date_col)
    amounts = pd.to_numeric(frame[amount_col], errors="raise").astype(float)
    cutoff = days.max() if as_of is None else _utc_day(as_of)
    inside = (days <= cutoff).to_numpy()
    keyed = pd.DataFrame(
        {
            "customer": frame[customer_col].to_numpy()[inside],
            "day": days.to_numpy()[inside],
            "amount": amounts.to_numpy()[inside],
            "purchase": (
                frame[order_col].to_numpy()[inside]
                if order_col is not None
                else days.to_numpy()[inside]
            ),
        }
    )
    grouped = keyed.groupby("customer", sort=True)
    last_day = pd.to_datetime(grouped["day"].max(), utc=True)
    table = pd.DataFrame(index=last_day.index.rename(customer_col))
    table["recency"] = ((cutoff - last_day) // pd.Timedelta(days=1)).astype(np.int64)
    table["frequency"] = grouped["purchase"].nunique().astype(np.int64)
    table["monetary_total"] = grouped["amount"].sum().astype(float)
    table["monetary_mean"] = table["monetary_total"] / table["frequency"]
    table["r_score"] = quintile_scores(table["recency"], higher_is_better=False)
    table["f_score"] = quintile_scores(table["frequency"])
    table["m_score"] = quintile_scores(table["monetary_total"])
    table["rfm_score"] = (
        table["r_score"].astype(str) + table["f_score"].astype(str) + table["m_score"].astype(str)
    )
    return table[list(RFM_COLUMNS)]
