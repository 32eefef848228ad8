"""Churn classifier: features, the temporal back-test on CDNOW, the baseline, the metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.calibration import calibration_curve
from sklearn.exceptions import NotFittedError
from sklearn.metrics import f1_score

from patron.analytics.churn import (
    FEATURES,
    ChurnClassifier,
    RecencyBaseline,
    churn_backtest,
    churn_dataset,
    churn_metrics,
)
from tests.datasets import dataset_path


@pytest.fixture(scope="module")
def master() -> pd.DataFrame:
    frame = pd.read_csv(
        dataset_path("cdnow", "CDNOW_master.txt"),
        sep=r"\s+",
        dtype={"customer_id": str, "date": str},
    )
    return frame.assign(date=pd.to_datetime(frame["date"], format="%Y%m%d"))


def toy_transactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "who": ["a", "a", "a", "a", "b", "c", "a"],
            "when": [
                "2024-01-01",
                "2024-01-01",  # same day: one purchase worth 30
                "2024-02-10",
                "2024-03-01",
                "2024-01-15",
                "2024-03-20",  # after the cutoff: not a customer yet
                "2024-03-10",  # a comes back within the horizon
            ],
            "amount": [10.0, 20.0, 6.0, 4.0, 5.0, 99.0, 12.0],
        }
    )


def test_features_and_labels_at_a_cutoff() -> None:
    features, labels = churn_dataset(
        toy_transactions(),
        customer_col="who",
        date_col="when",
        amount_col="amount",
        cutoff="2024-03-05",
        horizon_days=30,
    )
    assert list(features.columns) == FEATURES
    assert features.index.tolist() == ["a", "b"]
    assert features.loc["a"].to_dict() == {
        "recency_days": 4.0,
        "tenure_days": 64.0,
        "frequency": 3.0,
        "purchases_30d": 2.0,
        "purchases_90d": 3.0,
        "mean_gap_days": 30.0,
        "recency_over_gap": 4.0 / 30.0,
        "monetary_total": 40.0,
        "monetary_mean": 40.0 / 3,
    }
    b = features.loc["b"]
    assert (b["recency_days"], b["frequency"], b["purchases_30d"]) == (50.0, 1.0, 0.0)
    assert np.isnan(b["mean_gap_days"])
    assert np.isnan(b["recency_over_gap"])
    assert labels.to_dict() == {"a": 0, "b": 1}
    without_amounts, _ = churn_dataset(
        toy_transactions(), customer_col="who", date_col="when", cutoff="2024-03-05"
    )
    assert list(without_amounts.columns) == FEATURES[:-2]


@pytest.mark.slow
def test_backtest_on_cdnow_beats_the_recency_baseline(master: pd.DataFrame) -> None:
    """Train at 1997-09-30 (labels to 1997-12-29), test at 1997-12-29 (labels to 1998-03-29)."""
    result = churn_backtest(
        master,
        customer_col="customer_id",
        date_col="date",
        amount_col="dollar_value",
        train_cutoff="1997-09-30",
        horizon_days=90,
    )
    assert (result["test_cutoff"], result["n_train"], result["n_test"]) == (
        "1997-12-29",
        23570,
        23570,
    )
    model, baseline = result["model"], result["baseline"]
    assert model["churn_rate"] == pytest.approx(0.8389, abs=1e-4)
    assert baseline["threshold_days"] == 16.0
    assert baseline["roc_auc"] == pytest.approx(0.7907, abs=1e-4)
    assert model["roc_auc"] == pytest.approx(0.8002, abs=0.002)
    assert model["roc_auc"] > baseline["roc_auc"]
    assert model["precision"] > baseline["precision"]
    assert model["brier"] == pytest.approx(0.1113, abs=0.002)
    # Churn rises over the cohort's life, so a model trained earlier under-predicts it a little.
    assert model["expected_calibration_error"] == pytest.approx(0.0508, abs=0.005)
    assert sum(row["count"] for row in model["calibration"]) == 23570


def test_backtest_refuses_overlapping_windows(master: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="at least horizon_days after"):
        churn_backtest(
            master,
            customer_col="customer_id",
            date_col="date",
            train_cutoff="1997-09-30",
            test_cutoff="1997-11-30",
            horizon_days=90,
        )


def synthetic(seed: int, n: int = 4000) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(
        {
            "recency_days": rng.exponential(60.0, n).round(),
            "frequency": rng.integers(1, 20, n).astype(float),
            "noise": rng.normal(size=n),
        }
    )
    logit = features["recency_days"] / 30.0 - features["frequency"] / 5.0
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return features, labels.to_numpy()


def test_classifier_contract() -> None:
    features, labels = synthetic(0)
    model = ChurnClassifier(max_iter=50, random_state=3)
    assert model.fit(features, labels) is model
    again = clone(model).fit(features, labels)
    np.testing.assert_array_equal(model.predict_proba(features), again.predict_proba(features))
    # Columns are matched by name, whatever their order.
    shuffled = features[["noise", "frequency", "recency_days"]]
    np.testing.assert_array_equal(model.predict_proba(shuffled), model.predict_proba(features))
    assert model.feature_names_in_.tolist() == ["recency_days", "frequency", "noise"]
    assert model.churn_rate_ == pytest.approx(labels.mean())
    assert set(model.predict(features, threshold=0.5)) <= {0, 1}
    learned = {key for key in vars(model) if key.endswith("_")}
    assert learned == {"model_", "feature_names_in_", "n_features_in_", "churn_rate_"}
    with pytest.raises(ValueError, match="lack the column"):
        model.predict_proba(features.drop(columns="noise"))
    with pytest.raises(NotFittedError):
        ChurnClassifier().predict_proba(features)
    with pytest.raises(ValueError, match="both churners"):
        ChurnClassifier().fit(features, np.zeros(len(features)))
    with pytest.raises(ValueError, match="0 \\(stays\\) or 1"):
        ChurnClassifier().fit(features, np.full(len(features), 2))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classifier_learns_the_signal(seed: int) -> None:
    train_x, train_y = synthetic(seed)
    test_x, test_y = synthetic(seed + 100)
    probability = ChurnClassifier(random_state=seed).fit(train_x, train_y).predict_proba(test_x)
    metrics = churn_metrics(test_y, probability)
    # The true model's AUC on this data is about 0.85; the noise column carries nothing.
    assert metrics["roc_auc"] > 0.8
    assert metrics["expected_calibration_error"] < 0.05


def test_recency_baseline_picks_the_best_f1_threshold() -> None:
    features, labels = synthetic(5, n=500)
    baseline = RecencyBaseline().fit(features, labels)
    recency = features["recency_days"].to_numpy()
    best = max(f1_score(labels, recency > c) for c in np.unique(recency))
    assert f1_score(labels, baseline.predict(features)) == pytest.approx(best, rel=1e-12)
    fixed = RecencyBaseline(threshold_days=30).fit(features, labels)
    assert fixed.threshold_ == 30.0
    np.testing.assert_array_equal(fixed.predict(features), (recency > 30).astype(int))


def test_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(11)
    probability = rng.random(1000)
    labels = (rng.random(1000) < probability).astype(int)
    metrics = churn_metrics(labels, probability, n_bins=10)
    observed, predicted = calibration_curve(labels, probability, n_bins=10, strategy="uniform")
    np.testing.assert_allclose([row["observed"] for row in metrics["calibration"]], observed)
    np.testing.assert_allclose([row["mean_predicted"] for row in metrics["calibration"]], predicted)
    assert metrics["brier"] == pytest.approx(np.mean((probability - labels) ** 2))
    decided = probability >= 0.5
    assert metrics["precision"] == pytest.approx(labels[decided].mean())
    assert metrics["recall"] == pytest.approx(decided[labels == 1].mean())
    counts = np.array([row["count"] for row in metrics["calibration"]])
    gaps = np.abs(observed - predicted)
    assert metrics["expected_calibration_error"] == pytest.approx(counts @ gaps / 1000)


def test_ticket_and_activity_features_count_only_what_came_before_the_cutoff() -> None:
    purchases = pd.DataFrame(
        {
            "customer": ["a", "a", "b"],
            "date": ["2024-01-05", "2024-03-01", "2024-02-01"],
            "amount": [10.0, 20.0, 5.0],
        }
    )
    events = pd.DataFrame(
        {
            "customer": ["a", "a", "a", "b", "a"],
            "at": pd.to_datetime(
                ["2023-12-01", "2024-03-20", "2024-03-25", "2024-02-02", "2024-05-01"], utc=True
            ),
            "kind": ["ticket", "ticket", "activity", "activity", "ticket"],
        }
    )
    features, _ = churn_dataset(
        purchases, customer_col="customer", date_col="date", amount_col="amount",
        cutoff="2024-03-31", horizon_days=30, events=events,
    )  # fmt: skip
    assert features.loc["a", "ticket_total"] == 2  # the May ticket is after the cutoff
    assert features.loc["a", "ticket_90d"] == 1  # December is more than 90 days before
    assert features.loc["a", "days_since_ticket"] == 11
    assert features.loc["a", "activity_total"] == 1
    assert features.loc["b", "ticket_total"] == 0
    assert np.isnan(features.loc["b", "days_since_ticket"])
    assert features.loc["b", "days_since_activity"] == 58
    with pytest.raises(ValueError, match="kind"):
        churn_dataset(
            purchases, customer_col="customer", date_col="date", cutoff="2024-03-31",
            events=events.drop(columns="kind"),
        )  # fmt: skip
