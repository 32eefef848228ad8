"""What the pages' live updates may see: changes to records the caller can read.

The pages' stream carries no record data, only which record changed and how; the page then
reloads its rows through the usual, scoped services. Changes to records outside the caller's
scope (another team's customers, their tickets) are left out; a deletion cannot be checked any
more and is passed on with the record's id only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from patron.events import service
from patron.events.models import Event
from patron.security.permissions import Action, Principal

LivePage = Literal["customers", "tickets"]


@dataclass(frozen=True)
class Change:
    position: int
    type: str
    entity_id: str


def _record_service(page: LivePage) -> Any:
    if page == "customers":
        from patron.customers.service import customers

        return customers
    from patron.service.service import tickets

    return tickets


EVENT_ENTITY: dict[str, str] = {"customers": "customer", "tickets": "ticket"}


@dataclass(frozen=True)
class Changes:
    changes: list[Change]
    reached: int
    """The last position looked at (changes may leave some out)."""
    full: bool


def changes_after(
    session: Session, principal: Principal, page: LivePage, *, after: int, limit: int
) -> Changes:
    """The visible changes among the next ``limit`` events of the page's records."""
    principal.require(page, Action.READ)
    events = service.events_after(session, after=after, limit=limit, entity=EVENT_ENTITY[page])
    visible = [event for event in events if _visible(session, principal, page, event)]
    return Changes(
        changes=[Change(e.position, e.type, str(e.entity_id)) for e in visible],
        reached=events[-1].position if events else after,
        full=len(events) == limit,
    )


def _visible(session: Session, principal: Principal, page: LivePage, event: Event) -> bool:
    if event.type.endswith(".deleted") or not principal.team_scoped:
        return True
    return _record_service(page).get_or_none(session, principal, event.entity_id) is not None
