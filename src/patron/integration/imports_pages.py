"""The import page: upload a file, check the column mapping suggested from its headers, read the
dry run's report, then commit (or revert a committed import).

Uploading starts a dry run in the background; the import's page shows its progress and report,
and a form with one field chosen per column (suggested from the headers). "Dry run again" and
"Import" both start a new import of the same stored file with the chosen mapping.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from patron.config import Settings
from patron.errors import PatronError
from patron.integration import imports
from patron.integration.imports_entities import ENTITIES, spec_for
from patron.integration.imports_read import open_source
from patron.security.deps import DbSession
from patron.security.permissions import Action, Principal
from patron.web.pages import PagePrincipal, render, verify_form_csrf

router = APIRouter(include_in_schema=False)
IGNORE = ""


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    response = render(request, template, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _list_context(session: Any, principal: Principal) -> dict[str, Any]:
    return {
        "runs": [imports.report(run) for run in imports.list_imports(session, principal)],
        "entities": ENTITIES,
        "on_duplicate": imports.ON_DUPLICATE,
        "can_import": principal.can("imports", Action.CREATE),
    }


@router.get("/imports", response_class=HTMLResponse)
def import_list(request: Request, session: DbSession, principal: PagePrincipal) -> Response:
    return _page(request, "imports/list.html", _list_context(session, principal))


@router.post("/imports", response_class=HTMLResponse)
def import_upload(
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    file: Annotated[UploadFile, File()],
    entity: Annotated[str, Form(max_length=30)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    on_duplicate: Annotated[str, Form(max_length=10)] = "update",
    create_missing: Annotated[bool, Form()] = False,
) -> Response:
    """Store the file and start a dry run with the suggested mapping."""
    verify_form_csrf(request, csrf_token)
    principal.require("imports", Action.CREATE)
    settings: Settings = request.app.state.settings
    path, name = imports.store_upload(settings, file.file, file.filename)
    try:
        run = imports.start_import(
            session, principal, settings, path=path, file_name=name, entity=entity,
            mapping=None, on_duplicate=on_duplicate, create_missing=create_missing,
            dry_run=True,
        )  # fmt: skip
    except PatronError as exc:
        path.unlink(missing_ok=True)
        session.rollback()
        context = {**_list_context(session, principal), "error": exc.detail}
        return _page(request, "imports/list.html", context, status=422)
    return RedirectResponse(f"/imports/{run.id}", status_code=303)


def _columns(run: Any, settings: Settings) -> tuple[list[str], dict[str, str]]:
    """The file's headers and the field each maps to (the import's mapping, else suggested)."""
    spec = spec_for(run.entity)
    try:
        source = open_source(Path(run.file_path), run.file_format, settings.import_limits)
    except (PatronError, OSError):
        return [], {}
    try:
        headers = source.headers
    finally:
        source.close()
    fields = (run.options.get("mapping") or {}).get("fields") or imports.suggest_mapping(
        spec, headers
    )
    chosen = {column: target for target, columns in fields.items() for column in columns}
    return headers, chosen


@router.get("/imports/{import_id}", response_class=HTMLResponse)
def import_detail(
    import_id: uuid.UUID, request: Request, session: DbSession, principal: PagePrincipal
) -> Response:
    run = imports.get_import(session, principal, import_id)
    headers, chosen = _columns(run, request.app.state.settings)
    context = {
        "run": imports.report(run),
        "headers": headers,
        "chosen": chosen,
        "fields": [f for f in spec_for(run.entity).fields if not f.startswith("custom_fields.")],
        "active": run.status in ("queued", "running"),
        "can_import": principal.can("imports", Action.CREATE),
        "can_revert": principal.can("imports", Action.UPDATE) and not run.dry_run,
        "options": run.options,
    }
    return _page(request, "imports/detail.html", context)


@router.post("/imports/{import_id}/commit", response_class=HTMLResponse)
async def import_commit(
    import_id: uuid.UUID, request: Request, session: DbSession, principal: PagePrincipal
) -> Response:
    """Start a new import of the same file with the mapping chosen on the page."""
    form = await request.form()
    verify_form_csrf(request, str(form.get("csrf_token") or ""))
    run = imports.get_import(session, principal, import_id)
    headers, _ = _columns(run, request.app.state.settings)
    fields: dict[str, list[str]] = {}
    for index, header in enumerate(headers):
        target = str(form.get(f"column_{index}") or IGNORE)
        if target != IGNORE:
            fields.setdefault(target, []).append(header)
    mapping = {**(run.options.get("mapping") or {}), "fields": fields}
    started = imports.start_import(
        session, principal, request.app.state.settings, path=Path(run.file_path),
        file_name=run.file_name, entity=run.entity, mapping=mapping,
        on_duplicate=str(run.options.get("on_duplicate", "update")),
        create_missing=bool(run.options.get("create_missing")),
        dry_run=form.get("action") != "commit",
    )  # fmt: skip
    return RedirectResponse(f"/imports/{started.id}", status_code=303)


@router.post("/imports/{import_id}/revert", response_class=HTMLResponse)
def import_revert(
    import_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    verify_form_csrf(request, csrf_token)
    imports.revert(session, principal, import_id)
    return RedirectResponse(f"/imports/{import_id}", status_code=303)
