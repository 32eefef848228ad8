"""``GET /api/v1/audit``: the audit trail, newest first, filtered (admins only)."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from patron.crud.api import PageOut, page_response
from patron.security import audit
from patron.security.audit_schemas import AuditEntryRead, AuditFilter
from patron.security.deps import CurrentPrincipal, DbSession

router = APIRouter(tags=["audit"])


@router.get(
    "/audit",
    response_model=PageOut[AuditEntryRead],
    summary="The audit trail",
    description=(
        "Every create, update, delete, login, failed login, export, erasure, role change and "
        "API-key use, newest first; personal values are masked. Admins only."
    ),
    operation_id="list_audit",
)
def list_audit(
    request: Request,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    params: Annotated[AuditFilter, Query()],
) -> Any:
    page = audit.list_entries(
        session, principal, filters=params, limit=params.limit, cursor=params.cursor
    )
    return page_response(request, response, page, AuditEntryRead)
