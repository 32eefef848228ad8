"""Imports: a file of customers, products, orders, tickets, activities or deals into Patron.

An import is a row in ``import_run``. It reads its file a batch at a time (``BATCH_SIZE`` rows),
maps each row's columns to fields, cleans them (``patron.integration.cleaning``), resolves what
the row points at and upserts it through the entity's service (permission, validation, event,
audit), a batch's creates and updates together (``imports_batch``): a record is found by its
external id, then by email (customers), sku (products) or number (orders). A dry run rolls each
batch back and remembers what it wrote (``imports_dry``). Each batch commits whole, together
with the import's cursor (``rows_done``) and counts, so a crash loses at most the batch in flight
and a resume starts at the cursor. Every record the
import creates or changes is linked to it in ``import_record``, with the previous values of what
changed, so ``revert`` can undo it. Rows that cannot be cleaned go to a CSV error file with their
original values, the column at fault and the reason.

Concurrent imports serialise their batches: on PostgreSQL with a transaction-level advisory lock
(as the event log does, with a key of its own), on SQLite because writers begin ``IMMEDIATE``.
So two imports of the same email cannot both create it; email stays without a unique constraint,
since real duplicates exist and deduplication finds them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from patron.db.engine import Database
from patron.errors import Conflict, NotFound, PatronError, ValidationFailed
from patron.integration import cleaning, imports_batch
from patron.integration.cleaning import CleaningOptions
from patron.integration.imports_batch import BatchOutcome, Context
from patron.integration.imports_dry import DryRunMemory
from patron.integration.imports_entities import EntitySpec, RowError, spec_for
from patron.integration.imports_models import ImportRecord, ImportRun
from patron.integration.imports_read import (
    ImportFileError,
    Limits,
    Source,
    SourceRow,
    check_size,
    count_rows,
    detect_format,
    open_source,
)
from patron.kit.clock import utcnow
from patron.security.permissions import Action, Principal

if TYPE_CHECKING:
    from patron.config import Settings

BATCH_SIZE = 1_000
UPLOAD_CHUNK = 1024 * 1024
ON_DUPLICATE = ("update", "skip", "error")
IMPORT_LOCK_KEY = 0x5041_5449  # "PATI": the import upsert lock (the event log uses "PATR")
JOB_KIND = "import.run"
Progress = Callable[[int, int | None], None]


class ImportNotFound(NotFound):
    code = "import_not_found"
    title = "No such import"


# ----- mapping -----------------------------------------------------------------------------------
@dataclass
class Mapping:
    """Target field -> source column(s) (several are joined with a space), defaults, options."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"fields": self.fields, "defaults": self.defaults, "options": self.options}


MAPPING_OPTIONS = ("default_region", "default_currency", "date_formats")


def parse_mapping(data: Any, spec: EntitySpec) -> Mapping:
    """A mapping from its YAML/JSON form; unknown fields and options are refused."""
    if data is None:
        return Mapping()
    if not isinstance(data, dict):
        raise ImportFileError("A mapping file holds an object with fields, defaults and options.")
    unknown = set(data) - {"fields", "defaults", "options", "entity"}
    if unknown:
        raise ImportFileError(f"Unknown mapping keys: {', '.join(sorted(unknown))}.")
    fields: dict[str, list[str]] = {}
    for target, sources in (data.get("fields") or {}).items():
        _check_target(spec, str(target))
        listed = sources if isinstance(sources, list) else [sources]
        fields[str(target)] = [str(source).strip() for source in listed]
    defaults = dict(data.get("defaults") or {})
    for target in defaults:
        _check_target(spec, str(target))
    options = dict(data.get("options") or {})
    for name in set(options) - set(MAPPING_OPTIONS):
        raise ImportFileError(f"Unknown mapping option {name!r}; use {', '.join(MAPPING_OPTIONS)}.")
    return Mapping(fields, defaults, options)


def load_mapping(path: Path, spec: EntitySpec) -> Mapping:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ImportFileError(f"The mapping file is not valid YAML: {exc}") from None
    return parse_mapping(data, spec)


def _check_target(spec: EntitySpec, target: str) -> None:
    if target.startswith("custom_fields.") and spec.name == "customers":
        return
    if target not in spec.cleaners and target not in spec.references:
        raise ImportFileError(
            f"{spec.name} have no field {target!r}; use {', '.join(spec.fields)}."
        )


def _normal(header: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in header.lower()).strip("_")


def suggest_mapping(spec: EntitySpec, headers: list[str]) -> dict[str, list[str]]:
    """Field -> columns, guessed from the headers (names, then common synonyms)."""
    suggested: dict[str, list[str]] = {}
    for header in headers:
        key = _normal(header)
        target = key if key in spec.cleaners or key in spec.references else spec.synonyms.get(key)
        if target is not None:
            suggested.setdefault(target, []).append(header)
    return suggested


def effective_mapping(spec: EntitySpec, mapping: Mapping, headers: list[str]) -> Mapping:
    if mapping.fields:
        missing = {s for sources in mapping.fields.values() for s in sources} - set(headers)
        if missing and headers:
            raise ImportFileError(
                f"The mapping names columns the file lacks: {', '.join(sorted(missing))}."
            )
        return mapping
    return Mapping(suggest_mapping(spec, headers), mapping.defaults, mapping.options)


def map_row(mapping: Mapping, values: dict[str, Any]) -> dict[str, Any]:
    mapped: dict[str, Any] = {}
    for target, sources in mapping.fields.items():
        if len(sources) == 1:
            mapped[target] = values.get(sources[0])
        else:
            parts = [str(values[s]).strip() for s in sources if values.get(s) not in (None, "")]
            mapped[target] = " ".join(part for part in parts if part) or None
    for target, default in mapping.defaults.items():
        if mapped.get(target) in (None, ""):
            mapped[target] = default
    return mapped


def cleaning_options(options: dict[str, Any], default_region: str) -> CleaningOptions:
    formats = options.get("date_formats")
    return CleaningOptions(
        default_region=str(options.get("default_region") or default_region),
        date_formats=tuple(formats) + cleaning.DATE_FORMATS if formats else cleaning.DATE_FORMATS,
        default_currency=str(options.get("default_currency") or "USD").upper(),
    )


# ----- creating and reading imports --------------------------------------------------------------
def fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def create_import(
    session: Session,
    principal: Principal,
    *,
    entity: str,
    path: Path,
    file_name: str | None = None,
    format: str | None = None,
    mapping: dict[str, Any] | None = None,
    on_duplicate: str = "update",
    create_missing: bool = False,
    dry_run: bool = False,
    limits: Limits,
) -> ImportRun:
    """Check the caller, the file and the options now; the rows are read by ``run_import``."""
    principal.require("imports", Action.CREATE)
    spec = spec_for(entity)
    principal.require(spec.name, Action.CREATE)
    if on_duplicate not in ON_DUPLICATE:
        raise ValidationFailed.field(
            "on_duplicate", f"on_duplicate is one of {', '.join(ON_DUPLICATE)}."
        )
    parsed = parse_mapping(mapping, spec)
    name = file_name or path.name
    chosen = detect_format(name, format)
    size = check_size(path, limits)
    run = ImportRun(
        entity=spec.name,
        file_name=name[:255],
        file_path=str(path),
        file_format=chosen,
        file_size=size,
        fingerprint=fingerprint(path),
        options={
            "mapping": parsed.as_dict(),
            "on_duplicate": on_duplicate,
            "create_missing": create_missing,
        },
        dry_run=dry_run,
        status="queued",
        runner=runner_id(),  # so a concurrent run of the same file never takes it for dead
        created_by=principal.user_id,
    )
    session.add(run)
    session.flush()
    return run


def find_resumable(session: Session, run: ImportRun) -> ImportRun | None:
    """An earlier, unfinished import of the same file with the same options whose process is
    gone (killed, crashed) on this machine: resuming it reaches the same end state."""
    statement = (
        select(ImportRun)
        .where(ImportRun.fingerprint == run.fingerprint, ImportRun.id != run.id)
        .where(ImportRun.status.in_(("queued", "running")), ImportRun.entity == run.entity)
        .where(ImportRun.dry_run.is_(False), ImportRun.job_id.is_(None))
        .order_by(ImportRun.id.desc())
    )
    for candidate in session.scalars(statement):
        if candidate.options == run.options and not _alive(candidate.runner):
            return candidate
    return None


def _alive(runner: str | None) -> bool:
    if not runner:
        return False
    host, _, pid = runner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's process: we cannot tell, so leave it be
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def get_import(session: Session, principal: Principal, import_id: uuid.UUID) -> ImportRun:
    principal.require("imports", Action.READ)
    run = session.get(ImportRun, import_id)
    if run is None or not _may_see(principal, run):
        raise ImportNotFound("No such import.")
    return run


def _may_see(principal: Principal, run: ImportRun) -> bool:
    return principal.is_admin or principal.user_id is None or run.created_by == principal.user_id


def list_imports(
    session: Session, principal: Principal, *, limit: int = 25, before: uuid.UUID | None = None
) -> list[ImportRun]:
    principal.require("imports", Action.READ)
    statement = select(ImportRun).order_by(ImportRun.id.desc()).limit(limit)
    if before is not None:
        statement = statement.where(ImportRun.id < before)
    if not principal.is_admin:
        statement = statement.where(ImportRun.created_by == principal.user_id)
    return list(session.scalars(statement))


def report(run: ImportRun) -> dict[str, Any]:
    """The report ``--json`` prints and the API answers with."""
    return {
        "import_id": str(run.id),
        "entity": run.entity,
        "file_name": run.file_name,
        "status": run.status,
        "dry_run": run.dry_run,
        "total_rows": run.total_rows,
        "rows_done": run.rows_done,
        "progress": progress_of(run),
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "rejected": run.rejected,
        "error_file": run.error_file,
        "error": run.error,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def progress_of(run: ImportRun) -> float:
    if run.status in ("succeeded", "reverted"):
        return 1.0
    if not run.total_rows:
        return 0.0
    return min(1.0, run.rows_done / run.total_rows)


# ----- uploads and background runs ---
def upload_dir(settings: Settings) -> Path:
    return settings.data_dir / "imports" / "uploads"


def store_upload(settings: Settings, stream: IO[bytes], filename: str | None) -> tuple[Path, str]:
    """Write the upload to the data directory, refusing it once it passes the size limit."""
    name = Path(filename or "upload").name[:200] or "upload"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    target = upload_dir(settings) / f"{uuid.uuid4().hex}-{safe}"
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with target.open("wb") as out:
        while chunk := stream.read(UPLOAD_CHUNK):
            written += len(chunk)
            if written > settings.import_max_bytes:
                out.close()
                target.unlink(missing_ok=True)
                raise ImportFileError(
                    f"The file is larger than {settings.import_max_bytes:,} bytes, the most an "
                    "import takes."
                )
            out.write(chunk)
    return target, name


def parse_mapping_text(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    import yaml

    try:
        return yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise ValidationFailed.field(
            "mapping", f"The mapping is not valid YAML or JSON: {exc}"
        ) from None


def start_import(
    session: Any,
    principal: Principal,
    settings: Settings,
    *,
    path: Path,
    file_name: str,
    entity: str,
    mapping: dict[str, Any] | None,
    on_duplicate: str,
    create_missing: bool,
    dry_run: bool,
) -> Any:
    """Record the import and queue the job that runs it (in the caller's transaction)."""
    run = create_import(
        session,
        principal,
        entity=entity,
        path=path,
        file_name=file_name,
        mapping=mapping,
        on_duplicate=on_duplicate,
        create_missing=create_missing,
        dry_run=dry_run,
        limits=settings.import_limits,
    )
    from patron.worker import queue

    job = queue.enqueue(
        session,
        JOB_KIND,
        {
            "import_id": str(run.id),
            "data_dir": str(settings.data_dir),
            "max_bytes": settings.import_max_bytes,
            "max_cell_bytes": settings.import_max_cell_bytes,
            "default_region": settings.import_default_region,
        },
    )
    run.job_id = job.id
    session.flush()
    return run


# ----- running -----------------------------------------------------------------------------------
def _principal_of(session: Session, run: ImportRun) -> Principal:
    if run.created_by is None:
        return Principal.system()
    from patron.security import service as security
    from patron.security.models import User

    user = session.get(User, run.created_by)
    if user is None or not user.is_active:
        raise PatronError("The user who started the import is gone or inactive.")
    return security.principal_for(user)


def run_import(
    database: Database,
    import_id: uuid.UUID,
    *,
    limits: Limits,
    data_dir: Path,
    default_region: str = "US",
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportRun:
    """Read the file from the import's cursor to the end; returns the finished import."""
    with database.unit_of_work() as session:
        run = session.get(ImportRun, import_id)
        if run is None:
            raise ImportNotFound("No such import.")
        if run.status not in ("queued", "running", "failed"):
            return run
        run.status, run.runner, run.error = "running", runner_id(), None
        principal = _principal_of(session, run)
        if run.dry_run and run.rows_done:
            _start_over(run)  # a dry run wrote nothing; its memory of the batches is gone
        path, fmt, skip = Path(run.file_path), run.file_format, run.rows_done
        error_path = data_dir / "imports" / f"{run.id}-errors.csv"
        _truncate(error_path, run.error_bytes)
        expected_print = run.fingerprint
        options = dict(run.options)
        dry_run, entity, total = run.dry_run, run.entity, run.total_rows
    try:
        if not path.is_file() or fingerprint(path) != expected_print:
            raise ImportFileError(
                f"The file {path.name!r} is gone or changed since the import began."
            )
        if total is None:
            total = count_rows(path, fmt, limits)
            with database.unit_of_work() as session:
                session.get_one(ImportRun, import_id).total_rows = total
        source = open_source(path, fmt, limits)
        context: Context | None = None
        try:
            spec = spec_for(entity)
            parsed = parse_mapping(options.get("mapping"), spec)
            context = Context(
                run_id=import_id,
                spec=spec,
                mapping=effective_mapping(spec, parsed, source.headers),
                options=cleaning_options(parsed.options, default_region),
                on_duplicate=options.get("on_duplicate", "update"),
                create_missing=bool(options.get("create_missing")),
                dry_run=dry_run,
                principal=principal,
                headers=source.headers,
                error_path=error_path,
                memory=DryRunMemory() if dry_run else None,
            )
            done = skip
            for batch in _batches(source, skip, batch_size):
                done = _commit_batch(database, context, batch)
                if progress is not None:
                    progress(done, total)
        finally:
            source.close()
            if context is not None and context.memory is not None:
                context.memory.close()
    except BaseException as exc:
        _mark_failed(database, import_id, exc)
        raise
    with database.unit_of_work() as session:
        run = session.get_one(ImportRun, import_id)
        run.status, run.finished_at = "succeeded", utcnow()
    return run


def _start_over(run: ImportRun) -> None:
    run.rows_done = run.created = run.updated = run.unchanged = run.rejected = 0
    run.error_bytes, run.error_file = 0, None


def _mark_failed(database: Database, import_id: uuid.UUID, exc: BaseException) -> None:
    if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
        return  # an interrupted import stays resumable
    message = exc.detail if isinstance(exc, PatronError) else f"{type(exc).__name__}: {exc}"
    with database.unit_of_work() as session:
        run = session.get(ImportRun, import_id)
        if run is not None:
            run.status, run.error, run.finished_at = "failed", message[:4000], utcnow()


def _batches(source: Source, skip: int, size: int) -> Iterator[list[SourceRow]]:
    batch: list[SourceRow] = []
    for row in source.rows:
        if row.number <= skip:
            continue
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def lock_upserts(session: Session) -> None:
    """Serialise import batches: a transaction-level lock on PostgreSQL (released at commit);
    SQLite's writers already queue, since they begin IMMEDIATE."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})


def plan_for_the_batch(session: Session) -> None:
    """PostgreSQL: plan each of the batch's statements for its own parameters.

    A batch looks its thousand keys up with IN lists, batch after batch on one connection;
    psycopg prepares a statement after five runs, and PostgreSQL may then keep a generic plan
    made while the table was nearly empty (a scan instead of the index), which grows slower
    with every batch the import adds. Measured on 20,000 customers: the run again took 24 s
    with the kept plans, 8 s planned per batch.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _commit_batch(database: Database, context: Context, batch: list[SourceRow]) -> int:
    """One batch, whole or not at all, with the cursor and counts in the same transaction."""
    with database.unit_of_work() as session:
        lock_upserts(session)
        plan_for_the_batch(session)
        writes = session.begin_nested()
        outcome = _process(session, context, batch)
        if context.dry_run:
            writes.rollback()
        else:
            writes.commit()
        run = session.get_one(ImportRun, context.run_id)
        if outcome.errors:
            run.error_file = str(context.error_path)
            run.error_bytes = _append_errors(context, outcome.errors, run.error_bytes)
        run.rows_done = batch[-1].number
        run.created += outcome.created
        run.updated += outcome.updated
        run.unchanged += outcome.unchanged
        run.rejected += len(outcome.errors)
        return run.rows_done


def _truncate(path: Path, size: int) -> None:
    """Drop error rows written by a batch that never committed."""
    if path.exists() and path.stat().st_size > size:
        with path.open("r+b") as stream:
            stream.truncate(size)


def _append_errors(context: Context, errors: list[tuple[SourceRow, str, str]], size: int) -> int:
    context.error_path.parent.mkdir(parents=True, exist_ok=True)
    _truncate(context.error_path, size)
    with context.error_path.open("a", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        if size == 0:
            writer.writerow(["row", "column", "reason", *context.headers])
        for row, column, reason in errors:
            cells = [_error_cell(row.values.get(header)) for header in context.headers]
            writer.writerow([row.number, column, reason, *cells])
        stream.flush()
        os.fsync(stream.fileno())
        return stream.tell()


def _error_cell(value: Any) -> Any:
    from patron.integration.exports import neutralise

    if value is None:
        return ""
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return neutralise(value) if isinstance(value, str) else value


def _process(session: Session, context: Context, batch: list[SourceRow]) -> BatchOutcome:
    """Clean the batch's rows, then match and write them (``imports_batch``)."""
    outcome = BatchOutcome()
    cleaned: list[tuple[SourceRow, dict[str, Any]]] = []
    for row in batch:
        if row.problem is not None:
            outcome.errors.append((row, "", row.problem))
            continue
        try:
            values = context.spec.clean(map_row(context.mapping, row.values), context.options)
            cleaned.append((row, _money(context.spec, values, context.options)))
        except RowError as exc:
            outcome.errors.append((row, exc.column, exc.reason))
    imports_batch.write(session, context, cleaned, outcome)
    session.expunge_all()  # the identity map must not grow with the file
    return outcome


def _money(spec: EntitySpec, values: dict[str, Any], options: CleaningOptions) -> dict[str, Any]:
    """Amounts become minor units of the row's currency (or the default one)."""
    from patron.integration.cleaning import CleaningError

    targets = {"products": ("price", "price_minor"), "deals": ("amount", "amount_minor")}
    currency = values.get("currency") or options.default_currency
    try:
        if spec.name in targets:
            source, target = targets[spec.name]
            if source in values:
                values[target] = cleaning.amount(values.pop(source), currency)
                values.setdefault("currency", currency)
        if spec.name == "orders":
            if "unit_price" in values:
                values["unit_price"] = cleaning.amount(values["unit_price"], currency)
            for line in values.get("lines") or []:
                if line.get("unit_price") not in (None, ""):
                    line["unit_price"] = cleaning.amount(line["unit_price"], currency)
    except CleaningError as exc:
        raise RowError(target if spec.name in targets else "unit_price", exc.reason) from None
    return values


def run_job(context: Any, payload: dict[str, Any]) -> None:
    """The worker's side (a ``JobContext``): run or resume the import from its cursor."""

    def progress(done: int, total: int | None) -> None:
        context.report(done / total if total else 0.0, f"{done:,} rows")

    run_import(
        context.database,
        uuid.UUID(payload["import_id"]),
        limits=Limits(int(payload["max_bytes"]), int(payload["max_cell_bytes"])),
        data_dir=Path(payload["data_dir"]),
        default_region=str(payload.get("default_region") or "US"),
        progress=progress,
    )


# ----- revert ------------------------------------------------------------------------------------
def revert(session: Session, principal: Principal, import_id: uuid.UUID) -> dict[str, int]:
    """Undo an import: delete what it created, restore what it changed (newest first), each
    through the entity's service, so permissions apply and events are recorded."""
    from patron.integration.imports_entities import specs

    principal.require("imports", Action.UPDATE)
    run = get_import(session, principal, import_id)
    if run.dry_run:
        raise Conflict("A dry run changed nothing; there is nothing to revert.", code="dry_run")
    if run.status == "reverted":
        raise Conflict("The import was reverted already.", code="import_reverted")
    if run.status == "running" and _alive(run.runner):
        raise Conflict("The import is still running.", code="import_running")
    counts = {"deleted": 0, "restored": 0, "missing": 0}
    links = select(ImportRecord).where(ImportRecord.import_id == run.id)
    for link in session.scalars(links.order_by(ImportRecord.id.desc())).all():
        spec = specs()[link.entity]
        try:
            if link.action == "created":
                spec.service.delete(session, principal, link.record_id)
                counts["deleted"] += 1
            else:
                data = spec.update_schema.model_validate(link.previous or {})
                spec.service.update(session, principal, link.record_id, data)
                counts["restored"] += 1
        except NotFound:
            counts["missing"] += 1  # deleted since: nothing left to undo
    run.status, run.reverted_at = "reverted", utcnow()
    session.flush()
    return counts
