"""Next-period spend: the tutorial's linear regression against gradient boosting, on CDNOW."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patron.analytics.spend import (
    BASELINE_FEATURES,
    LinearSpendBaseline,
    SpendRegressor,
    spend_backtest,
    spend_dataset,
)
from tests.datasets import dataset_path

CDNOW = {"customer_col": "customer", "date_col": "date", "amount_col": "amount"}
SPLIT = {"calibration_end": "1997-09-30", "observation_end": "1998-06-30"}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    path = dataset_path("cdnow", "CDNOW_master.txt")
    raw = pd.read_csv(
        path, sep=r"\s+", header=0, names=["customer", "date", "cds", "amount"], dtype=str
    )
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    raw["amount"] = raw["amount"].astype(float)
    return raw


def test_dataset_features_stop_at_the_calibration_end_and_target_sums_the_holdout() -> None:
    frame = pd.DataFrame(
        {
            "customer": ["a", "a", "a", "b", "b", "c"],
            "date": ["2024-01-01", "2024-01-20", "2024-02-10", "2024-01-15", "2024-01-15",
                     "2024-02-05"],
            "amount": [10.0, 20.0, 7.5, 4.0, 6.0, 3.0],
        }
    )  # fmt: skip
    features, target = spend_dataset(
        frame, **CDNOW, calibration_end="2024-01-31", observation_end="2024-02-29"
    )
    assert list(features.index) == ["a", "b"]  # c's first purchase is after the calibration
    assert target.to_dict() == {"a": 7.5, "b": 0.0}
    assert features.loc["a", "frequency"] == 2
    assert features.loc["a", "recency_days"] == 11
    assert features.loc["b", "frequency"] == 1  # same-day purchases are one
    assert features.loc["b", "monetary_mean"] == 10.0


def test_baseline_is_ordinary_least_squares() -> None:
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.uniform(0, 10, (50, 3)), columns=BASELINE_FEATURES)
    target = 2.0 + features @ np.array([0.5, -1.0, 3.0])
    model = LinearSpendBaseline().fit(features, target)
    assert model.intercept_ == pytest.approx(2.0)
    assert model.coef_ == pytest.approx({"recency_days": 0.5, "frequency": -1.0,
                                         "monetary_mean": 3.0})  # fmt: skip
    assert model.predict(features) == pytest.approx(target.to_numpy())


def test_regressor_refuses_negative_spend() -> None:
    features = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="negative"):
        SpendRegressor().fit(features, [1.0, -1.0])


def test_cdnow_holdout_boosting_beats_the_linear_baseline(cdnow: pd.DataFrame) -> None:
    """23,570 customers, half to learn from; spend in the 39 weeks after 1997-09-30.

    Measured: boosting MAE 35.9 against 38.3 for the regression; R² 0.387 against 0.327.
    (Over other splits the MAE gain holds, 35-36 against 38-39; R² is close, 0.36-0.41 each.)
    """
    result = spend_backtest(cdnow, **CDNOW, **SPLIT, random_state=0)
    assert result["n_train"] == result["n_test"] == 11_785
    assert 0.28 < result["share_buying"] < 0.32
    model, baseline = result["model"], result["baseline"]
    assert model["mae"] < baseline["mae"] - 1.5
    assert model["r2"] > 0.3
    assert baseline["r2"] > 0.3
    assert model["predicted_total"] == pytest.approx(model["actual_total"], rel=0.1)
    assert baseline["coefficients"]["frequency"] > 0  # more purchases, more spend
