"""Activity routes."""

from fastapi import APIRouter

from patron.activities.schemas import ActivityCreate, ActivityFilter, ActivityRead, ActivityUpdate
from patron.activities.service import activities
from patron.crud.api import crud_router

router = APIRouter()
router.include_router(
    crud_router(
        activities,
        create_schema=ActivityCreate,
        update_schema=ActivityUpdate,
        read_schema=ActivityRead,
        filter_schema=ActivityFilter,
    )
)
