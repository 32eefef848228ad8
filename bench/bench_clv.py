"""Lifetime value: fit time of BG/NBD + Gamma-Gamma, side by side with lifetimes 0.11.3.

Two workloads:

* the CDNOW master file (23,570 customers, calibration to 1997-09-30, weeks), read from the
  shared datasets (``PATRON_DATASETS`` or ``../shared/datasets``; skipped when absent);
* a synthetic summary of 1,000,000 customers drawn from the BG/NBD and Gamma-Gamma stories with
  the published CDNOW parameters (seeded; joining and purchase days whole days, as in a log),
  which also times scoring them (P(alive), expected purchases, 12 months of CLV).

What is timed is the same work on both sides: from the same summary arrays (frequency,
recency, T, monetary value), fit the BG/NBD model on every customer and the Gamma-Gamma model
on the repeat buyers (lifetimes is handed them, the selection inside its timed call; Patron
selects them itself). The two sides alternate, ``repeats`` times each (the load of a shared
machine then weighs on both alike); the figures are medians, the ratio is the ratio of the
medians, and the spread is the smallest and largest ratio of one Patron run to the lifetimes
run beside it. ``run()`` returns a table for ``python -m bench`` (title, columns, rows, notes)
and every figure under ``details``; ``python bench/bench_clv.py`` prints it all as JSON.
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


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _fit_patron(summary: dict[str, np.ndarray]) -> dict[str, Any]:
    x, t_x, t_cal, spend = (summary[k] for k in ("frequency", "recency", "T", "monetary_value"))
    bg_seconds, bgnbd = _timed(lambda: BetaGeoModel().fit(x, t_x, t_cal))
    gg_seconds, gamma_gamma = _timed(lambda: GammaGammaModel().fit(x, spend))
    return {
        "bgnbd_seconds": bg_seconds,
        "gamma_gamma_seconds": gg_seconds,
        "params": {**bgnbd.params_, **gamma_gamma.params_},
        "log_likelihood": bgnbd.log_likelihood_,
        "iterations": {"bgnbd": bgnbd.n_iter_, "gamma_gamma": gamma_gamma.n_iter_},
        "models": (bgnbd, gamma_gamma),
    }


def _lifetimes() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import lifetimes
    except ImportError:
        return None
    return lifetimes


def _fit_lifetimes(lifetimes: Any, summary: dict[str, np.ndarray]) -> dict[str, Any]:
    x, t_x, t_cal, spend = (summary[k] for k in ("frequency", "recency", "T", "monetary_value"))

    def spend_model() -> Any:
        repeat = x > 0
        return lifetimes.GammaGammaFitter().fit(x[repeat], spend[repeat])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg_seconds, bgnbd = _timed(lambda: lifetimes.BetaGeoFitter().fit(x, t_x, t_cal))
        gg_seconds, gamma_gamma = _timed(spend_model)
    params = {**bgnbd.params_.to_dict(), **gamma_gamma.params_.to_dict()}
    return {
        "bgnbd_seconds": bg_seconds,
        "gamma_gamma_seconds": gg_seconds,
        "params": {("gamma" if k == "v" else k): float(v) for k, v in params.items()},
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(np.median([run[key] for run in runs]))


def _side_by_side(summary: dict[str, np.ndarray], repeats: int, lifetimes: Any) -> dict[str, Any]:
    """Both fits, alternating, ``repeats`` times each; medians, ratios and agreement."""
    load_before = _load()
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    for _ in range(repeats):
        ours.append(_fit_patron(summary))
        if lifetimes is not None:
            theirs.append(_fit_lifetimes(lifetimes, summary))
    for run in ours + theirs:
        run["seconds"] = run["bgnbd_seconds"] + run["gamma_gamma_seconds"]
    last = ours[-1]
    patron = {
        "bgnbd_seconds": _median(ours, "bgnbd_seconds"),
        "gamma_gamma_seconds": _median(ours, "gamma_gamma_seconds"),
        "seconds": _median(ours, "seconds"),
        "runs_seconds": [round(run["seconds"], 5) for run in ours],
        "params": last["params"],
        "log_likelihood": last["log_likelihood"],
        "iterations": last["iterations"],
    }
    result: dict[str, Any] = {
        "repeats": repeats,
        "patron": patron,
        "lifetimes": None,
        "load_before": load_before,
        "models": last["models"],
    }
    if theirs:
        peer = {
            "bgnbd_seconds": _median(theirs, "bgnbd_seconds"),
            "gamma_gamma_seconds": _median(theirs, "gamma_gamma_seconds"),
            "seconds": _median(theirs, "seconds"),
            "runs_seconds": [round(run["seconds"], 4) for run in theirs],
            "params": theirs[-1]["params"],
        }
        ratios = [p["seconds"] / o["seconds"] for o, p in zip(ours, theirs, strict=True)]
        difference = {k: abs(v / peer["params"][k] - 1) for k, v in patron["params"].items()}
        result |= {
            "lifetimes": peer,
            "ratio": peer["seconds"] / patron["seconds"],
            "ratio_bgnbd": peer["bgnbd_seconds"] / patron["bgnbd_seconds"],
            "ratio_gamma_gamma": peer["gamma_gamma_seconds"] / patron["gamma_gamma_seconds"],
            "ratio_spread": (min(ratios), max(ratios)),
            "parameter_difference": difference,
            "max_parameter_difference": max(difference.values()),
        }
    result["load_after"] = _load()
    return result


def _cdnow_master(repeats: int, lifetimes: Any) -> dict[str, Any] | None:
    path = _datasets_dir() / "cdnow" / "CDNOW_master.txt"
    if not path.exists():
        return None
    start = time.perf_counter()
    transactions = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    transactions["date"] = pd.to_datetime(transactions["date"], format="%Y%m%d")
    read_seconds = time.perf_counter() - start
    summary_seconds, frame = _timed(
        lambda: calibration_holdout_split(
            transactions,
            customer_col="customer_id",
            date_col="date",
            amount_col="dollar_value",
            calibration_end="1997-09-30",
        )
    )
    # One repeat buyer's repeat purchases are all $0.00: the spend model cannot take it.
    frame = frame[(frame["frequency"] == 0) | (frame["monetary_value"] > 0)]
    summary = {key: frame[key].to_numpy(dtype=np.float64) for key in frame.columns}
    # Warm-up, untimed: first calls import and cache (lifetimes traces its autograd graph).
    _fit_patron(summary)
    if lifetimes is not None:
        _fit_lifetimes(lifetimes, summary)
    return {
        "customers": len(frame),
        "transactions": len(transactions),
        "read_seconds": round(read_seconds, 4),
        "summary_seconds": round(summary_seconds, 4),
        **_side_by_side(summary, repeats, lifetimes),
    }


def _score(bgnbd: BetaGeoModel, gamma_gamma: GammaGammaModel, summary: dict[str, Any]) -> None:
    x, t_x, t_cal, spend = (summary[k] for k in ("frequency", "recency", "T", "monetary_value"))
    bgnbd.conditional_probability_alive(x, t_x, t_cal)
    bgnbd.conditional_expected_purchases(39.0, x, t_x, t_cal)
    customer_lifetime_value(bgnbd, gamma_gamma, x, t_x, t_cal, spend, horizon=12)


def _synthetic(n_customers: int, repeats: int, lifetimes: Any, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    # Customers join on whole days over 12 weeks and are observed to the same day, as in a
    # transaction log; purchase times are kept to the day, as a log records them.
    t_cal = rng.integers(27 * 7, 39 * 7 + 1, n_customers) / 7.0
    summary = _btyd.simulate_bgnbd(n_customers, t_cal, **BGNBD, rng=rng)
    summary["recency"] = np.floor(summary["recency"] * 7.0) / 7.0
    summary["monetary_value"] = _btyd.simulate_gamma_gamma(
        summary["frequency"], **GAMMA_GAMMA, rng=rng
    )
    result = _side_by_side(summary, repeats, lifetimes)
    bgnbd, gamma_gamma = result["models"]
    scoring = [_timed(lambda: _score(bgnbd, gamma_gamma, summary))[0] for _ in range(repeats)]
    result["patron"]["scoring_seconds"] = float(np.median(scoring))
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


def _seconds(value: float) -> str:
    """Three significant figures: fits of a few milliseconds must not print as 0.00."""
    return f"{value:.3g}"


def _row(label: str, figures: dict[str, Any]) -> dict[str, Any]:
    ours, peer = figures["patron"], figures["lifetimes"]
    row: dict[str, Any] = {
        "data": label,
        "customers": figures["customers"],
        "Patron BG/NBD s": _seconds(ours["bgnbd_seconds"]),
        "Patron Gamma-Gamma s": _seconds(ours["gamma_gamma_seconds"]),
        "Patron s": _seconds(ours["seconds"]),
    }
    if peer is not None:
        low, high = figures["ratio_spread"]
        row["lifetimes s"] = _seconds(peer["seconds"])
        row["ratio"] = round(figures["ratio"], 1)
        row["ratio spread"] = f"{low:.1f} to {high:.1f}"
        row["largest parameter difference"] = f"{figures['max_parameter_difference']:.1e}"
    return row


def _public(figures: dict[str, Any] | None) -> dict[str, Any] | None:
    if figures is None:
        return None
    return {key: value for key, value in figures.items() if key != "models"}


def run(
    *,
    n_synthetic: int = 1_000_000,
    repeats: int = 7,
    synthetic_repeats: int = 3,
    with_lifetimes: bool = True,
    seed: int = 20050401,
) -> dict[str, Any]:
    """Time the CLV fits: a table for ``python -m bench``, the full figures under ``details``."""
    lifetimes = _lifetimes() if with_lifetimes else None
    master = _cdnow_master(repeats, lifetimes)
    synthetic = _synthetic(n_synthetic, synthetic_repeats, lifetimes, seed)
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
    loads = [f["load_before"] for f in (master, synthetic) if f] + [synthetic["load_after"]]
    notes += [
        f"Medians of {repeats} runs on CDNOW and {synthetic_repeats} on the synthetic data, "
        "Patron and lifetimes alternating; ratio = lifetimes median / Patron median; spread = "
        "smallest and largest ratio of runs side by side. Same work on both sides: BG/NBD on "
        "every customer, Gamma-Gamma on the repeat buyers, from the same summary arrays.",
        f"Scoring the synthetic customers (P(alive), expected purchases, 12 months of CLV): "
        f"{synthetic['patron']['scoring_seconds']:.2f} s (median).",
        "largest parameter difference: largest relative difference of the 7 fitted "
        "parameters from lifetimes'.",
        "Load average (1 min) during the runs: " + ", ".join(f"{x:.1f}" for x in loads) + ".",
    ]
    if synthetic["lifetimes"] is None:
        notes.append("lifetimes is not installed (or was left out): its columns are empty.")
    return {
        "title": "Lifetime value: Patron vs lifetimes 0.11.3 (BG/NBD + Gamma-Gamma fits)",
        "columns": [
            "data",
            "customers",
            "Patron BG/NBD s",
            "Patron Gamma-Gamma s",
            "Patron s",
            "lifetimes s",
            "ratio",
            "ratio spread",
            "largest parameter difference",
        ],
        "rows": rows,
        "notes": notes,
        "details": {
            "cdnow_master": _public(master),
            "synthetic": _public(synthetic),
            "versions": {
                name: _version(name)
                for name in ("numpy", "scipy", "pandas", "lifetimes", "autograd")
            },
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, default=str))
