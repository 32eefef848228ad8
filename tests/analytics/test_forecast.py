"""Revenue forecast, its rolling-origin back-test and the pipeline forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patron.analytics.forecast import (
    RevenueForecaster,
    mape,
    mase,
    monthly_revenue,
    naive_scale,
    pipeline_forecast,
    rolling_origin_backtest,
    seasonal_naive,
)
from tests.datasets import dataset_path


@pytest.fixture(scope="module")
def cdnow_monthly() -> pd.Series:
    path = dataset_path("cdnow", "CDNOW_master.txt")
    raw = pd.read_csv(
        path, sep=r"\s+", header=0, names=["customer", "date", "cds", "amount"], dtype=str
    )
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    raw["amount"] = raw["amount"].astype(float)
    return monthly_revenue(raw, date_col="date", amount_col="amount")


def seasonal_series(months: int = 40, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    values = 1000 + 8 * t + 150 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 20, months)
    index = pd.period_range("2021-01", periods=months, freq="M", name="month")
    return pd.Series(values, index=index)


# ----- the monthly series -------------------------------------------------------------------
def test_cdnow_monthly_revenue_sums_every_transaction(cdnow_monthly: pd.Series) -> None:
    assert list(cdnow_monthly.index.astype(str)) == [
        str(p) for p in pd.period_range("1997-01", "1998-06", freq="M")
    ]
    assert cdnow_monthly.sum() == pytest.approx(2_500_315.63, abs=0.01)
    assert cdnow_monthly["1997-01"] == pytest.approx(299_060.17, abs=0.01)
    assert cdnow_monthly["1998-06"] == pytest.approx(76_109.30, abs=0.01)


def test_monthly_revenue_fills_empty_months_and_reads_utc() -> None:
    frame = pd.DataFrame(
        {
            "when": ["2024-01-31T23:30:00-02:00", "2024-01-05", "2024-04-10"],
            "value": [10.0, 5.0, 2.5],
        }
    )
    series = monthly_revenue(frame, date_col="when", amount_col="value", end="2024-05-01")
    assert series.to_dict() == {
        pd.Period("2024-01", "M"): 5.0,
        pd.Period("2024-02", "M"): 10.0,  # 23:30 at UTC-2 is February 1st in UTC
        pd.Period("2024-03", "M"): 0.0,
        pd.Period("2024-04", "M"): 2.5,
        pd.Period("2024-05", "M"): 0.0,
    }


# ----- accuracy measures, by hand -----------------------------------------------------------
def test_mase_matches_a_hand_computation() -> None:
    train = [10.0, 12.0, 14.0, 13.0, 15.0, 18.0]
    # season 2: in-sample naive errors |14-10|, |13-12|, |15-14|, |18-13| = 4, 1, 1, 5 -> 2.75
    assert naive_scale(train, 2) == pytest.approx(2.75)
    actual, forecast = [17.0, 20.0], [16.0, 23.0]  # errors 1 and 3 -> mean 2
    assert mase(actual, forecast, train, 2) == pytest.approx(2.0 / 2.75)
    # season 1: |2|, |2|, |1|, |2|, |3| -> 2.0
    assert mase(actual, forecast, train, 1) == pytest.approx(1.0)
    assert seasonal_naive(train, 3, 2).tolist() == [15.0, 18.0, 15.0]


def test_mape_is_in_percent_and_skips_zero_actuals() -> None:
    assert mape([100.0, 200.0, 0.0], [110.0, 150.0, 5.0]) == pytest.approx((10 + 25) / 2)
    assert np.isnan(mape([0.0], [1.0]))


def test_backtest_metrics_are_the_textbook_ones_on_a_tiny_series() -> None:
    """Origins 5 and 6 of a 7-value series, one step ahead, season 2, plain exponential
    smoothing: recomputed here from the forecasts with the definitions."""
    y = np.array([10.0, 12.0, 14.0, 13.0, 15.0, 18.0, 17.0])
    model = RevenueForecaster(season_length=2, seasonal="none", trend="none")
    result = rolling_origin_backtest(y, forecaster=model, horizon=1, initial=5)
    f = result.forecasts
    assert f["origin"].tolist() == [5, 6]
    assert f["actual"].tolist() == [18.0, 17.0]
    assert f["naive"].tolist() == [13.0, 15.0]  # the same "season" one cycle back
    scales = [naive_scale(y[:5], 2), naive_scale(y[:6], 2)]
    assert f["scale"].tolist() == pytest.approx(scales)
    for origin, row in zip((5, 6), f.itertuples(), strict=True):
        alone = RevenueForecaster(season_length=2, seasonal="none", trend="none").fit(y[:origin])
        assert row.forecast == pytest.approx(alone.predict(1)["forecast"].iloc[0])
    metrics = result.metrics()
    assert metrics["seasonal_naive"]["mase"] == pytest.approx((5 / scales[0] + 2 / scales[1]) / 2)
    assert metrics["seasonal_naive"]["mape"] == pytest.approx(100 * (5 / 18 + 2 / 17) / 2)
    errors = np.abs(f["actual"] - f["forecast"]).to_numpy()
    assert metrics["model"]["mase"] == pytest.approx(np.mean(errors / np.array(scales)))
    assert metrics["origins"] == 2
    assert metrics["n_forecasts"] == 2


# ----- the forecaster -----------------------------------------------------------------------
def assert_intervals_nest(frame: pd.DataFrame) -> None:
    assert (frame["lo_95"] <= frame["lo_80"]).all()
    assert (frame["lo_80"] <= frame["forecast"]).all()
    assert (frame["forecast"] <= frame["hi_80"]).all()
    assert (frame["hi_80"] < frame["hi_95"]).all()
    assert ((frame["hi_95"] - frame["lo_95"]) > (frame["hi_80"] - frame["lo_80"])).all()


def test_seasonal_series_gets_a_seasonal_model_with_nested_intervals() -> None:
    series = seasonal_series()
    model = RevenueForecaster(trend="add").fit(series)  # Holt's or damped: 4 variants, quicker
    assert model.model_ in ("ETS(A,A,A)", "ETS(A,Ad,A)")  # seasonality chosen by AICc
    frame = model.predict(12)
    assert list(frame.columns) == ["forecast", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert frame.index[0] == pd.Period("2024-05", "M")
    assert frame.index.name == "month"
    assert_intervals_nest(frame)
    widths = (frame["hi_95"] - frame["lo_95"]).to_numpy()
    assert widths[-1] > widths[0]  # uncertainty grows with the horizon
    # The truth without noise lies well inside the 95 % band a year ahead.
    t = np.arange(40, 52)
    truth = 1000 + 8 * t + 150 * np.sin(2 * np.pi * t / 12)
    assert ((truth > frame["lo_95"]) & (truth < frame["hi_95"])).all()
    # And the 80 % interval of the one-step forecast is about ±1.28 sigma (noise sigma 20).
    half = (frame["hi_80"] - frame["lo_80"]).iloc[0] / 2
    assert 10 < half / 1.2816 < 40  # in-sample sigma runs low: 17 parameters on 40 months


@pytest.mark.parametrize("seed", [0, 1])
def test_coverage_of_the_intervals_on_simulated_series(seed: int) -> None:
    """One step ahead on 30 series of a random walk plus noise: the 95 % band should hold the
    next value about 95 % of the time (at least 80 % here), the 80 % band less often."""
    rng = np.random.default_rng(seed)
    inside80 = inside95 = 0
    for _ in range(30):
        level = 500 + np.cumsum(rng.normal(0, 10, 31))
        y = level + rng.normal(0, 10, 31)
        frame = RevenueForecaster(seasonal="none", trend="none").fit(y[:30]).predict(1)
        inside80 += int(frame["lo_80"].iloc[0] <= y[30] <= frame["hi_80"].iloc[0])
        inside95 += int(frame["lo_95"].iloc[0] <= y[30] <= frame["hi_95"].iloc[0])
    assert inside95 >= 24
    assert inside80 <= inside95


def test_cdnow_forecast_has_nested_nonnegative_intervals(cdnow_monthly: pd.Series) -> None:
    model = RevenueForecaster().fit(cdnow_monthly)
    assert model.n_obs_ == 18
    assert "A)" not in model.model_  # 18 months are too few for a seasonal model
    frame = model.predict(6)
    assert str(frame.index[0]) == "1998-07"
    assert_intervals_nest(frame)
    assert (frame >= 0).all().all()
    # Flat forecast near the last months' level (66-109 thousand a month in 1998).
    assert 60_000 < frame["forecast"].iloc[0] < 110_000


def test_cdnow_backtest_against_seasonal_naive(cdnow_monthly: pd.Series) -> None:
    result = rolling_origin_backtest(cdnow_monthly, horizon=3)
    metrics = result.metrics()
    assert metrics["origins"] == 5  # origins after 13 .. 17 months
    assert metrics["n_forecasts"] == 3 + 3 + 3 + 2 + 1
    # The seasonal naive repeats 1997's launch months (January to March 1997 were when the
    # cohort made its first purchases): far off; the smoothing is much closer.
    assert metrics["seasonal_naive"]["mape"] > 100
    assert metrics["model"]["mape"] < 35
    assert metrics["model"]["mase"] < metrics["seasonal_naive"]["mase"]


def test_forecaster_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="too few"):
        RevenueForecaster().fit([1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        RevenueForecaster().fit([1.0, np.nan, 3.0, 4.0, 5.0])
    with pytest.raises(ValueError, match="seasonal"):
        RevenueForecaster(seasonal="mult").fit(np.arange(30.0))
    with pytest.raises(ValueError, match="initial"):
        rolling_origin_backtest(np.arange(30.0), initial=12)


# ----- the pipeline -------------------------------------------------------------------------
def test_pipeline_forecast_by_expected_close_month() -> None:
    deals = pd.DataFrame(
        {
            "amount": [1000.0, 500.0, 2000.0, 300.0, 50.0],
            "probability": [0.5, 0.2, 0.1, 1.0, 0.3],
            "expected_close_on": ["2024-03-15", "2024-03-01", "2024-05-31", None, "2024-03-31"],
        }
    )
    table = pipeline_forecast(deals)
    assert table.to_dict(orient="records") == [
        {"month": "2024-03", "deals": 3, "amount": 1550.0, "expected": pytest.approx(615.0)},
        {"month": "2024-05", "deals": 1, "amount": 2000.0, "expected": pytest.approx(200.0)},
        {"month": None, "deals": 1, "amount": 300.0, "expected": pytest.approx(300.0)},
    ]


def test_pipeline_forecast_checks_probabilities() -> None:
    deals = pd.DataFrame(
        {"amount": [1.0], "probability": [40], "expected_close_on": ["2024-01-01"]}
    )
    with pytest.raises(ValueError, match="fractions"):
        pipeline_forecast(deals)
