"""Routes for users, teams, API keys and the caller's own identity."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from patron.crud.api import crud_router
from patron.security import service
from patron.security.deps import CurrentPrincipal, DbSession
from patron.security.permissions import PERMISSIONS, Role
from patron.security.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyFilter,
    ApiKeyRead,
    TeamCreate,
    TeamFilter,
    TeamRead,
    TeamUpdate,
    UserCreate,
    UserFilter,
    UserRead,
    UserUpdate,
)

router = APIRouter()
router.include_router(
    crud_router(
        service.users,
        create_schema=UserCreate,
        update_schema=UserUpdate,
        read_schema=UserRead,
        filter_schema=UserFilter,
    )
)
router.include_router(
    crud_router(
        service.teams,
        create_schema=TeamCreate,
        update_schema=TeamUpdate,
        read_schema=TeamRead,
        filter_schema=TeamFilter,
    )
)


class Me(BaseModel):
    user_id: uuid.UUID | None
    email: str | None
    role: Role
    team_id: uuid.UUID | None
    via: str
    permissions: dict[str, list[str]]


@router.get("/me", response_model=Me, tags=["auth"], summary="Who you are and what you may do")
def me(principal: CurrentPrincipal) -> Any:
    return {
        "user_id": principal.user_id,
        "email": principal.email,
        "role": principal.role,
        "team_id": principal.team_id,
        "via": principal.actor_type,
        "permissions": {
            entity: sorted(action.value for action in actions)
            for entity, actions in PERMISSIONS[principal.role].items()
            if actions
        },
    }


class SessionsEnded(BaseModel):
    ended: int


@router.delete(
    "/me/sessions", response_model=SessionsEnded, tags=["auth"],
    summary="Log out everywhere: end every web session of your account",
    operation_id="end_my_sessions",
)  # fmt: skip
def end_my_sessions(session: DbSession, principal: CurrentPrincipal) -> Any:
    return {"ended": service.logout_everywhere(session, principal)}


# API keys: created with their secret shown once, listed, read, revoked. Never edited.
@router.post(
    "/api-keys",
    response_model=ApiKeyCreated,
    status_code=201,
    tags=["api keys"],
    summary="Create an API key (the key is shown once)",
    operation_id="create_api_keys",
)
def create_api_key(
    body: ApiKeyCreate,
    request: Request,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Any:
    api_key, secret = service.api_keys.issue(session, principal, body)
    response.headers["Location"] = f"{request.url.path}/{api_key.id}"
    return {**ApiKeyRead.model_validate(api_key).model_dump(), "key": secret}


@router.get(
    "/api-keys",
    response_model=list[ApiKeyRead],
    tags=["api keys"],
    summary="List API keys (yours; admins see all)",
    operation_id="list_api_keys",
)
def list_api_keys(session: DbSession, principal: CurrentPrincipal) -> Any:
    page = service.api_keys.list(session, principal, limit=100)
    return [ApiKeyRead.model_validate(item) for item in page.items]


@router.get(
    "/api-keys/{key_id}",
    response_model=ApiKeyRead,
    tags=["api keys"],
    summary="Read an API key",
    operation_id="get_api_keys",
)
def get_api_key(key_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Any:
    return ApiKeyRead.model_validate(service.api_keys.get(session, principal, key_id))


@router.delete(
    "/api-keys/{key_id}",
    response_model=ApiKeyRead,
    tags=["api keys"],
    summary="Revoke an API key",
    operation_id="revoke_api_keys",
)
def revoke_api_key(key_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Any:
    return ApiKeyRead.model_validate(service.api_keys.revoke(session, principal, key_id))


__all__ = ["ApiKeyFilter", "router"]
