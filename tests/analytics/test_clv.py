"""Lifetime value models: the CDNOW reproductions, the estimator contract, the numerics."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_info

from patron.analytics import _btyd, _clv_fit
from patron.analytics.clv import (
    BetaGeoModel,
    GammaGammaModel,
    calibration_holdout_split,
    customer_lifetime_value,
    frequency_monetary_correlation,
    summary_data,
)
from tests.datasets import dataset_path

PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_BGNBD_LL = -9582.4
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}
CALIBRATION_END = "1997-09-30"
OBSERVATION_END = "1998-06-30"


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def read_cdnow_sample() -> pd.DataFrame:
    return pd.read_csv(
        dataset_path("cdnow", "CDNOW_sample.txt"),
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"],
        dtype={"master_id": str, "customer_id": np.int64, "date": str},
    ).assign(date=lambda frame: pd.to_datetime(frame["date"], format="%Y%m%d"))


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return read_cdnow_sample()


@pytest.fixture(scope="module")
def cdnow(transactions: pd.DataFrame) -> pd.DataFrame:
    return calibration_holdout_split(
        transactions,
        customer_col="customer_id",
        date_col="date",
        amount_col="amount",
        calibration_end=CALIBRATION_END,
        observation_end=OBSERVATION_END,
    )


@pytest.fixture(scope="module")
def authors_summary() -> pd.DataFrame:
    path = dataset_path("cdnow", "cdnow_customers_summary_with_transactions.csv")
    return pd.read_csv(path).set_index("ID")


@pytest.fixture(scope="module")
def bgnbd(cdnow: pd.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def gamma_gamma(cdnow: pd.DataFrame) -> GammaGammaModel:
    return GammaGammaModel().fit(cdnow["frequency"], cdnow["monetary_value"])


def round_half_up(values: pd.Series, decimals: int = 2) -> np.ndarray:
    """The authors' rounding of exact decimal values (22.345 -> 22.35), robust to float noise."""
    scale = 10.0**decimals
    return np.floor(values.to_numpy() * scale + 0.5 + 1e-7) / scale


# --------------------------------------------------------------------------------------------
# The summary
# --------------------------------------------------------------------------------------------


def test_summary_equals_the_authors_summary_for_every_customer(
    cdnow: pd.DataFrame, authors_summary: pd.DataFrame
) -> None:
    assert len(cdnow) == 2357
    assert cdnow.index.tolist() == authors_summary.index.tolist()
    assert (cdnow["frequency"].to_numpy() == authors_summary["x"].to_numpy()).all()
    assert (round_half_up(cdnow["recency"]) == authors_summary["t_x"].to_numpy()).all()
    assert (round_half_up(cdnow["T"]) == authors_summary["T"].to_numpy()).all()
    assert (round_half_up(cdnow["monetary_value"]) == authors_summary["zbar"].to_numpy()).all()
    assert int((cdnow["frequency"] > 0).sum()) == 946
    assert int(cdnow["frequency"].sum()) == 2457


def test_holdout_columns_count_purchase_days_after_calibration(cdnow: pd.DataFrame) -> None:
    assert (cdnow["duration_holdout"] == 39.0).all()  # 1997-10-01 .. 1998-06-30: 273 days
    assert int(cdnow["frequency_holdout"].sum()) == 1882
    assert int((cdnow["frequency_holdout"] > 0).sum()) == 684
    # Customer 1 bought once in the holdout, for $26.48 (1997-12-12).
    assert cdnow.loc[1, "frequency_holdout"] == 1
    assert cdnow.loc[1, "monetary_value_holdout"] == pytest.approx(26.48)


def test_summary_merges_same_day_purchases_and_skips_late_customers() -> None:
    frame = pd.DataFrame(
        {
            "who": ["a", "a", "a", "a", "b", "c", "a"],
            "when": [
                "2024-01-01 09:00",
                "2024-01-01 17:00",  # same day: merged into one purchase of 30
                "2024-01-08",
                "2024-01-15",
                "2024-01-10",
                "2024-02-01",  # first purchase after calibration end: not a customer yet
                "2024-01-22",  # holdout
            ],
            "amount": [10.0, 20.0, 6.0, 8.0, 5.0, 99.0, 12.0],
        }
    )
    summary = calibration_holdout_split(
        frame,
        customer_col="who",
        date_col="when",
        amount_col="amount",
        calibration_end="2024-01-15",
        observation_end="2024-01-29",
        time_unit="day",
    )
    assert summary.index.name == "who"
    assert summary.index.tolist() == ["a", "b"]
    assert summary.loc["a"].to_dict() == {
        "frequency": 2,
        "recency": 14.0,
        "T": 14.0,
        "monetary_value": 7.0,
        "frequency_holdout": 1,
        "monetary_value_holdout": 12.0,
        "duration_holdout": 14.0,
    }
    assert summary.loc["b"].to_dict() == {
        "frequency": 0,
        "recency": 0.0,
        "T": 5.0,
        "monetary_value": 0.0,
        "frequency_holdout": 0,
        "monetary_value_holdout": 0.0,
        "duration_holdout": 14.0,
    }
    weeks = summary_data(frame, customer_col="who", date_col="when", time_unit="week")
    assert list(weeks.columns) == ["frequency", "recency", "T"]
    # T runs to the last date in the data, 2024-02-01 (customer c's first purchase).
    assert weeks.loc["a"].tolist() == [3, 3.0, pytest.approx(31 / 7)]
    assert weeks.loc["c"].tolist() == [0, 0.0, 0.0]
    months = summary_data(frame, customer_col="who", date_col="when", time_unit="month")
    assert months.loc["a", "recency"] == pytest.approx(21 / (365.25 / 12))


def test_summary_takes_aware_times_in_utc() -> None:
    frame = pd.DataFrame(
        {
            "who": [1, 1],
            "when": ["2024-01-01T23:30:00-05:00", "2024-01-03T01:00:00+02:00"],
        }
    )
    # In UTC these are 2024-01-02 04:30 and 2024-01-02 23:00: one purchase day.
    summary = summary_data(frame, customer_col="who", date_col="when", time_unit="day")
    assert summary.loc[1].tolist() == [0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"customer_col": "nope"}, "lack the column"),
        ({"calibration_end": "not a date"}, "calibration_end is not a date"),
        ({"observation_end": "2024-01-01"}, "observation_end must be after"),
        ({"time_unit": "fortnight"}, "time_unit must be one of day, week, month"),
        ({"amount_col": "bad"}, "non-numeric"),
    ],
)
def test_summary_rejects_bad_input(changes: dict[str, str], message: str) -> None:
    frame = pd.DataFrame({"who": [1, 2], "when": ["2024-01-01", "2024-01-02"], "bad": ["x", "1"]})
    arguments = {
        "customer_col": "who",
        "date_col": "when",
        "calibration_end": "2024-01-05",
        **changes,
    }
    with pytest.raises(ValueError, match=message):
        calibration_holdout_split(frame, **arguments)


# --------------------------------------------------------------------------------------------
# The published figures
# --------------------------------------------------------------------------------------------


def test_bgnbd_reproduces_fader_hardie_lee_2005(bgnbd: BetaGeoModel) -> None:
    for name, published in PUBLISHED_BGNBD.items():
        assert bgnbd.params_[name] == pytest.approx(published, rel=0.01), name
    assert bgnbd.log_likelihood_ == pytest.approx(PUBLISHED_BGNBD_LL, abs=0.1)
    assert bgnbd.n_customers_ == 2357
    assert bgnbd.converged_


def test_bgnbd_log_likelihood_at_the_published_parameters(cdnow: pd.DataFrame) -> None:
    model = BetaGeoModel.from_params(PUBLISHED_BGNBD)
    total = model.log_likelihood(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert total == pytest.approx(-9582.43, abs=0.01)


def test_gamma_gamma_reproduces_fader_hardie_lee_2005b(gamma_gamma: GammaGammaModel) -> None:
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert gamma_gamma.params_[name] == pytest.approx(published, rel=0.01), name
    assert gamma_gamma.n_customers_ == 946
    assert gamma_gamma.log_likelihood_ == pytest.approx(-4055.92, abs=0.01)


def test_frequency_and_spend_are_nearly_independent_on_cdnow(cdnow: pd.DataFrame) -> None:
    check = frequency_monetary_correlation(cdnow["frequency"], cdnow["monetary_value"])
    assert check.n_customers == 946
    assert check.correlation == pytest.approx(0.1139, abs=1e-4)
    assert check.acceptable
    assert check.warning is None


def test_holdout_aggregate_against_actual_repeat_purchases(
    bgnbd: BetaGeoModel, cdnow: pd.DataFrame
) -> None:
    """Weeks 40-78: sum over customers of E[Y(39) | x, t_x, T] against the purchase days seen.

    The model predicts 1,653.4 repeat purchases against 1,882 purchase days (1,959 raw
    transactions): 12.1% under, the known holdout under-forecast of the BG/NBD on this sample.
    """
    expected = bgnbd.conditional_expected_purchases(
        cdnow["duration_holdout"], cdnow["frequency"], cdnow["recency"], cdnow["T"]
    )
    actual = cdnow["frequency_holdout"].sum()
    assert expected.sum() == pytest.approx(1653.41, abs=0.05)
    assert expected.sum() / actual - 1 == pytest.approx(-0.1215, abs=0.001)


def test_cumulative_tracking_curve_within_five_percent(
    bgnbd: BetaGeoModel, transactions: pd.DataFrame
) -> None:
    """The paper's figure: cumulative repeat purchases of the cohort, weeks 20 to 78."""
    days = transactions[["customer_id", "date"]].drop_duplicates()
    first = days.groupby("customer_id")["date"].transform("min")
    repeats = days.loc[days["date"] > first, "date"]
    first_purchase = days.groupby("customer_id")["date"].min()
    start = pd.Timestamp("1997-01-01")
    gaps = {}
    for week in range(20, 79):
        end = start + pd.Timedelta(days=7 * week)
        actual = int((repeats < end).sum())
        ages = ((end - first_purchase).dt.days / 7).clip(lower=0).to_numpy()
        gaps[week] = bgnbd.expected_purchases(ages).sum() / actual - 1
    assert max(abs(gap) for gap in gaps.values()) < 0.05
    assert gaps[78] == pytest.approx(-0.040, abs=0.001)  # 4,165.7 expected against 4,339


# --------------------------------------------------------------------------------------------
# Against lifetimes 0.11.3 with identical parameters (test-only peer)
# --------------------------------------------------------------------------------------------


def test_same_predictions_as_lifetimes(authors_summary: pd.DataFrame) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    x, t_x, t_cal = authors_summary["x"], authors_summary["t_x"], authors_summary["T"]
    zbar = authors_summary["zbar"]
    ours = BetaGeoModel.from_params(PUBLISHED_BGNBD)
    peer = lifetimes.BetaGeoFitter()
    peer.params_ = pd.Series(PUBLISHED_BGNBD)
    peer.predict = peer.conditional_expected_number_of_purchases_up_to_time
    spend = GammaGammaModel.from_params(PUBLISHED_GAMMA_GAMMA)
    peer_spend = lifetimes.GammaGammaFitter()
    peer_spend.params_ = pd.Series({"p": 6.25, "q": 3.74, "v": 15.44})
    times = np.linspace(0.5, 150, 300)

    pairs = [
        (
            ours.conditional_probability_alive(x, t_x, t_cal),
            peer.conditional_probability_alive(x, t_x, t_cal),
        ),
        (
            ours.conditional_expected_purchases(39, x, t_x, t_cal),
            peer.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, t_cal),
        ),
        (ours.expected_purchases(times), peer.expected_number_of_purchases_up_to_time(times)),
        (
            spend.conditional_expected_average_profit(x, zbar),
            peer_spend.conditional_expected_average_profit(x, zbar),
        ),
        (
            customer_lifetime_value(ours, spend, x, t_x, t_cal, zbar, period=4.345),
            peer_spend.customer_lifetime_value(peer, x, t_x, t_cal, zbar, freq="W"),
        ),
    ]
    for mine, theirs in pairs:
        np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs), rtol=1e-6, atol=1e-12)


# --------------------------------------------------------------------------------------------
# The estimator contract
# --------------------------------------------------------------------------------------------


def blas_threads() -> list[tuple[str, int]]:
    return [(library["filepath"], library["num_threads"]) for library in threadpool_info()]


def test_estimators_keep_no_data_and_no_global_state(cdnow: pd.DataFrame) -> None:
    errors_before = np.geterr()
    filters_before = list(warnings.filters)
    threads_before = blas_threads()  # long sums bypass BLAS: its threads are left alone
    model = BetaGeoModel()
    assert model.fit(cdnow["frequency"], cdnow["recency"], cdnow["T"]) is model
    spend = GammaGammaModel()
    assert spend.fit(cdnow["frequency"], cdnow["monetary_value"]) is spend
    model.conditional_expected_purchases(1e4, cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert np.geterr() == errors_before
    assert list(warnings.filters) == filters_before
    assert blas_threads() == threads_before
    for estimator in (model, spend):
        learned = {key for key in vars(estimator) if key.endswith("_")}
        assert learned == {"params_", "log_likelihood_", "n_customers_", "converged_", "n_iter_"}
        assert not any(
            isinstance(value, np.ndarray | pd.Series) for value in vars(estimator).values()
        )
    assert clone(model).get_params() == {"penalizer": 0.0, "max_iter": 500, "tol": 1e-12}
    assert not hasattr(clone(model), "params_")


def test_unfitted_models_refuse_to_predict() -> None:
    with pytest.raises(NotFittedError):
        BetaGeoModel().conditional_probability_alive([1], [1.0], [2.0])
    with pytest.raises(NotFittedError):
        GammaGammaModel().conditional_expected_average_profit([1], [1.0])


def test_series_in_series_out(bgnbd: BetaGeoModel, cdnow: pd.DataFrame) -> None:
    alive = bgnbd.conditional_probability_alive(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert isinstance(alive, pd.Series)
    assert alive.index.equals(cdnow.index)
    assert alive.loc[3] == 1.0  # no repeat purchase: alive by the model's assumption
    assert alive.loc[1] == pytest.approx(0.7266, abs=1e-4)
    plain = bgnbd.conditional_probability_alive([2, 0], [30.43, 0.0], [38.86, 38.86])
    assert isinstance(plain, np.ndarray)


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "message"),
    [
        ([1, 2], [1.0], [2.0, 3.0], "same length"),
        ([-1], [0.0], [2.0], "non-negative whole"),
        ([1.5], [1.0], [2.0], "non-negative whole"),
        ([1], [3.0], [2.0], "recency must not exceed T"),
        ([0], [1.0], [2.0], "recency must be 0"),
        ([1], [np.nan], [2.0], "finite"),
        ([1], [-1.0], [2.0], "not be negative"),
    ],
)
def test_bgnbd_validates_its_input(
    frequency: list[float],
    recency: list[float],
    T: list[float],  # noqa: N803
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        BetaGeoModel().fit(frequency, recency, T)


def test_bgnbd_validates_its_parameters() -> None:
    with pytest.raises(ValueError, match="penalizer"):
        BetaGeoModel(penalizer=-1).fit([1, 0], [1.0, 0.0], [2.0, 2.0])
    with pytest.raises(ValueError, match="max_iter"):
        BetaGeoModel(max_iter=0).fit([1, 0], [1.0, 0.0], [2.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        BetaGeoModel.from_params({"r": 1.0, "alpha": -1.0, "a": 1.0, "b": 1.0})


def test_gamma_gamma_needs_positive_spend_from_repeat_buyers() -> None:
    with pytest.raises(ValueError, match="1 are zero or negative"):
        GammaGammaModel().fit([1, 2, 0], [0.0, 5.0, 0.0])
    with pytest.raises(ValueError, match="at least two repeat buyers"):
        GammaGammaModel().fit([1, 0, 0], [4.0, 0.0, 0.0])


def test_weights_are_repeated_rows(cdnow: pd.DataFrame) -> None:
    rows = cdnow[["frequency", "recency", "T"]].round(6)
    grouped = rows.value_counts().reset_index()
    full = BetaGeoModel().fit(rows["frequency"], rows["recency"], rows["T"])
    weighted = BetaGeoModel().fit(
        grouped["frequency"], grouped["recency"], grouped["T"], sample_weight=grouped["count"]
    )
    assert len(grouped) < len(rows)
    assert weighted.n_customers_ == len(rows)
    assert weighted.log_likelihood_ == pytest.approx(full.log_likelihood_, abs=1e-6)
    for name in PUBLISHED_BGNBD:
        assert weighted.params_[name] == pytest.approx(full.params_[name], rel=1e-4)


def test_penalizer_shrinks_the_parameters(cdnow: pd.DataFrame) -> None:
    plain = BetaGeoModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    shrunk = BetaGeoModel(penalizer=0.01).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    squares = [sum(v**2 for v in m.params_.values()) for m in (plain, shrunk)]
    assert squares[1] < squares[0]
    assert shrunk.log_likelihood_ < plain.log_likelihood_


def test_correlated_spend_is_reported_not_warned() -> None:
    frequency = np.array([1, 2, 3, 4, 5, 0])
    spend = np.array([10.0, 20.0, 30.0, 40.0, 55.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check = GammaGammaModel.frequency_monetary_correlation(frequency, spend)
    assert check.n_customers == 5
    assert check.correlation == pytest.approx(np.corrcoef(frequency[:5], spend[:5])[0, 1])
    assert not check.acceptable
    assert "assumes independence" in (check.warning or "")


# --------------------------------------------------------------------------------------------
# Numerics
# --------------------------------------------------------------------------------------------


def series_2f1(a: float, b: float, c: float, z: float, terms: int = 2000) -> float:
    """2F1 by its defining power series (terms ratio (a+n)(b+n) z / ((c+n)(n+1)))."""
    term, total = 1.0, 1.0
    for n in range(terms):
        term *= (a + n) * (b + n) * z / ((c + n) * (n + 1))
        total += term
        if abs(term) < 1e-18 * abs(total):
            break
    return total


@pytest.mark.parametrize(
    ("x", "t_x", "T", "t"),
    [
        (1, 20.0, 39.0, 39.0),
        (50, 38.9, 39.0, 39.0),
        (1000, 38.0, 39.0, 39.0),
        (10**5, 1e3, 1e3, 1e3),
    ],
)
def test_conditional_expectation_for_large_frequencies(
    x: int,
    t_x: float,
    T: float,  # noqa: N803
    t: float,
) -> None:
    """Eq. 10 through Euler's transformation, against the 2F1 series summed term by term."""
    model = BetaGeoModel.from_params(PUBLISHED_BGNBD)
    r, alpha, a, b = PUBLISHED_BGNBD.values()
    z = t / (alpha + T + t)
    g = (1 - z) ** (a - 1) * series_2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    alive = model.conditional_probability_alive([x], [t_x], [T])[0]
    reference = alive * (a + b + x - 1) / (a - 1) * (1 - g)
    value = model.conditional_expected_purchases(t, [x], [t_x], [T])[0]
    assert np.isfinite(value)
    assert value == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("scale", [1e3, 1e5, 1e8])
@pytest.mark.parametrize(("x", "t_x", "T", "t"), [(0, 0.0, 0.0, 39.0), (30, 38.0, 39.0, 100.0)])
def test_conditional_expectation_when_everyone_drops_out_alike(
    scale: float,
    x: int,
    t_x: float,
    T: float,  # noqa: N803
    t: float,
) -> None:
    """Huge a and b (a fit on look-alike customers): scipy's 2F1 returns NaN there.

    Reference: E[Y(t) | alive] = integral Beta(p; a, b + x) (1 - ((alpha+T)/(alpha+T+pt))^(r+x))
    / p dp [FHL05a eq. 7 mixed over the posterior], by adaptive quadrature.
    """
    params = {"r": 0.5, "alpha": 5.0, "a": 0.8 * scale, "b": 2.4 * scale}
    model = BetaGeoModel.from_params(params)
    posterior = stats.beta(params["a"], params["b"] + x)
    decay = params["alpha"] + T

    def given_p(p: float) -> float:
        return posterior.pdf(p) * (1 - (decay / (decay + p * t)) ** (params["r"] + x)) / p

    low, high = posterior.ppf(1e-14), posterior.isf(1e-14)
    integral, _ = integrate.quad(
        given_p, low, high, points=[posterior.mean()], limit=500, epsabs=0, epsrel=1e-12
    )
    reference = model.conditional_probability_alive([x], [t_x], [T])[0] * integral
    assert model.conditional_expected_purchases(t, [x], [t_x], [T])[0] == pytest.approx(
        reference, rel=1e-8
    )


def check_objective(
    objective: Any,
    terms: Callable[..., Any],
    params: np.ndarray,
    weights: np.ndarray,
) -> None:
    """A fast objective equals the weighted per-customer terms; its gradient, differences of
    the objective; its Hessian, differences of the gradient."""
    total, gradient = objective(tuple(params))
    per_customer, per_customer_gradient = terms(tuple(params), with_gradient=True)
    assert total == pytest.approx(float(weights @ per_customer), rel=1e-12)
    np.testing.assert_allclose(gradient, per_customer_gradient @ weights, rtol=1e-10)
    same_total, same_gradient, hessian = objective.evaluate(tuple(params), order=2)
    assert same_total == total
    np.testing.assert_allclose(same_gradient, gradient, rtol=1e-12)
    np.testing.assert_array_equal(hessian, hessian.T)
    for i, step in enumerate(np.diag(1e-6 * params)):
        up, down = objective(tuple(params + step)), objective(tuple(params - step))
        assert gradient[i] == pytest.approx((up[0] - down[0]) / (2 * step[i]), rel=1e-5)
        np.testing.assert_allclose(
            hessian[:, i],
            (up[1] - down[1]) / (2 * step[i]),
            rtol=1e-5,
            atol=1e-7 * np.abs(hessian).max(),
        )


def test_likelihoods_and_derivatives_agree_with_their_definitions(cdnow: pd.DataFrame) -> None:
    """The fast objectives against eq. 6 of FHL05a and the Gamma-Gamma density, customer by
    customer, with arbitrary weights; their Hessians (for Newton's method) against the
    gradients."""
    x, t_x, t_cal, spend = (
        cdnow[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "monetary_value")
    )
    weights = np.random.default_rng(7).uniform(0.5, 2.0, x.size)
    check_objective(
        _clv_fit.BetaGeoObjective(x, t_x, t_cal, weights),
        partial(
            _btyd.bgnbd_log_likelihood_terms, freq=_btyd.Frequencies.of(x), recency=t_x, T=t_cal
        ),
        np.array([0.3, 5.0, 0.7, 2.0]),
        weights,
    )
    repeat = x > 0
    x, spend, weights = x[repeat], spend[repeat], weights[repeat]
    check_objective(
        _clv_fit.GammaGammaObjective(x, spend, weights),
        partial(
            _btyd.gamma_gamma_log_likelihood_terms,
            freq=_btyd.Frequencies.of(x),
            log_monetary=np.log(spend),
            monetary=spend,
        ),
        np.array([6.0, 4.0, 15.0]),
        weights,
    )


def test_log_likelihood_is_finite_for_huge_frequencies() -> None:
    frequency = np.array([0, 1, 500, 20000])
    recency = np.array([0.0, 5.0, 30.0, 38.0])
    T = np.full(4, 39.0)  # noqa: N806
    model = BetaGeoModel.from_params(PUBLISHED_BGNBD)
    assert np.isfinite(model.log_likelihood(frequency, recency, T))
    alive = model.conditional_probability_alive(frequency, recency, T)
    assert np.all((alive >= 0) & (alive <= 1))


def test_expectations_are_continuous_through_a_equal_one() -> None:
    values = [
        BetaGeoModel.from_params({**PUBLISHED_BGNBD, "a": a}).conditional_expected_purchases(
            39.0, [3], [20.0], [39.0]
        )[0]
        for a in (1 - 2e-4, 1 - 1e-5, 1.0, 1 + 1e-5, 1 + 2e-4)
    ]
    assert all(np.isfinite(values))
    assert np.ptp(values) < 1e-3 * values[2]
    assert values[0] > values[2] > values[4]  # more dropout propensity, fewer purchases


def test_unconditional_expectation_basics(bgnbd: BetaGeoModel) -> None:
    assert bgnbd.expected_purchases(0.0) == 0.0
    assert isinstance(bgnbd.expected_purchases(39.0), float)
    curve = bgnbd.expected_purchases(np.arange(0.0, 200.0, 1.0))
    assert np.all(np.diff(curve) > 0)
    # A customer seen for 0 time with no repeat purchase is a new customer.
    assert bgnbd.conditional_expected_purchases(52.0, [0], [0.0], [0.0])[0] == pytest.approx(
        bgnbd.expected_purchases(52.0), rel=1e-12
    )


# --------------------------------------------------------------------------------------------
# Lifetime value
# --------------------------------------------------------------------------------------------


def test_clv_is_the_discounted_sum_of_period_purchases(
    bgnbd: BetaGeoModel, gamma_gamma: GammaGammaModel, cdnow: pd.DataFrame
) -> None:
    sample = cdnow.loc[[1, 2, 3, 18]]
    args = (sample["frequency"], sample["recency"], sample["T"], sample["monetary_value"])
    spend = gamma_gamma.conditional_expected_average_profit(args[0], args[3]).to_numpy()
    month = 365.25 / 12 / 7

    one = customer_lifetime_value(bgnbd, gamma_gamma, *args, horizon=1, discount_rate=0.01)
    purchases = bgnbd.conditional_expected_purchases(month, *args[:3]).to_numpy()
    np.testing.assert_allclose(one.to_numpy(), purchases * spend / 1.01, rtol=1e-12)

    undiscounted = customer_lifetime_value(bgnbd, gamma_gamma, *args, horizon=24, discount_rate=0)
    purchases = bgnbd.conditional_expected_purchases(24 * month, *args[:3]).to_numpy()
    np.testing.assert_allclose(undiscounted.to_numpy(), purchases * spend, rtol=1e-12)

    days = customer_lifetime_value(
        bgnbd, gamma_gamma, *args, horizon=24, period="week", time_unit="day", discount_rate=0
    )
    purchases = bgnbd.conditional_expected_purchases(24 * 7, *args[:3]).to_numpy()
    np.testing.assert_allclose(days.to_numpy(), purchases * spend, rtol=1e-12)

    discounted = customer_lifetime_value(bgnbd, gamma_gamma, *args, horizon=24)
    assert (discounted < undiscounted).all()
    assert discounted.name == "clv"
    assert discounted.index.equals(sample.index)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"horizon": 0}, "horizon"),
        ({"horizon": 1.5}, "horizon"),
        ({"discount_rate": -1.0}, "discount_rate"),
        ({"period": -2.0}, "period"),
        ({"period": "year"}, "time_unit must be one of"),
    ],
)
def test_clv_validates_its_options(options: dict[str, object], message: str) -> None:
    model = BetaGeoModel.from_params(PUBLISHED_BGNBD)
    spend = GammaGammaModel.from_params(PUBLISHED_GAMMA_GAMMA)
    with pytest.raises(ValueError, match=message):
        customer_lifetime_value(model, spend, [1], [1.0], [2.0], [10.0], **options)


# --------------------------------------------------------------------------------------------
# Simulated customers: the fit recovers the truth, eq. 10 matches what happens next
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fits_recover_simulated_parameters(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200_000
    sim = _btyd.simulate_bgnbd(
        n, rng.uniform(27.0, 39.0, n), **PUBLISHED_BGNBD, holdout=39.0, rng=rng
    )
    model = BetaGeoModel().fit(sim["frequency"], sim["recency"], sim["T"])
    # Sampling spread at this size (30 seeds): 0.4%, 0.8%, 2.8%, 3.7%; bounds are ~5 sd.
    tolerance = {"r": 0.025, "alpha": 0.05, "a": 0.15, "b": 0.2}
    for name, truth in PUBLISHED_BGNBD.items():
        assert model.params_[name] == pytest.approx(truth, rel=tolerance[name]), name
    truth_model = BetaGeoModel.from_params(PUBLISHED_BGNBD)
    assert model.log_likelihood_ >= truth_model.log_likelihood(
        sim["frequency"], sim["recency"], sim["T"]
    )
    # E[E[Y | calibration]] = E[Y]: the conditional expectations add up to the simulated holdout.
    expected = truth_model.conditional_expected_purchases(
        39.0, sim["frequency"], sim["recency"], sim["T"]
    )
    assert expected.sum() == pytest.approx(sim["frequency_holdout"].sum(), rel=0.02)

    spend = _btyd.simulate_gamma_gamma(sim["frequency"], **PUBLISHED_GAMMA_GAMMA, rng=rng)
    gamma_gamma = GammaGammaModel().fit(sim["frequency"], spend)
    tolerance = {"p": 0.1, "q": 0.05, "gamma": 0.14}
    for name, truth in PUBLISHED_GAMMA_GAMMA.items():
        assert gamma_gamma.params_[name] == pytest.approx(truth, rel=tolerance[name]), name
