"""The change feed: every committed change, in commit order."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from patron.errors import ValidationFailed
from patron.events import service
from patron.kit.pagination import InvalidCursor, decode_cursor, encode_cursor
from patron.security.deps import CurrentPrincipal, DbSession

router = APIRouter(tags=["events"])

_SORT = "events"


class EventRead(BaseModel):
    id: uuid.UUID
    type: str
    entity: str
    entity_id: uuid.UUID
    changed: list[str]
    data: dict[str, Any]
    actor_type: str
    actor_id: uuid.UUID | None
    occurred_at: datetime


class EventPage(BaseModel):
    data: list[EventRead]
    has_more: bool
    next_cursor: str


def _position(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        values = decode_cursor(cursor, _SORT)
        position = int(values[0])
    except (InvalidCursor, ValueError, TypeError, IndexError) as exc:
        raise ValidationFailed.field("after", "The cursor is not valid.", "invalid_cursor") from exc
    if position < 0:
        raise ValidationFailed.field("after", "The cursor is not valid.", "invalid_cursor")
    return position


@router.get(
    "/events",
    response_model=EventPage,
    summary="The change feed",
    description=(
        "Events in commit order. Start without `after`; pass each answer's `next_cursor` as "
        "`after` to continue. `next_cursor` is always set, so a reader can poll from where it "
        "stopped; `has_more` says whether more events are waiting now."
    ),
)
def change_feed(
    request: Request,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    after: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    entity: Annotated[str | None, Query(max_length=40)] = None,
) -> Any:
    position = _position(after)
    events = service.list_after(session, principal, after=position, limit=limit + 1, entity=entity)
    has_more = len(events) > limit
    events = events[:limit]
    last = events[-1].position if events else position
    next_cursor = encode_cursor(_SORT, [last])
    if has_more:
        url = request.url.include_query_params(after=next_cursor)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return {
        "data": [EventRead.model_validate(event, from_attributes=True) for event in events],
        "has_more": has_more,
        "next_cursor": next_cursor,
    }
