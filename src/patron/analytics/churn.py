"""Churn risk: a gradient-boosted classifier on RFM-style features, with a temporal back-test.

A customer *churns* at a cutoff date when they make no purchase in the ``horizon_days`` after it.
Features are computed from the history up to the cutoff only; the back-test trains at one cutoff
and tests at a later one whose whole label window lies after the training labels, so nothing from
the future leaks into training. A recency threshold ("no purchase for N days") is the baseline
the model has to beat.

* :func:`churn_dataset` - features and labels at one cutoff.
* :class:`ChurnClassifier` - scikit-learn's ``HistGradientBoostingClassifier`` on those features.
* :class:`RecencyBaseline` - churned when the days since the last purchase exceed a threshold
  chosen on the training data.
* :func:`churn_metrics` - ROC AUC, average precision, precision / recall / F1 at a threshold,
  Brier score and a reliability table (calibration).
* :func:`churn_backtest` - all of the above, train cutoff to test cutoff.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)
from sklearn.utils.validation import check_is_fitted

from patron.analytics._clv_summary import as_day, as_timestamp

__all__ = [
    "FEATURES",
    "ChurnClassifier",
    "RecencyBaseline",
    "churn_backtest",
    "churn_dataset",
    "churn_metrics",
]

#: The feature columns of :func:`churn_dataset`, in order (the monetary ones need amounts).
FEATURES = [
    "recency_days",
    "tenure_days",
    "frequency",
    "purchases_30d",
    "purchases_90d",
    "mean_gap_days",
    "recency_over_gap",
    "monetary_total",
    "monetary_mean",
]


def churn_dataset(
    transactions: pd.DataFrame,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None = None,
    cutoff: Any,
    horizon_days: int = 90,
    events: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Features as of ``cutoff`` and the label "no purchase in (cutoff, cutoff + horizon]".

    ``events`` (optional): other contacts with the customer, columns ``customer`` (matching
    ``customer_col``'s values), ``at`` (a time) and ``kind`` (e.g. ``ticket``, ``activity``).
    Each kind adds ``<kind>_total``, ``<kind>_90d`` (before the cutoff) and
    ``days_since_<kind>`` (NaN when there was none): support trouble and a conversation going
    quiet are churn signals that purchases alone do not show.

    Purchases are counted per calendar day, as in :mod:`patron.analytics.clv`. Only customers
    whose first purchase is on or before ``cutoff`` appear. ``mean_gap_days`` (days between
    first and last purchase over the number of gaps) and ``recency_over_gap`` are NaN for
    one-purchase customers; the classifier handles missing values natively.
    """
    if not (isinstance(horizon_days, int | np.integer) and horizon_days > 0):
        raise ValueError(f"horizon_days must be a positive whole number, not {horizon_days!r}")
    columns = [customer_col, date_col] + ([amount_col] if amount_col is not None else [])
    missing = [column for column in columns if column not in transactions.columns]
    if missing:
        raise ValueError(f"transactions lack the column(s) {', '.join(map(repr, missing))}")
    end = as_timestamp(cutoff, "cutoff")
    frame = pd.DataFrame(
        {
            "customer": transactions[customer_col].to_numpy(),
            "day": as_day(transactions[date_col], date_col).to_numpy(),
            "amount": (
                pd.to_numeric(transactions[amount_col], errors="raise").to_numpy(np.float64)
                if amount_col is not None
                else 0.0
            ),
        }
    )
    daily = frame.groupby(["customer", "day"], sort=True)["amount"].sum().reset_index()
    past = daily[daily["day"] <= end]
    grouped = past.groupby("customer", sort=True)
    first, last = grouped["day"].min(), grouped["day"].max()
    count = grouped.size()
    age = (end - past["day"]).dt.days
    features = pd.DataFrame(index=first.index)
    features.index.name = customer_col
    features["recency_days"] = (end - last).dt.days.astype(np.float64)
    features["tenure_days"] = (end - first).dt.days.astype(np.float64)
    features["frequency"] = count.astype(np.float64)
    features["purchases_30d"] = (age < 30).groupby(past["customer"]).sum().astype(np.float64)
    features["purchases_90d"] = (age < 90).groupby(past["customer"]).sum().astype(np.float64)
    gaps = (count - 1).where(count > 1)
    features["mean_gap_days"] = (last - first).dt.days / gaps
    features["recency_over_gap"] = features["recency_days"] / features["mean_gap_days"]
    if amount_col is not None:
        features["monetary_total"] = grouped["amount"].sum()
        features["monetary_mean"] = features["monetary_total"] / count
    if events is not None:
        _add_engagement(features, events, end)
    future = daily[(daily["day"] > end) & (daily["day"] <= end + pd.Timedelta(days=horizon_days))]
    returned = features.index.isin(future["customer"].unique())
    labels = pd.Series((~returned).astype(np.int64), index=features.index, name="churned")
    return features, labels


def _add_engagement(features: pd.DataFrame, events: pd.DataFrame, end: pd.Timestamp) -> None:
    """Per kind of event: how many before ``end``, how many in its last 90 days, days since."""
    missing = [column for column in ("customer", "at", "kind") if column not in events.columns]
    if missing:
        raise ValueError(f"events lack the column(s) {', '.join(map(repr, missing))}")
    day = as_day(events["at"], "at")
    known = events.assign(day=day.to_numpy())
    past = known[known["day"] <= end]
    for kind in sorted(known["kind"].dropna().unique()):
        of_kind = past[past["kind"] == kind]
        grouped = of_kind.groupby("customer")["day"]
        total = grouped.size()
        recent = (of_kind["day"] > end - pd.Timedelta(days=90)).groupby(of_kind["customer"]).sum()
        since = (end - grouped.max()).dt.days
        features[f"{kind}_total"] = total.reindex(features.index, fill_value=0).astype(np.float64)
        features[f"{kind}_90d"] = recent.reindex(features.index, fill_value=0).astype(np.float64)
        features[f"days_since_{kind}"] = since.reindex(features.index).astype(np.float64)


def _matrix(features: pd.DataFrame | ArrayLike) -> pd.DataFrame:
    frame = features if isinstance(features, pd.DataFrame) else pd.DataFrame(features)
    if frame.shape[0] == 0:
        raise ValueError("no customers")
    return frame


def _labels(labels: ArrayLike, n: int) -> NDArray[np.int64]:
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ValueError("labels must have one value per customer")
    if not np.isin(y, [0, 1]).all():
        raise ValueError("labels must be 0 (stays) or 1 (churns)")
    if np.unique(y).size < 2:
        raise ValueError("labels must contain both churners and customers who stay")
    return y.astype(np.int64)


class ChurnClassifier(BaseEstimator):  # type: ignore[misc]
    """Probability that a customer churns, by histogram gradient boosting.

    The parameters are those of scikit-learn's ``HistGradientBoostingClassifier`` (early stopping
    off, so a fixed ``random_state`` gives a deterministic model).

    Attributes
    ----------
    model_ : the fitted ``HistGradientBoostingClassifier``.
    feature_names_in_ : the feature columns, in the order the model expects them.
    n_features_in_ : their number.
    churn_rate_ : share of churners in the training labels.
    """

    def __init__(
        self,
        *,
        learning_rate: float = 0.1,
        max_iter: int = 100,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 50,
        l2_regularization: float = 1.0,
        random_state: int | None = 0,
    ) -> None:
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def fit(self, features: pd.DataFrame | ArrayLike, labels: ArrayLike) -> ChurnClassifier:
        frame = _matrix(features)
        if isinstance(features, pd.DataFrame):
            # A column without any value (days since a first ticket that came later) says
            # nothing and cannot be binned: it is left out, and so ignored when predicting.
            frame = frame.loc[:, frame.notna().any(axis=0).to_numpy()]
        y = _labels(labels, frame.shape[0])
        model = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.random_state,
        )
        self.model_ = model.fit(frame.to_numpy(np.float64), y)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        self.churn_rate_ = float(y.mean())
        return self

    def _aligned(self, features: pd.DataFrame | ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self, "model_")
        frame = _matrix(features)
        if isinstance(features, pd.DataFrame):
            missing = [c for c in self.feature_names_in_ if c not in frame.columns]
            if missing:
                raise ValueError(f"features lack the column(s) {', '.join(map(str, missing))}")
            frame = frame[list(self.feature_names_in_)]
        elif frame.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} features, got {frame.shape[1]}")
        return frame.to_numpy(np.float64)

    def predict_proba(self, features: pd.DataFrame | ArrayLike) -> NDArray[np.float64]:
        """P(churn) per customer (a vector, not scikit-learn's two columns)."""
        matrix = self._aligned(features)
        return np.asarray(self.model_.predict_proba(matrix)[:, 1])

    def predict(
        self, features: pd.DataFrame | ArrayLike, *, threshold: float = 0.5
    ) -> NDArray[np.int64]:
        return (self.predict_proba(features) >= threshold).astype(np.int64)


class RecencyBaseline(BaseEstimator):  # type: ignore[misc]
    """Churned when ``recency_days`` exceeds a threshold; the threshold maximises F1 in ``fit``.

    Its score for ROC AUC is the recency itself. ``threshold_days`` can also be set by hand
    (``RecencyBaseline(threshold_days=90)``), in which case ``fit`` keeps it.
    """

    def __init__(self, *, threshold_days: float | None = None) -> None:
        self.threshold_days = threshold_days

    def fit(self, features: pd.DataFrame, labels: ArrayLike) -> RecencyBaseline:
        recency = _recency(features)
        y = _labels(labels, recency.size)
        if self.threshold_days is not None:
            self.threshold_ = float(self.threshold_days)
            return self
        candidates = np.unique(recency)
        # F1 of "recency > c" for every candidate c, from cumulative counts over sorted recency.
        order = np.argsort(recency, kind="stable")
        sorted_recency, sorted_y = recency[order], y[order]
        positives = int(y.sum())
        ends = np.searchsorted(sorted_recency, candidates, side="right")
        churners_at_or_below = np.concatenate([[0], np.cumsum(sorted_y)])[ends]
        true_positive = positives - churners_at_or_below
        predicted = recency.size - ends
        f1 = np.divide(
            2 * true_positive,
            predicted + positives,
            out=np.zeros(candidates.size),
            where=predicted + positives > 0,
        )
        self.threshold_ = float(candidates[int(np.argmax(f1))])
        return self

    def decision_function(self, features: pd.DataFrame) -> NDArray[np.float64]:
        return _recency(features)

    def predict(self, features: pd.DataFrame) -> NDArray[np.int64]:
        check_is_fitted(self, "threshold_")
        return (_recency(features) > self.threshold_).astype(np.int64)


def _recency(features: pd.DataFrame) -> NDArray[np.float64]:
    if "recency_days" not in features:
        raise ValueError("features lack the column 'recency_days'")
    recency = np.asarray(features["recency_days"], dtype=np.float64)
    if recency.size == 0 or not np.all(np.isfinite(recency)):
        raise ValueError("recency_days must be finite, for at least one customer")
    return recency


def churn_metrics(
    labels: ArrayLike,
    scores: ArrayLike,
    *,
    predicted: ArrayLike | None = None,
    threshold: float = 0.5,
    n_bins: int = 10,
    probabilities: bool = True,
) -> dict[str, Any]:
    """Ranking, decision and (for probabilities) calibration metrics of churn predictions.

    ``scores`` rank customers (higher = more likely to churn); ``predicted`` are the 0/1
    decisions (default: ``scores >= threshold``). With ``probabilities`` the Brier score, the
    expected calibration error and a reliability table of ``n_bins`` equal-width bins are added.
    """
    y = np.asarray(labels).astype(np.int64)
    score = np.asarray(scores, dtype=np.float64)
    decision = (score >= threshold) if predicted is None else np.asarray(predicted)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, decision.astype(np.int64), average="binary", zero_division=0.0
    )
    result: dict[str, Any] = {
        "n": int(y.size),
        "churn_rate": float(y.mean()),
        "roc_auc": float(roc_auc_score(y, score)),
        "average_precision": float(average_precision_score(y, score)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "predicted_churn_rate": float(np.mean(decision)),
    }
    if probabilities:
        bins = np.minimum((score * n_bins).astype(np.int64), n_bins - 1)
        table = []
        error = 0.0
        for index in range(n_bins):
            inside = bins == index
            if inside.any():
                mean_predicted, observed = float(score[inside].mean()), float(y[inside].mean())
                table.append(
                    {
                        "bin": index,
                        "count": int(inside.sum()),
                        "mean_predicted": mean_predicted,
                        "observed": observed,
                    }
                )
                error += inside.mean() * abs(mean_predicted - observed)
        result["brier"] = float(brier_score_loss(y, score))
        result["expected_calibration_error"] = float(error)
        result["calibration"] = table
    return result


def churn_backtest(
    transactions: pd.DataFrame,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None = None,
    train_cutoff: Any,
    test_cutoff: Any = None,
    horizon_days: int = 90,
    classifier: ChurnClassifier | None = None,
) -> dict[str, Any]:
    """Train at ``train_cutoff``, evaluate at ``test_cutoff`` (default: train + horizon).

    The test cutoff must not come before the end of the training labels' window, so the
    training data holds nothing the test period would reveal. Returns the metrics of the
    classifier and of the recency baseline on the test customers, with the sizes and dates.
    """
    train_end = as_timestamp(train_cutoff, "train_cutoff")
    test_end = (
        train_end + pd.Timedelta(days=horizon_days)
        if test_cutoff is None
        else as_timestamp(test_cutoff, "test_cutoff")
    )
    if test_end < train_end + pd.Timedelta(days=horizon_days):
        raise ValueError("test_cutoff must be at least horizon_days after train_cutoff")
    columns = {"customer_col": customer_col, "date_col": date_col, "amount_col": amount_col}
    x_train, y_train = churn_dataset(
        transactions, **columns, cutoff=train_end, horizon_days=horizon_days
    )
    x_test, y_test = churn_dataset(
        transactions, **columns, cutoff=test_end, horizon_days=horizon_days
    )
    model = ChurnClassifier() if classifier is None else classifier
    model.fit(x_train, y_train)
    baseline = RecencyBaseline().fit(x_train, y_train)
    probability = model.predict_proba(x_test)
    return {
        "train_cutoff": f"{train_end:%Y-%m-%d}",
        "test_cutoff": f"{test_end:%Y-%m-%d}",
        "horizon_days": horizon_days,
        "n_train": len(x_train),
        "n_test": len(x_test),
        "model": churn_metrics(y_test, probability),
        "baseline": {
            "threshold_days": baseline.threshold_,
            **churn_metrics(
                y_test,
                baseline.decision_function(x_test),
                predicted=baseline.predict(x_test),
                probabilities=False,
            ),
        },
    }
