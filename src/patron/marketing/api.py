"""Routes for segments and campaigns, and their members."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from patron.crud.api import PageOut, crud_router, page_response
from patron.customers.schemas import CustomerRead
from patron.marketing import service
from patron.marketing.schemas import (
    CampaignCreate,
    CampaignFilter,
    CampaignRead,
    CampaignUpdate,
    MemberRead,
    MembersAdd,
    MembersChange,
    SegmentCreate,
    SegmentFilter,
    SegmentRead,
    SegmentUpdate,
)
from patron.security.deps import CurrentPrincipal, DbSession

router = APIRouter()
router.include_router(
    crud_router(
        service.segments,
        create_schema=SegmentCreate,
        update_schema=SegmentUpdate,
        read_schema=SegmentRead,
        filter_schema=SegmentFilter,
    )
)
router.include_router(
    crud_router(
        service.campaigns,
        create_schema=CampaignCreate,
        update_schema=CampaignUpdate,
        read_schema=CampaignRead,
        filter_schema=CampaignFilter,
    )
)


def _member_routes(parent: Any, path: str, label: str) -> None:
    @router.get(
        f"/{path}/{{parent_id}}/members",
        response_model=PageOut[MemberRead],
        tags=[label],
        summary=f"List a {label[:-1]}'s members",
        operation_id=f"list_{path}_members",
    )
    def list_members(
        parent_id: uuid.UUID,
        request: Request,
        response: Response,
        session: DbSession,
        principal: CurrentPrincipal,
        limit: Annotated[int, Query(ge=1, le=100)] = 25,
        cursor: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> Any:
        page = service.list_members(
            session, principal, parent, parent_id, limit=limit, cursor=cursor
        )
        return page_response(request, response, page, MemberRead)

    @router.post(
        f"/{path}/{{parent_id}}/members",
        response_model=MembersChange,
        tags=[label],
        summary=f"Add customers to a {label[:-1]}",
        operation_id=f"add_{path}_members",
    )
    def add_members(
        parent_id: uuid.UUID, body: MembersAdd, session: DbSession, principal: CurrentPrincipal
    ) -> Any:
        added, present, excluded = service.add_members(
            session, principal, parent, parent_id, body.customer_ids
        )
        return {"added": added, "already_members": present, "excluded_no_consent": excluded}

    @router.delete(
        f"/{path}/{{parent_id}}/members/{{customer_id}}",
        status_code=204,
        tags=[label],
        summary=f"Remove a customer from a {label[:-1]}",
        response_class=Response,
        operation_id=f"remove_{path}_member",
    )
    def remove_member(
        parent_id: uuid.UUID,
        customer_id: uuid.UUID,
        session: DbSession,
        principal: CurrentPrincipal,
    ) -> Response:
        service.remove_member(session, principal, parent, parent_id, customer_id)
        return Response(status_code=204)


_member_routes(service.segments, "segments", "segments")
_member_routes(service.campaigns, "campaigns", "campaigns")


@router.get(
    "/campaigns/{campaign_id}/audience",
    response_model=PageOut[CustomerRead],
    tags=["campaigns"],
    summary="Who a campaign reaches: its members and its segment's, minus opt-outs and erasures",
    operation_id="campaign_audience",
)
def campaign_audience(
    campaign_id: uuid.UUID,
    request: Request,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> Any:
    page = service.audience(session, principal, campaign_id, limit=limit, cursor=cursor)
    return page_response(request, response, page, CustomerRead)
