"""The change feed and the live stream: every committed change, in commit order."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from patron.db.engine import Database
from patron.errors import ValidationFailed
from patron.events import service
from patron.events.errors import CursorExpired
from patron.events.models import Event
from patron.events.stream import Batch, Item, Reader, event_stream
from patron.kit.pagination import InvalidCursor, decode_cursor, encode_cursor
from patron.security.deps import CurrentPrincipal, DbSession
from patron.security.permissions import Action, Principal

router = APIRouter(tags=["events"])

_SORT = "events"
STREAM_BATCH = 100
TYPES_HELP = (
    "Comma-separated event types, such as `customer.created,ticket.updated`; `customer.*` "
    "matches every type that starts with `customer.`."
)


class EventRead(BaseModel):
    position: int
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


def _position(cursor: str | None, field: str = "after") -> int:
    """A feed cursor, or a plain position (the stream's event ids) for the same place."""
    if not cursor:
        return 0
    if cursor.isascii() and cursor.isdigit():
        return _plain_position(cursor, field)
    try:
        values = decode_cursor(cursor, _SORT)
        position = int(values[0])
    except (InvalidCursor, ValueError, TypeError, IndexError) as exc:
        raise ValidationFailed.field(field, "The cursor is not valid.", "invalid_cursor") from exc
    if position < 0:
        raise ValidationFailed.field(field, "The cursor is not valid.", "invalid_cursor")
    return position


def _plain_position(raw: str, field: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise ValidationFailed.field(field, "An event id is a whole number.", "invalid_cursor")
    return int(raw)


def _check_retained(session: Session, request: Request, position: int) -> None:
    """A reader that starts over (no cursor) is fine; one whose cursor was pruned is told."""
    through = service.pruned_through(session)
    if 0 < position < through:
        hours = request.app.state.settings.event_retention_hours
        raise CursorExpired(
            f"Events up to position {through} were pruned (retention: {hours} hours). Continue "
            f"with after={through} and reload the records you keep in step.",
            extra={"resume_from": through},
        )


def _read_event(event: Event) -> dict[str, Any]:
    return EventRead.model_validate(event, from_attributes=True).model_dump(mode="json")


@router.get(
    "/events",
    response_model=EventPage,
    summary="The change feed",
    description=(
        "Events in commit order. Start without `after`; pass each answer's `next_cursor` as "
        "`after` to continue. `next_cursor` is always set, so a reader can poll from where it "
        "stopped; `has_more` says whether more events are waiting now. `after` also takes an "
        "event's position (the live stream's `id:`). A cursor older than the retention window "
        "answers 410 `cursor_expired` with `resume_from`."
    ),
    responses={410: {"description": "The cursor's events were pruned."}},
)
def change_feed(
    request: Request,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    after: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    entity: Annotated[str | None, Query(max_length=40)] = None,
    types: Annotated[str | None, Query(max_length=2000, description=TYPES_HELP)] = None,
) -> Any:
    position = _position(after)
    patterns = service.parse_types(types)
    _check_retained(session, request, position)
    events = service.list_after(
        session, principal, after=position, limit=limit + 1, entity=entity, types=patterns
    )
    has_more = len(events) > limit
    events = events[:limit]
    last = events[-1].position if events else position
    next_cursor = encode_cursor(_SORT, [last])
    if has_more:
        url = request.url.include_query_params(after=next_cursor)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return {
        "data": [_read_event(event) for event in events],
        "has_more": has_more,
        "next_cursor": next_cursor,
    }


def _reader(database: Database, principal: Principal, types: tuple[str, ...]) -> Reader:
    def read(after: int) -> Batch:
        with database.unit_of_work(write=False) as session:
            events = service.list_after(
                session, principal, after=after, limit=STREAM_BATCH, types=types
            )
            items = [Item(e.position, e.type, _read_event(e)) for e in events]
            return Batch(items, service.pruned_through(session), len(items) == STREAM_BATCH)

    return read


def newest_position(database: Database) -> int:
    with database.unit_of_work(write=False) as session:
        return service.last_position(session)


def sse_response(request: Request, read: Reader, start: int | None) -> StreamingResponse:
    """A live stream from ``start``, or from now when the client gave no position."""
    app = request.app
    settings = app.state.settings
    database: Database = app.state.db
    stream = event_stream(
        app.state.event_hub,
        read,
        start=start if start is not None else (lambda: newest_position(database)),
        heartbeat=settings.stream_heartbeat_seconds,
        poll=settings.stream_poll_seconds,
        retention_hours=settings.event_retention_hours,
        max_seconds=settings.stream_max_seconds,
    )
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


def stream_start(last_event_id: str | None, after: str | None) -> int | None:
    """``Last-Event-ID`` (a reconnecting client) wins over ``after`` (the first connection)."""
    if last_event_id is not None and last_event_id.strip():
        return _plain_position(last_event_id.strip(), "Last-Event-ID")
    if after:
        return _position(after)
    return None


@router.get(
    "/events/stream",
    summary="The live stream (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
    description=(
        "Every event as it commits, as `text/event-stream`: `id:` is the event's position, "
        "`event:` its type, `data:` the JSON the change feed returns for it. Reconnect with "
        "`Last-Event-ID` (browsers do) or `after=` to resume; without either the stream starts "
        "with the next change. A comment line is sent when nothing else was sent for the "
        "heartbeat interval. When the position asked for is older than the retention window, "
        "an `event: gap` comes first and the stream continues from the oldest kept event."
    ),
)
def change_stream(
    request: Request,
    principal: CurrentPrincipal,
    after: Annotated[str | None, Query(max_length=200)] = None,
    types: Annotated[str | None, Query(max_length=2000, description=TYPES_HELP)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
) -> StreamingResponse:
    principal.require("events", Action.READ)
    start = stream_start(last_event_id, after)
    patterns = service.parse_types(types)
    return sse_response(request, _reader(request.app.state.db, principal, patterns), start)
