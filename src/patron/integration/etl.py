"""ETL: bring records from another system's database (any SQLAlchemy URL) or a file into Patron.

A job is a YAML file::

    name: shop-customers          # runs of the same name share a watermark
    entity: customers             # what the import command takes
    source:
      url: postgresql+psycopg://reader@shop-db/shop      # or: file: exports/customers.csv
      table: customers            # or: query: SELECT ... (a SELECT whose rows are the records)
      watermark: updated_at       # optional: only rows above the last run's highest value
    mapping:                      # the import mapping format (fields, defaults, options)
      fields: {external_id: id, name: [first_name, last_name], email: email}
    on_duplicate: update          # update | skip | error
    create_missing: false

Extract reads the new rows (ordered by the watermark) into a staging JSON Lines file under the
data directory; load is an ordinary import of that file — the same cleaning, the same upsert, an
import id that ``patron import revert`` undoes — and every run is recorded with the rows read,
written and rejected and the watermark reached. The staging file is deleted once loaded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import SQLAlchemyError

from patron.config import Settings
from patron.db.engine import Database
from patron.errors import PatronError, ValidationFailed
from patron.integration import imports
from patron.integration.etl_models import EtlRun
from patron.integration.imports_models import ImportRun
from patron.integration.imports_read import count_rows, detect_format
from patron.kit.clock import utcnow
from patron.security.permissions import Principal

Progress = Callable[[str, int, int | None], None]


class EtlError(PatronError):
    status = 422
    code = "etl_failed"
    title = "The ETL job cannot run"


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    file: Path | None = None
    table: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    query: str | None = None
    watermark: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    format: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Source:
        if (self.url is None) == (self.file is None):
            raise ValueError("give either url (a database) or file")
        if self.url is not None and (self.table is None) == (self.query is None):
            raise ValueError("a database source needs either table or query")
        if self.query is not None and not self.query.lstrip().lower().startswith("select"):
            raise ValueError("query must be a SELECT")
        return self


class EtlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    entity: Literal["customers", "products", "orders", "tickets", "activities", "deals"]
    source: Source
    mapping: dict[str, Any] | None = None
    on_duplicate: Literal["update", "skip", "error"] = "update"
    create_missing: bool = False


def load_config(path: Path) -> EtlConfig:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError:
        raise
    except yaml.YAMLError as exc:
        raise EtlError(f"{path} is not valid YAML: {exc}") from None
    try:
        config = EtlConfig.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            f"{path} is not a valid ETL job.",
            errors=[
                {
                    "field": ".".join(str(part) for part in error["loc"]) or "job",
                    "message": error["msg"],
                    "code": error["type"],
                }
                for error in exc.errors()
            ],
        ) from None
    if config.source.file is not None and not config.source.file.is_absolute():
        config.source.file = (path.parent / config.source.file).resolve()
    return config


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def last_watermark(database: Database, name: str) -> str | None:
    with database.unit_of_work(write=False) as session:
        statement = (
            select(EtlRun.watermark_to)
            .where(EtlRun.name == name, EtlRun.status == "succeeded")
            .order_by(EtlRun.started_at.desc())
            .limit(1)
        )
        return session.scalar(statement)


def _extract(
    config: EtlConfig, since: str | None, staging: Path, progress: Progress | None
) -> tuple[int, str | None]:
    """New rows of the source database into ``staging`` (JSON Lines); (rows, highest watermark)."""
    source = config.source
    assert source.url is not None
    try:
        engine = create_engine(source.url)
    except (SQLAlchemyError, ValueError) as exc:
        raise EtlError(f"The source URL cannot be used: {type(exc).__name__}") from None
    quote = engine.dialect.identifier_preparer.quote
    # Table and watermark are checked identifiers, quoted here; a query is the operator's own
    # SELECT from the job file, trusted like the database URL beside it.
    inner = (
        "SELECT * FROM " + ".".join(quote(part) for part in source.table.split("."))  # noqa: S608 - quoted identifier
        if source.table
        else str(source.query)
    )
    sql = "SELECT * FROM (" + inner + ") AS etl_source"  # noqa: S608 - see above
    parameters: dict[str, Any] = {}
    if source.watermark:
        if since is not None:
            sql += f" WHERE {quote(source.watermark)} > :since"
            parameters["since"] = since
        sql += f" ORDER BY {quote(source.watermark)}"
    rows, highest = 0, since
    try:
        with engine.connect() as connection, staging.open("w", encoding="utf-8") as out:
            result = connection.execution_options(stream_results=True, yield_per=1000).execute(
                text(sql), parameters
            )
            for row in result.mappings():
                record = {key: _plain(value) for key, value in row.items()}
                out.write(json.dumps(record, default=str) + "\n")
                rows += 1
                if source.watermark:
                    highest = str(record[source.watermark])
                if progress is not None and rows % 1000 == 0:
                    progress("Reading", rows, None)
    except SQLAlchemyError as exc:
        raise EtlError(
            f"Reading the source failed: {type(exc).__name__}: {str(exc.orig or exc)[:300]}"
        ) from None
    finally:
        engine.dispose()
    return rows, highest


def run(
    database: Database,
    settings: Settings,
    config: EtlConfig,
    *,
    progress: Progress | None = None,
) -> EtlRun:
    """Extract what is new since the last run, load it as an import, record the run."""
    since = last_watermark(database, config.name) if config.source.watermark else None
    with database.unit_of_work() as session:
        record = EtlRun(name=config.name, entity=config.entity, watermark_from=since)
        session.add(record)
        session.flush()
        run_id = record.id
    staging_dir = settings.data_dir / "etl"
    staging_dir.mkdir(parents=True, exist_ok=True)
    staging = staging_dir / f"{run_id}.jsonl"
    try:
        if config.source.file is not None:
            path, highest = config.source.file, None
            fmt = detect_format(path.name, config.source.format)
            rows = count_rows(path, fmt, settings.import_limits)
        else:
            rows, highest = _extract(config, since, staging, progress)
            path, fmt = staging, "jsonl"
        import_id = _load(database, settings, config, path, fmt, rows, progress)
    except BaseException as exc:
        with database.unit_of_work() as session:
            failed = session.get_one(EtlRun, run_id)
            failed.status, failed.finished_at = "failed", utcnow()
            failed.error = str(getattr(exc, "detail", None) or exc)[:2000]
        raise
    finally:
        staging.unlink(missing_ok=True)  # it holds the records in plain text
    with database.unit_of_work() as session:
        done = session.get_one(EtlRun, run_id)
        done.rows_read = rows
        done.watermark_to = highest
        if import_id is not None:
            loaded = session.get_one(ImportRun, import_id)
            done.import_id = import_id
            done.created, done.updated = loaded.created, loaded.updated
            done.unchanged, done.rejected = loaded.unchanged, loaded.rejected
        done.status, done.finished_at = "succeeded", utcnow()
    with database.unit_of_work(write=False) as session:
        return session.get_one(EtlRun, run_id)


def _load(
    database: Database,
    settings: Settings,
    config: EtlConfig,
    path: Path,
    fmt: str | None,
    rows: int,
    progress: Progress | None,
) -> uuid.UUID | None:
    if rows == 0:
        return None
    with database.unit_of_work() as session:
        started = imports.create_import(
            session,
            Principal.system(),
            entity=config.entity,
            path=path,
            file_name=f"etl:{config.name}",
            format=fmt,
            mapping=config.mapping,
            on_duplicate=config.on_duplicate,
            create_missing=config.create_missing,
            limits=settings.import_limits,
        )
        import_id = started.id
    imports.run_import(
        database,
        import_id,
        limits=settings.import_limits,
        data_dir=settings.data_dir,
        default_region=settings.import_default_region,
        progress=(lambda done, total: progress("Loading", done, total)) if progress else None,
    )
    return import_id


def report(record: EtlRun) -> dict[str, Any]:
    return {
        "etl_run_id": str(record.id),
        "name": record.name,
        "entity": record.entity,
        "status": record.status,
        "import_id": str(record.import_id) if record.import_id else None,
        "rows_read": record.rows_read,
        "written": record.created + record.updated,
        "created": record.created,
        "updated": record.updated,
        "unchanged": record.unchanged,
        "rejected": record.rejected,
        "watermark_from": record.watermark_from,
        "watermark_to": record.watermark_to,
    }


def history(database: Database, name: str | None = None, limit: int = 20) -> list[EtlRun]:
    with database.unit_of_work(write=False) as session:
        statement = select(EtlRun).order_by(EtlRun.started_at.desc()).limit(limit)
        if name:
            statement = statement.where(EtlRun.name == name)
        return list(session.scalars(statement))
