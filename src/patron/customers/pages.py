"""Customer pages: the list (search, filters, paging) and the customer (profile, timeline)."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from patron.customers.schemas import CustomerFilter
from patron.customers.service import customers
from patron.customers.timeline import timeline
from patron.errors import ValidationFailed
from patron.security.deps import DbSession
from patron.security.permissions import Action
from patron.web.pages import PagePrincipal, render

router = APIRouter(include_in_schema=False)

LIFECYCLE = ("lead", "prospect", "customer", "churned", "other")


@router.get("/customers", response_class=HTMLResponse)
def customer_list(
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    q: Annotated[str | None, Query(max_length=200)] = None,
    lifecycle_stage: Annotated[str | None, Query(max_length=20)] = None,
    country: Annotated[str | None, Query(max_length=2)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    sort: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    raw = {"q": q or None, "lifecycle_stage": lifecycle_stage or None,
           "country": country or None, "tag": tag or None, "cursor": cursor or None,
           "sort": sort or "name", "limit": 25}  # fmt: skip
    error = None
    try:
        filters = CustomerFilter.model_validate({k: v for k, v in raw.items() if v is not None})
        page = customers.list(
            session, principal, filters=filters, sort=filters.sort, limit=filters.limit,
            cursor=filters.cursor,
        )  # fmt: skip
    except (ValidationError, ValidationFailed):
        error = "Some filters are not valid; showing all customers."
        filters = CustomerFilter(sort="name")
        page = customers.list(session, principal, filters=filters, sort="name", limit=25)
    params = {k: v for k, v in raw.items() if v and k not in ("cursor", "limit")}
    return render(request, "customers/list.html", {
        "page": page, "filters": filters, "params": params, "error": error,
        "lifecycle_stages": LIFECYCLE, "first_page": not cursor,
        "can_create": principal.can("customers", Action.CREATE),
    })  # fmt: skip


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_detail(
    customer_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    customer = customers.get(session, principal, customer_id)
    feed = timeline(session, principal, customer_id, limit=50, cursor=cursor)
    company = None
    if customer.company_id:
        company = customers.get_or_none(session, principal, customer.company_id)
    return render(request, "customers/detail.html", {
        "customer": customer, "company": company, "timeline": feed,
        "can_edit": principal.can("customers", Action.UPDATE),
        "can_delete": principal.can("customers", Action.DELETE),
    })  # fmt: skip
