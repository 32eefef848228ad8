"""Lifetime value: fit time of BG/NBD + Gamma-Gamma, beside lifetimes 0.11.3 when it is installed.

Two workloads:

* the CDNOW master file (23,570 customers, calibration to 1997-09-30, weeks), read from the
  shared datasets (``PATRON_DATASETS`` or ``../shared/datasets``; skipped when absent);
* a synthetic summary of 1,000,000 customers drawn from the BG/NBD and Gamma-Gamma stories with
  the published CDNOW parameters (seeded; joining and purchase days whole days, as in a log),
  which also times 12 months of CLV scoring.

``run()`` returns a table for ``python -m bench`` (title, columns, rows, notes) and every figure
under ``details``; ``python bench/bench_clv.py`` prints it all as JSON.
Times are seconds, the best of ``repeats`` runs (one run for the large workload).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from patron.analytics import _btyd
from patron.analytics.clv import (
    BetaGeoModel,
    GammaGammaModel,
    calibration_holdout_split,
    customer_lifetime_value,
)

REPO = Path(__file__).resolve().parent.parent
BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def _datasets_dir() -> Path:
    configured = os.environ.get("PATRON_DATASETS")
    return Path(configured) if configured else REPO.parent / "shared" / "datasets"


def _best_time(action: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def _fit_ours(summary: dict[str, np.ndarray], repeats: int) -> dict[str, Any]:
    x, t_x, t_cal, spend = (summary[k] for k in ("frequency", "recency", "T", "monetary_value"))
    bg_seconds, bgnbd = _best_time(lambda: BetaGeoModel().fit(x, t_x, t_cal), repeats)
    gg_seconds, gamma_gamma = _best_time(lambda: GammaGammaModel().fit(x, spend), repeats)
    return {
        "bgnbd_fit_seconds": round(bg_seconds, 4),
        "gamma_gamma_fit_seconds": round(gg_seconds, 4),
        "fit_seconds": round(bg_seconds + gg_seconds, 4),
        "params": {**bgnbd.params_, **gamma_gamma.params_},
        "log_likelihood": bgnbd.log_likelihood_,
        "models": (bgnbd, gamma_gamma),
    }


def _fit_lifetimes(summary: dict[str, np.ndarray], repeats: int) -> dict[str, Any] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import lifetimes
    except ImportError:
        return None
    x, t_x, t_cal, spend = (summary[k] for k in ("frequency", "recency", "T", "monetary_value"))
    repeat = x > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg_seconds, bgnbd = _best_time(
            lambda: lifetimes.BetaGeoFitter().fit(x, t_x, t_cal), repeats
        )
        gg_seconds, gamma_gamma = _best_time(
            lambda: lifetimes.GammaGammaFitter().fit(x[repeat], spend[repeat]), repeats
        )
    return {
        "bgnbd_fit_seconds": round(bg_seconds, 4),
        "gamma_gamma_fit_seconds": round(gg_seconds, 4),
        "fit_seconds": round(bg_seconds + gg_seconds, 4),
        "params": {**bgnbd.params_.to_dict(), **gamma_gamma.params_.to_dict()},
    }


def _compare(ours: dict[str, Any], peer: dict[str, Any] | None) -> dict[str, Any]:
    ours = {key: value for key, value in ours.items() if key != "models"}
    if peer is None:
        return {"patron": ours, "lifetimes": None}
    return {
        "patron": ours,
        "lifetimes": peer,
        "speedup_vs_lifetimes": round(peer["fit_seconds"] / ours["fit_seconds"], 2),
    }


def _cdnow_master(repeats: int, with_lifetimes: bool) -> dict[str, Any] | None:
    path = _datasets_dir() / "cdnow" / "CDNOW_master.txt"
    if not path.exists():
        return None
    start = time.perf_counter()
    transactions = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    transactions["date"] = pd.to_datetime(transactions["date"], format="%Y%m%d")
    read_seconds = time.perf_counter() - start
    summary_seconds, frame = _best_time(
        lambda: calibration_holdout_split(
            transactions,
            customer_col="customer_id",
            date_col="date",
            amount_col="dollar_value",
            calibration_end="1997-09-30",
        ),
        repeats,
    )
    # One repeat buyer's repeat purchases are all $0.00: the spend model cannot take it.
    frame = frame[(frame["frequency"] == 0) | (frame["monetary_value"] > 0)]
    summary = {key: frame[key].to_numpy(dtype=np.float64) for key in frame.columns}
    result = _compare(
        _fit_ours(summary, repeats), _fit_lifetimes(summary, repeats) if with_lifetimes else None
    )
    return {
        "customers": len(frame),
        "transactions": len(transactions),
        "read_seconds": round(read_seconds, 4),
        "summary_seconds": round(summary_seconds, 4),
        **result,
    }


def _synthetic(n_customers: int, with_lifetimes: bool, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    # Customers join on whole days over 12 weeks and are observed to the same day, as in a
    # transaction log; purchase times are kept to the day, as a log records them.
    t_cal = rng.integers(27 * 7, 39 * 7 + 1, n_customers) / 7.0
    summary = _btyd.simulate_bgnbd(n_customers, t_cal, **BGNBD, rng=rng)
    summary["recency"] = np.floor(summary["recency"] * 7.0) / 7.0
    summary["monetary_value"] = _btyd.simulate_gamma_gamma(
        summary["frequency"], **GAMMA_GAMMA, rng=rng
    )
    ours = _fit_ours(summary, 1)
    bgnbd, gamma_gamma = ours["models"]
    clv_seconds, _ = _best_time(
        lambda: customer_lifetime_value(
            bgnbd,
            gamma_gamma,
            summary["frequency"],
            summary["recency"],
            summary["T"],
            summary["monetary_value"],
            horizon=12,
        ),
        1,
    )
    result = _compare(ours, _fit_lifetimes(summary, 1) if with_lifetimes else None)
    result["patron"]["clv_12_months_seconds"] = round(clv_seconds, 4)
    return {
        "customers": n_customers,
        "repeat_buyers": int((summary["frequency"] > 0).sum()),
        "true_params": {**BGNBD, **GAMMA_GAMMA},
        **result,
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _row(label: str, figures: dict[str, Any]) -> dict[str, Any]:
    ours, peer = figures["patron"], figures["lifetimes"]
    row: dict[str, Any] = {
        "data": label,
        "customers": figures["customers"],
        "Patron BG/NBD s": ours["bgnbd_fit_seconds"],
        "Patron Gamma-Gamma s": ours["gamma_gamma_fit_seconds"],
        "Patron s": ours["fit_seconds"],
    }
    if peer is not None:
        theirs = {("gamma" if k == "v" else k): v for k, v in peer["params"].items()}
        row["lifetimes s"] = peer["fit_seconds"]
        row["speed-up"] = figures["speedup_vs_lifetimes"]
        difference = max(abs(ours["params"][k] / theirs[k] - 1) for k in ours["params"])
        row["max parameter difference"] = f"{difference:.1e}"
    return row


def run(
    *,
    n_synthetic: int = 1_000_000,
    repeats: int = 3,
    with_lifetimes: bool = True,
    seed: int = 20050401,
) -> dict[str, Any]:
    """Time the CLV fits: a table for ``python -m bench``, the full figures under ``details``."""
    master = _cdnow_master(repeats, with_lifetimes)
    synthetic = _synthetic(n_synthetic, with_lifetimes, seed)
    rows, notes = [], []
    if master is None:
        notes.append("CDNOW master skipped: set PATRON_DATASETS to the shared datasets folder.")
    else:
        rows.append(_row("CDNOW master, calibration to 1997-09-30", master))
        notes.append(
            f"CDNOW: reading {master['transactions']:,} transactions took "
            f"{master['read_seconds']:.2f} s and the summary {master['summary_seconds']:.2f} s "
            "(not in the fit times); one repeat buyer with $0 repeat spend is left out."
        )
    rows.append(_row(f"synthetic ({n_synthetic:,} customers, seeded)", synthetic))
    notes += [
        f"Fit times: best of {repeats} runs on CDNOW, one run on the synthetic data; "
        "lifetimes fits the Gamma-Gamma model on the repeat buyers only, as Patron does.",
        f"Scoring 12 months of CLV for the synthetic customers: "
        f"{synthetic['patron']['clv_12_months_seconds']:.2f} s.",
        "max parameter difference: largest relative difference of the 7 fitted parameters.",
    ]
    if not with_lifetimes or synthetic["lifetimes"] is None:
        notes.append("lifetimes is not installed: its columns are empty.")
    return {
        "title": "Lifetime value: Patron vs lifetimes 0.11.3 (BG/NBD + Gamma-Gamma fits)",
        "columns": [
            "data",
            "customers",
            "Patron BG/NBD s",
            "Patron Gamma-Gamma s",
            "Patron s",
            "lifetimes s",
            "speed-up",
            "max parameter difference",
        ],
        "rows": rows,
        "notes": notes,
        "details": {
            "cdnow_master": master,
            "synthetic": synthetic,
            "versions": {
                name: _version(name)
                for name in ("numpy", "scipy", "pandas", "lifetimes", "autograd")
            },
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, default=str))
