"""The audit trail page (admins): the API's filters as a form, newest entries first."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from patron.errors import ValidationFailed
from patron.security import audit
from patron.security.audit_schemas import AuditFilter
from patron.security.deps import DbSession
from patron.web.pages import PagePrincipal, render

router = APIRouter(include_in_schema=False)

FILTERS = ("actor", "entity", "entity_id", "action", "since", "until")
Text = Annotated[str | None, Query(max_length=100)]


@router.get("/audit", response_class=HTMLResponse)
def audit_list(
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    actor: Text = None,
    entity: Text = None,
    entity_id: Text = None,
    action: Text = None,
    since: Text = None,
    until: Text = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    raw = {"actor": actor, "entity": entity, "entity_id": entity_id, "action": action,
           "since": since, "until": until}  # fmt: skip
    params = {name: value.strip() for name, value in raw.items() if value and value.strip()}
    error = None
    try:
        filters = AuditFilter.model_validate({**params, "cursor": cursor or None})
        page = audit.list_entries(
            session, principal, filters=filters, limit=filters.limit, cursor=filters.cursor
        )
    except (ValidationError, ValidationFailed):
        error = "Some filters are not valid; showing the whole trail."
        filters = AuditFilter()
        page = audit.list_entries(session, principal, limit=filters.limit)
    return render(
        request,
        "audit/list.html",
        {
            "page": page,
            "params": params,
            "error": error,
            "actions": list(audit.AuditAction),
            "first_page": not cursor,
            "actors": audit.actor_names(session, page.items),
        },
    )
