"""RFM on a DataFrame of orders shaped like the demo's, without a database.

The frame is generated with NumPy (seeded): 4,187,178 orders of 888,701 customers, as many as the
segmentation benchmark's demo business counts (seed 42), one row per order in the order placed
(times over three years, as ``patron.insights.data.transactions_frame`` reads them), every
customer with at least one order and the rest spread over the customers by a skewed (gamma)
propensity. Customer and order ids are random UUIDs as text (36 characters), amounts gamma-
distributed and rounded to cents, times ``datetime64[us, UTC]``.

What is timed is ``rfm(frame, as_of=…)`` on the same orders with the ids held three ways: as
pandas' default string dtype (``str``, backed by pyarrow, as ``transactions_frame`` makes them),
as Python strings in an ``object`` column, and as integers. Each is timed ``repeats`` times
(alternating, so load on a shared machine weighs on all alike); the table gives the best and the
median wall time and the CPU time (all threads) of the best run. Then ``RFMSegmenter.fit`` on the
resulting table (k chosen from 3 to 8), split as the segmentation benchmark splits it: the k-means
fits (on the samples and the final one), the silhouettes, the rest (features, naming, summaries).

Run it alone: ``.venv/bin/python -m bench rfm``; ``python bench/bench_rfm.py`` prints JSON.
``PATRON_BENCH_RFM_SEGMENTER=0`` leaves the segmenter out.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

ORDERS = 4_187_178
CUSTOMERS = 888_701
SEED = 42
AS_OF = "2026-01-01"
KINDS = ("str (pyarrow)", "object", "int64")
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def uuid_text(rng: np.random.Generator, n: int) -> pa.LargeStringArray:
    """``n`` random version-4 UUIDs as text with dashes, built as one Arrow buffer."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX[raw >> 4]
    digits[:, 1::2] = _HEX[raw & 0x0F]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    for start, stop, into in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, into : into + stop - start] = digits[:, start:stop]
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text.tobytes()))


def orders_frame(
    kind: str = "str (pyarrow)",
    *,
    orders: int = ORDERS,
    customers: int = CUSTOMERS,
    seed: int = SEED,
) -> pd.DataFrame:
    """The orders, one row each, ids held as ``kind`` (one of :data:`KINDS`)."""
    rng = np.random.default_rng(seed)
    propensity = rng.gamma(0.6, 1.0, customers)
    extra = rng.choice(customers, size=orders - customers, p=propensity / propensity.sum())
    who = np.concatenate([np.arange(customers), extra])
    who = who[rng.permutation(orders)]  # then placed in time order below
    start = np.datetime64("2023-01-01T00:00:00", "us").astype(np.int64)
    span = 3 * 365 * 86_400 * 1_000_000
    times = np.sort(start + rng.integers(0, span, orders))
    amounts = np.round(rng.gamma(2.0, 40.0, orders), 2)
    if kind == "int64":
        customer_ids: Any = pd.Series(rng.permutation(customers)[who].astype(np.int64))
        order_ids: Any = pd.Series(rng.permutation(orders).astype(np.int64))
    else:
        customer_text = uuid_text(rng, customers).take(pa.array(who))
        order_text = uuid_text(rng, orders)
        dtype = str if kind == "str (pyarrow)" else object
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        customer_ids = pd.Series(customer_text, dtype=dtype)
        order_ids = pd.Series(order_text, dtype=dtype)
    return pd.DataFrame(
        {
            "customer_id": customer_ids,
            "order_id": order_ids,
            "ordered_at": pd.Series(times.astype("datetime64[us]")).dt.tz_localize("UTC"),
            "amount": amounts,
        }
    )


def _time_rfm(frame: pd.DataFrame) -> tuple[float, float, pd.DataFrame]:
    from patron.analytics.rfm import rfm

    cpu = time.process_time()
    started = time.perf_counter()
    table = rfm(frame, as_of=AS_OF)
    return time.perf_counter() - started, time.process_time() - cpu, table


def _segmenter(table: pd.DataFrame) -> dict[str, float]:
    from bench.bench_segmentation import _Clock
    from patron.analytics.segmentation import RFMSegmenter

    clock = _Clock()
    clock.install()
    cpu = time.process_time()
    started = time.perf_counter()
    segmenter = RFMSegmenter(k_range=(3, 8)).fit(table)
    fitting = time.perf_counter() - started
    cpu = time.process_time() - cpu
    taken = clock.take(len(table))
    fits = taken["final fit"] + taken["sample fits"]
    return {
        "fit": fitting,
        "cpu": cpu,
        "k-means fits": fits,
        **taken,
        "rest": fitting - fits - taken["silhouettes"],
        "k": int(segmenter.k_),
    }


def run(repeats: int = 3) -> dict[str, Any]:
    load = os.getloadavg()[0]
    frames = {kind: orders_frame(kind) for kind in KINDS}
    timings: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
    tables = {}
    for _ in range(repeats):
        for kind in KINDS:
            seconds, cpu, tables[kind] = _time_rfm(frames[kind])
            timings[kind].append((seconds, cpu))
    first = tables[KINDS[0]]
    same = first.equals(tables["object"])
    rows = []
    for kind in KINDS:
        best = min(timings[kind])
        rows.append({"ids": kind, "best s": best[0],
                     "median s": statistics.median(t[0] for t in timings[kind]),
                     "CPU s (best)": best[1]})  # fmt: skip
    notes = [
        f"{ORDERS:,} orders of {CUSTOMERS:,} customers (seed {SEED}); rfm(frame, as_of="
        f"{AS_OF!r}), {repeats} runs of each, alternating. Load average before: {load:.1f}.",
        "str and object ids give the same table: " + ("yes." if same else "NO."),
    ]
    segmenter = None
    if os.environ.get("PATRON_BENCH_RFM_SEGMENTER", "1") != "0":
        segmenter = _segmenter(first)
        fastest = min(row["best s"] for row in rows[:2])
        around = fastest + segmenter["silhouettes"] + segmenter["rest"]
        notes.append(
            f"RFMSegmenter.fit on the table (k = {segmenter['k']}): {segmenter['fit']:.1f} s "
            f"(CPU {segmenter['cpu']:.1f} s): k-means fits {segmenter['k-means fits']:.1f} s "
            f"(final {segmenter['final fit']:.1f} s, samples {segmenter['sample fits']:.2f} s), "
            f"silhouettes {segmenter['silhouettes']:.2f} s, the rest (features, naming, "
            f"summaries) {segmenter['rest']:.2f} s."
        )
        notes.append(
            f"rfm() on text ids (best, {fastest:.1f} s) plus the silhouettes and the rest: "
            f"{around:.1f} s, against the k-means fits' {segmenter['k-means fits']:.1f} s: "
            + ("within." if around <= segmenter["k-means fits"] else "NOT within.")
        )
    return {
        "title": f"rfm() on a DataFrame of {ORDERS:,} orders",
        "columns": ["ids", "best s", "median s", "CPU s (best)"],
        "rows": rows,
        "notes": notes,
        "segmenter": segmenter,
    }


if __name__ == "__main__":
    outcome = run()
    print(json.dumps({k: v for k, v in outcome.items() if k not in ("columns",)}, default=str))
