"""The pages' live updates: a session-authenticated stream of which records changed."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from patron.db.engine import Database
from patron.events import live
from patron.events.api import STREAM_BATCH, sse_response, stream_start
from patron.events.service import pruned_through
from patron.events.stream import Batch, Item, Reader
from patron.security.permissions import Action, Principal
from patron.web.pages import PagePrincipal

router = APIRouter(include_in_schema=False)


def _reader(database: Database, principal: Principal, page: live.LivePage) -> Reader:
    def read(after: int) -> Batch:
        with database.unit_of_work(write=False) as session:
            found = live.changes_after(session, principal, page, after=after, limit=STREAM_BATCH)
            items = [
                Item(c.position, "change", {"entity_id": c.entity_id, "type": c.type})
                for c in found.changes
            ]
            return Batch(items, pruned_through(session), found.full, found.reached)

    return read


@router.get("/live/{page}")
def page_stream(
    page: live.LivePage,
    request: Request,
    principal: PagePrincipal,
    after: Annotated[str | None, Query(max_length=40)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
) -> StreamingResponse:
    principal.require(page, Action.READ)
    start = stream_start(last_event_id, after)
    return sse_response(request, _reader(request.app.state.db, principal, page), start)
