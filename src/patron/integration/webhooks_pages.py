"""The webhooks page for admins: subscriptions, notices, create (the secret shown once), the
delivery log of one subscription, redelivery and secret rotation."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from patron.errors import PatronError
from patron.integration.webhooks_models import WebhookSubscription
from patron.integration.webhooks_schemas import WebhookCreate
from patron.integration.webhooks_service import webhooks
from patron.integration.webhooks_targets import AllowList
from patron.security.deps import DbSession
from patron.security.permissions import Principal
from patron.web.pages import PagePrincipal, render, verify_form_csrf

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    response = render(request, template, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _list_context(session: Session, principal: Principal) -> dict[str, Any]:
    return {
        "subscriptions": webhooks.list(session, principal, limit=100).items,
        "notices": webhooks.notices(session, principal),
    }


@router.get("/webhooks", response_class=HTMLResponse)
def webhook_list(request: Request, session: DbSession, principal: PagePrincipal) -> Response:
    return _page(request, "webhooks/list.html", _list_context(session, principal))


@router.post("/webhooks", response_class=HTMLResponse)
def webhook_create(
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    url: Annotated[str, Form(max_length=2000)],
    event_types: Annotated[str, Form(max_length=8000)],
    csrf_token: Annotated[str | None, Form(max_length=200)] = None,
    description: Annotated[str | None, Form(max_length=300)] = None,
) -> Response:
    verify_form_csrf(request, csrf_token)
    form = {"url": url, "event_types": event_types, "description": description or ""}
    try:
        body = WebhookCreate(
            url=url,
            event_types=[part.strip() for part in event_types.split(",") if part.strip()],
            description=description or None,
        )
        allow = AllowList.parse(request.app.state.settings.webhook_allow_hosts)
        created = webhooks.create(session, principal, body, allow=allow)
    except (ValidationError, PatronError) as exc:
        message = exc.detail if isinstance(exc, PatronError) else _first_error(exc)
        context = {**_list_context(session, principal), "error": message, "form": form}
        return _page(request, "webhooks/list.html", context, status=422)
    context = {**_list_context(session, principal), "created": created}
    return _page(request, "webhooks/list.html", context, status=201)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"])
    return f"{field}: {error['msg']}"


def _detail(
    request: Request,
    session: DbSession,
    principal: Principal,
    record: WebhookSubscription,
    secret: str | None = None,
) -> Response:
    page = webhooks.list_deliveries(session, principal, record.id, limit=PAGE_SIZE)
    context = {"subscription": record, "deliveries": page.items, "secret": secret}
    return _page(request, "webhooks/detail.html", context)


@router.get("/webhooks/{webhook_id}", response_class=HTMLResponse)
def webhook_detail(
    webhook_id: uuid.UUID, request: Request, session: DbSession, principal: PagePrincipal
) -> Response:
    return _detail(request, session, principal, webhooks.get(session, principal, webhook_id))


@router.post("/webhooks/{webhook_id}/rotate-secret", response_class=HTMLResponse)
def webhook_rotate(
    webhook_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    csrf_token: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    verify_form_csrf(request, csrf_token)
    grace = timedelta(seconds=request.app.state.settings.webhook_rotation_grace_seconds)
    record = webhooks.rotate_secret(session, principal, webhook_id, grace=grace)
    return _detail(request, session, principal, record, secret=record.secret)


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
def webhook_redeliver(
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    csrf_token: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    verify_form_csrf(request, csrf_token)
    webhooks.redeliver(session, principal, webhook_id, delivery_id)
    return RedirectResponse(f"/webhooks/{webhook_id}?redelivered={delivery_id}", status_code=303)
