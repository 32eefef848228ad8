"""Numerical kernels of the "buy 'til you die" models behind :mod:`patron.analytics.clv`.

Pure numpy/scipy on arrays; no pandas, no state. The public estimators validate their inputs and
call these. Equation numbers refer to:

* [FHL05a] P. S. Fader, B. G. S. Hardie, K. L. Lee (2005). "Counting your customers" the easy way:
  an alternative to the Pareto/NBD model. *Marketing Science* 24(2), 275-284.
* [FH13] P. S. Fader, B. G. S. Hardie (2013). The Gamma-Gamma model of monetary value (note).
* [FHL05b] P. S. Fader, B. G. S. Hardie, K. L. Lee (2005). RFM and CLV: using iso-value curves for
  customer base analysis. *Journal of Marketing Research* 42(4), 415-430.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

FloatArray = NDArray[np.float64]

# Around a = 1 the BG/NBD expectations have a removable singularity ((1 - G) / (a - 1), both
# factors going to zero); inside this band they are evaluated at a +/- _A_BAND and averaged,
# which is exact to O(_A_BAND**2) and keeps the cancellation error near eps / _A_BAND.
_A_BAND = 1e-4


@dataclass(frozen=True)
class Frequencies:
    """A frequency vector with its distinct values, so special functions run once per value."""

    values: FloatArray
    unique: FloatArray
    inverse: NDArray[np.intp]

    @classmethod
    def of(cls, frequency: FloatArray) -> Frequencies:
        inverse, unique = sorted_groups(frequency)
        return cls(frequency, unique, inverse)


# --------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------


def bgnbd_log_likelihood_terms(
    params: tuple[float, float, float, float],
    freq: Frequencies,
    recency: FloatArray,
    T: FloatArray,  # noqa: N803 - the papers' name
    *,
    with_gradient: bool = False,
) -> tuple[FloatArray, FloatArray | None]:
    """Per-customer log-likelihood [FHL05a eq. 6], and its gradient in (r, alpha, a, b).

    ln L = A1 + A2 + ln(exp(A3) + [x > 0] exp(A4)) with (Fader-Hardie-Lee implementation note)
      A1 = ln G(r + x) - ln G(r) + r ln alpha
      A2 = ln B(a, b + x) - ln B(a, b)
      A3 = -(r + x) ln(alpha + T)
      A4 = ln a - ln(b + x - 1) - (r + x) ln(alpha + t_x)
    The last term is a log-sum-exp, so large x and long histories cannot overflow.
    """
    r, alpha, a, b = params
    ux, inv = freq.unique, freq.inverse
    x = freq.values
    repeat = x > 0

    a1_u = gammaln(r + ux) - gammaln(r) + r * np.log(alpha)
    a2_u = betaln(a, b + ux) - betaln(a, b)
    # b + x - 1 only matters where x > 0 (then it is >= b > 0); 1.0 elsewhere keeps the log finite.
    bx1_u = np.where(ux > 0, b + ux - 1.0, 1.0)
    log_bx1_u = np.log(bx1_u)

    log_alpha_t = np.log(alpha + T)
    log_alpha_tx = np.log(alpha + recency)
    a3 = -(r + x) * log_alpha_t
    a4 = np.log(a) - log_bx1_u[inv] - (r + x) * log_alpha_tx
    a4 = np.where(repeat, a4, -np.inf)
    tail = np.logaddexp(a3, a4)
    ll = a1_u[inv] + a2_u[inv] + tail
    if not with_gradient:
        return ll, None

    # Weight of the "still alive" branch (A3) and the "dropped out after x" branch (A4).
    w4 = np.exp(a4 - tail)
    w3 = 1.0 - w4
    d_r = (digamma(r + ux) - digamma(r) + np.log(alpha))[inv] - w3 * log_alpha_t - w4 * log_alpha_tx
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + recency))
    psi_ab = digamma(a + b)
    d_a = (psi_ab - digamma(a + b + ux))[inv] + w4 / a
    d_b = (psi_ab + digamma(b + ux) - digamma(b) - digamma(a + b + ux))[inv] - w4 / bx1_u[inv]
    return ll, np.stack([d_r, d_alpha, d_a, d_b])


def bgnbd_log_odds_dead(
    params: tuple[float, float, float, float],
    frequency: FloatArray,
    recency: FloatArray,
    T: FloatArray,  # noqa: N803
) -> FloatArray:
    """ln[ a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) ] for x > 0, -inf for x = 0 [FHL05a eq. 11]."""
    r, alpha, a, b = params
    repeat = frequency > 0
    bx1 = np.where(repeat, b + frequency - 1.0, 1.0)
    log_odds = (
        np.log(a) - np.log(bx1) + (r + frequency) * (np.log(alpha + T) - np.log(alpha + recency))
    )
    return np.where(repeat, log_odds, -np.inf)


def bgnbd_probability_alive(
    params: tuple[float, float, float, float],
    frequency: FloatArray,
    recency: FloatArray,
    T: FloatArray,  # noqa: N803
) -> FloatArray:
    """P(alive | x, t_x, T) = 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)) [eq. 11]."""
    return expit(-bgnbd_log_odds_dead(params, frequency, recency, T))


def _one_minus_g_over_a_minus_1(
    r: float,
    alpha: float,
    a: float,
    b: float,
    t: FloatArray,
    x: FloatArray,
    T: FloatArray,  # noqa: N803
) -> FloatArray:
    """(1 - G) / (a - 1) where G = ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z).

    With z = t / (alpha + T + t), Euler's transformation 2F1(A, B; C; z) =
    (1 - z)^(C-A-B) 2F1(C-A, C-B; C; z) turns G into
        G = (1 - z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z),
    whose parameters no longer grow with x: the naive form multiplies an overflowing 2F1 by an
    underflowing power once x is in the hundreds. Here C - A - B = x + r + 1 - a > 0 for the
    usual a < 1 + r, so the series also converges at z = 1.
    """
    z = t / (alpha + T + t)
    g = np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    return (1.0 - g) / (a - 1.0)


def bgnbd_conditional_expected_purchases(
    params: tuple[float, float, float, float],
    t: FloatArray,
    frequency: FloatArray,
    recency: FloatArray,
    T: FloatArray,  # noqa: N803
) -> FloatArray:
    """E[Y(t) | x, t_x, T] [FHL05a eq. 10]: expected purchases in (T, T + t].

        E = P(alive) * (a + b + x - 1) / (a - 1) * (1 - G)        (G as in the helper above)

    With x = t_x = T = 0 this is the unconditional E[X(t)] of eq. 9.
    """
    expected = bgnbd_expected_if_alive(params, t, frequency, T)
    return bgnbd_probability_alive(params, frequency, recency, T) * expected


def bgnbd_expected_if_alive(
    params: tuple[float, float, float, float],
    t: FloatArray,
    frequency: FloatArray,
    T: FloatArray,  # noqa: N803
) -> FloatArray:
    """E[Y(t) | alive at T, x, T] = (a + b + x - 1) / (a - 1) * (1 - G): the factor of eq. 10
    that does not depend on recency (so it can be shared by customers with the same x and T)."""
    r, alpha, a, b = params
    with np.errstate(invalid="ignore", over="ignore"):
        if abs(a - 1.0) < _A_BAND:
            lower = _one_minus_g_over_a_minus_1(r, alpha, 1.0 - _A_BAND, b, t, frequency, T)
            upper = _one_minus_g_over_a_minus_1(r, alpha, 1.0 + _A_BAND, b, t, frequency, T)
            ratio = 0.5 * (lower + upper)
        else:
            ratio = _one_minus_g_over_a_minus_1(r, alpha, a, b, t, frequency, T)
        expected = (a + b + frequency - 1.0) * ratio
    failed = ~np.isfinite(expected)
    if np.any(failed):
        expected[failed] = _expected_if_alive_by_quadrature(
            params, t[failed], frequency[failed], T[failed]
        )
    return expected


@dataclass(frozen=True)
class DistinctRows:
    """The distinct rows of equal-length columns, each kept as codes into its column's
    distinct values, so a computation on one column runs once per distinct value of it.

    Customers' BTYD statistics repeat heavily in real data (whole days, a few dozen distinct
    frequencies): likelihoods and predictions are computed once per distinct row, and the
    terms in one statistic alone once per distinct value, then scattered back.
    """

    values: list[FloatArray]  # per column, its distinct values (in no particular order)
    codes: list[NDArray[np.intp]]  # per column and distinct row, the index into ``values``
    inverse: NDArray[np.intp]  # per input row, the index of its distinct row

    @classmethod
    def of(cls, *columns: FloatArray) -> DistinctRows:
        """Group the rows by hashing, never sorting them.

        Each column is hashed to codes (``pd.factorize``: linear time, where sorting a
        million values costs several times more; a column of small non-negative integers,
        like a frequency, is counted instead, faster still) and the codes are packed into
        one integer key per row. While the key's range is within a small multiple of the row
        count (as for a transaction log's whole days), the distinct keys are found by counting
        them into a table of that size; otherwise the key is hashed again.
        """
        n = len(columns[0]) if columns else 0
        values, codes = [], []
        for column in columns:
            code, unique = _codes(np.asarray(column))
            values.append(unique)
            codes.append(code)
        sizes = [max(len(unique), 1) for unique in values]
        if math.prod(sizes) <= 2 * n + 2**16:
            key = _packed(codes, sizes)
            present = np.flatnonzero(np.bincount(key, minlength=math.prod(sizes)))
            lookup = np.empty(math.prod(sizes), dtype=np.intp)
            lookup[present] = np.arange(present.size)
            row_codes = []
            for size in reversed(sizes):
                present, code = np.divmod(present, size)
                row_codes.append(code)
            return cls(values, row_codes[::-1], lookup[key])
        key = np.zeros(n, dtype=np.int64)
        count = 1
        for code, size in zip(codes, sizes, strict=True):
            if count * size >= 2**62:  # keep the packed key within int64
                key, kept = pd.factorize(key)
                count = max(len(kept), 1)
            key = key * size + code
            count *= size
        inverse, kept = pd.factorize(key)
        # One row of each group (any: they are equal), found by scattering row numbers.
        some_row = np.empty(len(kept), dtype=np.intp)
        some_row[inverse] = np.arange(n, dtype=np.intp)
        return cls(values, [code[some_row] for code in codes], inverse.astype(np.intp))

    @property
    def size(self) -> int:
        return len(self.codes[0]) if self.codes else 0

    def rows(self) -> list[FloatArray]:
        """The distinct rows, column by column."""
        return [unique[code] for unique, code in zip(self.values, self.codes, strict=True)]

    def weights(self, weights: FloatArray | None = None) -> FloatArray:
        """Per distinct row, the summed weights of its input rows (their count by default)."""
        return np.bincount(self.inverse, weights=weights, minlength=self.size).astype(np.float64)


def _packed(codes: list[NDArray[np.intp]], sizes: list[int]) -> NDArray[np.int64]:
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for code, size in zip(codes, sizes, strict=True):
        key *= size
        key += code
    return key


def distinct_rows(*columns: FloatArray) -> tuple[list[FloatArray], NDArray[np.intp]]:
    """The distinct rows of equal-length columns and, per input row, the index of its row:
    ``[c[inverse] for c in distinct] == columns`` (see :class:`DistinctRows`)."""
    rows = DistinctRows.of(*columns)
    return rows.rows(), rows.inverse


def _codes(values: NDArray[Any]) -> tuple[NDArray[np.intp], NDArray[Any]]:
    """Per value, the index of its distinct value; and the distinct values.

    Integers from 0 to a few times their count (frequencies) are counted into a table
    (np.bincount) and numbered in ascending order; anything else is hashed (pd.factorize,
    NaN kept as a value), distinct values in order of first appearance.
    """
    if values.dtype.kind in "iu" and values.size:
        low, high = int(values.min()), int(values.max())
        if low >= 0 and high <= 4 * values.size + 1024:
            present = np.flatnonzero(np.bincount(values))
            lookup = np.empty(high + 1, dtype=np.intp)
            lookup[present] = np.arange(present.size)
            return lookup[values], present.astype(values.dtype)
    code, unique = pd.factorize(values, use_na_sentinel=False)
    return code.astype(np.intp, copy=False), np.asarray(unique)


def as_counts(values: FloatArray) -> NDArray[Any]:
    """Whole non-negative values (counts) as integers, which :func:`_codes` counts rather
    than hashes; other values unchanged."""
    whole = values.size and values.min() >= 0 and values.max() < 2**53
    if whole and np.array_equal(values, np.floor(values)):
        return values.astype(np.int64)
    return values


def sorted_groups(values: FloatArray) -> tuple[NDArray[np.intp], FloatArray]:
    """Per value, the index of its distinct value, and the distinct values in ascending order
    (``np.unique(values, return_inverse=True)`` by counting or hashing instead of sorting)."""
    code, unique = _codes(as_counts(values))
    if np.any(unique[1:] < unique[:-1]):  # hashed: put the distinct values in order
        order = np.argsort(unique)
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        code, unique = rank[code], unique[order]
    return code, unique.astype(np.float64)


# Gauss-Hermite nodes for the fallback below; 48 are exact to ~1e-12 where it is used.
_HERMITE_NODES, _HERMITE_WEIGHTS = np.polynomial.hermite.hermgauss(48)


def _expected_if_alive_by_quadrature(
    params: tuple[float, float, float, float],
    t: FloatArray,
    frequency: FloatArray,
    T: FloatArray,  # noqa: N803
) -> FloatArray:
    """E[Y(t) | alive at T, x, T] as an integral over the dropout probability p.

    Given alive, lambda ~ Gamma(r + x, alpha + T) and p ~ Beta(a, b + x) [FHL05a section 5], and
    E[Y(t) | lambda, p] = (1 - exp(-lambda p t)) / p [eq. 7], so

        E = integral Beta(p; a, b + x) (1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p dp.

    scipy's 2F1 gives up (NaN) once a and b reach the thousands - a fit on customers who all
    behave alike drives them there - while the Beta posterior is then sharply peaked: in
    y = logit(p) it is close to normal, so Gauss-Hermite quadrature around its mode converges
    fast. The density is taken relative to its mode and the rule normalised by its own sum, so
    the huge terms of ln Beta(p; a, b + x) cancel exactly instead of in floating point.
    """
    r, alpha, a, b = params
    shape_b = b + frequency
    mode = np.log(a / shape_b)
    scale = np.sqrt((a + shape_b) / (a * shape_b))
    step = np.sqrt(2.0) * scale[:, None] * _HERMITE_NODES[None, :]
    y = mode[:, None] + step
    # ln density(y) - ln density(mode) = a (y - y0) - (a + b + x) ln((1 + e^y) / (1 + e^y0))
    softplus_gain = np.log1p(expit(mode)[:, None] * np.expm1(step))
    log_density = a * step - (a + shape_b)[:, None] * softplus_gain
    weight = _HERMITE_WEIGHTS[None, :] * np.exp(log_density + _HERMITE_NODES[None, :] ** 2)
    p = expit(y)
    base = (alpha + T)[:, None]
    given_p = -np.expm1(-(r + frequency)[:, None] * np.log1p(p * t[:, None] / base)) / p
    return np.asarray((weight * given_p).sum(axis=1) / weight.sum(axis=1))


# --------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------


def gamma_gamma_log_likelihood_terms(
    params: tuple[float, float, float],
    freq: Frequencies,
    log_monetary: FloatArray,
    monetary: FloatArray,
    *,
    with_gradient: bool = False,
) -> tuple[FloatArray, FloatArray | None]:
    """Per-customer log density of the mean spend zbar given x repeat purchases [FH13 eq. 4].

    f(zbar | p, q, gamma; x) = G(px + q) / (G(px) G(q)) * gamma^q * zbar^(px-1) * x^(px)
                               / (gamma + x zbar)^(px + q)
    """
    p, q, gamma = params
    ux, inv = freq.unique, freq.inverse
    x = freq.values
    px = p * x
    log_x = np.log(x)
    log_scale = np.log(gamma + x * monetary)
    ll = (
        (gammaln(p * ux + q) - gammaln(p * ux))[inv]
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1.0) * log_monetary
        + px * log_x
        - (px + q) * log_scale
    )
    if not with_gradient:
        return ll, None
    psi_pxq = digamma(p * ux + q)
    d_p = x * ((psi_pxq - digamma(p * ux))[inv] + log_monetary + log_x - log_scale)
    d_q = psi_pxq[inv] - digamma(q) + np.log(gamma) - log_scale
    d_gamma = q / gamma - (px + q) / (gamma + x * monetary)
    return ll, np.stack([d_p, d_q, d_gamma])


def gamma_gamma_conditional_expected_spend(
    params: tuple[float, float, float], frequency: FloatArray, monetary: FloatArray
) -> FloatArray:
    """E[Z | p, q, gamma, x, zbar] = p (gamma + x zbar) / (p x + q - 1) [FHL05b eq. 5; FH13 eq. 5].

    A weighted mean of the population mean p gamma / (q - 1) and the customer's own zbar, with
    weight p x / (p x + q - 1) on zbar. For x = 0 it is the population mean (undefined, NaN, when
    q <= 1).
    """
    p, q, gamma = params
    denominator = p * frequency + q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        spend = p * (gamma + frequency * monetary) / denominator
    return np.where(denominator > 0, spend, np.nan)


# --------------------------------------------------------------------------------------------
# Simulation (for tests and benchmarks: data whose true parameters are known)
# --------------------------------------------------------------------------------------------


def simulate_bgnbd(
    n_customers: int,
    T: float | FloatArray,  # noqa: N803
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    holdout: float = 0.0,
    rng: np.random.Generator,
) -> dict[str, FloatArray]:
    """Draw customers from the BG/NBD generative story [FHL05a section 3], vectorised.

    Each customer has a Poisson purchase rate lambda ~ Gamma(r, rate alpha) and a dropout
    probability p ~ Beta(a, b); after each repeat purchase they leave with probability p, so they
    make at most J ~ Geometric(p) repeat purchases. Given n arrivals of the Poisson process in
    (0, T], the arrival times are uniform order statistics, so the time of the x-th arrival is
    T * Beta(x, n - x + 1). Returns frequency, recency, T and, over (T, T + holdout],
    frequency_holdout.
    """
    T_arr = np.broadcast_to(np.asarray(T, dtype=np.float64), (n_customers,)).copy()  # noqa: N806
    rate = rng.gamma(r, 1.0 / alpha, size=n_customers)
    dropout = rng.beta(a, b, size=n_customers)
    cap = rng.geometric(np.clip(dropout, 1e-300, 1.0)).astype(np.float64)
    arrivals_total = rng.poisson(rate * (T_arr + holdout)).astype(np.float64)
    share = np.divide(T_arr, T_arr + holdout, out=np.ones_like(T_arr), where=T_arr + holdout > 0)
    arrivals = rng.binomial(arrivals_total.astype(np.int64), share).astype(np.float64)
    frequency = np.minimum(arrivals, cap)
    shape_a = np.maximum(frequency, 1.0)
    shape_b = np.maximum(arrivals - frequency + 1.0, 1.0)
    recency = np.where(frequency > 0, T_arr * rng.beta(shape_a, shape_b), 0.0)
    holdout_frequency = np.minimum(arrivals_total, cap) - frequency
    return {
        "frequency": frequency,
        "recency": recency,
        "T": T_arr,
        "frequency_holdout": holdout_frequency,
    }


def simulate_gamma_gamma(
    frequency: FloatArray, *, p: float, q: float, gamma: float, rng: np.random.Generator
) -> FloatArray:
    """Mean spend of x purchases: nu ~ Gamma(q, rate gamma), z_j ~ Gamma(p, rate nu) [FH13].

    The sum of x independent Gamma(p, nu) spends is Gamma(px, nu), so zbar = Gamma(px, nu) / x.
    Customers with x = 0 get 0.
    """
    nu = rng.gamma(q, 1.0 / gamma, size=frequency.shape)
    repeat = frequency > 0
    shape = np.where(repeat, p * frequency, 1.0)
    total = rng.gamma(shape, 1.0 / nu)
    return np.where(repeat, total / np.where(repeat, frequency, 1.0), 0.0)
