"""Customer routes: the five CRUD routes and the timeline."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from patron.crud.api import crud_router
from patron.customers.schemas import (
    CustomerCreate,
    CustomerFilter,
    CustomerRead,
    CustomerUpdate,
    TimelinePage,
)
from patron.customers.service import customers
from patron.customers.timeline import timeline
from patron.security.deps import CurrentPrincipal, DbSession

router = APIRouter()
router.include_router(
    crud_router(
        customers,
        create_schema=CustomerCreate,
        update_schema=CustomerUpdate,
        read_schema=CustomerRead,
        filter_schema=CustomerFilter,
    )
)


@router.get(
    "/customers/{customer_id}/timeline",
    response_model=TimelinePage,
    tags=["customers"],
    summary="A customer's orders, tickets, activities and deals, newest first",
    operation_id="customer_timeline",
)
def customer_timeline(
    customer_id: uuid.UUID,
    request: Request,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    type: Annotated[list[Literal["order", "ticket", "activity", "deal"]] | None, Query()] = None,
) -> Any:
    page = timeline(
        session, principal, customer_id, limit=limit, cursor=cursor, types=set(type or [])
    )
    if page["next_cursor"]:
        url = request.url.include_query_params(cursor=page["next_cursor"])
        response.headers["Link"] = f'<{url}>; rel="next"'
    return page
