"""Imports in bounded memory: rows per second and peak resident memory against the file's size.

Data: a CSV of N customers (external id, name in lower case, email, phone with spaces, city,
country; every 1,000th email broken so the error file is used), written to a temporary folder.
For each N in :data:`SIZES` a fresh child process migrates a fresh SQLite database, notes its
resident memory after importing Patron, then runs the import as ``patron import customers FILE``
does (``create_import`` + ``run_import`` as the system principal: cleaning, upsert through the
customer service, events, import links, the cursor committed per batch of 1,000). It reports the
rows per second and the peak resident set size (``ru_maxrss``) of the whole process.

Run: ``python -m bench import`` (sizes: ``PATRON_BENCH_IMPORT_SIZES=10000,100000,1000000``).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIZES = (10_000, 100_000)


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as stream:
        stream.write("id,name,email,phone,city,country\n")
        for index in range(rows):
            email = "broken" if index % 1000 == 999 else f"person{index}@example.com"
            stream.write(
                f"ext-{index:07d},person number {index},{email},+1 212 555 {index % 10000:04d},"
                f"city {index % 500},us\n"
            )


def child(folder: str, rows: int) -> dict[str, Any]:
    from patron.db import migrate
    from patron.db.engine import Database
    from patron.integration import imports
    from patron.integration.imports_read import Limits
    from patron.security.permissions import Principal

    database = Database(f"sqlite:///{folder}/import.db")
    migrate.upgrade(database.engine)
    source = Path(folder) / "customers.csv"
    write_csv(source, rows)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    with database.unit_of_work() as session:
        run = imports.create_import(
            session, Principal.system(), entity="customers", path=source, limits=Limits()
        )
        import_id = run.id
    done = imports.run_import(database, import_id, limits=Limits(), data_dir=Path(folder))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rows": rows,
        "seconds": seconds,
        "rows/s": rows / seconds,
        "created": done.created,
        "rejected": done.rejected,
        "peak RSS (MiB)": peak,
        "RSS before (MiB)": baseline,
        "file (MiB)": source.stat().st_size / 2**20,
    }


def child_read(folder: str, rows: int) -> dict[str, Any]:
    """The file side alone: read, map and clean every row, in batches, without the database."""
    from patron.integration import imports
    from patron.integration.imports_entities import spec_for
    from patron.integration.imports_read import Limits, open_source

    source_path = Path(folder) / "customers.csv"
    write_csv(source_path, rows)
    spec = spec_for("customers")
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    source = open_source(source_path, "csv", Limits())
    mapping = imports.effective_mapping(spec, imports.Mapping(), source.headers)
    options = imports.cleaning_options({}, "US")
    cleaned = rejected = 0
    for batch in imports._batches(source, 0, imports.BATCH_SIZE):
        for row in batch:
            try:
                spec.clean(imports.map_row(mapping, row.values), options)
                cleaned += 1
            except imports.RowError:
                rejected += 1
    source.close()
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": seconds,
        "rows/s": rows / seconds,
        "created": f"{cleaned:,} cleaned",
        "rejected": rejected,
        "peak RSS (MiB)": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "RSS before (MiB)": baseline,
        "file (MiB)": source_path.stat().st_size / 2**20,
    }


READ_SIZES = (1_000_000,)


def sizes() -> tuple[int, ...]:
    configured = os.environ.get("PATRON_BENCH_IMPORT_SIZES")
    return tuple(int(part) for part in configured.split(",")) if configured else SIZES


def run() -> dict[str, Any]:
    table = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = [("child", rows) for rows in sizes()] + [("child_read", rows) for rows in READ_SIZES]
    for function, rows in runs:
        with tempfile.TemporaryDirectory(prefix="patron-bench-import-") as folder:
            code = (
                f"import json, sys; from bench.bench_import import {function}; "
                f"print(json.dumps({function}({folder!r}, {rows})))"
            )
            output = subprocess.run(
                [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
            ).stdout
            result = json.loads(output.strip().splitlines()[-1])
            result["mode"] = "import" if function == "child" else "read + clean only"
            table.append(result)
    return {
        "title": "Import: customers CSV into SQLite (patron import customers FILE)",
        "columns": [
            "rows",
            "file (MiB)",
            "seconds",
            "rows/s",
            "created",
            "rejected",
            "RSS before (MiB)",
            "peak RSS (MiB)",
        ],
        "rows": table,
        "notes": [
            "Peak RSS is the whole process (Python, SQLAlchemy, pyarrow loaded).",
            "'read + clean only' streams the file through the reader, mapping and cleaning in "
            "batches, without the database: the file side of an import.",
        ],
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
