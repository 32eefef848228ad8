"""Forecast runs: monthly revenue with prediction intervals, its back-test, and the pipeline.

The database sums the purchases by UTC month and currency (millions of orders never travel to
Python one by one) and lists the open deals with their stage's win probability;
:mod:`patron.analytics.forecast` fits, back-tests and weighs them; the run keeps the figures in
its ``metrics`` and ``results`` for the forecast page and the API.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import Field
from sqlalchemy.orm import Session

from patron.config import Settings
from patron.db.engine import Database
from patron.insights import repository
from patron.insights.models import AnalysisRun
from patron.kit.clock import utcnow
from patron.kit.money import exponent
from patron.security.permissions import Action, Principal
from patron.types import Schema

if TYPE_CHECKING:
    import pandas as pd

Report = Callable[[float, str | None], None]


class ForecastParameters(Schema):
    horizon: Annotated[int, Field(ge=1, le=36)] = Field(
        default=6, description="Months to forecast."
    )
    season_length: Annotated[int, Field(ge=2, le=24)] = 12
    backtest_horizon: Annotated[int, Field(ge=1, le=12)] = Field(
        default=3, description="Months ahead forecast at each back-test origin."
    )
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = Field(
        default=None, description="Revenue in this currency only; default: the most used one."
    )
    through: date | None = Field(
        default=None,
        description="Last month of history (its day is ignored); default: the last complete "
        "month with orders.",
    )


# ----- reading ---------------------------------------------------------------------------------
def monthly_revenue_frame(database: Database, principal: Principal) -> pd.DataFrame:
    """Purchases by UTC month and currency: ``month`` (YYYY-MM), ``currency``, ``orders`` and
    ``amount`` (in currency units: the minor units' sum over the currency's scale)."""
    import pandas as pd

    principal.require("orders", Action.READ)
    with database.engine.connect() as connection:
        rows = connection.execute(repository.monthly_revenue(connection.dialect.name)).all()
    frame = pd.DataFrame(rows, columns=["month", "currency", "orders", "amount_minor"])
    frame["amount"] = [
        minor / 10.0 ** exponent(str(code))
        for minor, code in zip(frame["amount_minor"], frame["currency"], strict=True)
    ]
    return frame.drop(columns="amount_minor")


def open_deals_frame(database: Database, principal: Principal) -> pd.DataFrame:
    """Open deals: ``amount`` (currency units), ``currency``, ``probability`` (the stage's, as
    a fraction), ``expected_close_on`` and ``stage``."""
    import pandas as pd

    principal.require("deals", Action.READ)
    with database.engine.connect() as connection:
        rows = connection.execute(repository.open_deals()).all()
    columns = ["amount_minor", "currency", "probability", "expected_close_on", "stage"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["amount"] = [
        minor / 10.0 ** exponent(str(code))
        for minor, code in zip(frame["amount_minor"], frame["currency"], strict=True)
    ]
    frame["probability"] = frame["probability"].astype(np.float64) / 100.0
    return frame.drop(columns="amount_minor")


def load_open_deals_from_database(settings: Settings | None = None) -> pd.DataFrame:
    """For the command line: every open deal in the configured database."""
    database = Database((settings or Settings()).resolved_database_url)
    database.check()
    try:
        return open_deals_frame(database, Principal.system())
    finally:
        database.dispose()


# ----- the run ---------------------------------------------------------------------------------
def _series(
    frame: pd.DataFrame, currency: str | None, through: date | None
) -> tuple[pd.Series, str]:
    """The monthly revenue of one currency, every month from the first to ``through``."""
    import pandas as pd

    if frame.empty:
        raise ValueError("There are no purchases to forecast.")
    if currency is None:
        currency = str(frame.groupby("currency")["orders"].sum().idxmax())
    chosen = frame[frame["currency"] == currency]
    if chosen.empty:
        raise ValueError(f"There are no purchases in {currency}.")
    months = pd.PeriodIndex(chosen["month"], freq="M")
    last = months.max()
    if through is not None:
        last = pd.Period(through, "M")
    else:
        this_month = pd.Period(utcnow().date(), "M")
        if last >= this_month:  # the current month is not over: leave it out
            last = this_month - 1
    revenue = pd.Series(chosen["amount"].to_numpy(np.float64), index=months)
    index = pd.period_range(months.min(), last, freq="M", name="month")
    return revenue.reindex(index, fill_value=0.0).rename("revenue"), currency


def run(
    database: Database, principal: Principal, parameters: dict[str, Any], progress: Report
) -> ForecastOutcome:
    from patron.analytics.forecast import (
        RevenueForecaster,
        pipeline_forecast,
        rolling_origin_backtest,
    )

    params = ForecastParameters.model_validate(parameters)
    progress(0.05, "reading monthly revenue")
    months = monthly_revenue_frame(database, principal)
    series, currency = _series(months, params.currency, params.through)
    deals = open_deals_frame(database, principal)
    deals = deals[deals["currency"] == currency]
    m = params.season_length
    if len(series) < m + 2:
        raise ValueError(
            f"{len(series)} months of purchases are too few: the back-test against the "
            f"seasonal-naive forecast needs at least {m + 2} (season_length + 2)."
        )
    progress(0.15, "fitting the forecast")
    forecaster = RevenueForecaster(season_length=m)
    model = forecaster.fit(series)
    forecast = model.predict(params.horizon)
    progress(0.4, "back-testing")
    backtest = rolling_origin_backtest(series, forecaster=forecaster,
                                       horizon=params.backtest_horizon)  # fmt: skip
    pipeline = pipeline_forecast(deals)
    return ForecastOutcome(
        fingerprint=_fingerprint(months, deals, parameters),
        currency=currency,
        series=series,
        model=model,
        forecast=forecast,
        backtest=backtest,
        pipeline=pipeline,
    )


def _fingerprint(months: pd.DataFrame, deals: pd.DataFrame, parameters: dict[str, Any]) -> str:
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(repr(sorted(parameters.items())).encode())
    for frame in (months, deals.astype({"expected_close_on": str})):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _number(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None


@dataclass
class ForecastOutcome:
    fingerprint: str
    currency: str
    series: pd.Series
    model: Any  # a fitted RevenueForecaster
    forecast: pd.DataFrame
    backtest: Any  # a BacktestResult
    pipeline: pd.DataFrame

    def store(self, session: Session, run: AnalysisRun) -> None:
        scores = self.backtest.metrics()
        months = [str(month) for month in self.series.index]
        run.data_fingerprint = self.fingerprint
        run.metrics = {
            "model": self.model.model_,
            "currency": self.currency,
            "n_months": len(self.series),
            "backtest_origins": scores["origins"],
            "mape": _number(scores["model"]["mape"]),
            "mase": _number(scores["model"]["mase"]),
            "naive_mape": _number(scores["seasonal_naive"]["mape"]),
            "naive_mase": _number(scores["seasonal_naive"]["mase"]),
            "forecast_total": float(self.forecast["forecast"].sum()),
            "open_deals": int(self.pipeline["deals"].sum()) if len(self.pipeline) else 0,
            "pipeline_expected": float(self.pipeline["expected"].sum()),
        }
        backtest_rows = self.backtest.forecasts
        run.results = {
            "currency": self.currency,
            "model": {"name": self.model.model_, "aicc": _number(self.model.aicc_),
                      "params": {k: _number(v) for k, v in self.model.params_.items()}},
            "history": [
                {"month": month, "revenue": float(value)}
                for month, value in zip(months, self.series.to_numpy(), strict=True)
            ],
            "forecast": [
                {"month": str(month), **{k: float(v) for k, v in row.items()}}
                for month, row in self.forecast.iterrows()
            ],
            "backtest": {
                "horizon": scores["horizon"],
                "season_length": scores["season_length"],
                "model": {k: _number(v) for k, v in scores["model"].items()},
                "seasonal_naive": {k: _number(v) for k, v in scores["seasonal_naive"].items()},
                "forecasts": [
                    {
                        "origin": months[int(row.origin) - 1],
                        "month": months[int(row.origin) + int(row.step) - 1],
                        "step": int(row.step),
                        "actual": float(row.actual),
                        "forecast": float(row.forecast),
                        "naive": float(row.naive),
                    }
                    for row in backtest_rows.itertuples()
                ],
            },
            "pipeline": [
                {"month": row.month, "deals": int(row.deals), "amount": float(row.amount),
                 "expected": float(row.expected)}
                for row in self.pipeline.itertuples()
            ],
        }  # fmt: skip


# ----- reads for the page ----------------------------------------------------------------------
def latest_forecast(session: Session, principal: Principal) -> AnalysisRun | None:
    from patron.insights.service import runs

    principal.require("analysis_runs", Action.READ)
    return runs.latest_succeeded(session, "forecast")


# ----- the page's figures ----------------------------------------------------------------------
ACTUAL, FORECAST, NAIVE = "#1d2939", "#2f5bea", "#b54708"
BAND_95, BAND_80 = "rgba(47, 91, 234, 0.12)", "rgba(47, 91, 234, 0.28)"


def _band(
    months: list[str], low: list[float], high: list[float], name: str, colour: str
) -> list[dict[str, Any]]:
    """An interval as two traces: the upper edge, then the lower one filled up to it."""
    edge = {"type": "scatter", "mode": "lines", "x": months, "line": {"width": 0},
            "legendgroup": name, "hoverinfo": "skip"}  # fmt: skip
    return [
        {**edge, "y": high, "name": name, "showlegend": False},
        {**edge, "y": low, "name": name, "fill": "tonexty", "fillcolor": colour},
    ]


def forecast_charts(run: AnalysisRun) -> dict[str, Any]:
    """Two plotly figures (plain dicts): actuals, forecast and its 80 % and 95 % bands; and the
    back-test's one-month-ahead forecasts of the model and of the seasonal naive against the
    actuals."""
    from patron.insights.charts import GRID, LAYOUT

    results = run.results
    history, ahead = results.get("history", []), results.get("forecast", [])
    months = [row["month"] for row in ahead]
    # The forecast line starts at the last actual month, so the two lines join.
    joined = [history[-1]["month"], *months] if history else months
    start = [history[-1]["revenue"]] if history else []
    money = "%{y:,.2f}"

    def layout(categories: list[str]) -> dict[str, Any]:
        """Months as categories in time order (the bands come first among the traces)."""
        return {**LAYOUT, "hovermode": "x unified",
                "yaxis": {"rangemode": "tozero", "gridcolor": GRID, "tickformat": ",.0f"},
                "xaxis": {"type": "category", "categoryorder": "array", "automargin": True,
                          "categoryarray": categories}}  # fmt: skip

    main = {
        "data": [
            *_band(months, [r["lo_95"] for r in ahead], [r["hi_95"] for r in ahead],
                   "95 % interval", BAND_95),
            *_band(months, [r["lo_80"] for r in ahead], [r["hi_80"] for r in ahead],
                   "80 % interval", BAND_80),
            {"type": "scatter", "mode": "lines+markers", "name": "Actual",
             "x": [row["month"] for row in history], "y": [row["revenue"] for row in history],
             "line": {"color": ACTUAL}, "hovertemplate": money},
            {"type": "scatter", "mode": "lines+markers", "name": "Forecast", "x": joined,
             "y": start + [row["forecast"] for row in ahead],
             "line": {"color": FORECAST, "dash": "dash"}, "hovertemplate": money},
        ],
        "layout": layout([row["month"] for row in history] + months),
    }  # fmt: skip
    one_step = [row for row in results.get("backtest", {}).get("forecasts", [])
                if row["step"] == 1]  # fmt: skip
    tested = [row["month"] for row in one_step]
    backtest = {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": "Actual", "x": tested,
             "y": [row["actual"] for row in one_step], "line": {"color": ACTUAL},
             "hovertemplate": money},
            {"type": "scatter", "mode": "lines+markers", "name": "Model, 1 month ahead",
             "x": tested, "y": [row["forecast"] for row in one_step],
             "line": {"color": FORECAST, "dash": "dash"}, "hovertemplate": money},
            {"type": "scatter", "mode": "lines+markers", "name": "Seasonal naive", "x": tested,
             "y": [row["naive"] for row in one_step], "line": {"color": NAIVE, "dash": "dot"},
             "hovertemplate": money},
        ],
        "layout": layout(tested),
    }  # fmt: skip
    return {"forecast": main, "backtest": backtest}
