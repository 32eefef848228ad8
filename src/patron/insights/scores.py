"""Scoring runs: lifetime value (``clv``) and churn risk (``churn``) for every customer who bought.

``clv``: BG/NBD + Gamma-Gamma (:mod:`patron.analytics.clv`) fitted on the purchases up to
``calibration_end`` (default: the last purchase day); each customer gets P(alive), the purchases
expected over the horizon and the discounted CLV. Where the data allows, a second fit that stops
``holdout_days`` earlier is compared with what customers really bought in those days (the
papers' holdout validation) and kept in the run's metrics.

``churn``: gradient boosting against the recency baseline (:mod:`patron.analytics.churn`),
trained at ``as_of - 2 * horizon`` and evaluated at ``as_of - horizon`` (a temporal split: the
test labels come after every training label); the final model, refitted at the latest cutoff
whose labels are known, scores each customer's risk as of ``as_of``.

Scores go into ``customer_insight`` in bulk (:func:`write_scores`), with the run that produced
them; afterwards every rules segment is materialised again, so its members follow the scores.
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from patron.insights import apply, data, scores_repository
from patron.insights.models import AnalysisRun
from patron.insights.schemas import ChurnParameters, ClvParameters
from patron.kit.clock import utcnow
from patron.marketing import rules as segment_rules
from patron.security.permissions import Principal

if TYPE_CHECKING:
    from patron.db.engine import Database

KINDS = ("clv", "churn")
COLUMNS = {"customer_col": "customer_id", "date_col": "ordered_at", "amount_col": "amount"}
TOP = 10  # customers listed in a run's results

Report = Callable[[float, str | None], None]


@dataclass
class ScoresOutcome:
    kind: str
    fingerprint: str
    table: pd.DataFrame  # one row per scored customer, indexed by customer id (text)
    metrics: dict[str, Any]
    results: dict[str, Any]

    def store(self, session: Session, run: AnalysisRun) -> None:
        write_scores(session, run.id, self.kind, self.table)
        refreshed = segment_rules.refresh_all(session)
        run.data_fingerprint = self.fingerprint
        run.metrics = json_safe(self.metrics)
        run.results = json_safe({**self.results, "rule_segments_refreshed": refreshed})


def compute(
    database: Database, principal: Principal, kind: str, parameters: dict[str, Any], report: Report
) -> ScoresOutcome:
    """Read the purchases and score every customer who bought (nothing is written here)."""
    from patron.insights.service import fingerprint

    report(0.05, "reading purchases")
    frame = data.transactions_frame(database, principal)
    if frame.empty:
        raise ValueError("There are no purchases to score.")
    print_ = fingerprint(frame, parameters)
    frame = frame[["customer_id", "ordered_at", "amount"]]
    if kind == "clv":
        outcome = _clv(frame, ClvParameters.model_validate(parameters), report)
    elif kind == "churn":
        report(0.1, "reading tickets and activities")
        events = data.contact_events_frame(database, principal)
        outcome = churn_scores(
            frame, ChurnParameters.model_validate(parameters), report, events=events
        )
    else:
        raise ValueError(f"Unknown scoring kind {kind!r}.")
    outcome.fingerprint = print_
    return outcome


def _last_day(frame: pd.DataFrame) -> date:
    return frame["ordered_at"].max().date()  # type: ignore[no-any-return]


# ----- lifetime value --------------------------------------------------------------------------
@dataclass
class _ClvFit:
    transaction_model: Any
    spend_model: Any
    spend: pd.Series
    usable: pd.Series


def _fit_clv(summary: pd.DataFrame, penalizer: float) -> _ClvFit:
    from sklearn.exceptions import ConvergenceWarning

    from patron.analytics import clv as models

    x, t_x, t_cal = summary["frequency"], summary["recency"], summary["T"]
    spend = summary["monetary_value"].clip(lower=0.0)
    usable = (x > 0) & (spend > 0)  # repeat purchases worth nothing cannot enter the spend fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported in the metrics instead
        transaction_model = models.BetaGeoModel(penalizer=penalizer).fit(x, t_x, t_cal)
        try:
            spend_model = models.GammaGammaModel(penalizer=penalizer).fit(x[usable], spend[usable])
        except ValueError as exc:
            raise ValueError(f"The spend model cannot be fitted: {exc}.") from None
    return _ClvFit(transaction_model, spend_model, spend, usable)


def _clv(frame: pd.DataFrame, params: ClvParameters, report: Report) -> ScoresOutcome:
    from patron.analytics import clv as models

    as_of = params.calibration_end or _last_day(frame)
    report(0.2, "summarising customers")
    summary = models.calibration_holdout_split(
        frame, **COLUMNS, calibration_end=as_of, time_unit=params.time_unit
    )
    if summary.empty:
        raise ValueError(f"No customer bought on or before {as_of}.")
    report(0.3, "validating on the holdout")
    holdout = _clv_holdout(frame, params, as_of)
    report(0.5, "fitting BG/NBD and Gamma-Gamma")
    fit = _fit_clv(summary, params.penalizer)
    x, t_x, t_cal = summary["frequency"], summary["recency"], summary["T"]
    length = models.TIME_UNIT_DAYS[params.period] / models.TIME_UNIT_DAYS[params.time_unit]
    report(0.7, "scoring customers")
    table = pd.DataFrame(
        {
            "frequency": x,
            "recency": t_x,
            "T": t_cal,
            "monetary": summary["monetary_value"],
            "p_alive": np.asarray(
                fit.transaction_model.conditional_probability_alive(x, t_x, t_cal)
            ),
            "expected_purchases": np.asarray(
                fit.transaction_model.conditional_expected_purchases(
                    params.horizon * length, x, t_x, t_cal
                )
            ),
            "clv": np.asarray(
                models.customer_lifetime_value(
                    fit.transaction_model, fit.spend_model, x, t_x, t_cal, fit.spend,
                    horizon=params.horizon, period=params.period, time_unit=params.time_unit,
                    discount_rate=params.discount_rate,
                )
            ),
        },
        index=summary.index,
    )  # fmt: skip
    correlation = models.frequency_monetary_correlation(x[fit.usable], fit.spend[fit.usable])
    metrics = {
        **fit.transaction_model.params_,
        **fit.spend_model.params_,
        "log_likelihood": fit.transaction_model.log_likelihood_,
        "gamma_gamma_log_likelihood": fit.spend_model.log_likelihood_,
        "converged": bool(fit.transaction_model.converged_ and fit.spend_model.converged_),
        "n_customers": len(summary),
        "n_repeat_buyers": int((x > 0).sum()),
        "frequency_monetary_correlation": correlation.correlation,
        "frequency_monetary_warning": correlation.warning,
        "calibration_end": as_of.isoformat(),
        "time_unit": params.time_unit,
        "holdout": holdout,
    }
    results = {
        "as_of": as_of.isoformat(),
        "n_scored": len(table),
        "total_clv": float(table["clv"].sum()),
        "distribution": _quantiles(table, ("p_alive", "expected_purchases", "clv")),
        "top_customers": _top(table, "clv", ("p_alive", "expected_purchases", "clv")),
    }
    return ScoresOutcome("clv", "", table, metrics, results)


def _clv_holdout(frame: pd.DataFrame, params: ClvParameters, as_of: date) -> dict[str, Any]:
    """Fit up to ``as_of - holdout_days`` and compare the purchases it expects in the holdout
    days with those made: in total, per customer, and by calibration frequency (the papers'
    conditional-expectation table)."""
    from patron.analytics import clv as models

    if params.holdout_days == 0:
        return {"skipped": "holdout_days is 0"}
    calibration_end = as_of - timedelta(days=params.holdout_days)
    if _first_day(frame) >= calibration_end:
        return {"skipped": f"no purchase before {calibration_end}: the history is too short"}
    split = models.calibration_holdout_split(
        frame, **COLUMNS, calibration_end=calibration_end, observation_end=as_of,
        time_unit=params.time_unit,
    )  # fmt: skip
    try:
        fit = _fit_clv(split, params.penalizer)
    except ValueError as exc:
        return {"skipped": str(exc)}
    x, t_x, t_cal = split["frequency"], split["recency"], split["T"]
    expected = np.asarray(
        fit.transaction_model.conditional_expected_purchases(
            split["duration_holdout"], x, t_x, t_cal
        )
    )
    actual = split["frequency_holdout"].to_numpy(dtype=np.float64)
    by_frequency = (
        pd.DataFrame({"frequency": np.minimum(x.to_numpy(), 7), "actual": actual,
                      "expected": expected})
        .groupby("frequency")
        .agg(customers=("actual", "size"), actual=("actual", "mean"), expected=("expected", "mean"))
    )  # fmt: skip
    return {
        "calibration_end": calibration_end.isoformat(),
        "observation_end": as_of.isoformat(),
        "n_customers": len(split),
        "actual_purchases": float(actual.sum()),
        "expected_purchases": float(expected.sum()),
        "relative_error": _ratio(expected.sum() - actual.sum(), actual.sum()),
        "mean_absolute_error": float(np.abs(expected - actual).mean()),
        "correlation": _correlation(expected, actual),
        "params": {**fit.transaction_model.params_, **fit.spend_model.params_},
        "by_frequency": [
            {"frequency": int(k), "customers": int(row.customers),
             "actual": float(row.actual), "expected": float(row.expected)}
            for k, row in by_frequency.iterrows()
        ],
    }  # fmt: skip


def _first_day(frame: pd.DataFrame) -> date:
    return frame["ordered_at"].min().date()  # type: ignore[no-any-return]


# ----- churn risk ------------------------------------------------------------------------------
def churn_scores(
    frame: pd.DataFrame,
    params: ChurnParameters,
    report: Report,
    *,
    events: pd.DataFrame | None = None,
) -> ScoresOutcome:
    """Train, test against the baseline and score ``frame`` (``customer_id``, ``ordered_at`` in
    UTC, ``amount``: one row per purchase), with ticket and activity features from ``events``
    (``customer``, ``at``, ``kind``) when given. Pure computation: nothing is read or written."""
    from patron.analytics.churn import (
        ChurnClassifier,
        RecencyBaseline,
        churn_dataset,
        churn_metrics,
    )

    as_of = params.as_of or _last_day(frame)
    horizon = params.horizon_days
    test_cutoff = as_of - timedelta(days=horizon)
    train_cutoff = test_cutoff - timedelta(days=horizon)
    if _first_day(frame) > train_cutoff:
        raise ValueError(
            f"Churn needs purchases from before {train_cutoff} (twice horizon_days before "
            f"{as_of}) to train and test on; the first is on {_first_day(frame)}."
        )
    frame = frame[frame["ordered_at"] < pd.Timestamp(as_of + timedelta(days=1), tz="UTC")]

    def dataset(cutoff: date) -> tuple[pd.DataFrame, pd.Series]:
        return churn_dataset(frame, **COLUMNS, cutoff=cutoff, horizon_days=horizon, events=events)

    report(0.2, "building features")
    x_train, y_train = dataset(train_cutoff)
    x_test, y_test = dataset(test_cutoff)
    report(0.35, "training and testing")
    model = ChurnClassifier(random_state=params.random_state).fit(x_train, y_train)
    baseline = RecencyBaseline().fit(x_train, y_train)
    evaluation = churn_metrics(y_test, model.predict_proba(x_test), threshold=params.threshold)
    baseline_metrics = churn_metrics(
        y_test, baseline.decision_function(x_test), predicted=baseline.predict(x_test),
        probabilities=False,
    )  # fmt: skip
    report(0.6, "scoring customers")
    final = ChurnClassifier(random_state=params.random_state).fit(x_test, y_test)
    x_now, _ = dataset(as_of)
    table = pd.DataFrame({"churn_risk": final.predict_proba(x_now)}, index=x_now.index)
    metrics = {
        "as_of": as_of.isoformat(),
        "horizon_days": horizon,
        "threshold": params.threshold,
        "train_cutoff": train_cutoff.isoformat(),
        "test_cutoff": test_cutoff.isoformat(),
        "n_train": len(x_train),
        "n_test": len(x_test),
        "features": list(x_train.columns),
        "model": evaluation,
        "baseline": {"threshold_days": baseline.threshold_, **baseline_metrics},
    }
    results = {
        "as_of": as_of.isoformat(),
        "n_scored": len(table),
        "at_risk": int((table["churn_risk"] >= params.threshold).sum()),
        "distribution": _quantiles(table, ("churn_risk",)),
        "top_customers": _top(table, "churn_risk", ("churn_risk",)),
    }
    return ScoresOutcome("churn", "", table, metrics, results)


# ----- storing ---------------------------------------------------------------------------------
def write_scores(session: Session, run_id: uuid.UUID, kind: str, table: pd.DataFrame) -> None:
    """Each customer's scores into ``customer_insight`` in bulk, in the session's transaction.

    The rows go into a temporary table (``COPY`` on PostgreSQL, ``executemany`` on SQLite),
    one upsert spreads them, and one update clears the scores earlier runs of this kind gave to
    customers this run did not score, so every score shown comes from the latest run."""
    names = scores_repository.SCORE_COLUMNS[kind]
    columns: dict[str, np.ndarray] = {
        "customer_id": apply._hex_ids(_without_dashes(table.index)),
        "insight_id": apply._uuid7_hex(len(table)),
    }
    for name in names:
        values = table[name].to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError(f"The model gave {name} values that are not finite numbers.")
        columns[name] = values
    now = utcnow()
    connection = session.connection()
    rows = scores_repository.score_rows(kind)
    rows.create(connection)
    apply._load(connection, rows, columns)
    connection.execute(
        scores_repository.insights_from_scores(connection.dialect.name, rows, kind, run_id, now)
    )
    connection.execute(scores_repository.clear_other_runs(kind, run_id, now))
    rows.drop(connection)
    session.expire_all()


# ----- small helpers ---------------------------------------------------------------------------
def _without_dashes(index: pd.Index) -> pd.Index:
    """Customer ids as 32 hex digits, rewritten a column at a time (not one UUID at a time)."""
    return pd.Index(index.astype(str).str.replace("-", "", regex=False).str.lower())


def _quantiles(table: pd.DataFrame, names: tuple[str, ...]) -> dict[str, dict[str, float]]:
    points = (0.1, 0.25, 0.5, 0.75, 0.9)
    return {
        name: {
            "mean": float(table[name].mean()),
            **{f"p{round(q * 100)}": float(table[name].quantile(q)) for q in points},
        }
        for name in names
    }


def _top(table: pd.DataFrame, by: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
    ordered = table.assign(_id=table.index.astype(str)).sort_values(
        [by, "_id"], ascending=[False, True], kind="stable"
    )
    return [
        {"customer_id": row["_id"], **{name: float(row[name]) for name in names}}
        for _, row in ordered.head(TOP).iterrows()
    ]


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def json_safe(value: Any) -> Any:
    """Plain JSON values: NumPy numbers as Python ones, NaN and infinity as null."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return value
