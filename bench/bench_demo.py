"""``patron demo`` at scale: 100,000 customers (about a million order lines) into SQLite.

The load runs in a child process, so its peak resident memory is its own and not that of
whatever ran before it; the child builds a temporary SQLite database with the migrations,
generates the demo and reports back. Time is wall clock for :func:`patron.demo.generate` alone
(the migrations are reported apart); it includes hashing the 19 staff passwords with Argon2.

Run it alone: ``.venv/bin/python -m bench demo`` or ``.venv/bin/python bench/bench_demo.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CUSTOMERS = 100_000
SEED = 42


def _timed(module: Any, name: str) -> list[float]:
    """Wrap ``module.name`` to add up the wall and CPU seconds spent in it (here: sealing the
    encrypted columns and computing blind indexes before the bulk insert). CPU time is this
    thread's own, so it holds on a busy machine where the wall clock does not."""
    spent = [0.0, 0.0]
    original = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started
            spent[1] += time.thread_time() - cpu

    setattr(module, name, wrapper)
    return spent


def _child(path: str, customers: int) -> None:
    import resource

    from patron.db import migrate
    from patron.db.engine import Database
    from patron.demo import generate, writer
    from patron.security import crypto

    crypto.use_keyring(crypto.Keyring.generate())  # a throwaway keyring for the encrypted columns
    sealing = _timed(writer, "encode_bulk_columns")
    database = Database(f"sqlite:///{path}")
    started = time.perf_counter()
    migrate.upgrade(database.engine)
    migrated = time.perf_counter()
    cpu = time.process_time()
    summary = generate(database, customers=customers, seed=SEED)
    finished = time.perf_counter()
    cpu = time.process_time() - cpu
    database.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kibibytes
    print(
        json.dumps(
            {
                "migrate_seconds": migrated - started,
                "seconds": finished - migrated,
                "cpu_seconds": cpu,
                "encryption_seconds": sealing[0],
                "encryption_cpu_seconds": sealing[1],
                "counts": summary.counts,
                "peak_rss_bytes": peak,
                "database_bytes": os.path.getsize(path),
            }
        )
    )


def run(customers: int = CUSTOMERS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="patron-bench-demo-") as folder:
        path = str(Path(folder) / "demo.db")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        completed = subprocess.run(
            [sys.executable, __file__, "--child", path, str(customers)],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
    if completed.returncode != 0:
        raise RuntimeError(f"the demo benchmark failed:\n{completed.stderr}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    counts: dict[str, int] = result["counts"]
    rows_written = sum(counts.values())
    seconds = result["seconds"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "title": f"Demo data: {customers:,} customers into SQLite",
        "columns": [
            "customers",
            "orders",
            "order lines",
            "all rows",
            "seconds",
            "rows/s",
            "CPU s",
            "peak RSS MiB",
            "database MiB",
        ],
        "rows": [
            {
                "customers": counts["customer"],
                "orders": counts["order"],
                "order lines": counts["order_line"],
                "all rows": rows_written,
                "seconds": seconds,
                "rows/s": rows_written / seconds,
                "CPU s": result["cpu_seconds"],
                "peak RSS MiB": result["peak_rss_bytes"] / 2**20,
                "database MiB": result["database_bytes"] / 2**20,
            }
        ],
        "notes": [
            "Rows per table: " + ", ".join(f"{name} {n:,}" for name, n in counts.items()) + ".",
            f"Migrations on the empty database took {result['migrate_seconds']:.1f} s (not "
            f"counted). Load average at the end: {load:.1f}.",
            f"Field encryption (AES-256-GCM of emails, phones, address lines, notes, activity "
            f"and ticket bodies; blind indexes) took {result['encryption_seconds']:.1f} s of it "
            f"({result['encryption_cpu_seconds']:.1f} s of CPU).",
        ],
        "seconds": seconds,
        "cpu_seconds": result["cpu_seconds"],
        "encryption_seconds": result["encryption_seconds"],
        "counts": counts,
        "order_lines": counts["order_line"],
        "peak_rss_mib": result["peak_rss_bytes"] / 2**20,
        "database_mib": result["database_bytes"] / 2**20,
    }


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], int(sys.argv[3]))
    else:
        outcome = run(int(sys.argv[1]) if len(sys.argv) > 1 else CUSTOMERS)
        print(json.dumps({k: v for k, v in outcome.items() if k not in ("rows", "columns")}))
