"""The machinery under the lifetime-value fits: distinct rows, the Newton search, its fall-back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patron.analytics import _btyd, _clv_fit
from patron.analytics.clv import BetaGeoModel, GammaGammaModel, calibration_holdout_split
from tests.datasets import dataset_path


def columns_with(distinct: int, n: int, seed: int, count: int = 3) -> list[np.ndarray]:
    """A whole-number column (a frequency) and ``count - 1`` float columns of about
    ``distinct`` values each."""
    rng = np.random.default_rng(seed)
    frequency = rng.integers(0, 40, n)
    floats = [rng.integers(0, distinct, n) / 7.0 for _ in range(count - 1)]
    return [frequency, *floats]


@pytest.mark.parametrize(
    ("distinct", "count"),
    [
        (6, 3),  # the packed key's range is small: distinct keys counted in a table
        (20_000, 3),  # a range far above the row count: the key is hashed
        (20_000, 6),  # a product of sizes past 2^62: the key is re-hashed along the way
    ],
)
def test_distinct_rows_are_the_distinct_rows(distinct: int, count: int) -> None:
    columns = columns_with(distinct, 20_000, seed=distinct + count, count=count)
    rows, inverse = _btyd.distinct_rows(*columns)
    expected = np.unique(np.stack(columns, axis=1).astype(np.float64), axis=0)
    assert len(rows[0]) == len(expected)
    for column, distinct_column in zip(columns, rows, strict=True):
        np.testing.assert_array_equal(distinct_column[inverse], column)
    as_tuples = set(zip(*(column.tolist() for column in rows), strict=True))
    assert len(as_tuples) == len(rows[0])  # no row listed twice


def test_distinct_rows_sum_their_weights() -> None:
    columns = columns_with(6, 5_000, seed=1)
    weights = np.random.default_rng(2).uniform(0.0, 3.0, 5_000)
    grouped = _btyd.DistinctRows.of(*columns)
    summed = grouped.weights(weights)
    frame = pd.DataFrame({str(i): c for i, c in enumerate(columns)}).assign(w=weights)
    expected = frame.groupby([str(i) for i in range(len(columns))])["w"].sum()
    got = pd.Series(summed, index=pd.MultiIndex.from_arrays(grouped.rows())).sort_index()
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert grouped.weights().sum() == 5_000


def test_sorted_groups_match_numpy_unique() -> None:
    rng = np.random.default_rng(4)
    for values in (
        rng.integers(0, 60, 10_000).astype(np.float64),  # counted
        rng.integers(0, 60, 10_000) * 1e15,  # whole but too large to count: hashed
        rng.uniform(0.0, 5.0, 10_000).round(2),  # hashed
    ):
        codes, unique = _btyd.sorted_groups(values)
        expected_unique, expected_codes = np.unique(values, return_inverse=True)
        np.testing.assert_array_equal(unique, expected_unique)
        np.testing.assert_array_equal(codes, expected_codes)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    transactions = pd.read_csv(
        dataset_path("cdnow", "CDNOW_sample.txt"),
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"],
        dtype={"master_id": str, "customer_id": np.int64, "date": str},
    ).assign(date=lambda frame: pd.to_datetime(frame["date"], format="%Y%m%d"))
    return calibration_holdout_split(
        transactions,
        customer_col="customer_id",
        date_col="date",
        amount_col="amount",
        calibration_end="1997-09-30",
    )


@pytest.mark.parametrize("penalizer", [0.0, 0.05])
def test_newton_finds_the_optimum_lbfgsb_finds(cdnow: pd.DataFrame, penalizer: float) -> None:
    """Newton's method with the exact Hessian and L-BFGS-B with the gradient alone end at the
    same parameters, for both models."""
    x, t_x, t_cal, spend = (
        cdnow[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "monetary_value")
    )
    fits = [
        (
            BetaGeoModel(penalizer=penalizer).fit(x, t_x, t_cal),
            _clv_fit.BetaGeoObjective(x, t_x, t_cal, np.ones(x.size)),
            x.size,
            [1.0, 5.0, 1.0, 1.0],
        ),
        (
            GammaGammaModel(penalizer=penalizer).fit(x, spend),
            _clv_fit.GammaGammaObjective(x[x > 0], spend[x > 0], np.ones(int((x > 0).sum()))),
            int((x > 0).sum()),
            [1.0, 1.0, 30.0],
        ),
    ]
    for model, objective, total_weight, start in fits:
        assert model.converged_
        evaluate = _clv_fit._log_space(objective, total_weight, penalizer)
        reference = _clv_fit._lbfgsb(evaluate, np.log(start), max_iter=500, tol=1e-14)
        assert reference.converged
        params = np.array(list(model.params_.values()))
        np.testing.assert_allclose(params, np.exp(reference.log_params), rtol=1e-4)
        assert evaluate(np.log(params), 0)[0] <= evaluate(reference.log_params, 0)[0] + 1e-12


class BowlWithUselessCurvature:
    """ln L = -sum (ln theta - centre)^2: its maximum is theta = e^centre; its Hessian is NaN,
    which stops Newton's method at once."""

    centre = np.array([0.5, -1.0, 2.0])

    def evaluate(
        self, params: tuple[float, ...], order: int = 2
    ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        log = np.log(np.asarray(params))
        total = -float(((log - self.centre) ** 2).sum())
        gradient = -2.0 * (log - self.centre) / np.asarray(params)
        return total, gradient if order >= 1 else None, np.full((3, 3), np.nan)


def test_lbfgsb_takes_over_when_newton_cannot_go_on() -> None:
    fit = _clv_fit.maximise_likelihood(
        BowlWithUselessCurvature(),
        np.zeros(3),
        total_weight=1.0,
        penalizer=0.0,
        max_iter=100,
        tol=1e-14,
    )
    assert fit.converged
    assert "L-BFGS-B" in fit.message
    np.testing.assert_allclose(fit.log_params, BowlWithUselessCurvature.centre, atol=1e-6)
