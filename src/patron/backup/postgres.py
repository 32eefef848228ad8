"""PostgreSQL: ``pg_dump`` and ``pg_restore`` of the server's major version.

The backup's transaction exports its snapshot and ``pg_dump --snapshot`` dumps exactly that
snapshot, so the dump and the manifest's checksums (read in the same transaction) agree while
the app keeps writing. Passwords reach the tools through ``PGPASSWORD``, never the command line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from patron.backup.errors import BackupError, BackupToolMissing

VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")
CLEAR_QUERIES = [
    ("VIEW", "SELECT viewname FROM pg_views WHERE schemaname = current_schema()"),
    ("TABLE", "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"),
    ("SEQUENCE", "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()"),
    (
        "ROUTINE",
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema() "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')",
    ),
    (
        "TYPE",
        "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd', 'r') "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')",
    ),
]


def server_major(connection: Connection) -> int:
    number = int(connection.execute(text("SHOW server_version_num")).scalar_one())
    return number // 10000


def server_version(connection: Connection) -> str:
    return str(connection.execute(text("SHOW server_version")).scalar_one()).split()[0]


def _candidates(name: str, major: int, bin_dir: Path | None) -> list[Path]:
    places = [bin_dir] if bin_dir else []
    places += [Path(f"/usr/lib/postgresql/{major}/bin"), Path(f"/usr/pgsql-{major}/bin")]
    found = [place / name for place in places]
    on_path = shutil.which(name)
    if on_path:
        found.append(Path(on_path))
    return found


def tool_major(path: Path) -> int | None:
    try:
        output = subprocess.run(  # noqa: S603 - a fixed client tool, no shell
            [str(path), "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = VERSION.search(output)
    return int(match.group(1)) if match else None


def find_tool(name: str, major: int, bin_dir: Path | None) -> Path:
    """``pg_dump`` or ``pg_restore`` of the server's major version, or a clear error."""
    looked = _candidates(name, major, bin_dir)
    for path in looked:
        if path.is_file() and os.access(path, os.X_OK) and tool_major(path) == major:
            return path
    places = ", ".join(str(path) for path in looked) or "PATH"
    raise BackupToolMissing(
        f"{name} of PostgreSQL {major} (the server's version) was not found; looked at {places}. "
        f"Install the PostgreSQL {major} client tools (Debian: postgresql-client-{major}) or set "
        "PATRON_BACKUP_PG_BIN_DIR to the folder that holds them."
    )


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A connection string without the password, and the environment that carries it."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    bare = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    )
    return bare.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise BackupError(f"{what} failed: " + " / ".join(message))


def dump(tool: Path, url: str, snapshot: str, target: Path) -> None:
    dsn, env = _libpq(url)
    command = [str(tool), "--format=custom", "--compress=0", f"--snapshot={snapshot}",
               f"--file={target}", f"--dbname={dsn}"]  # fmt: skip
    _run(command, env, "pg_dump")


def restore(tool: Path, url: str, source: Path) -> None:
    dsn, env = _libpq(url)
    command = [str(tool), "--no-owner", "--no-privileges", "--exit-on-error",
               "--single-transaction", f"--dbname={dsn}", str(source)]  # fmt: skip
    _run(command, env, "pg_restore")


def clear_schema(engine: Engine) -> None:
    """Drop every view, table, sequence, routine and type of the current schema.

    What an extension owns is left alone (``pg_restore`` re-creates extensions if needed).
    """
    with engine.begin() as connection:
        for kind, query in CLEAR_QUERIES:
            for (name,) in connection.execute(text(query)).all():
                quoted = name if kind == "ROUTINE" else '"' + name.replace('"', '""') + '"'
                connection.execute(text(f"DROP {kind} IF EXISTS {quoted} CASCADE"))


def create_database(url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url``; returns its URL."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        raise BackupError(
            f"Could not create the scratch database {name} (the user needs CREATEDB): {exc}"
        ) from exc
    finally:
        admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, name: str) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
