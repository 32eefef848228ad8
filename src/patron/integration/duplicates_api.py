"""Duplicate review and merging: scan, list pairs, dismiss, merge, undo."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field

from patron.customers.schemas import CustomerRead
from patron.integration import duplicates
from patron.security.deps import CurrentPrincipal, DbSession
from patron.types import Schema

router = APIRouter(tags=["duplicates"])


class ScanRequest(Schema):
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)


class ScanStarted(Schema):
    job_id: uuid.UUID
    status: str = "pending"


class PairRead(Schema):
    id: uuid.UUID
    score: float
    status: str
    explanation: dict[str, Any]
    left: CustomerRead
    right: CustomerRead
    created_at: datetime


class PairPage(Schema):
    data: list[PairRead]
    has_more: bool
    next_cursor: str | None


class MergeRequest(Schema):
    duplicate_id: uuid.UUID = Field(description="The customer merged into this one.")


class MergeRead(Schema):
    id: uuid.UUID
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    moved: dict[str, Any]
    survivor_before: dict[str, Any]
    created_at: datetime
    undone_at: datetime | None


@router.post(
    "/duplicates/scan",
    status_code=202,
    response_model=ScanStarted,
    summary="Scan all customers for likely duplicates, in the background",
    operation_id="scan_duplicates",
)
def scan_duplicates(body: ScanRequest, session: DbSession, principal: CurrentPrincipal) -> Any:
    return {"job_id": duplicates.start_scan(session, principal, body.threshold)}


@router.get(
    "/duplicates",
    response_model=PairPage,
    summary="Likely duplicate customers waiting for review, best first, explained field by field",
    operation_id="list_duplicates",
)
def list_duplicates(
    request: Request,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    threshold: Annotated[float, Query(ge=0.0, le=1.0)] = 0.0,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> Any:
    page, found = duplicates.list_pairs(
        session, principal, threshold=threshold, limit=limit, cursor=cursor
    )
    if page.next_cursor:
        url = request.url.include_query_params(cursor=page.next_cursor)
        response.headers["Link"] = f'<{url}>; rel="next"'
    data = [
        {
            "id": pair.id,
            "score": pair.score,
            "status": pair.status,
            "explanation": pair.explanation,
            "left": CustomerRead.model_validate(found[pair.left_id]),
            "right": CustomerRead.model_validate(found[pair.right_id]),
            "created_at": pair.created_at,
        }
        for pair in page.items
    ]
    return {"data": data, "has_more": page.has_more, "next_cursor": page.next_cursor}


@router.post(
    "/duplicates/{pair_id}/dismiss",
    status_code=204,
    response_class=Response,
    summary="Mark a pair as not the same customer; later scans keep it dismissed",
    operation_id="dismiss_duplicate",
)
def dismiss_duplicate(
    pair_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> Response:
    duplicates.dismiss(session, principal, pair_id)
    return Response(status_code=204)


@router.post(
    "/customers/{customer_id}/merge",
    response_model=MergeRead,
    summary="Merge a duplicate into this customer (everything it has moves here)",
    operation_id="merge_customer",
)
def merge_customer(
    customer_id: uuid.UUID, body: MergeRequest, session: DbSession, principal: CurrentPrincipal
) -> Any:
    return duplicates.merge(session, principal, customer_id, body.duplicate_id)


@router.post(
    "/merges/{merge_id}/undo",
    response_model=MergeRead,
    summary="Undo a merge: the duplicate and everything it had come back",
    operation_id="undo_merge",
)
def undo_merge(merge_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Any:
    return duplicates.undo(session, principal, merge_id)
