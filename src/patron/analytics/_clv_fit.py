"""Maximum-likelihood search for the lifetime-value models: Newton's method in log-parameters.

The BG/NBD and Gamma-Gamma likelihoods have three or four parameters and exact Hessians that
cost little more than their gradients (see ``evaluate`` on the objectives in ``_btyd.py``),
so Newton's method reaches the optimum in a handful of iterations where a quasi-Newton
method (L-BFGS-B) takes twenty or more and twice as many evaluations. The search runs over
the logarithms of the parameters (all of them positive), where the likelihood is closer to
quadratic and no step can leave the domain. L-BFGS-B remains as the fall-back should Newton
stall (a line search that cannot descend, or ``max_iter`` reached).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController

FloatArray = NDArray[np.float64]

# Log-parameters are kept in [-LOG_BOUND, LOG_BOUND]: parameters between 1e-13 and 1e13.
LOG_BOUND = 30.0
# No log-parameter moves by more than this in one Newton step (a factor e^2 on the parameter):
# far from the optimum the quadratic model is not to be trusted further.
_LARGEST_STEP = 2.0
# Armijo's sufficient decrease: a step is taken when it achieves this share of the decrease
# the local linear model promises.
_ARMIJO = 1e-4


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
) -> tuple[Fit, FloatArray]:
    """Damped Newton over the box [-LOG_BOUND, LOG_BOUND]^k; the point reached either way.

    Stops when the Newton decrement g' H^-1 g (twice the decrease still to be had, were the
    function quadratic) is at most 2 tol max(1, |f|): L-BFGS-B's ``ftol`` criterion, read
    off the model instead of the last step. Coordinates at a bound whose gradient pushes them
    outwards are held there.
    """
    point = np.asarray(start, dtype=np.float64)
    value, gradient, hessian = evaluate(point, 2)
    if gradient is None or hessian is None or not np.all(np.isfinite(hessian)):
        return Fit(point, False, 0, "not finite at the starting point"), point
    for iteration in range(max_iter):
        held = ((point <= -LOG_BOUND) & (gradient > 0)) | ((point >= LOG_BOUND) & (gradient < 0))
        free = ~held
        step = np.zeros_like(point)
        step[free] = _newton_step(gradient[free], hessian[np.ix_(free, free)])
        decrement = -float(gradient @ step)
        if decrement <= 2.0 * tol * max(1.0, abs(value)):
            return Fit(point, True, iteration, "Newton decrement below tol"), point
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
                and np.all(np.isfinite(trial_hessian))
            ):
                break
            length *= 0.5
            if length < 1e-10:
                return Fit(point, False, iteration, "line search found no descent"), point
        point, value, gradient, hessian = trial, trial_value, trial_gradient, trial_hessian
    return Fit(point, False, max_iter, "max_iter reached"), point


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


@functools.cache
def _blas_libraries() -> ThreadpoolController:
    """The BLAS libraries loaded with numpy and scipy (looked up once: that takes a millisecond
    or two, as long as a whole fit on twenty thousand customers)."""
    return ThreadpoolController()


def one_blas_thread() -> Any:
    """A context in which BLAS runs on the calling thread alone.

    The fits' BLAS calls are dot products of at most a few hundred thousand numbers, small
    eigen-decompositions, and in the fall-back the 4-by-4 algebra of scipy's L-BFGS-B (a C
    translation since scipy 1.15 that calls LAPACK; scipy issue 22438). Waking OpenBLAS's
    threads for each costs more than the call, and when the cores are shared it stalls for
    milliseconds: on a loaded 2-core machine a fit on the 23,570 CDNOW customers took 0.15 s
    with the threads and 0.014 s without. OpenBLAS's thread count is process-wide; the
    previous one is restored on exit.
    """
    return _blas_libraries().limit(limits=1, user_api="blas")


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
    left (at least 50), and ``n_iter`` counts both.
    """
    evaluate = _log_space(likelihood, total_weight, penalizer)
    with (
        np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"),
        one_blas_thread(),
    ):
        newton, reached = _newton(evaluate, start, max_iter=max_iter, tol=tol)
        if newton.converged:
            return newton
        rest = _lbfgsb(evaluate, reached, max_iter=max(max_iter - newton.n_iter, 50), tol=tol)
    return Fit(
        rest.log_params,
        rest.converged,
        newton.n_iter + rest.n_iter,
        f"Newton: {newton.message}; L-BFGS-B: {rest.message}",
    )
