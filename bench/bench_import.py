"""Imports in bounded memory: rows per second and peak resident memory against the file's size.

Data: a CSV of N customers (external id, name in lower case, email, phone with spaces, city,
country; every 1,000th email broken so the error file is used), written to a temporary folder.
For each N in :data:`SIZES` and each database (SQLite, and PostgreSQL when asked), a fresh
database is migrated, then each mode runs in a fresh child process as ``patron import customers
FILE`` runs it (``create_import`` + ``run_import`` as the system principal, batches of 1,000):

- ``dry``: a dry run on the empty database (every batch rolled back; the run remembers what it
  wrote in a temporary file, so its memory must stay flat too);
- ``import``: the import itself (cleaning, matching, ``create_many`` with its events and audit
  entries, the import links, the cursor committed with each batch);
- ``again``: the same file once more: every row found and unchanged, nothing written.

Each row reports wall and CPU seconds, rows per second, the counts, the child's resident memory
before the run and its peak (``ru_maxrss``, the whole process), and the 1-minute load average
when it ended. The "read + clean only" row streams a 1,000,000-row file through the reader, the
mapping and the cleaning in batches, without the database.

Run: ``python -m bench import``. Knobs: ``PATRON_BENCH_IMPORT_SIZES=10000,1000000``,
``PATRON_BENCH_IMPORT_MODES=dry,import,again``, ``PATRON_BENCH_IMPORT_DATABASES=sqlite,postgresql``
(PostgreSQL: a scratch database on ``PATRON_BENCH_POSTGRES_URL``, by default the local server),
``PATRON_BENCH_IMPORT_READ=0`` to leave out the read-only row.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.keys import throwaway_keys

SIZES = (10_000, 100_000)
MODES = ("import", "again")
DATABASES = ("sqlite",)
READ_SIZES = (1_000_000,)
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as stream:
        stream.write("id,name,email,phone,city,country\n")
        for index in range(rows):
            email = "broken" if index % 1000 == 999 else f"person{index}@example.com"
            stream.write(
                f"ext-{index:07d},person number {index},{email},+1 212 555 {index % 10000:04d},"
                f"city {index % 500},us\n"
            )


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(folder: str, url: str, mode: str) -> dict[str, Any]:
    """One run of the import of ``folder``/customers.csv into ``url``, measured."""
    from patron.db.engine import Database
    from patron.integration import imports
    from patron.integration.imports_read import Limits
    from patron.security.permissions import Principal

    database = Database(url)
    source = Path(folder) / "customers.csv"
    rows = sum(1 for _ in source.open(encoding="utf-8")) - 1
    baseline = _peak_mib()
    started, cpu = time.perf_counter(), time.process_time()
    with database.unit_of_work() as session:
        run = imports.create_import(
            session,
            Principal.system(),
            entity="customers",
            path=source,
            limits=Limits(),
            dry_run=mode == "dry",
        )
        import_id = run.id
    done = imports.run_import(database, import_id, limits=Limits(), data_dir=Path(folder))
    seconds = time.perf_counter() - started
    database.dispose()
    return {
        "mode": mode,
        "rows": rows,
        "seconds": seconds,
        "CPU s": time.process_time() - cpu,
        "rows/s": rows / seconds,
        "created": done.created,
        "updated": done.updated,
        "unchanged": done.unchanged,
        "rejected": done.rejected,
        "RSS before (MiB)": baseline,
        "peak RSS (MiB)": _peak_mib(),
        "file (MiB)": source.stat().st_size / 2**20,
        "load": os.getloadavg()[0],
    }


def child_migrate(url: str) -> None:
    from patron.db import migrate
    from patron.db.engine import Database

    database = Database(url)
    migrate.upgrade(database.engine)
    database.dispose()


def child_read(folder: str, rows: int) -> dict[str, Any]:
    """The file side alone: read, map and clean every row, in batches, without the database."""
    from patron.integration import imports
    from patron.integration.imports_entities import spec_for
    from patron.integration.imports_read import Limits, open_source

    source_path = Path(folder) / "customers.csv"
    write_csv(source_path, rows)
    spec = spec_for("customers")
    baseline = _peak_mib()
    started, cpu = time.perf_counter(), time.process_time()
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
        "database": "none",
        "mode": "read + clean only",
        "rows": rows,
        "seconds": seconds,
        "CPU s": time.process_time() - cpu,
        "rows/s": rows / seconds,
        "created": f"{cleaned:,} cleaned",
        "rejected": rejected,
        "peak RSS (MiB)": _peak_mib(),
        "RSS before (MiB)": baseline,
        "file (MiB)": source_path.stat().st_size / 2**20,
        "load": os.getloadavg()[0],
    }


def _setting(name: str, default: tuple[Any, ...], kind: type = str) -> tuple[Any, ...]:
    configured = os.environ.get(name)
    if not configured:
        return default
    return tuple(kind(part.strip()) for part in configured.split(",") if part.strip())


def _in_child(call: str) -> Any:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    code = f"import json; import bench.bench_import as b; print(json.dumps(b.{call}))"
    output = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


@contextmanager
def _database(kind: str, folder: str) -> Iterator[str]:
    """A fresh, migrated database of ``kind`` (a SQLite file in ``folder``, or a scratch
    PostgreSQL database, dropped afterwards)."""
    if kind == "sqlite":
        url = f"sqlite:///{folder}/import.db"
        _in_child(f"child_migrate({url!r})")
        yield url
        return
    from sqlalchemy import create_engine, text

    admin_url = os.environ.get("PATRON_BENCH_POSTGRES_URL", POSTGRES_URL)
    name = f"patron_bench_import_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        _in_child(f"child_migrate({url!r})")
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run() -> dict[str, Any]:
    throwaway_keys()
    table = []
    modes = _setting("PATRON_BENCH_IMPORT_MODES", MODES)
    for kind in _setting("PATRON_BENCH_IMPORT_DATABASES", DATABASES):
        for rows in _setting("PATRON_BENCH_IMPORT_SIZES", SIZES, int):
            with (
                tempfile.TemporaryDirectory(prefix="patron-bench-import-") as folder,
                _database(kind, folder) as url,
            ):
                write_csv(Path(folder) / "customers.csv", rows)
                for mode in sorted(modes, key=("dry", "import", "again").index):
                    result = _in_child(f"child({folder!r}, {url!r}, {mode!r})")
                    table.append({"database": kind, **result})
    if os.environ.get("PATRON_BENCH_IMPORT_READ", "1") != "0":
        for rows in READ_SIZES:
            with tempfile.TemporaryDirectory(prefix="patron-bench-import-") as folder:
                table.append(_in_child(f"child_read({folder!r}, {rows})"))
    return {
        "title": "Import: customers CSV (patron import customers FILE)",
        "columns": [
            "database",
            "mode",
            "rows",
            "file (MiB)",
            "seconds",
            "CPU s",
            "rows/s",
            "created",
            "updated",
            "unchanged",
            "rejected",
            "RSS before (MiB)",
            "peak RSS (MiB)",
            "load",
        ],
        "rows": table,
        "notes": [
            "Each mode runs in a fresh child process; peak RSS is that whole process (Python, "
            "SQLAlchemy and the drivers loaded).",
            "'again' imports the same file into the database 'import' filled: every row is "
            "unchanged and nothing is written.",
            "'read + clean only' streams the file through the reader, mapping and cleaning in "
            "batches, without the database: the file side of an import.",
        ],
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
