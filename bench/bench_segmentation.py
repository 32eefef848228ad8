"""Segmentation at scale: a million customers from the SQLite database through to stored segments.

The database is the demo business with 1,000,000 customers (seed 42: about 4.5 million orders
and 10.4 million order lines). Generating it takes many minutes, so it is made once and kept
outside the repository, in ``$PATRON_BENCH_CACHE`` or else ``patron-bench/`` in the system's
temporary directory, and reused while it is there.

Everything is measured in one child process (its peak memory is its own):

* **through the service**: an analysis run with the default parameters (k chosen from 3 to 8)
  executed as the worker executes it, timed by phase from its progress reports: reading the
  per-customer totals the database adds up, the RFM scores, choosing k (k-means on a
  10,000-customer sample for each candidate, and the silhouettes), the final k-means fit on
  everyone, storing (segments, their members, each customer's insight, the commit). First on a
  database with no analysis segments yet, then once more, which updates the million insights and
  replaces the memberships that changed;
* **on a DataFrame**: the library, ``rfm`` on every order as a DataFrame (customer, order, time,
  amount, as ``patron.insights.data.transactions_frame`` reads it) and ``RFMSegmenter.fit`` on the
  RFM table, its time split into the k-means fits, the silhouettes and the rest (features,
  naming, summaries).

Before measuring, the child removes what earlier runs of this benchmark stored (analysis
segments, their members, customer insights, segmentation runs), untimed. Times are wall clock;
CPU time (all threads of the process) is reported beside them, as the machine may be shared.

Run it alone: ``.venv/bin/python -m bench segmentation``. Build the database ahead with
``.venv/bin/python -m bench.bench_segmentation --build``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.keys import kept_keys

CUSTOMERS = 1_000_000
SEED = 42
TARGET_SECONDS = 60.0
CACHE_VARIABLE = "PATRON_BENCH_CACHE"
PHASES = ("read", "RFM", "choose k", "final fit", "store")


def cache_dir() -> Path:
    """Where the generated database is kept between runs: ``$PATRON_BENCH_CACHE`` or a folder in
    the system's temporary directory (outside the repository)."""
    folder = os.environ.get(CACHE_VARIABLE) or str(Path(tempfile.gettempdir()) / "patron-bench")
    return Path(folder)


def database_path(customers: int = CUSTOMERS, seed: int = SEED) -> Path:
    """The demo database with ``customers`` customers, generated once and then reused."""
    kept_keys(cache_dir())  # the database's personal fields are encrypted with these
    path = cache_dir() / f"segmentation-{customers}-seed{seed}.db"
    if path.exists():
        return path
    from patron.db import migrate
    from patron.db.engine import Database
    from patron.demo import generate

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for leftover in path.parent.glob(partial.name + "*"):
        leftover.unlink()
    print(f"generating {customers:,} demo customers into {path} …", file=sys.stderr, flush=True)
    started = time.perf_counter()
    database = Database(f"sqlite:///{partial}")
    migrate.upgrade(database.engine)
    generate(database, customers=customers, seed=seed)
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    partial.rename(path)
    print(f"generated in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return path


# --- in the child process ----------------------------------------------------------------------
class _Clock:
    """Times the segmenter's k-means fits (by the number of points fitted) and silhouettes."""

    def __init__(self) -> None:
        self.fits: list[tuple[int, float]] = []
        self.silhouettes = 0.0

    def install(self) -> None:
        from sklearn.cluster import KMeans

        from patron.analytics import segmentation

        clock = self

        class TimedKMeans(KMeans):  # type: ignore[misc]
            def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:  # noqa: N803
                started = time.perf_counter()
                try:
                    return super().fit(X, y, sample_weight)
                finally:
                    clock.fits.append((len(X), time.perf_counter() - started))

        def timed_kmeans(segmenter: Any, k: int) -> KMeans:
            return TimedKMeans(
                n_clusters=k, n_init=segmenter.n_init, random_state=segmenter.random_state
            )

        depth = [0]  # silhouette functions call each other: time the outermost call only

        def timed(function: Any) -> Any:
            def run(*args: Any) -> Any:
                depth[0] += 1
                started = time.perf_counter()
                try:
                    return function(*args)
                finally:
                    depth[0] -= 1
                    if depth[0] == 0:
                        clock.silhouettes += time.perf_counter() - started

            return run

        segmentation.RFMSegmenter._kmeans = timed_kmeans  # type: ignore[method-assign]
        # Every function fit computes silhouettes with: the candidates' distance sums, their
        # scores, silhouette_'s corrected sums, and its full pass where correcting is not worth it.
        for name in (
            "mean_silhouettes",
            "_distance_sums",
            "_silhouette_from_sums",
            "_relabelled_silhouette",
        ):
            setattr(segmentation, name, timed(getattr(segmentation, name)))

    def take(self, n: int) -> dict[str, float]:
        """Seconds in fits on everyone, in fits on samples and in silhouettes, since last taken."""
        taken = {
            "final fit": sum(seconds for size, seconds in self.fits if size == n),
            "sample fits": sum(seconds for size, seconds in self.fits if size != n),
            "silhouettes": self.silhouettes,
        }
        self.fits.clear()
        self.silhouettes = 0.0
        return taken


def _reset(database: Any) -> None:
    """Forget what earlier runs of this benchmark stored."""
    with database.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM customer_insight")
        connection.exec_driver_sql("DELETE FROM segment WHERE source = 'analysis'")
        connection.exec_driver_sql(
            "DELETE FROM job WHERE id IN "
            "(SELECT job_id FROM analysis_run WHERE kind = 'segmentation')"
        )
        connection.exec_driver_sql("DELETE FROM analysis_run WHERE kind = 'segmentation'")
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _service_run(database: Any, clock: _Clock) -> dict[str, Any]:
    from patron.insights import service
    from patron.insights.models import AnalysisRun
    from patron.insights.schemas import RunCreate
    from patron.security.permissions import Principal

    with database.unit_of_work() as session:
        run = service.runs.start(session, Principal.system(), RunCreate(kind="segmentation"))
        run_id: uuid.UUID = run.id
    marks: dict[str, float] = {}

    def report(_value: float, message: str | None) -> None:
        marks[message or ""] = time.perf_counter()

    load = os.getloadavg()[0]
    cpu = time.process_time()
    started = time.perf_counter()
    service.execute(database, run_id, report)
    finished = time.perf_counter()
    cpu = time.process_time() - cpu
    with database.unit_of_work(write=False) as session:
        stored = session.get(AnalysisRun, run_id)
        if stored is None or stored.status != "succeeded":
            raise RuntimeError(f"the run did not succeed: {stored and stored.error}")
        metrics = dict(stored.metrics)
    n = int(metrics["n_customers"])
    taken = clock.take(n)
    clustering = marks["storing results"] - marks["clustering"]
    return {
        "seconds": finished - started,
        "cpu_seconds": cpu,
        "read": marks["computing RFM"] - started,  # includes marking the run as running
        "RFM": marks["clustering"] - marks["computing RFM"],
        "choose k": clustering - taken["final fit"],
        "final fit": taken["final fit"],
        "sample fits": taken["sample fits"],
        "silhouettes": taken["silhouettes"],
        "store": finished - marks["storing results"],  # includes the commit
        "customers": n,
        "k": int(metrics["k"]),
        "load_before": load,
    }


def _dataframe_run(frame: Any, clock: _Clock) -> dict[str, Any]:
    from patron.analytics.rfm import rfm
    from patron.analytics.segmentation import RFMSegmenter

    load = os.getloadavg()[0]
    cpu = time.process_time()
    started = time.perf_counter()
    table = rfm(frame)
    features = time.perf_counter() - started
    fit_started = time.perf_counter()
    segmenter = RFMSegmenter(k_range=(3, 8)).fit(table)
    fitting = time.perf_counter() - fit_started
    taken = clock.take(len(table))
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "RFM": features,
        "fit": fitting,
        "choose k": fitting - taken["final fit"],
        **taken,
        "rest of fit": fitting - taken["final fit"] - taken["sample fits"] - taken["silhouettes"],
        "customers": len(table),
        "k": int(segmenter.k_),
        "load_before": load,
    }


def _child(path: str) -> None:
    import resource

    from patron.db.engine import Database
    from patron.insights import data
    from patron.security.permissions import Principal

    database = Database(f"sqlite:///{path}")
    clock = _Clock()
    clock.install()
    _reset(database)
    with database.engine.connect() as connection:
        orders = connection.exec_driver_sql('SELECT count(*) FROM "order"').scalar()
        lines = connection.exec_driver_sql("SELECT count(*) FROM order_line").scalar()
    first = _service_run(database, clock)
    again = _service_run(database, clock)
    started = time.perf_counter()
    frame = data.transactions_frame(database, Principal.system())
    frame_read = time.perf_counter() - started
    on_frame = _dataframe_run(frame, clock)
    on_frame["orders"] = len(frame)
    on_frame["frame read"] = frame_read
    database.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {
        "orders": orders, "order_lines": lines, "first": first, "again": again,
        "dataframe": on_frame, "peak_rss_bytes": peak, "load": os.getloadavg()[0],
    }  # fmt: skip
    print(json.dumps(result))


# --- in the parent -----------------------------------------------------------------------------
def run(customers: int = CUSTOMERS) -> dict[str, Any]:
    path = database_path(customers)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    completed = subprocess.run(
        [sys.executable, __file__, "--child", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the segmentation benchmark failed:\n{completed.stderr}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    first, again, frame = result["first"], result["again"], result["dataframe"]
    rows = []
    for label, measured in (("service, first run", first), ("service, run again", again)):
        rows.append({"path": label, **{phase: measured[phase] for phase in PHASES},
                     "total s": measured["seconds"], "CPU s": measured["cpu_seconds"],
                     "load": measured["load_before"]})  # fmt: skip
    rows.append({"path": "DataFrame: rfm + RFMSegmenter", "RFM": frame["RFM"],
                 "choose k": frame["choose k"], "final fit": frame["final fit"],
                 "total s": frame["seconds"], "CPU s": frame["cpu_seconds"],
                 "load": frame["load_before"]})  # fmt: skip
    fits = frame["final fit"] + frame["sample fits"]
    around = frame["silhouettes"] + frame["rest of fit"]
    slowest = max(first["seconds"], again["seconds"])
    return {
        "title": f"Segmentation: {first['customers']:,} customers from SQLite to stored segments",
        "columns": ["path", *PHASES, "total s", "CPU s", "load"],
        "rows": rows,
        "notes": [
            f"{customers:,} demo customers, {result['orders']:,} orders, "
            f"{result['order_lines']:,} order lines; {first['customers']:,} customers bought; "
            f"k = {first['k']}.",
            f"Target under {TARGET_SECONDS:.0f} s through to stored segments: first run "
            f"{first['seconds']:.1f} s, again {again['seconds']:.1f} s: "
            + ("met." if slowest < TARGET_SECONDS else "NOT met."),
            f"Choosing k (service, first run): sample fits {first['sample fits']:.2f} s, "
            f"silhouettes {first['silhouettes']:.2f} s.",
            f"RFMSegmenter.fit on the DataFrame's RFM table: k-means fits {fits:.1f} s (final "
            f"{frame['final fit']:.1f} s, samples {frame['sample fits']:.2f} s); features, "
            f"silhouettes and summaries {around:.1f} s (silhouettes "
            f"{frame['silhouettes']:.2f} s): " + ("met." if around <= fits else "NOT met."),
            f"rfm() on the DataFrame of {frame['orders']:,} orders took {frame['RFM']:.2f} s "
            f"(reading that DataFrame from the database, {frame['frame read']:.0f} s).",
            f"Counting rfm() on the orders as features too (the stricter reading): "
            f"{frame['RFM'] + around:.2f} s against the fits' {fits:.2f} s: "
            + ("met." if frame["RFM"] + around <= fits else "NOT met."),
            f"Peak RSS {result['peak_rss_bytes'] / 2**20:,.0f} MiB; load average at the end "
            f"{result['load']:.1f}.",
        ],
        "first": first,
        "again": again,
        "dataframe": frame,
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "--build":
        print(database_path(int(sys.argv[2]) if len(sys.argv) > 2 else CUSTOMERS))
    else:
        outcome = run(int(sys.argv[1]) if len(sys.argv) > 1 else CUSTOMERS)
        print(json.dumps({k: v for k, v in outcome.items() if k not in ("rows", "columns")}))
