"""``/api/v1/imports``: upload a file to import; it runs in the background as a worker job.

``POST`` stores the upload (refusing it past the size limit while it streams in), records the
import and queues a job; ``GET /imports/{id}`` answers with its status, progress and report, and
``GET /imports/{id}/errors`` with the rejected rows as CSV.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import re
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from patron.config import Settings
from patron.errors import NotFound, ValidationFailed
from patron.integration import imports
from patron.integration.imports_read import ImportFileError
from patron.security.deps import CurrentPrincipal, DbSession
from patron.security.permissions import Action, Principal
from patron.worker import queue

router = APIRouter(prefix="/imports", tags=["imports"])
CHUNK = 1024 * 1024


def upload_dir(settings: Settings) -> Path:
    return settings.data_dir / "imports" / "uploads"


def store_upload(settings: Settings, upload: UploadFile) -> tuple[Path, str]:
    """Write the upload to the data directory, refusing it once it passes the size limit."""
    name = Path(upload.filename or "upload").name[:200] or "upload"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    target = upload_dir(settings) / f"{uuid.uuid4().hex}-{safe}"
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with target.open("wb") as stream:
        while chunk := upload.file.read(CHUNK):
            written += len(chunk)
            if written > settings.import_max_bytes:
                stream.close()
                target.unlink(missing_ok=True)
                raise ImportFileError(
                    f"The file is larger than {settings.import_max_bytes:,} bytes, the most an "
                    "import takes."
                )
            stream.write(chunk)
    return target, name


def _mapping(text: str | None) -> dict[str, Any] | None:
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
    run = imports.create_import(
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
    job = queue.enqueue(
        session,
        imports.JOB_KIND,
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


@router.post("", status_code=202, summary="Upload a file to import")
def create(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="CSV, XLSX, JSON, JSON Lines or Parquet.")],
    entity: Annotated[str, Form(description="customers, products, orders, tickets, ...")],
    mapping: Annotated[str | None, Form(description="The mapping, as YAML or JSON.")] = None,
    on_duplicate: Annotated[str, Form(description="update, skip or error.")] = "update",
    create_missing: Annotated[bool, Form()] = False,
    dry_run: Annotated[bool, Form()] = False,
) -> Any:
    settings: Settings = request.app.state.settings
    principal.require("imports", Action.CREATE)
    path, name = store_upload(settings, file)
    try:
        run = start_import(
            session, principal, settings, path=path, file_name=name, entity=entity,
            mapping=_mapping(mapping), on_duplicate=on_duplicate,
            create_missing=create_missing, dry_run=dry_run,
        )  # fmt: skip
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return JSONResponse(imports.report(run), status_code=202)


@router.get("", summary="List imports, newest first")
def list_imports(
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[uuid.UUID | None, Query(description="From next_cursor.")] = None,
) -> Any:
    runs = imports.list_imports(session, principal, limit=limit + 1, before=cursor)
    page = runs[:limit]
    has_more = len(runs) > limit
    return {
        "data": [imports.report(run) for run in page],
        "has_more": has_more,
        "next_cursor": str(page[-1].id) if has_more else None,
    }


@router.get("/{import_id}", summary="An import's status, progress and report")
def get(import_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Any:
    return imports.report(imports.get_import(session, principal, import_id))


@router.get("/{import_id}/errors", summary="The rejected rows, as CSV", response_class=FileResponse)
def errors(import_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Any:
    run = imports.get_import(session, principal, import_id)
    if not run.error_file or not Path(run.error_file).is_file():
        raise NotFound("The import rejected no rows.", code="no_error_file")
    return FileResponse(
        run.error_file,
        media_type="text/csv; charset=utf-8",
        filename=f"import-{run.id}-errors.csv",
    )


@router.post("/{import_id}/revert", summary="Undo an import")
def revert(import_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Any:
    counts = imports.revert(session, principal, import_id)
    return {"import_id": str(import_id), **counts}
