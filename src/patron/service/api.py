"""Ticket routes."""

from fastapi import APIRouter

from patron.crud.api import crud_router
from patron.service.schemas import TicketCreate, TicketFilter, TicketRead, TicketUpdate
from patron.service.service import tickets

router = APIRouter()
router.include_router(
    crud_router(
        tickets,
        create_schema=TicketCreate,
        update_schema=TicketUpdate,
        read_schema=TicketRead,
        filter_schema=TicketFilter,
    )
)
