"""Customer lifetime value: BG/NBD purchase counts, Gamma-Gamma spend, discounted value.

* :func:`summary_data` / :func:`calibration_holdout_split` turn a transaction table into the
  per-customer frequency / recency / T / monetary_value the models need.
* :class:`BetaGeoModel` - the BG/NBD model of Fader, Hardie & Lee (2005a), "Counting your
  customers the easy way": how many purchases, and is the customer still alive.
* :class:`GammaGammaModel` - the Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee
  2005b, "RFM and CLV: using iso-value curves"; Fader & Hardie 2013 note).
* :func:`customer_lifetime_value` - their discounted product over a horizon.

Units: every time (recency, T, the ``t`` of a prediction) is in the ``time_unit`` the summary was
built with ("day", "week" or "month" = 365.25 / 12 days); ``alpha`` is in that unit too. Money is
whatever unit the amounts were in. Equations are cited beside the code in ``_btyd.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from patron.analytics import _btyd, _clv_fit
from patron.analytics._btyd import FloatArray, Frequencies
from patron.analytics._clv_summary import (
    TIME_UNIT_DAYS,
    TimeUnit,
    calibration_holdout_split,
    summary_data,
    unit_days,
)

__all__ = [
    "TIME_UNIT_DAYS",
    "BetaGeoModel",
    "FrequencyMonetaryCorrelation",
    "GammaGammaModel",
    "calibration_holdout_split",
    "customer_lifetime_value",
    "frequency_monetary_correlation",
    "summary_data",
]

# --------------------------------------------------------------------------------------------
# Shared helpers of the estimators
# --------------------------------------------------------------------------------------------


def _vector(values: ArrayLike, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    return array


def _customer_vectors(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,  # noqa: N803 - the papers' name
) -> tuple[FloatArray, FloatArray, FloatArray]:
    x = _vector(frequency, "frequency")
    t_x = _vector(recency, "recency")
    t_cal = _vector(T, "T")
    if not (x.shape == t_x.shape == t_cal.shape):
        raise ValueError("frequency, recency and T must have the same length")
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("frequency must hold non-negative whole numbers")
    if np.any(t_x < 0) or np.any(t_cal < 0):
        raise ValueError("recency and T must not be negative")
    if np.any(t_x > t_cal * (1.0 + 1e-12) + 1e-12):
        raise ValueError("recency must not exceed T")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("recency must be 0 for customers with no repeat purchase")
    return x, t_x, t_cal


def _weights(sample_weight: ArrayLike | None, n: int) -> FloatArray:
    if sample_weight is None:
        return np.ones(n)
    weight = _vector(sample_weight, "sample_weight")
    if weight.shape != (n,) or np.any(weight < 0) or weight.sum() <= 0:
        raise ValueError("sample_weight must be non-negative, one per customer, not all zero")
    return weight


def _like(template: Any, values: FloatArray, name: str) -> Any:
    """Return a Series indexed like ``template`` when it is one, else the array."""
    if isinstance(template, pd.Series) and template.shape == values.shape:
        return pd.Series(values, index=template.index, name=name)
    return values


def _check_fit_parameters(penalizer: float, max_iter: int, tol: float) -> None:
    if not (np.isfinite(penalizer) and penalizer >= 0):
        raise ValueError(f"penalizer must be a non-negative number, not {penalizer!r}")
    if not (isinstance(max_iter, int | np.integer) and max_iter > 0):
        raise ValueError(f"max_iter must be a positive integer, not {max_iter!r}")
    if not (tol > 0):
        raise ValueError(f"tol must be positive, not {tol!r}")


# --------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------


class BetaGeoModel(BaseEstimator):  # type: ignore[misc]
    """The BG/NBD model (Fader, Hardie & Lee 2005a) fitted by maximum likelihood.

    While alive, a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after
    each repeat purchase they drop out with probability p ~ Beta(a, b).

    Parameters
    ----------
    penalizer : L2 penalty on the parameters added to the mean negative log-likelihood
        (``penalizer * (r^2 + alpha^2 + a^2 + b^2)``); 0 is plain maximum likelihood.
    max_iter, tol : limits of the search over the log-parameters (Newton's method with the
        exact Hessian, L-BFGS-B if it stalls): at most ``max_iter`` iterations, stopping once
        the decrease still to be had in the mean negative log-likelihood is below ``tol``
        (relative to its size).

    Attributes
    ----------
    params_ : dict with ``r``, ``alpha`` (in the summary's time unit), ``a``, ``b``.
    log_likelihood_ : total log-likelihood of the fit (the figure the paper reports).
    n_customers_ : customers (sum of weights) the model was fitted on.
    converged_, n_iter_ : what the optimiser reported.
    """

    def __init__(self, *, penalizer: float = 0.0, max_iter: int = 500, tol: float = 1e-12) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.tol = tol

    @classmethod
    def from_params(cls, params: Mapping[str, float]) -> BetaGeoModel:
        """A model with known parameters (stored earlier, or published), ready to predict."""
        model = cls()
        values = {key: float(params[key]) for key in ("r", "alpha", "a", "b")}
        if not all(np.isfinite(v) and v > 0 for v in values.values()):
            raise ValueError("r, alpha, a and b must be positive")
        model.params_ = values
        return model

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,  # noqa: N803
        *,
        sample_weight: ArrayLike | None = None,
    ) -> BetaGeoModel:
        """Estimate r, alpha, a, b from per-customer frequency, recency and T."""
        _check_fit_parameters(self.penalizer, self.max_iter, self.tol)
        x, t_x, t_cal = _customer_vectors(frequency, recency, T)
        if x.size == 0:
            raise ValueError("no customers to fit")
        if not np.any(t_cal > 0):
            raise ValueError("T must be positive for some customers")
        weight = _weights(sample_weight, x.size)
        likelihood = _clv_fit.BetaGeoObjective(x, t_x, t_cal, weight)
        total_weight = likelihood.total_weight
        mean_T = float(likelihood.T_weight @ likelihood.T_unique) / total_weight  # noqa: N806
        mean_x = float(likelihood.x_weight @ likelihood.x_unique) / total_weight
        scale = mean_T / (1.0 + mean_x)
        start = np.log(np.array([1.0, max(scale, 1e-6), 1.0, 1.0]))
        fit = _clv_fit.maximise_likelihood(
            likelihood,
            start,
            total_weight=total_weight,
            penalizer=float(self.penalizer),
            max_iter=self.max_iter,
            tol=self.tol,
        )
        params = np.exp(fit.log_params)
        self.params_ = dict(zip(("r", "alpha", "a", "b"), map(float, params), strict=True))
        with np.errstate(over="ignore", under="ignore"):
            self.log_likelihood_ = likelihood(tuple(params), with_gradient=False)[0]
        self.n_customers_ = round(total_weight)
        self.converged_ = fit.converged
        self.n_iter_ = fit.n_iter
        if not fit.converged:
            warnings.warn(
                f"BG/NBD fit did not converge: {fit.message}", ConvergenceWarning, stacklevel=2
            )
        return self

    def _params(self) -> tuple[float, float, float, float]:
        check_is_fitted(self, "params_")
        p = self.params_
        return (p["r"], p["alpha"], p["a"], p["b"])

    def log_likelihood(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,  # noqa: N803
    ) -> float:
        """Total log-likelihood of these customers under the fitted parameters [FHL05a eq. 6]."""
        x, t_x, t_cal = _customer_vectors(frequency, recency, T)
        with np.errstate(over="ignore", under="ignore"):
            ll, _ = _btyd.bgnbd_log_likelihood_terms(self._params(), Frequencies.of(x), t_x, t_cal)
        return float(ll.sum())

    def conditional_probability_alive(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,  # noqa: N803
    ) -> Any:
        """P(alive | x, t_x, T) [FHL05a eq. 11]; 1 for customers without repeat purchases."""
        x, t_x, t_cal = _customer_vectors(frequency, recency, T)
        (ux, ut_x, ut_cal), inverse = _btyd.distinct_rows(x, t_x, t_cal)
        with np.errstate(over="ignore", under="ignore"):
            values = _btyd.bgnbd_probability_alive(self._params(), ux, ut_x, ut_cal)
        return _like(frequency, values[inverse], "p_alive")

    def expected_purchases(self, t: ArrayLike) -> Any:
        """E[X(t)]: repeat purchases a new customer makes in (0, t] [FHL05a eq. 9].

        E[X(t)] = (a+b-1)/(a-1) * [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))].
        """
        times = _vector(t, "t")
        if np.any(times < 0):
            raise ValueError("t must not be negative")
        zeros = np.zeros_like(times)
        with np.errstate(over="ignore", under="ignore"):
            values = _btyd.bgnbd_conditional_expected_purchases(
                self._params(), times, zeros, zeros, zeros
            )
        return values if np.ndim(t) else float(values[0])

    def conditional_expected_purchases(
        self,
        t: ArrayLike,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,  # noqa: N803
    ) -> Any:
        """E[Y(t) | x, t_x, T]: purchases expected in the next ``t`` units [FHL05a eq. 10].

        ``t`` is a scalar or one value per customer, in the summary's time unit.
        """
        x, t_x, t_cal = _customer_vectors(frequency, recency, T)
        times = np.broadcast_to(_vector(t, "t"), x.shape) if np.ndim(t) else np.full(x.shape, t)
        times = np.asarray(times, dtype=np.float64)
        if np.any(times < 0) or not np.all(np.isfinite(times)):
            raise ValueError("t must be finite and not negative")
        (ut, ux, ut_x, ut_cal), inverse = _btyd.distinct_rows(times, x, t_x, t_cal)
        with np.errstate(over="ignore", under="ignore"):
            values = _btyd.bgnbd_conditional_expected_purchases(
                self._params(), ut, ux, ut_x, ut_cal
            )
        return _like(frequency, values[inverse], "expected_purchases")

    def predict(
        self,
        t: ArrayLike,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,  # noqa: N803
    ) -> Any:
        """Alias of :meth:`conditional_expected_purchases`."""
        return self.conditional_expected_purchases(t, frequency, recency, T)


# --------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrequencyMonetaryCorrelation:
    """Pearson correlation of frequency and mean spend among repeat buyers.

    The Gamma-Gamma model assumes spend per purchase is independent of how often a customer buys;
    ``warning`` is set when the correlation's magnitude reaches ``threshold``.
    """

    correlation: float
    n_customers: int
    threshold: float

    @property
    def acceptable(self) -> bool:
        return bool(np.isfinite(self.correlation) and abs(self.correlation) < self.threshold)

    @property
    def warning(self) -> str | None:
        if self.acceptable:
            return None
        return (
            f"frequency and monetary value correlate (Pearson r = {self.correlation:.3f} over "
            f"{self.n_customers} repeat buyers); the Gamma-Gamma model assumes independence"
        )


def frequency_monetary_correlation(
    frequency: ArrayLike, monetary_value: ArrayLike, *, threshold: float = 0.3
) -> FrequencyMonetaryCorrelation:
    """Check the Gamma-Gamma independence assumption on the repeat buyers (frequency > 0)."""
    x = _vector(frequency, "frequency")
    m = _vector(monetary_value, "monetary_value")
    if x.shape != m.shape:
        raise ValueError("frequency and monetary_value must have the same length")
    repeat = x > 0
    n = int(repeat.sum())
    correlation = float("nan")
    if n >= 2 and np.ptp(x[repeat]) > 0 and np.ptp(m[repeat]) > 0:
        correlation = float(np.corrcoef(x[repeat], m[repeat])[0, 1])
    return FrequencyMonetaryCorrelation(correlation, n, threshold)


def _repeat_buyers(
    frequency: ArrayLike, monetary_value: ArrayLike
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """Frequency and mean spend of the customers with frequency > 0, validated, and which
    customers those are."""
    x = _vector(frequency, "frequency")
    m = _vector(monetary_value, "monetary_value")
    if x.shape != m.shape:
        raise ValueError("frequency and monetary_value must have the same length")
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("frequency must hold non-negative whole numbers")
    repeat = x > 0
    x, m = x[repeat], m[repeat]
    if np.any(m <= 0):
        raise ValueError(
            "monetary_value must be positive for every repeat buyer "
            f"({int((m <= 0).sum())} are zero or negative)"
        )
    return x, m, repeat


class GammaGammaModel(BaseEstimator):  # type: ignore[misc]
    """The Gamma-Gamma spend model (Fader, Hardie & Lee 2005b; Fader & Hardie 2013).

    A customer's purchase values are Gamma(p, nu) with nu ~ Gamma(q, gamma) across customers; the
    model is fitted on the repeat buyers (frequency > 0) from their mean repeat spend.

    Attributes
    ----------
    params_ : dict with ``p``, ``q``, ``gamma`` (gamma in money units).
    log_likelihood_ : total log-likelihood over the repeat buyers.
    n_customers_ : repeat buyers the model was fitted on.
    """

    def __init__(self, *, penalizer: float = 0.0, max_iter: int = 500, tol: float = 1e-12) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.tol = tol

    @classmethod
    def from_params(cls, params: Mapping[str, float]) -> GammaGammaModel:
        """A model with known parameters, ready to predict."""
        model = cls()
        values = {key: float(params[key]) for key in ("p", "q", "gamma")}
        if not all(np.isfinite(v) and v > 0 for v in values.values()):
            raise ValueError("p, q and gamma must be positive")
        model.params_ = values
        return model

    def fit(
        self,
        frequency: ArrayLike,
        monetary_value: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
    ) -> GammaGammaModel:
        """Estimate p, q, gamma from the customers with frequency > 0 (others are ignored)."""
        _check_fit_parameters(self.penalizer, self.max_iter, self.tol)
        x, m, repeat = _repeat_buyers(frequency, monetary_value)
        weight = np.ones(x.size)
        if sample_weight is not None:
            weight = _weights(sample_weight, repeat.size)[repeat]
        if x.size < 2 or weight.sum() <= 0:
            raise ValueError("the Gamma-Gamma model needs at least two repeat buyers")
        total_weight = float(weight.sum())
        likelihood = _clv_fit.GammaGammaObjective(x, m, weight)
        start = np.log(np.array([1.0, 1.0, float(np.average(m, weights=weight))]))
        fit = _clv_fit.maximise_likelihood(
            likelihood,
            start,
            total_weight=total_weight,
            penalizer=float(self.penalizer),
            max_iter=self.max_iter,
            tol=self.tol,
        )
        params = np.exp(fit.log_params)
        self.params_ = dict(zip(("p", "q", "gamma"), map(float, params), strict=True))
        self.log_likelihood_ = likelihood(tuple(params), with_gradient=False)[0]
        self.n_customers_ = round(total_weight)
        self.converged_ = fit.converged
        self.n_iter_ = fit.n_iter
        if not fit.converged:
            warnings.warn(
                f"Gamma-Gamma fit did not converge: {fit.message}",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def log_likelihood(self, frequency: ArrayLike, monetary_value: ArrayLike) -> float:
        """Total log-likelihood of the repeat buyers among these customers [FH13]."""
        check_is_fitted(self, "params_")
        x, m, _ = _repeat_buyers(frequency, monetary_value)
        p = self.params_
        ll, _ = _btyd.gamma_gamma_log_likelihood_terms(
            (p["p"], p["q"], p["gamma"]), Frequencies.of(x), np.log(m), m
        )
        return float(ll.sum())

    def conditional_expected_average_profit(
        self, frequency: ArrayLike, monetary_value: ArrayLike
    ) -> Any:
        """E[Z | x, zbar] = p (gamma + x zbar) / (p x + q - 1): expected spend per purchase.

        For customers with x = 0 this is the population mean p gamma / (q - 1).
        """
        check_is_fitted(self, "params_")
        x = _vector(frequency, "frequency")
        m = _vector(monetary_value, "monetary_value")
        if x.shape != m.shape:
            raise ValueError("frequency and monetary_value must have the same length")
        p = self.params_
        values = _btyd.gamma_gamma_conditional_expected_spend((p["p"], p["q"], p["gamma"]), x, m)
        return _like(frequency, values, "expected_average_profit")

    @staticmethod
    def frequency_monetary_correlation(
        frequency: ArrayLike, monetary_value: ArrayLike, *, threshold: float = 0.3
    ) -> FrequencyMonetaryCorrelation:
        """See :func:`frequency_monetary_correlation`."""
        return frequency_monetary_correlation(frequency, monetary_value, threshold=threshold)


# --------------------------------------------------------------------------------------------
# Lifetime value
# --------------------------------------------------------------------------------------------


def customer_lifetime_value(
    transaction_model: BetaGeoModel,
    spend_model: GammaGammaModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,  # noqa: N803
    monetary_value: ArrayLike,
    *,
    horizon: int = 12,
    period: str | float = "month",
    time_unit: TimeUnit = "week",
    discount_rate: float = 0.01,
) -> Any:
    """Discounted expected value of each customer's purchases over ``horizon`` periods.

        CLV = sum_{i=1..horizon} (E[Y(i L)] - E[Y((i-1) L)]) * E[Z] / (1 + discount_rate)^i

    where E[Y(t)] is the BG/NBD conditional expectation over the next t time units, E[Z] the
    Gamma-Gamma expected spend per purchase, and L the length of one period in ``time_unit``
    (``period`` is "day", "week", "month", or that length as a number). ``discount_rate`` is per
    period: 0.01 a month is about 12.7% a year. This is the definition of lifetimes'
    ``customer_lifetime_value``; with ``period=4.345`` weeks it gives the same numbers as its
    ``freq="W"``. The result is in the money unit of ``monetary_value``.
    """
    if not (isinstance(horizon, int | np.integer) and horizon > 0):
        raise ValueError(f"horizon must be a positive whole number of periods, not {horizon!r}")
    if not (np.isfinite(discount_rate) and discount_rate > -1):
        raise ValueError(f"discount_rate must be a number above -1, not {discount_rate!r}")
    if isinstance(period, str):
        length = unit_days(period) / unit_days(time_unit)
    else:
        unit_days(time_unit)
        length = float(period)
        if not (np.isfinite(length) and length > 0):
            raise ValueError(f"period must be positive, not {period!r}")
    x, t_x, t_cal = _customer_vectors(frequency, recency, T)
    spend = np.asarray(
        spend_model.conditional_expected_average_profit(x, monetary_value), dtype=np.float64
    )
    # E[Y(t) | x, t_x, T] = P(alive | x, t_x, T) * E[Y(t) | alive, x, T]: the first factor once
    # per distinct (x, t_x, T), the second once per distinct (x, T) and period.
    params = transaction_model._params()
    (ux, ut_x, ut_cal), customer_row = _btyd.distinct_rows(x, t_x, t_cal)
    (px, pt_cal), row_pair = _btyd.distinct_rows(ux, ut_cal)
    discounted = np.zeros_like(px)
    previous = np.zeros_like(px)
    with np.errstate(over="ignore", under="ignore"):
        alive = _btyd.bgnbd_probability_alive(params, ux, ut_x, ut_cal)
        for i in range(1, int(horizon) + 1):
            times = np.full(px.shape, i * length)
            cumulative = _btyd.bgnbd_expected_if_alive(params, times, px, pt_cal)
            discounted += (cumulative - previous) / (1.0 + discount_rate) ** i
            previous = cumulative
    value = (alive * discounted[row_pair])[customer_row] * spend
    return _like(frequency, value, "clv")
