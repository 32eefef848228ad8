"""The duplicates review page: pairs side by side, explained; merge either way, dismiss, undo."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from patron.errors import PatronError
from patron.integration import duplicates
from patron.security.deps import DbSession
from patron.security.permissions import Action
from patron.web.pages import PagePrincipal, render, verify_form_csrf

router = APIRouter(include_in_schema=False)
COMPARED = ("name", "email", "phone", "address_line1", "city", "postal_code", "country")


class MergeForm(BaseModel):
    csrf_token: str = Field(default="", max_length=200)
    keep: Literal["left", "right"]


class CsrfForm(BaseModel):
    csrf_token: str = Field(default="", max_length=200)


@router.get("/duplicates", response_class=HTMLResponse)
def duplicate_list(
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    merged: Annotated[uuid.UUID | None, Query()] = None,
    error: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    page, found = duplicates.list_pairs(session, principal, threshold=0.0, limit=25, cursor=cursor)
    rows: list[dict[str, Any]] = []
    for pair in page.items:
        left, right = found[pair.left_id], found[pair.right_id]
        fields = [
            {
                "name": name,
                "left": getattr(left, name) or "",
                "right": getattr(right, name) or "",
                "similarity": (pair.explanation.get(name) or {}).get("similarity"),
            }
            for name in COMPARED
        ]
        rows.append({"pair": pair, "left": left, "right": right, "fields": fields})
    context = {
        "rows": rows,
        "page": page,
        "first_page": cursor is None,
        "merged": merged,
        "error": error,
        "can_merge": principal.can("customers", Action.UPDATE)
        and principal.can("customers", Action.DELETE),
        "can_dismiss": principal.can("customers", Action.UPDATE),
    }
    return render(request, "integration/duplicates.html", context)


@router.post("/duplicates/{pair_id}/merge", response_class=HTMLResponse)
def duplicate_merge(
    pair_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    form: Annotated[MergeForm, Form()],
) -> Response:
    verify_form_csrf(request, form.csrf_token)
    pair = duplicates.get_pair(session, principal, pair_id)
    survivor, merged = (
        (pair.left_id, pair.right_id) if form.keep == "left" else (pair.right_id, pair.left_id)
    )
    try:
        record = duplicates.merge(session, principal, survivor, merged)
    except PatronError as exc:
        session.rollback()
        return RedirectResponse(f"/duplicates?error={exc.detail[:300]}", status_code=303)
    return RedirectResponse(f"/duplicates?merged={record.id}", status_code=303)


@router.post("/duplicates/{pair_id}/dismiss", response_class=HTMLResponse)
def duplicate_dismiss(
    pair_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    form: Annotated[CsrfForm, Form()],
) -> Response:
    verify_form_csrf(request, form.csrf_token)
    duplicates.dismiss(session, principal, pair_id)
    return RedirectResponse("/duplicates", status_code=303)


@router.post("/merges/{merge_id}/undo", response_class=HTMLResponse)
def merge_undo(
    merge_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    form: Annotated[CsrfForm, Form()],
) -> Response:
    verify_form_csrf(request, form.csrf_token)
    record = duplicates.undo(session, principal, merge_id)
    return RedirectResponse(f"/customers/{record.merged_id}", status_code=303)
