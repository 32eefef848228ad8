"""From a transaction table to the per-customer summary the lifetime-value models need.

Re-exported by :mod:`patron.analytics.clv`; see :func:`calibration_holdout_split`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

TimeUnit = Literal["day", "week", "month"]
#: Length of each time unit in days. A month is an average Gregorian month.
TIME_UNIT_DAYS: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12.0}


def unit_days(time_unit: str) -> float:
    try:
        return TIME_UNIT_DAYS[time_unit]
    except KeyError:
        choices = ", ".join(TIME_UNIT_DAYS)
        raise ValueError(f"time_unit must be one of {choices}, not {time_unit!r}") from None


# --------------------------------------------------------------------------------------------
# From transactions to the per-customer summary
# --------------------------------------------------------------------------------------------


def _has_offsets(values: pd.Series) -> bool:
    """Whether text dates carry UTC offsets (then they are parsed as aware times)."""
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        sample = values.dropna().astype(str)
        return bool(sample.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).any())
    return False


def as_day(values: pd.Series, name: str) -> pd.Series:
    """Dates (or datetimes) as midnight timestamps; timezone-aware ones are taken in UTC.

    Text is read as ISO 8601 (``2024-01-31``, ``2024-01-31T09:30:00+01:00``); parse other
    formats before calling.
    """
    if not pd.api.types.is_datetime64_any_dtype(values):
        try:
            values = pd.to_datetime(values, format="ISO8601", utc=_has_offsets(values))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"column {name!r} does not hold ISO 8601 dates: {exc}") from None
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.dt.normalize()


def as_timestamp(value: Any, name: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} is not a date: {value!r} ({exc})") from None
    if pd.isna(stamp):
        raise ValueError(f"{name} is not a date: {value!r}")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.normalize()


def calibration_holdout_split(
    transactions: pd.DataFrame,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None = None,
    calibration_end: Any,
    observation_end: Any = None,
    time_unit: TimeUnit = "week",
) -> pd.DataFrame:
    """Per-customer calibration summary and, when ``observation_end`` is given, its holdout.

    Purchases are taken per calendar day: several transactions of a customer on one day are one
    purchase whose value is their sum (as in the authors' CDNOW summaries). Times are counted in
    days and divided by the length of ``time_unit`` (week = 7 days, so t_x and T are days / 7).
    Only customers whose first purchase is on or before ``calibration_end`` are kept; the
    calibration period includes ``calibration_end`` itself.

    Returns a frame indexed by customer (index name ``customer_col``, sorted) with

    * ``frequency`` - repeat purchases in the calibration period (purchase days after the first),
    * ``recency`` - last purchase minus first purchase (0 when there is no repeat purchase),
    * ``T`` - ``calibration_end`` minus first purchase,
    * ``monetary_value`` - mean value of the repeat purchases, 0 when there are none (only with
      ``amount_col``),
    * with ``observation_end``: ``frequency_holdout`` (purchase days in
      (calibration_end, observation_end]), ``monetary_value_holdout`` (their mean value, 0 when
      none; only with ``amount_col``) and ``duration_holdout``.
    """
    unit = unit_days(time_unit)
    columns = [customer_col, date_col] + ([amount_col] if amount_col is not None else [])
    missing = [column for column in columns if column not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack the column(s) {', '.join(map(repr, missing))}")
    cal_end = as_timestamp(calibration_end, "calibration_end")
    obs_end = None
    if observation_end is not None:
        obs_end = as_timestamp(observation_end, "observation_end")
        if obs_end <= cal_end:
            raise ValueError("observation_end must be after calibration_end")

    frame = pd.DataFrame(
        {
            "customer": transactions[customer_col].to_numpy(),
            "day": as_day(transactions[date_col], date_col).to_numpy(),
        }
    )
    if amount_col is not None:
        amounts = pd.to_numeric(transactions[amount_col], errors="coerce")
        if amounts.isna().any():
            raise ValueError(f"column {amount_col!r} has missing or non-numeric values")
        frame["amount"] = amounts.to_numpy(dtype=np.float64)
    if frame["customer"].isna().any() or frame["day"].isna().any():
        raise ValueError(f"columns {customer_col!r} and {date_col!r} must not have missing values")

    if obs_end is not None:
        frame = frame[frame["day"] <= obs_end]
    # One row per customer and purchase day (same-day purchases merged, values summed).
    daily = frame.groupby(["customer", "day"], sort=True).sum().reset_index()
    first = daily.groupby("customer", sort=False)["day"].transform("min")
    daily = daily[first <= cal_end]
    first = first[first <= cal_end]
    in_calibration = daily["day"] <= cal_end

    cal = daily[in_calibration]
    cal_first = first[in_calibration]
    grouped = cal.groupby("customer", sort=True)
    first_day = grouped["day"].min()
    summary = pd.DataFrame(index=first_day.index)
    summary.index.name = customer_col
    summary["frequency"] = (grouped.size() - 1).astype(np.int64)
    summary["recency"] = (grouped["day"].max() - first_day).dt.days / unit
    summary["T"] = (cal_end - first_day).dt.days / unit
    if amount_col is not None:
        repeat_amount = cal["amount"].where(cal["day"] != cal_first, 0.0)
        repeat_total = repeat_amount.groupby(cal["customer"], sort=True).sum()
        count = summary["frequency"].to_numpy()
        summary["monetary_value"] = np.where(
            count > 0, repeat_total.to_numpy() / np.maximum(count, 1), 0.0
        )

    if obs_end is not None:
        hold = daily[~in_calibration].groupby("customer", sort=True)
        count = hold.size().reindex(summary.index, fill_value=0)
        summary["frequency_holdout"] = count.astype(np.int64)
        if amount_col is not None:
            total = hold["amount"].sum().reindex(summary.index, fill_value=0.0)
            summary["monetary_value_holdout"] = np.where(
                count > 0, total / np.maximum(count, 1), 0.0
            )
        summary["duration_holdout"] = float((obs_end - cal_end).days) / unit
    return summary


def summary_data(
    transactions: pd.DataFrame,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None = None,
    observation_end: Any = None,
    time_unit: TimeUnit = "week",
) -> pd.DataFrame:
    """Per-customer ``frequency``, ``recency``, ``T`` (and ``monetary_value``) up to a date.

    The same summary as :func:`calibration_holdout_split` with the whole history as calibration:
    ``T`` runs to ``observation_end`` (default: the last transaction date in the data).
    """
    if observation_end is None:
        if date_col not in transactions.columns:
            raise ValueError(f"transactions lack the column {date_col!r}")
        if len(transactions) == 0:
            raise ValueError("transactions are empty")
        observation_end = as_day(transactions[date_col], date_col).max()
    return calibration_holdout_split(
        transactions,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        calibration_end=observation_end,
        time_unit=time_unit,
    )
