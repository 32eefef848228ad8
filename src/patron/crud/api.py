"""Build the five routes of a resource from its service and schemas.

Routes parse, call one service function and shape the answer; nothing else happens here.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from patron.crud.service import CrudService
from patron.errors import ValidationFailed
from patron.security.deps import CurrentPrincipal, DbSession
from patron.security.permissions import Principal

T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    data: list[T]
    has_more: bool
    next_cursor: str | None


def parse_if_match(value: str | None) -> int | None:
    """``If-Match: "3"`` (an ETag as Patron sends it) or ``3``."""
    if value is None:
        return None
    token = value.strip().removeprefix("W/").strip('"')
    if not token.isdigit() or len(token) > 10:
        raise ValidationFailed.field("If-Match", "If-Match must be the record's version.")
    return int(token)


IfMatch = Annotated[str | None, Header(alias="If-Match", description="The version you read.")]


def page_response(request: Request, response: Response, page: Any, schema: type[BaseModel]) -> Any:
    if page.next_cursor:
        url = request.url.include_query_params(cursor=page.next_cursor)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return {
        "data": [schema.model_validate(item) for item in page.items],
        "has_more": page.has_more,
        "next_cursor": page.next_cursor,
    }


def crud_router(
    service: CrudService[Any],
    *,
    create_schema: type[BaseModel],
    update_schema: type[BaseModel],
    read_schema: type[BaseModel],
    filter_schema: type[BaseModel],
    path: str | None = None,
    label: str | None = None,
) -> APIRouter:
    entity = service.resource.entity
    path = path or "/" + entity.replace("_", "-")
    label = label or entity.replace("_", " ")
    router = APIRouter(tags=[label])

    @router.get(
        path,
        response_model=PageOut[read_schema],
        summary=f"List {label}",  # type: ignore[valid-type]
        operation_id=f"list_{entity}",
    )
    def list_records(
        request: Request,
        response: Response,
        session: DbSession,
        principal: CurrentPrincipal,
        params: Annotated[filter_schema, Query()],  # type: ignore[valid-type]
    ) -> Any:
        page = service.list(
            session,
            principal,
            filters=params,
            sort=params.sort,  # type: ignore[attr-defined]
            limit=params.limit,
            cursor=params.cursor,  # type: ignore[attr-defined]
        )
        return page_response(request, response, page, read_schema)

    @router.post(
        path,
        response_model=read_schema,
        status_code=201,
        summary=f"Create one of {label}",
        operation_id=f"create_{entity}",
    )
    def create_record(
        request: Request,
        response: Response,
        session: DbSession,
        principal: CurrentPrincipal,
        body: create_schema,  # type: ignore[valid-type]
    ) -> Any:
        record = service.create(session, principal, body)
        response.headers["Location"] = f"{request.url.path}/{record.id}"
        response.headers["ETag"] = f'"{record.version}"'
        return read_schema.model_validate(record)

    @router.get(
        path + "/{record_id}",
        response_model=read_schema,
        summary=f"Read one of {label}",
        operation_id=f"get_{entity}",
    )
    def get_record(
        record_id: uuid.UUID, response: Response, session: DbSession, principal: CurrentPrincipal
    ) -> Any:
        record = service.get(session, principal, record_id)
        response.headers["ETag"] = f'"{record.version}"'
        return read_schema.model_validate(record)

    @router.patch(
        path + "/{record_id}",
        response_model=read_schema,
        summary=f"Update one of {label}",
        operation_id=f"update_{entity}",
    )
    def update_record(
        record_id: uuid.UUID,
        response: Response,
        session: DbSession,
        principal: CurrentPrincipal,
        body: update_schema,  # type: ignore[valid-type]
        if_match: IfMatch = None,
    ) -> Any:
        record = service.update(
            session, principal, record_id, body, expected_version=parse_if_match(if_match)
        )
        response.headers["ETag"] = f'"{record.version}"'
        return read_schema.model_validate(record)

    @router.delete(
        path + "/{record_id}",
        status_code=204,
        summary=f"Delete one of {label}",
        operation_id=f"delete_{entity}",
        response_class=Response,
    )
    def delete_record(
        record_id: uuid.UUID,
        session: DbSession,
        principal: CurrentPrincipal,
        if_match: IfMatch = None,
    ) -> Response:
        service.delete(session, principal, record_id, expected_version=parse_if_match(if_match))
        return Response(status_code=204)

    return router


__all__ = ["PageOut", "Principal", "Session", "crud_router", "page_response", "parse_if_match"]
