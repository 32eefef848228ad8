"""Webhook subscriptions: create (with a fresh ``whsec_`` secret), update, rotate the secret,
read the delivery log, redeliver, and the notices shown to admins.

Every write checks the target URL against the SSRF guard first (``webhooks_targets``).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from patron.crud import repository as crud_repository
from patron.crud.repository import Page, Resource
from patron.crud.service import CrudService
from patron.errors import NotFound
from patron.events import service as events
from patron.integration import webhooks_repository as repository
from patron.integration import webhooks_signing as signing
from patron.integration import webhooks_targets as targets
from patron.integration.webhooks_models import (
    WebhookDelivery,
    WebhookNotice,
    WebhookSubscription,
)
from patron.integration.webhooks_schemas import WebhookRead
from patron.kit.clock import utcnow
from patron.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from patron.security.permissions import Action, Principal

ENTITY = "webhooks"
NO_LIMITS = targets.AllowList.parse("")


def matches(patterns: list[str], event_type: str) -> bool:
    """``*`` matches every type, ``customer.*`` every type starting ``customer.``."""
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


class WebhookService(CrudService[WebhookSubscription]):
    resource = Resource(
        entity=ENTITY,
        event_name="webhook",
        model=WebhookSubscription,
        sort_fields={
            "created_at": WebhookSubscription.created_at,
            "url": WebhookSubscription.url,
        },
        apply_filters=repository.subscription_filters,
    )
    read_schema = WebhookRead
    not_found_message = "No such webhook subscription."

    def prepare_create(
        self, session: Session, principal: Principal, values: dict[str, Any]
    ) -> dict[str, Any]:
        return {**values, "secret": signing.new_secret()}

    def prepare_update(
        self,
        session: Session,
        principal: Principal,
        record: WebhookSubscription,
        values: dict[str, Any],
    ) -> dict[str, Any]:
        if values.get("is_active") and not record.is_active:
            # Turned back on: the failure count starts again.
            values = {**values, "disabled_at": None, "disabled_reason": None}
            values.update(consecutive_failures=0, failing_since=None)
        return values

    def create(  # type: ignore[override]
        self,
        session: Session,
        principal: Principal,
        data: BaseModel,
        *,
        allow: targets.AllowList = NO_LIMITS,
    ) -> WebhookSubscription:
        principal.require(ENTITY, Action.CREATE)
        targets.check(data.url, allow)  # type: ignore[attr-defined]
        return super().create(session, principal, data)

    def update(  # type: ignore[override]
        self,
        session: Session,
        principal: Principal,
        record_id: uuid.UUID,
        data: BaseModel,
        *,
        expected_version: int | None = None,
        allow: targets.AllowList = NO_LIMITS,
    ) -> WebhookSubscription:
        principal.require(ENTITY, Action.UPDATE)
        url = data.model_dump(exclude_unset=True).get("url")
        if url:
            targets.check(url, allow)
        return super().update(
            session, principal, record_id, data, expected_version=expected_version
        )

    def rotate_secret(
        self,
        session: Session,
        principal: Principal,
        record_id: uuid.UUID,
        *,
        grace: timedelta,
    ) -> WebhookSubscription:
        """A new secret; the old one keeps signing (beside the new) for ``grace``."""
        principal.require(ENTITY, Action.UPDATE)
        record = self.get(session, principal, record_id)
        record.previous_secret = record.secret
        record.previous_secret_expires_at = utcnow() + grace
        record.secret = signing.new_secret()
        session.flush()
        events.record(
            session,
            principal,
            type="webhook.secret_rotated",
            entity="webhook",
            entity_id=record.id,
            changed=["secret"],
            data={"id": str(record.id)},
        )
        return record

    # ----- the delivery log ------------------------------------------------------------------
    _deliveries = Resource(
        entity=ENTITY,
        event_name="webhook_delivery",
        model=WebhookDelivery,
        sort_fields={"created_at": WebhookDelivery.created_at},
        apply_filters=repository.delivery_filters,
    )

    def list_deliveries(
        self,
        session: Session,
        principal: Principal,
        record_id: uuid.UUID,
        *,
        filters: Any = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        sort: str | None = None,
    ) -> Page[WebhookDelivery]:
        record = self.get(session, principal, record_id)
        statement = repository.deliveries_of(record.id)
        if filters is not None:
            statement = repository.delivery_filters(statement, filters)
        limit = max(1, min(limit, MAX_LIMIT))
        return crud_repository.page(
            session, statement, self._deliveries, sort=sort, limit=limit, cursor=cursor
        )

    def get_delivery(
        self,
        session: Session,
        principal: Principal,
        record_id: uuid.UUID,
        delivery_id: uuid.UUID,
    ) -> WebhookDelivery:
        record = self.get(session, principal, record_id)
        found = repository.delivery(session, record.id, delivery_id)
        if found is None:
            raise NotFound("No such delivery.", code="webhook_delivery_not_found")
        return found

    def redeliver(
        self,
        session: Session,
        principal: Principal,
        record_id: uuid.UUID,
        delivery_id: uuid.UUID,
    ) -> WebhookDelivery:
        """Send the delivery again, with the same ``webhook-id``, and a fresh retry window."""
        principal.require(ENTITY, Action.UPDATE)
        found = self.get_delivery(session, principal, record_id, delivery_id)
        now = utcnow()
        found.status = "pending"
        found.next_attempt_at = now
        found.window_started_at = now
        found.completed_at = None
        session.flush()
        return found

    def notices(self, session: Session, principal: Principal) -> list[WebhookNotice]:
        principal.require(ENTITY, Action.READ)
        return repository.notices(session)


webhooks = WebhookService()
