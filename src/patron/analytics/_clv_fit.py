"""Maximum-likelihood fits of the lifetime-value models: the likelihoods arranged for speed,
and Newton's method in log-parameters.

The BG/NBD and Gamma-Gamma likelihoods have three or four parameters and exact Hessians that
cost little more than their gradients (``evaluate`` on the objectives below), so Newton's
method reaches the optimum in a handful of iterations where a quasi-Newton
method (L-BFGS-B) takes twenty or more and twice as many evaluations. The search runs over
the logarithms of the parameters (all of them positive), where the likelihood is closer to
quadratic and no step can leave the domain. L-BFGS-B remains as the fall-back should Newton
stall (a line search that cannot descend, or ``max_iter`` reached).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, zeta

from patron.analytics._btyd import DistinctRows, FloatArray, as_counts, sorted_groups

# Log-parameters are kept in [-LOG_BOUND, LOG_BOUND]: parameters between 1e-13 and 1e13.
LOG_BOUND = 30.0
# No log-parameter moves by more than this in one Newton step (a factor e^2 on the parameter):
# far from the optimum the quadratic model is not to be trusted further.
_LARGEST_STEP = 2.0
# Armijo's sufficient decrease: a step is taken when it achieves this share of the decrease
# the local linear model promises.
_ARMIJO = 1e-4


# OpenBLAS computes a dot product of more than 10,000 numbers, or a matrix-vector product of
# more than 9,216, on all its threads. Waking them costs more than these products, and on a
# machine whose cores are busy it stalls for milliseconds: a fit on a million customers took
# 2.0-2.8 s that way and 0.34-0.55 s on one thread (the same trouble makes scipy's L-BFGS-B,
# which calls LAPACK since scipy 1.15, slow: scipy issue 22438). Longer vectors are therefore
# summed by numpy's own loops (einsum), which leaves the process's BLAS settings alone.
_BLAS_THREADS_FROM = 8192


def _dot(a: FloatArray, b: FloatArray) -> float:
    """sum(a * b), never on BLAS's threads."""
    if a.size < _BLAS_THREADS_FROM:
        return float(a @ b)
    return float(np.einsum("i,i->", a, b))


def _dots(matrix: FloatArray, vector: FloatArray) -> list[float]:
    """matrix @ vector, never on BLAS's threads."""
    if matrix.size < _BLAS_THREADS_FROM:
        return [float(v) for v in matrix @ vector]
    return [float(v) for v in np.einsum("ij,j->i", matrix, vector)]


def _trigamma(x: Any) -> Any:
    """psi'(x) = zeta(2, x), the Hurwitz zeta ufunc (``polygamma(1, x)`` computes the same
    through a Python wrapper that costs more than the call on these few values)."""
    return zeta(2.0, x)


# --------------------------------------------------------------------------------------------
# The likelihoods, arranged for speed (the per-customer definitions are in ``_btyd.py``)
# --------------------------------------------------------------------------------------------


class BetaGeoObjective:
    """Total BG/NBD log-likelihood, gradient and Hessian over many customers, prepared once.

    The same quantity as ``weights @ bgnbd_log_likelihood_terms(...)`` (``_btyd.py``, with the
    terms A1-A4 of [FHL05a eq. 6]), arranged so that each term is computed as few times as
    its arguments allow:

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
        rows = DistinctRows.of(as_counts(frequency), recency, T)
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
        total = _dot(wx, gammaln(r + ux) - gammaln(r) + r * np.log(alpha))
        total += _dot(wx, betaln(a, b + ux) - betaln(a, b))
        total -= _dot(alive_weight, log_T)
        total += _dot(self.weight, softplus)
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
        d_r = _dot(wx, digamma(r + ux) - digamma(r) + np.log(alpha))
        d_r -= _dot(self.T_weight, log_T) - _dot(dead, gap)
        d_alpha = r / alpha * total_weight - _dot(alive_weight, inverse_T)
        d_a = _dot(wx, psi_ab - psi_abx) + float(dead_by_x.sum()) / a
        d_b = _dot(wx, psi_ab + digamma(b + ux) - digamma(b) - psi_abx)
        d_b -= _dot(dead_by_x[x_repeat], inverse_b_x)
        if order < 2:
            dead_shape = dead * shape
            d_alpha += _dot(
                np.bincount(self.T_index, weights=dead_shape, minlength=inverse_T.size), inverse_T
            )
            d_alpha -= _dot(
                np.bincount(self.t_x_index, weights=dead_shape, minlength=inverse_t_x.size),
                inverse_t_x,
            )
            return total, np.array([d_r, d_alpha, d_a, d_b]), None

        inverse_t_row = inverse_T[self.T_index]
        inverse_t_x_row = inverse_t_x[self.t_x_index]
        delta = inverse_t_row - inverse_t_x_row
        d_odds_alpha = shape * delta
        d_alpha += _dot(dead, d_odds_alpha)
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

        trigamma_ab = _trigamma(a + b)
        trigamma_abx = _trigamma(a + b + ux)
        hessian = np.empty((4, 4))
        hessian[0, 0] = _dot(wx, _trigamma(r + ux) - _trigamma(r))
        hessian[0, 0] += _dot(spread_gap, gap)
        hessian[0, 1] = total_weight / alpha - _dot(self.T_weight, inverse_T)
        hessian[0, 1] += _dot(spread_gap, d_odds_alpha) + _dot(dead, delta)
        hessian[1, 1] = -r * total_weight / alpha**2 + _dot(alive_weight, inverse_T**2)
        hessian[1, 1] += _dot(spread_alpha, d_odds_alpha) + _dot((dead * shape), curvature)
        hessian[0, 2] = float(spread_gap_by_x.sum()) / a
        hessian[0, 3] = -_dot(spread_gap_by_x[x_repeat], inverse_b_x)
        hessian[1, 2] = float(spread_alpha_by_x.sum()) / a
        hessian[1, 3] = -_dot(spread_alpha_by_x[x_repeat], inverse_b_x)
        beta_ab = _dot(wx, trigamma_ab - trigamma_abx)
        hessian[2, 2] = beta_ab + float(spread_by_x.sum() - dead_by_x.sum()) / a**2
        hessian[2, 3] = beta_ab - _dot(spread_by_x[x_repeat], inverse_b_x) / a
        hessian[3, 3] = _dot(wx, _trigamma(b + ux) - _trigamma(b) - trigamma_abx + trigamma_ab)
        hessian[3, 3] += _dot((spread_by_x + dead_by_x)[x_repeat], inverse_b_x**2)
        upper = np.triu_indices(4, 1)
        hessian[upper[::-1]] = hessian[upper]
        return total, gradient, hessian


class GammaGammaObjective:
    """Total Gamma-Gamma log-likelihood, gradient and Hessian over the repeat buyers.

    The same quantity as ``weights @ gamma_gamma_log_likelihood_terms(...)`` ([FH13 eq. 4],
    in ``_btyd.py``): the sums that do not involve the parameters (of w x ln zbar, w ln zbar,
    w x ln x) are taken once, the Gamma functions once per distinct x, and only
    ln(gamma + x zbar) is evaluated per customer.
    """

    def __init__(self, frequency: FloatArray, monetary: FloatArray, weights: FloatArray) -> None:
        inverse, self.x_unique = sorted_groups(frequency)
        self.x_weight = np.bincount(inverse, weights=weights, minlength=self.x_unique.size)
        self.x = frequency
        self.spend_total = frequency * monetary  # x zbar, the customer's total repeat spend
        self.weight = weights
        self.weighted_x = weights * frequency
        # Both weightings side by side: one matrix-vector product gives both weighted sums.
        self.weightings = np.ascontiguousarray(np.stack([weights, self.weighted_x]))
        log_monetary = np.log(monetary)
        self.sum_wx_log_m = _dot(self.weighted_x, log_monetary)
        self.sum_w_log_m = _dot(weights, log_monetary)
        self.sum_wx_log_x = _dot(self.weighted_x, np.log(frequency))
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
        sum_w_log_scale, sum_wx_log_scale = _dots(self.weightings, log_scale)
        total = _dot(wx, gammaln(p * ux + q) - gammaln(p * ux))
        total += total_weight * (q * np.log(gamma) - gammaln(q))
        total += p * self.sum_wx_log_m - self.sum_w_log_m + p * self.sum_wx_log_x
        total -= p * sum_wx_log_scale + q * sum_w_log_scale
        if order < 1:
            return total, None, None
        psi_pxq = digamma(p * ux + q)
        d_p = _dot(wx * ux, psi_pxq - digamma(p * ux))
        d_p += self.sum_wx_log_m + self.sum_wx_log_x - sum_wx_log_scale
        d_q = _dot(wx, psi_pxq) + total_weight * (np.log(gamma) - digamma(q))
        d_q -= sum_w_log_scale
        inverse = np.reciprocal(scale, out=scale)
        sum_w_inverse, sum_wx_inverse = _dots(self.weightings, inverse)
        d_gamma = total_weight * q / gamma - p * sum_wx_inverse - q * sum_w_inverse
        gradient = np.array([d_p, d_q, d_gamma])
        if order < 2:
            return total, gradient, None

        sum_w_inverse2, sum_wx_inverse2 = _dots(self.weightings, inverse * inverse)
        trigamma_pxq = _trigamma(p * ux + q)
        hessian = np.empty((3, 3))
        hessian[0, 0] = _dot(wx * ux * ux, trigamma_pxq - _trigamma(p * ux))
        hessian[0, 1] = _dot(wx * ux, trigamma_pxq)
        hessian[0, 2] = -sum_wx_inverse
        hessian[1, 1] = _dot(wx, trigamma_pxq) - total_weight * float(_trigamma(q))
        hessian[1, 2] = total_weight / gamma - sum_w_inverse
        hessian[2, 2] = -total_weight * q / gamma**2 + p * sum_wx_inverse2 + q * sum_w_inverse2
        upper = np.triu_indices(3, 1)
        hessian[upper[::-1]] = hessian[upper]
        return total, gradient, hessian


# --------------------------------------------------------------------------------------------
# The search
# --------------------------------------------------------------------------------------------


class Likelihood(Protocol):
    def evaluate(
        self, params: tuple[float, ...], order: int = 2
    ) -> tuple[float, FloatArray | None, FloatArray | None]: ...


@dataclass(frozen=True)
class Fit:
    """Where the search ended, in log-parameters."""

    log_params: FloatArray
    converged: bool
    n_iter: int
    message: str


Evaluation = tuple[float, FloatArray | None, FloatArray | None]


def _log_space(
    likelihood: Likelihood, total_weight: float, penalizer: float
) -> Callable[[FloatArray, int], Evaluation]:
    """The mean negative log-likelihood plus ``penalizer * |theta|^2`` as a function of
    phi = ln(theta), with its gradient and Hessian up to ``order`` by the chain rule:
    d/dphi = theta * d/dtheta, d2/dphi2 = diag(theta) H diag(theta) + diag(theta * g).
    Infinite (and no derivatives) where the likelihood is not finite."""

    def evaluate(log_params: FloatArray, order: int) -> Evaluation:
        params = np.exp(log_params)
        total, grad, hess = likelihood.evaluate(tuple(map(float, params)), order)
        value = -total / total_weight + penalizer * float(params @ params)
        if not np.isfinite(value):
            return np.inf, None, None
        gradient = hessian = None
        if grad is not None:
            gradient = -grad / total_weight * params + 2.0 * penalizer * params**2
        if hess is not None and grad is not None:
            hessian = -(hess * np.outer(params, params) + np.diag(grad * params)) / total_weight
            hessian += np.diag(4.0 * penalizer * params**2)
        return value, gradient, hessian

    return evaluate


def _newton_step(gradient: FloatArray, hessian: FloatArray) -> FloatArray:
    """-H^-1 g on the Hessian made positive definite: each eigenvalue by its magnitude,
    floored (far from the optimum the likelihood need not be concave; this keeps the step
    a descent direction, scaled by the curvature along each axis)."""
    eigenvalues, vectors = np.linalg.eigh(hessian)
    magnitude = np.abs(eigenvalues)
    magnitude = np.maximum(magnitude, max(float(magnitude.max()) * 1e-10, 1e-300))
    return np.asarray(-(vectors @ ((vectors.T @ gradient) / magnitude)))


def _newton(
    evaluate: Callable[[FloatArray, int], Evaluation],
    start: FloatArray,
    *,
    max_iter: int,
    tol: float,
) -> Fit:
    """Damped Newton over the box [-LOG_BOUND, LOG_BOUND]^k; where it ended either way.

    Stops when the Newton decrement g' H^-1 g (twice the decrease still to be had, were the
    function quadratic) is at most 2 tol max(1, |f|): L-BFGS-B's ``ftol`` criterion, read
    off the model instead of the last step. Coordinates at a bound whose gradient pushes them
    outwards are held there.
    """
    point = np.asarray(start, dtype=np.float64)
    value, gradient, hessian = evaluate(point, 2)
    finite = gradient is not None and hessian is not None
    if not (finite and np.all(np.isfinite(gradient)) and np.all(np.isfinite(hessian))):
        return Fit(point, False, 0, "not finite at the starting point")
    for iteration in range(max_iter):
        held = ((point <= -LOG_BOUND) & (gradient > 0)) | ((point >= LOG_BOUND) & (gradient < 0))
        free = ~held
        if not free.any():  # every parameter at a bound it is pushed against: a corner optimum
            return Fit(point, True, iteration, "at the bounds")
        step = np.zeros_like(point)
        step[free] = _newton_step(gradient[free], hessian[np.ix_(free, free)])
        decrement = -float(gradient @ step)
        if decrement <= 2.0 * tol * max(1.0, abs(value)):
            # Close enough; the last step, nearly free, squares the remaining error.
            final = np.clip(point + step, -LOG_BOUND, LOG_BOUND)
            if evaluate(final, 0)[0] <= value:
                point = final
            return Fit(point, True, iteration, "Newton decrement below tol")
        largest = float(np.abs(step).max())
        if largest > _LARGEST_STEP:
            step *= _LARGEST_STEP / largest
            decrement *= _LARGEST_STEP / largest
        length = 1.0
        while True:
            trial = np.clip(point + length * step, -LOG_BOUND, LOG_BOUND)
            trial_value, trial_gradient, trial_hessian = evaluate(trial, 2)
            if (
                trial_value <= value - _ARMIJO * length * decrement
                and trial_gradient is not None
                and trial_hessian is not None
                and np.all(np.isfinite(trial_gradient))
                and np.all(np.isfinite(trial_hessian))
            ):
                break
            length *= 0.5
            if length < 1e-10:
                return Fit(point, False, iteration, "line search found no descent")
        point, value, gradient, hessian = trial, trial_value, trial_gradient, trial_hessian
    return Fit(point, False, max_iter, "max_iter reached")


def _lbfgsb(
    evaluate: Callable[[FloatArray, int], Evaluation],
    start: FloatArray,
    *,
    max_iter: int,
    tol: float,
) -> Fit:
    def value_and_gradient(log_params: FloatArray) -> tuple[float, FloatArray]:
        value, gradient, _ = evaluate(log_params, 1)
        if gradient is None:
            return np.inf, np.zeros_like(log_params)
        return value, gradient

    result = minimize(
        value_and_gradient,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-LOG_BOUND, LOG_BOUND)] * start.size,
        options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-9},
    )
    return Fit(np.asarray(result.x), bool(result.success), int(result.nit), str(result.message))


def maximise_likelihood(
    likelihood: Likelihood,
    start: FloatArray,
    *,
    total_weight: float,
    penalizer: float,
    max_iter: int,
    tol: float,
) -> Fit:
    """Maximise ``likelihood`` (minus the L2 penalty) over ln(params), from ``start``.

    Newton first; if it stalls, L-BFGS-B continues from where it stopped with the iterations
    left, and ``n_iter`` counts both.
    """
    evaluate = _log_space(likelihood, total_weight, penalizer)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        newton = _newton(evaluate, start, max_iter=max_iter, tol=tol)
        if newton.converged or newton.n_iter >= max_iter:
            return newton
        rest = _lbfgsb(evaluate, newton.log_params, max_iter=max_iter - newton.n_iter, tol=tol)
    return Fit(
        rest.log_params,
        rest.converged,
        newton.n_iter + rest.n_iter,
        f"Newton: {newton.message}; L-BFGS-B: {rest.message}",
    )
