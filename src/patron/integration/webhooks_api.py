"""``/api/v1/webhooks``: subscriptions, secret rotation, the delivery log and redelivery."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from patron.crud.api import IfMatch, PageOut, page_response, parse_if_match
from patron.integration.webhooks_schemas import (
    DeliveryFilter,
    DeliveryRead,
    WebhookCreate,
    WebhookFilter,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)
from patron.integration.webhooks_service import webhooks
from patron.integration.webhooks_targets import AllowList
from patron.security.deps import CurrentPrincipal, DbSession

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def _allow(request: Request) -> AllowList:
    return AllowList.parse(request.app.state.settings.webhook_allow_hosts)


def _with_secret(record: Any) -> WebhookWithSecret:
    return WebhookWithSecret.model_validate(
        {**WebhookRead.model_validate(record).model_dump(), "secret": record.secret}
    )


@router.get("", response_model=PageOut[WebhookRead], summary="List webhook subscriptions")
def list_webhooks(
    request: Request,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    params: Annotated[WebhookFilter, Query()],
) -> Any:
    page = webhooks.list(
        session, principal, filters=params, sort=params.sort, limit=params.limit,
        cursor=params.cursor,
    )  # fmt: skip
    return page_response(request, response, page, WebhookRead)


@router.post(
    "",
    response_model=WebhookWithSecret,
    status_code=201,
    summary="Create a webhook subscription",
    description="The answer carries the signing secret (`whsec_…`); it is shown only here and "
    "when rotated. The URL must reach a public address (see `PATRON_WEBHOOK_ALLOW_HOSTS`).",
)
def create_webhook(
    request: Request,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    body: WebhookCreate,
) -> Any:
    record = webhooks.create(session, principal, body, allow=_allow(request))
    response.headers["Location"] = f"{request.url.path}/{record.id}"
    response.headers["ETag"] = f'"{record.version}"'
    return _with_secret(record)


@router.get("/{webhook_id}", response_model=WebhookRead, summary="Read a webhook subscription")
def get_webhook(
    webhook_id: uuid.UUID, response: Response, session: DbSession, principal: CurrentPrincipal
) -> Any:
    record = webhooks.get(session, principal, webhook_id)
    response.headers["ETag"] = f'"{record.version}"'
    return WebhookRead.model_validate(record)


@router.patch("/{webhook_id}", response_model=WebhookRead, summary="Update a webhook subscription")
def update_webhook(
    webhook_id: uuid.UUID,
    request: Request,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    body: WebhookUpdate,
    if_match: IfMatch = None,
) -> Any:
    record = webhooks.update(
        session, principal, webhook_id, body, expected_version=parse_if_match(if_match),
        allow=_allow(request),
    )  # fmt: skip
    response.headers["ETag"] = f'"{record.version}"'
    return WebhookRead.model_validate(record)


@router.delete(
    "/{webhook_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a webhook subscription and its delivery log",
)
def delete_webhook(
    webhook_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal, if_match: IfMatch = None
) -> Response:
    webhooks.delete(session, principal, webhook_id, expected_version=parse_if_match(if_match))
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecret,
    summary="Rotate the signing secret",
    description="A new secret, shown once. For the grace period "
    "(`PATRON_WEBHOOK_ROTATION_GRACE_SECONDS`, 24 h by default) every delivery carries two "
    "signatures, one per secret.",
)
def rotate_secret(
    webhook_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentPrincipal
) -> Any:
    grace = timedelta(seconds=request.app.state.settings.webhook_rotation_grace_seconds)
    return _with_secret(webhooks.rotate_secret(session, principal, webhook_id, grace=grace))


@router.get(
    "/{webhook_id}/deliveries",
    response_model=PageOut[DeliveryRead],
    summary="The delivery log",
    description="Deliveries, newest first, each with its attempts (status, latency, the first "
    "1 kB of the answer, the error).",
)
def list_deliveries(
    webhook_id: uuid.UUID,
    request: Request,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    params: Annotated[DeliveryFilter, Query()],
) -> Any:
    page = webhooks.list_deliveries(
        session, principal, webhook_id, filters=params, limit=params.limit,
        cursor=params.cursor, sort=params.sort,
    )  # fmt: skip
    return page_response(request, response, page, DeliveryRead)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryRead,
    status_code=202,
    summary="Send a delivery again",
    description="Queues the delivery now, with the same `webhook-id` and a fresh retry window.",
)
def redeliver(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> Any:
    return DeliveryRead.model_validate(
        webhooks.redeliver(session, principal, webhook_id, delivery_id)
    )
