"""Exports in constant memory: peak resident memory against the number of rows exported.

Data: :data:`CUSTOMERS` customers written straight into a fresh SQLite file built by the
migrations (SQLAlchemy Core ``executemany``; names, emails, addresses, tags, custom fields and, on
every tenth row, a note that starts with ``=`` so the CSV writer has formulas to neutralise).
Their ``created_at`` is one second apart, so the ``created_before`` filter picks exactly the first
N of them.

For each format and each N in :data:`SIZES`, a fresh child process imports everything, exports 500
rows once to warm up (imports, pyarrow, caches), notes its resident memory and forgets its peak so
far, then runs the real export: ``open_export`` + the format's writer to a file, as ``patron
export customers --format F --filter created_before=... --output FILE`` does. It reports the peak
resident set size of the export (Linux's ``VmHWM``, reset after the warm-up; ``ru_maxrss``, the
whole process's peak, where it cannot be reset) minus the memory noted before the export: what
the export itself added. Without the reset the first export's one-off peak (the exportable
entities' modules being imported, some 55-70 MiB that is given back) hid the export's own. The
"list" row holds every row in a Python list before writing the CSV, the way a naive export would,
to show that the measurement does see memory that grows with the rows.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.keys import throwaway_keys


def _setting(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


# ``PATRON_BENCH_EXPORT_CUSTOMERS=1000000 PATRON_BENCH_EXPORT_SIZES=1000000
# PATRON_BENCH_EXPORT_MODES=csv,parquet`` measures a million-row export.
CUSTOMERS = int(os.environ.get("PATRON_BENCH_EXPORT_CUSTOMERS", "200000"))
SIZES = tuple(int(size) for size in _setting("PATRON_BENCH_EXPORT_SIZES", "25000,100000,200000"))
MODES = tuple(_setting("PATRON_BENCH_EXPORT_MODES", "csv,parquet,jsonl,csv-list"))
# ``PATRON_BENCH_EXPORT_ANALYZE=1`` runs SQLite's ANALYZE on the built file. Patron never does, and
# without statistics SQLite reads each batch through the merged_into_id index (the customer list's
# ``merged_into_id IS NULL``), scanning and sorting the whole table; with them it walks the id
# index and stops at the batch's end. The switch shows what that costs.
ANALYZE = os.environ.get("PATRON_BENCH_EXPORT_ANALYZE", "") not in ("", "0")
START = datetime(2026, 1, 1, tzinfo=UTC)
COUNTRIES = ("DE", "FR", "US", "GB", "NL", "ES", "IT", "PL")


def build(path: str, customers: int = CUSTOMERS) -> None:
    from sqlalchemy import insert

    from patron.customers.models import Customer
    from patron.db import migrate
    from patron.db.engine import Database
    from patron.kit.ids import new_id

    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database.engine)
    table = Customer.__table__
    with database.engine.begin() as connection:
        for start in range(0, customers, 20_000):
            rows = []
            for index in range(start, min(start + 20_000, customers)):
                at = START + timedelta(seconds=index)
                rows.append(
                    {
                        "id": new_id(),
                        "created_at": at,
                        "updated_at": at,
                        "version": 1,
                        "kind": "person",
                        "name": f"Customer {index:07d}",
                        "email": f"customer{index}@example.com",
                        "phone": "+49 30 1234567",
                        "address_line1": f"{index % 300} Main Street",
                        "city": "Berlin",
                        "postal_code": f"{10000 + index % 9000}",
                        "country": COUNTRIES[index % len(COUNTRIES)],
                        "tags": ["vip", "b2b"] if index % 3 == 0 else ["newsletter"],
                        "lifecycle_stage": "customer",
                        "source": "bench",
                        "notes": '=HYPERLINK("x")' if index % 10 == 0 else "Met at the fair.",
                        "custom_fields": {"score": index % 100, "segment": "retail"},
                    }
                )
            connection.execute(insert(table), rows)
        if ANALYZE:
            connection.exec_driver_sql("ANALYZE")
    database.dispose()


def _rss_kib() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _reset_peak() -> bool:
    """Forget the peak resident set so far (Linux), so that the next one read is the export's."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _peak_kib(reset: bool) -> int:
    """The peak resident set since the reset (``VmHWM``), else the process's (``ru_maxrss``)."""
    if reset:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(path: str, mode: str, rows: int) -> dict[str, Any]:
    from patron.db.engine import Database
    from patron.integration import exports
    from patron.security.permissions import Principal

    database = Database(f"sqlite:///{path}")
    fmt = mode.removesuffix("-list")
    target = Path(path).with_name(f"out-{mode}-{rows}.{fmt}")
    principal = Principal.system()

    def one(count: int) -> None:
        cutoff = (START + timedelta(seconds=count)).isoformat()
        with database.unit_of_work(write=False) as session:
            export = exports.open_export(
                session, principal, "customers", {"created_before": cutoff}
            )
            source: Any = list(export.rows) if mode.endswith("-list") else export.rows
            with target.open("wb") as stream:
                exports.write(fmt, source, stream, export.columns)

    one(500)
    reset = _reset_peak()
    before = _rss_kib()
    started = time.perf_counter()
    one(rows)
    seconds = time.perf_counter() - started
    peak = _peak_kib(reset)
    return {
        "seconds": seconds,
        "baseline_mib": before / 1024,
        "peak_mib": peak / 1024,
        "growth_mib": max(0, peak - before) / 1024,
        "file_mib": target.stat().st_size / 2**20,
    }


def run(customers: int = CUSTOMERS) -> dict[str, Any]:
    throwaway_keys()
    table: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="patron-bench-export-") as folder:
        path = str(Path(folder) / "export.db")
        started = time.perf_counter()
        build(path, customers)
        build_seconds = time.perf_counter() - started
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        for mode in MODES:
            for rows in SIZES:
                if rows > customers:
                    continue
                completed = subprocess.run(
                    [sys.executable, __file__, "--child", path, mode, str(rows)],
                    capture_output=True,
                    text=True,
                    check=False,
                    env=env,
                )
                if completed.returncode != 0:
                    raise RuntimeError(f"the export benchmark failed:\n{completed.stderr}")
                result = json.loads(completed.stdout.strip().splitlines()[-1])
                table.append(
                    {
                        "format": mode.replace("-list", " (rows in a list)"),
                        "rows": rows,
                        "seconds": result["seconds"],
                        "rows/s": rows / result["seconds"],
                        "RSS before MiB": result["baseline_mib"],
                        "peak RSS MiB": result["peak_mib"],
                        "growth MiB": result["growth_mib"],
                        "file MiB": result["file_mib"],
                    }
                )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "title": f"Exports: {customers:,} customers from SQLite, peak memory against rows",
        "columns": [
            "format",
            "rows",
            "seconds",
            "rows/s",
            "RSS before MiB",
            "peak RSS MiB",
            "growth MiB",
            "file MiB",
        ],
        "rows": table,
        "notes": [
            f"{customers:,} customers written in {build_seconds:.1f} s; load average {load:.1f}"
            + ("; SQLite ANALYZE run on the file." if ANALYZE else "."),
            "growth = peak RSS of the export (VmHWM reset after a 500-row warm-up) minus the RSS "
            "after the warm-up, one process each.",
        ],
    }


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        from bench.__main__ import markdown

        print(markdown(run(int(sys.argv[1]) if len(sys.argv) > 1 else CUSTOMERS)))
