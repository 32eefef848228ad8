"""Sales forecasts: monthly revenue with prediction intervals, its back-test, and the pipeline.

* :func:`monthly_revenue` - a transaction table summed by calendar month (months without sales
  are 0).
* :class:`RevenueForecaster` - exponential smoothing (ETS, additive errors, the state-space form
  of Hyndman et al. 2008, fitted by statsmodels' ``ETSModel``) chosen by AICc among a few
  trend / seasonality variants, with analytic 80 % and 95 % prediction intervals.
* :func:`seasonal_naive` - the benchmark: each month forecast by the same month a season ago.
* :func:`mape`, :func:`mase`, :func:`rolling_origin_backtest` - forecast accuracy with a rolling
  origin, the model against the seasonal-naive forecast (Hyndman & Koehler 2006).
* :func:`pipeline_forecast` - open deals, weighted by their probability, by expected close month.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from patron.analytics._clv_summary import as_day

__all__ = [
    "BacktestResult",
    "RevenueForecaster",
    "mape",
    "mase",
    "monthly_revenue",
    "pipeline_forecast",
    "rolling_origin_backtest",
    "seasonal_naive",
]

FloatArray = NDArray[np.float64]
LEVELS = (80, 95)
# (trend, damped, seasonal) variants tried by the automatic choice, simplest first.
_VARIANTS = (
    (None, False, False),
    ("add", False, False),
    ("add", True, False),
    (None, False, True),
    ("add", False, True),
    ("add", True, True),
)


# --------------------------------------------------------------------------------------------
# From transactions to a monthly series
# --------------------------------------------------------------------------------------------


def monthly_revenue(
    transactions: pd.DataFrame,
    *,
    date_col: str,
    amount_col: str,
    start: Any = None,
    end: Any = None,
) -> pd.Series:
    """Revenue per calendar month, indexed by monthly ``Period``; months without sales are 0.

    ``start`` and ``end`` (dates) widen or cut the range of months; by default it runs from the
    first to the last transaction's month. Timezone-aware times are taken in UTC.
    """
    missing = [c for c in (date_col, amount_col) if c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack the column(s) {', '.join(map(repr, missing))}")
    amounts = pd.to_numeric(transactions[amount_col], errors="coerce")
    if amounts.isna().any():
        raise ValueError(f"column {amount_col!r} has missing or non-numeric values")
    days = as_day(transactions[date_col], date_col)
    if days.isna().any():
        raise ValueError(f"column {date_col!r} has missing dates")
    months = days.dt.to_period("M")
    totals = amounts.groupby(months.to_numpy()).sum()
    first = pd.Period(start, "M") if start is not None else (months.min() if len(months) else None)
    last = pd.Period(end, "M") if end is not None else (months.max() if len(months) else None)
    if first is None or last is None:
        raise ValueError("no transactions, and no start and end to make empty months from")
    index = pd.period_range(first, last, freq="M", name="month")
    return totals.reindex(index, fill_value=0.0).astype(np.float64).rename("revenue")


def _series(y: ArrayLike | pd.Series, name: str = "y") -> FloatArray:
    values = np.asarray(y, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    return values


# --------------------------------------------------------------------------------------------
# Accuracy
# --------------------------------------------------------------------------------------------


def mape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Mean absolute percentage error, in percent: 100 · mean(|y - ŷ| / |y|).

    Periods whose actual value is 0 have no percentage error and are left out; NaN when every
    actual is 0.
    """
    y, f = _series(actual, "actual"), _series(forecast, "forecast")
    if y.shape != f.shape:
        raise ValueError("actual and forecast must have the same length")
    nonzero = y != 0
    if not nonzero.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs(y[nonzero] - f[nonzero]) / np.abs(y[nonzero])))


def naive_scale(train: ArrayLike, season_length: int = 1) -> float:
    """In-sample mean absolute error of the (seasonal) naive forecast on ``train``:
    mean over t = m+1..n of |y_t - y_{t-m}| — the denominator of MASE."""
    y = _series(train, "train")
    if y.size <= season_length:
        raise ValueError(f"MASE needs more than season_length={season_length} training values")
    return float(np.mean(np.abs(y[season_length:] - y[:-season_length])))


def mase(actual: ArrayLike, forecast: ArrayLike, train: ArrayLike, season_length: int = 1) -> float:
    """Mean absolute scaled error (Hyndman & Koehler 2006): mean |y - ŷ| over the in-sample
    mean absolute error of the seasonal-naive forecast on ``train`` (:func:`naive_scale`).

    Below 1, the forecast beats the seasonal-naive one's in-sample accuracy; infinite when the
    training series is exactly seasonal-naive-predictable (scale 0) and the errors are not all 0.
    """
    y, f = _series(actual, "actual"), _series(forecast, "forecast")
    if y.shape != f.shape:
        raise ValueError("actual and forecast must have the same length")
    error = float(np.mean(np.abs(y - f)))
    scale = naive_scale(train, season_length)
    if scale == 0:
        return 0.0 if error == 0 else float("inf")
    return error / scale


def seasonal_naive(train: ArrayLike, horizon: int, season_length: int = 12) -> FloatArray:
    """ŷ_{n+h} = y_{n+h-m(⌊(h-1)/m⌋+1)}: the value of the same month in the last season seen."""
    y = _series(train, "train")
    if y.size < season_length:
        raise ValueError(f"the seasonal-naive forecast needs {season_length} values")
    steps = np.arange(horizon)
    return y[y.size - season_length + steps % season_length].astype(np.float64)


# --------------------------------------------------------------------------------------------
# ETS with prediction intervals
# --------------------------------------------------------------------------------------------


def _variants(n: int, season_length: int, seasonal: str, trend: str) -> list[tuple[Any, ...]]:
    allowed = []
    for variant in _VARIANTS:
        has_trend, damped, has_season = variant[0] is not None, variant[1], variant[2]
        if (seasonal == "none" and has_season) or (seasonal == "add" and not has_season):
            continue
        if (trend == "none" and has_trend) or (trend in ("add", "damped") and not has_trend):
            continue
        if trend == "damped" and not damped:
            continue
        # Parameters and initial states must leave some degrees of freedom.
        states = 1 + has_trend + (season_length - 1 if has_season else 0)
        params = 1 + has_trend + damped + has_season + states
        if (has_season and n < 2 * season_length + 2) or n < params + 3:
            continue
        allowed.append(variant)
    return allowed


def _fit_ets(y: FloatArray, variant: tuple[Any, ...], season_length: int) -> Any:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    trend, damped, has_season = variant
    model = ETSModel(
        pd.Series(y),  # its predictions need a pandas index: 0..n-1
        error="add",
        trend=trend,
        damped_trend=damped,
        seasonal="add" if has_season else None,
        seasonal_periods=season_length if has_season else None,
        initialization_method="estimated",
    )
    return model.fit(disp=False, maxiter=1000)


@contextmanager
def _quiet() -> Iterator[None]:
    """statsmodels' warnings silenced (a poor fit shows in its AICc), floating-point errors
    ignored, and BLAS on this thread alone: its matrices are tiny, and on shared cores waking
    BLAS threads cost more than the work (a fit took 2.5 times as long). Everything is
    restored on leaving."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        with threadpool_limits(limits=1, user_api="blas"):
            yield


def _label(variant: tuple[Any, ...]) -> str:
    trend, damped, has_season = variant
    trend_code = "N" if trend is None else "Ad" if damped else "A"
    return f"ETS(A,{trend_code},{'A' if has_season else 'N'})"


class RevenueForecaster(BaseEstimator):  # type: ignore[misc]
    """Exponential smoothing of a monthly series with 80 % and 95 % prediction intervals.

    Additive-error ETS models (simple, Holt's linear, damped trend; each with additive
    seasonality when there are at least two seasons and two months of data) are fitted by
    maximum likelihood (statsmodels' ``ETSModel``); the one with the smallest AICc is kept,
    as in Hyndman et al.'s automatic ETS. Prediction intervals are the models' analytic ones.

    Parameters
    ----------
    season_length : months in a season (12 for yearly seasonality).
    seasonal : "auto" (try with and without), "add" or "none".
    trend : "auto", "none", "add" (linear or damped) or "damped".
    levels : the prediction interval coverages, in percent.
    nonnegative : clip forecasts and bounds at 0 (revenue cannot be negative).

    Attributes
    ----------
    model_ : the chosen model, e.g. ``"ETS(A,Ad,N)"``; aicc_ its AICc; params_ its parameters.
    n_obs_ : length of the series it was fitted on.
    result_ : statsmodels' fitted results (they hold the series, a few dozen numbers: its
        predictions need them).
    """

    def __init__(
        self,
        *,
        season_length: int = 12,
        seasonal: str = "auto",
        trend: str = "auto",
        levels: Sequence[int] = LEVELS,
        nonnegative: bool = True,
    ) -> None:
        self.season_length = season_length
        self.seasonal = seasonal
        self.trend = trend
        self.levels = levels
        self.nonnegative = nonnegative

    def fit(self, y: ArrayLike | pd.Series) -> RevenueForecaster:
        values = _series(y)
        if self.seasonal not in ("auto", "add", "none"):
            raise ValueError(f"seasonal must be auto, add or none, not {self.seasonal!r}")
        if self.trend not in ("auto", "none", "add", "damped"):
            raise ValueError(f"trend must be auto, none, add or damped, not {self.trend!r}")
        if not (isinstance(self.season_length, int | np.integer) and self.season_length >= 2):
            raise ValueError("season_length must be a whole number of at least 2")
        if any(not 0 < level < 100 for level in self.levels):
            raise ValueError("levels are percentages between 0 and 100")
        variants = _variants(values.size, int(self.season_length), self.seasonal, self.trend)
        if not variants:
            raise ValueError(f"{values.size} values are too few for the requested model")
        best: tuple[float, tuple[Any, ...], Any] | None = None
        with _quiet():
            for variant in variants:
                result = _fit_ets(values, variant, int(self.season_length))
                aicc = float(result.aicc)
                if math.isfinite(aicc) and (best is None or aicc < best[0]):
                    best = (aicc, variant, result)
        if best is None:
            raise ValueError("no model could be fitted to the series")
        self.aicc_, variant, self.result_ = best
        self.model_ = _label(variant)
        self.params_ = {
            str(name): float(value)
            for name, value in zip(self.result_.param_names, self.result_.params, strict=True)
        }
        self.n_obs_ = int(values.size)
        self.index_ = y.index if isinstance(y, pd.Series) else None
        return self

    def predict(self, horizon: int) -> pd.DataFrame:
        """The next ``horizon`` values: ``forecast`` and ``lo_<L>`` / ``hi_<L>`` per level.

        Indexed by the months after the fitted series when it had a monthly PeriodIndex, else
        by step 1..horizon.
        """
        check_is_fitted(self, "model_")
        if not (isinstance(horizon, int | np.integer) and horizon >= 1):
            raise ValueError("horizon must be a positive whole number")
        start, end = self.n_obs_, self.n_obs_ + int(horizon) - 1
        with _quiet():
            prediction = self.result_.get_prediction(start=start, end=end)
            frame = pd.DataFrame({"forecast": np.asarray(prediction.predicted_mean)})
            for level in sorted(self.levels):
                bounds = np.asarray(prediction.pred_int(alpha=1 - level / 100), dtype=np.float64)
                frame[f"lo_{level}"] = bounds[:, 0]
                frame[f"hi_{level}"] = bounds[:, 1]
        if self.nonnegative:
            frame = frame.clip(lower=0.0)
        index = self.index_
        if isinstance(index, pd.PeriodIndex) and len(index):
            frame.index = pd.period_range(index[-1] + 1, periods=int(horizon), freq=index.freq)
            frame.index.name = "month"
        else:
            frame.index = pd.RangeIndex(1, int(horizon) + 1, name="step")
        return frame


# --------------------------------------------------------------------------------------------
# Rolling-origin back-test
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestResult:
    """Forecasts at every origin and the accuracy of the model and of the seasonal naive.

    ``forecasts`` has one row per (origin, step): ``origin`` (the number of training values),
    ``step``, ``actual``, ``forecast``, ``naive`` and ``scale`` (the origin's MASE denominator).
    """

    forecasts: pd.DataFrame
    season_length: int
    horizon: int

    @property
    def origins(self) -> int:
        return int(self.forecasts["origin"].nunique())

    def metrics(self) -> dict[str, Any]:
        f = self.forecasts
        scale = f["scale"].to_numpy()

        def scaled(column: str) -> float:
            errors = np.abs(f["actual"].to_numpy() - f[column].to_numpy())
            with np.errstate(divide="ignore", invalid="ignore"):
                return float(np.mean(errors / scale))

        return {
            "origins": self.origins,
            "horizon": self.horizon,
            "season_length": self.season_length,
            "n_forecasts": len(f),
            "model": {"mape": mape(f["actual"], f["forecast"]), "mase": scaled("forecast")},
            "seasonal_naive": {"mape": mape(f["actual"], f["naive"]), "mase": scaled("naive")},
        }


def rolling_origin_backtest(
    y: ArrayLike | pd.Series,
    *,
    forecaster: RevenueForecaster | None = None,
    horizon: int = 3,
    initial: int | None = None,
    step: int = 1,
) -> BacktestResult:
    """Refit at each origin (the first ``initial`` values, then ``step`` more each time) and
    forecast the next 1..``horizon`` values, beside the seasonal-naive forecast.

    MASE follows Hyndman & Koehler (2006): each error is scaled by the in-sample mean absolute
    error of the seasonal-naive forecast on that origin's training values; the reported MASE is
    the mean of the scaled errors over every origin and step. MAPE is over the same forecasts.
    ``initial`` defaults to the larger of season_length + 1 and half the series.
    """
    model = forecaster if forecaster is not None else RevenueForecaster()
    values = _series(y)
    m = int(model.season_length)
    first = max(m + 1, values.size // 2) if initial is None else int(initial)
    if first <= m:
        raise ValueError(f"initial must exceed season_length ({m}): the naive scale needs it")
    if not (horizon >= 1 and step >= 1):
        raise ValueError("horizon and step must be positive")
    if first >= values.size:
        raise ValueError(
            f"{values.size} values leave nothing to test after {first} training values"
        )
    rows = []
    for origin in range(first, values.size, step):
        train = values[:origin]
        steps = min(horizon, values.size - origin)
        fitted = _clone(model).fit(train)
        forecast = fitted.predict(steps)["forecast"].to_numpy()
        naive = seasonal_naive(train, steps, m)
        scale = naive_scale(train, m)
        for index in range(steps):
            rows.append(
                {
                    "origin": origin,
                    "step": index + 1,
                    "actual": float(values[origin + index]),
                    "forecast": float(forecast[index]),
                    "naive": float(naive[index]),
                    "scale": scale,
                }
            )
    return BacktestResult(forecasts=pd.DataFrame(rows), season_length=m, horizon=int(horizon))


def _clone(model: RevenueForecaster) -> RevenueForecaster:
    from sklearn.base import clone

    return clone(model)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------
# Pipeline forecast
# --------------------------------------------------------------------------------------------


def pipeline_forecast(
    deals: pd.DataFrame,
    *,
    amount_col: str = "amount",
    probability_col: str = "probability",
    close_col: str = "expected_close_on",
) -> pd.DataFrame:
    """Expected revenue of open deals by expected close month.

    ``probability`` is a fraction between 0 and 1 (a stage's win probability). One row per
    month, in order: ``month`` (``YYYY-MM``; None for deals without an expected close date,
    last), ``deals`` (count), ``amount`` (unweighted sum) and ``expected`` (sum of amount *
    probability).
    """
    missing = [c for c in (amount_col, probability_col, close_col) if c not in deals.columns]
    if missing:
        raise ValueError(f"deals lack the column(s) {', '.join(map(repr, missing))}")
    amount = pd.to_numeric(deals[amount_col], errors="coerce")
    probability = pd.to_numeric(deals[probability_col], errors="coerce")
    if amount.isna().any() or probability.isna().any():
        raise ValueError(f"columns {amount_col!r} and {probability_col!r} must be numeric")
    if ((probability < 0) | (probability > 1)).any():
        raise ValueError(f"column {probability_col!r} must hold fractions between 0 and 1")
    close = pd.to_datetime(deals[close_col], errors="coerce")
    month = close.dt.strftime("%Y-%m").where(close.notna(), "")
    frame = pd.DataFrame(
        {
            "month": month.to_numpy(),
            "deals": 1,
            "amount": amount.to_numpy(np.float64),
            "expected": (amount * probability).to_numpy(np.float64),
        }
    )
    table = frame.groupby("month", sort=True).sum()
    order = [m for m in table.index if m != ""] + [m for m in table.index if m == ""]
    table = table.loc[order]
    return pd.DataFrame(
        {
            "month": pd.Series([m or None for m in order], dtype=object),
            "deals": table["deals"].to_numpy(np.int64),
            "amount": table["amount"].to_numpy(np.float64),
            "expected": table["expected"].to_numpy(np.float64),
        }
    )
