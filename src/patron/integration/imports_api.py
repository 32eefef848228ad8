"""``/api/v1/imports``: upload a file to import; it runs in the background as a worker job.

``POST`` stores the upload (refusing it past the size limit while it streams in), records the
import and queues a job; ``GET /imports/{id}`` answers with its status, progress and report, and
``GET /imports/{id}/errors`` with the rejected rows as CSV.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from patron.config import Settings
from patron.errors import NotFound
from patron.integration import imports
from patron.security.deps import CurrentPrincipal, DbSession
from patron.security.permissions import Action

router = APIRouter(prefix="/imports", tags=["imports"])


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
    path, name = imports.store_upload(settings, file.file, file.filename)
    try:
        run = imports.start_import(
            session, principal, settings, path=path, file_name=name, entity=entity,
            mapping=imports.parse_mapping_text(mapping), on_duplicate=on_duplicate,
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
