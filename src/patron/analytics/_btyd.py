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
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1, polygamma

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
        inverse, unique = _groups(frequency)
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


class BetaGeoObjective:
    """Total BG/NBD log-likelihood and gradient over many customers, prepared once per fit.

    The same quantity as ``weights @ bgnbd_log_likelihood_terms(...)``, arranged so that each
    term is computed as few times as its arguments allow:

    * A1 + A2 depend on x alone: once per distinct x, times the summed weights;
    * every customer's "still alive" part -(r + x) ln(alpha + T) (all of A3; for repeat buyers
      the log-sum-exp is rewritten A3 + softplus(D)) is a sum over the distinct T of
      (r W_T + X_T) ln(alpha + T), with W_T and X_T the summed weights and weighted x;
    * only softplus(D), D = A4 - A3 = ln(a / (b + x - 1)) + (r + x) ln((alpha + T)/(alpha + t_x))
      (the log-odds of having dropped out), is evaluated per repeat-buyer row, from
      logarithms taken once per distinct T and distinct t_x.

    The customers are first grouped into distinct (x, t_x, T) rows with summed weights
    (:class:`DistinctRows`): real logs repeat them heavily.
    """

    def __init__(
        self,
        frequency: FloatArray,
        recency: FloatArray,
        T: FloatArray,  # noqa: N803
        weights: FloatArray,
    ) -> None:
        # Frequencies are whole numbers: counted, not hashed, into their distinct values.
        rows = DistinctRows.of(_whole(frequency), recency, T)
        weight = rows.weights(weights)
        (self.x_unique, self.t_x_unique, self.T_unique) = (
            np.asarray(v, dtype=np.float64) for v in rows.values
        )
        x_code, t_x_code, T_code = rows.codes  # noqa: N806
        x = self.x_unique[x_code]
        self.x_weight = np.bincount(x_code, weights=weight, minlength=self.x_unique.size)
        size = self.T_unique.size
        self.T_weight = np.bincount(T_code, weights=weight, minlength=size)
        self.T_weighted_x = np.bincount(T_code, weights=weight * x, minlength=size)
        repeat = x > 0
        self.T_index = T_code[repeat]
        self.t_x_index = t_x_code[repeat]
        self.x_index = x_code[repeat]
        self.x = x[repeat]
        self.weight = weight[repeat]
        self.total_weight = float(weight.sum())
        # b + x - 1 appears only for x > 0 (then it is >= b > 0).
        self.x_repeat = self.x_unique > 0

    def __call__(
        self, params: tuple[float, float, float, float], *, with_gradient: bool = True
    ) -> tuple[float, FloatArray]:
        """The log-likelihood and its gradient in (r, alpha, a, b) (zeros without it)."""
        total, gradient, _ = self.evaluate(params, order=1 if with_gradient else 0)
        return total, np.zeros(4) if gradient is None else gradient

    def evaluate(
        self, params: tuple[float, float, float, float], order: int = 2
    ) -> tuple[float, FloatArray | None, FloatArray | None]:
        """The log-likelihood with, up to ``order``, its gradient and Hessian in (r, alpha, a, b).

        With s = sigma(D) the weight of the dropped-out branch and v = s (1 - s), the per-row
        term softplus(D) contributes s dD to the gradient and v dD dD' + s d2D to the
        Hessian, where dD = (ln((alpha+T)/(alpha+t_x)), (r+x) delta, 1/a, -1/(b+x-1)),
        delta = 1/(alpha+T) - 1/(alpha+t_x), and d2D has (r, alpha): delta,
        (alpha, alpha): (r+x) (1/(alpha+t_x)^2 - 1/(alpha+T)^2), (a, a): -1/a^2,
        (b, b): 1/(b+x-1)^2. The terms in a and b alone are summed per distinct x.
        """
        r, alpha, a, b = params
        ux, wx, x_repeat = self.x_unique, self.x_weight, self.x_repeat
        total_weight = self.total_weight
        alive_weight = r * self.T_weight + self.T_weighted_x
        log_T = np.log(alpha + self.T_unique)  # noqa: N806
        log_t_x = np.log(alpha + self.t_x_unique)
        inverse_b_x = 1.0 / (b + ux[x_repeat] - 1.0)
        log_odds_x = np.zeros_like(ux)
        log_odds_x[x_repeat] = np.log(a) + np.log(inverse_b_x)
        # Per repeat-buyer row: D and softplus(D) = max(D, 0) + ln(1 + e^-|D|).
        gap = log_T[self.T_index] - log_t_x[self.t_x_index]
        shape = r + self.x
        odds = log_odds_x[self.x_index] + shape * gap
        softplus = np.log1p(np.exp(-np.abs(odds)))
        softplus += np.maximum(odds, 0.0)
        total = float(wx @ (gammaln(r + ux) - gammaln(r) + r * np.log(alpha)))
        total += float(wx @ (betaln(a, b + ux) - betaln(a, b)))
        total -= float(alive_weight @ log_T)
        total += float(self.weight @ softplus)
        if order < 1:
            return total, None, None

        # s: weight of the "dropped out after x" branch, sigma(D) = exp(D - softplus(D)).
        dead = np.exp(odds - softplus)
        dead *= self.weight
        dead_by_x = np.bincount(self.x_index, weights=dead, minlength=ux.size)
        inverse_T = 1.0 / (alpha + self.T_unique)  # noqa: N806
        inverse_t_x = 1.0 / (alpha + self.t_x_unique)
        psi_ab = digamma(a + b)
        psi_abx = digamma(a + b + ux)
        d_r = float(wx @ (digamma(r + ux) - digamma(r) + np.log(alpha)))
        d_r -= float(self.T_weight @ log_T) - float(dead @ gap)
        d_alpha = r / alpha * total_weight - float(alive_weight @ inverse_T)
        d_a = float(wx @ (psi_ab - psi_abx)) + float(dead_by_x.sum()) / a
        d_b = float(wx @ (psi_ab + digamma(b + ux) - digamma(b) - psi_abx))
        d_b -= float(dead_by_x[x_repeat] @ inverse_b_x)
        if order < 2:
            dead_shape = dead * shape
            d_alpha += float(
                np.bincount(self.T_index, weights=dead_shape, minlength=inverse_T.size) @ inverse_T
            )
            d_alpha -= float(
                np.bincount(self.t_x_index, weights=dead_shape, minlength=inverse_t_x.size)
                @ inverse_t_x
            )
            return total, np.array([d_r, d_alpha, d_a, d_b]), None

        inverse_t_row = inverse_T[self.T_index]
        inverse_t_x_row = inverse_t_x[self.t_x_index]
        delta = inverse_t_row - inverse_t_x_row
        d_odds_alpha = shape * delta
        d_alpha += float(dead @ d_odds_alpha)
        gradient = np.array([d_r, d_alpha, d_a, d_b])

        spread = dead * np.exp(-softplus)  # v = w s (1 - s)
        spread_gap = spread * gap
        spread_alpha = spread * d_odds_alpha
        size = ux.size
        spread_by_x = np.bincount(self.x_index, weights=spread, minlength=size)
        spread_gap_by_x = np.bincount(self.x_index, weights=spread_gap, minlength=size)
        spread_alpha_by_x = np.bincount(self.x_index, weights=spread_alpha, minlength=size)
        inverse_t_row *= inverse_t_row
        inverse_t_x_row *= inverse_t_x_row
        curvature = inverse_t_x_row - inverse_t_row  # d delta / d alpha

        trigamma_ab = polygamma(1, a + b)
        trigamma_abx = polygamma(1, a + b + ux)
        hessian = np.empty((4, 4))
        hessian[0, 0] = float(wx @ (polygamma(1, r + ux) - polygamma(1, r)))
        hessian[0, 0] += float(spread_gap @ gap)
        hessian[0, 1] = total_weight / alpha - float(self.T_weight @ inverse_T)
        hessian[0, 1] += float(spread_gap @ d_odds_alpha) + float(dead @ delta)
        hessian[1, 1] = -r * total_weight / alpha**2 + float(alive_weight @ inverse_T**2)
        hessian[1, 1] += float(spread_alpha @ d_odds_alpha) + float((dead * shape) @ curvature)
        hessian[0, 2] = float(spread_gap_by_x.sum()) / a
        hessian[0, 3] = -float(spread_gap_by_x[x_repeat] @ inverse_b_x)
        hessian[1, 2] = float(spread_alpha_by_x.sum()) / a
        hessian[1, 3] = -float(spread_alpha_by_x[x_repeat] @ inverse_b_x)
        beta_ab = float(wx @ (trigamma_ab - trigamma_abx))
        hessian[2, 2] = beta_ab + float(spread_by_x.sum() - dead_by_x.sum()) / a**2
        hessian[2, 3] = beta_ab - float(spread_by_x[x_repeat] @ inverse_b_x) / a
        hessian[3, 3] = float(
            wx @ (polygamma(1, b + ux) - polygamma(1, b) - trigamma_abx + trigamma_ab)
        )
        hessian[3, 3] += float((spread_by_x + dead_by_x)[x_repeat] @ inverse_b_x**2)
        upper = np.triu_indices(4, 1)
        hessian[upper[::-1]] = hessian[upper]
        return total, gradient, hessian


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


def _whole(values: FloatArray) -> NDArray[Any]:
    """Whole non-negative values (counts) as integers, which :func:`_codes` counts rather
    than hashes; other values unchanged."""
    whole = values.size and values.min() >= 0 and values.max() < 2**53
    if whole and np.array_equal(values, np.floor(values)):
        return values.astype(np.int64)
    return values


def _groups(values: FloatArray) -> tuple[NDArray[np.intp], FloatArray]:
    """Per value, the index of its distinct value, and the distinct values in ascending order
    (``np.unique(values, return_inverse=True)`` by counting or hashing instead of sorting)."""
    code, unique = _codes(_whole(values))
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


class GammaGammaObjective:
    """Total Gamma-Gamma log-likelihood and gradient over the repeat buyers, prepared once.

    The same quantity as ``weights @ gamma_gamma_log_likelihood_terms(...)``: the sums that do
    not involve the parameters (of w x ln zbar, w ln zbar, w x ln x) are taken once, the Gamma
    functions once per distinct x, and only ln(gamma + x zbar) is evaluated per customer.
    """

    def __init__(self, frequency: FloatArray, monetary: FloatArray, weights: FloatArray) -> None:
        inverse, self.x_unique = _groups(frequency)
        self.x_weight = np.bincount(inverse, weights=weights, minlength=self.x_unique.size)
        self.x = frequency
        self.spend_total = frequency * monetary  # x zbar, the customer's total repeat spend
        self.weight = weights
        self.weighted_x = weights * frequency
        # Both weightings side by side: one matrix-vector product gives both weighted sums.
        self.weightings = np.ascontiguousarray(np.stack([weights, self.weighted_x]))
        log_monetary = np.log(monetary)
        self.sum_wx_log_m = float(self.weighted_x @ log_monetary)
        self.sum_w_log_m = float(weights @ log_monetary)
        self.sum_wx_log_x = float(self.weighted_x @ np.log(frequency))
        self.total_weight = float(weights.sum())

    def __call__(
        self, params: tuple[float, float, float], *, with_gradient: bool = True
    ) -> tuple[float, FloatArray]:
        """The log-likelihood and its gradient in (p, q, gamma) (zeros without it)."""
        total, gradient, _ = self.evaluate(params, order=1 if with_gradient else 0)
        return total, np.zeros(3) if gradient is None else gradient

    def evaluate(
        self, params: tuple[float, float, float], order: int = 2
    ) -> tuple[float, FloatArray | None, FloatArray | None]:
        """The log-likelihood with, up to ``order``, its gradient and Hessian in (p, q, gamma).

        Per customer only 1 / (gamma + x zbar) and its square enter the Hessian: the
        (gamma, gamma) entry is -W q / gamma^2 + sum w (p x + q) / (gamma + x zbar)^2.
        """
        p, q, gamma = params
        ux, wx, total_weight = self.x_unique, self.x_weight, self.total_weight
        scale = gamma + self.spend_total
        log_scale = np.log(scale)
        sum_w_log_scale, sum_wx_log_scale = map(float, self.weightings @ log_scale)
        total = float(wx @ (gammaln(p * ux + q) - gammaln(p * ux)))
        total += total_weight * (q * np.log(gamma) - gammaln(q))
        total += p * self.sum_wx_log_m - self.sum_w_log_m + p * self.sum_wx_log_x
        total -= p * sum_wx_log_scale + q * sum_w_log_scale
        if order < 1:
            return total, None, None
        psi_pxq = digamma(p * ux + q)
        d_p = float((wx * ux) @ (psi_pxq - digamma(p * ux)))
        d_p += self.sum_wx_log_m + self.sum_wx_log_x - sum_wx_log_scale
        d_q = float(wx @ psi_pxq) + total_weight * (np.log(gamma) - digamma(q))
        d_q -= sum_w_log_scale
        inverse = np.reciprocal(scale, out=scale)
        sum_w_inverse, sum_wx_inverse = map(float, self.weightings @ inverse)
        d_gamma = total_weight * q / gamma - p * sum_wx_inverse - q * sum_w_inverse
        gradient = np.array([d_p, d_q, d_gamma])
        if order < 2:
            return total, gradient, None

        sum_w_inverse2, sum_wx_inverse2 = map(float, self.weightings @ (inverse * inverse))
        trigamma_pxq = polygamma(1, p * ux + q)
        hessian = np.empty((3, 3))
        hessian[0, 0] = float((wx * ux * ux) @ (trigamma_pxq - polygamma(1, p * ux)))
        hessian[0, 1] = float((wx * ux) @ trigamma_pxq)
        hessian[0, 2] = -sum_wx_inverse
        hessian[1, 1] = float(wx @ trigamma_pxq) - total_weight * float(polygamma(1, q))
        hessian[1, 2] = total_weight / gamma - sum_w_inverse
        hessian[2, 2] = -total_weight * q / gamma**2 + p * sum_wx_inverse2 + q * sum_w_inverse2
        upper = np.triu_indices(3, 1)
        hessian[upper[::-1]] = hessian[upper]
        return total, gradient, hessian


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
