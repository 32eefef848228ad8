"""Ticket pages: the list, filtered by status and priority, newest first, updated live."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.customers.service import customers
from patron.errors import ValidationFailed
from patron.events import service as events
from patron.security.deps import DbSession
from patron.security.permissions import Principal
from patron.service.models import TICKET_PRIORITIES, TICKET_STATUSES
from patron.service.schemas import TicketFilter
from patron.service.service import tickets
from patron.web.pages import PagePrincipal, render

router = APIRouter(include_in_schema=False)


@router.get("/tickets", response_class=HTMLResponse)
def ticket_list(
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    status: Annotated[str | None, Query(max_length=20)] = None,
    priority: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    raw = {"status": status or None, "priority": priority or None, "cursor": cursor or None}
    error = None
    try:
        filters = TicketFilter.model_validate({k: v for k, v in raw.items() if v is not None})
        page = tickets.list(session, principal, filters=filters, limit=25, cursor=filters.cursor)
    except (ValidationError, ValidationFailed):
        error = "Some filters are not valid; showing all tickets."
        filters = TicketFilter()
        page = tickets.list(session, principal, filters=filters, limit=25)
    params = {k: v for k, v in raw.items() if v and k != "cursor"}
    return render(
        request,
        "tickets/list.html",
        {
            "page": page,
            "filters": filters,
            "params": params,
            "error": error,
            "statuses": TICKET_STATUSES,
            "priorities": TICKET_PRIORITIES,
            "first_page": not cursor,
            "filtered": bool(params),
            "customer_names": _customer_names(
                session, principal, [t.customer_id for t in page.items]
            ),
            "live_after": events.last_position(session),
        },
    )


def _customer_names(
    session: Session, principal: Principal, ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    names: dict[uuid.UUID, str] = {}
    for customer_id in dict.fromkeys(ids):
        customer: Any = customers.get_or_none(session, principal, customer_id)
        if customer is not None:
            names[customer_id] = customer.name
    return names
