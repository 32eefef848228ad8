"""Webhook delivery, run by the worker.

Two steps, each its own unit of work:

* **dispatch** follows the event log from a stored cursor and, in the same transaction as moving
  the cursor on, writes one delivery row per event and matching subscription. A crash either
  keeps both or neither, so no event is lost or doubled.
* **send** claims due deliveries (leased, so a crashed sender's claim runs out and they are sent
  again: delivery is at least once; ``webhook-id`` lets receivers drop repeats), posts them signed
  per Standard Webhooks 1.0, and records each attempt. A failure is retried after an exponential
  delay with full jitter until the retry window (3 days by default) is spent; a subscription whose
  deliveries keep running out of retries, or that has failed for a whole window, is disabled and
  the admins are told (a notice on the webhooks page and a ``webhook.disabled`` event).

Deliveries for the same record and subscription go out in event order: one waits while an earlier
one is pending.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session

from patron.config import Settings
from patron.db.engine import Database
from patron.events import service as events
from patron.events.models import Event
from patron.integration import webhooks_repository as repository
from patron.integration import webhooks_signing as signing
from patron.integration import webhooks_targets as targets
from patron.integration.webhooks_models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookNotice,
    WebhookSubscription,
)
from patron.integration.webhooks_service import matches
from patron.kit.clock import utcnow
from patron.security.permissions import Principal

logger = logging.getLogger("patron.webhooks")
RESPONSE_BYTES = 1024
LEASE_MARGIN = timedelta(seconds=5)


@dataclass(frozen=True)
class Outgoing:
    delivery_id: uuid.UUID
    url: str
    message_id: str
    body: str
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    delivery_id: uuid.UUID
    status_code: int | None
    latency_ms: int
    response_body: str | None
    error: str | None
    attempted_at: datetime

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def payload(event: Event) -> str:
    """The body: ``type``, ``timestamp`` and ``data`` (the event), as Standard Webhooks shows."""
    return json.dumps(
        {
            "type": event.type,
            "timestamp": event.occurred_at.isoformat(),
            "data": {
                "id": str(event.id),
                "position": event.position,
                "entity": event.entity,
                "entity_id": str(event.entity_id),
                "changed": list(event.changed),
                "data": event.data,
                "actor_type": event.actor_type,
                "actor_id": str(event.actor_id) if event.actor_id else None,
            },
        },
        separators=(",", ":"),
        default=str,
    )


def retry_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform between 0 and min(cap, base * 2^(attempt-1)) seconds."""
    return rng.uniform(0.0, min(cap, base * 2.0 ** min(attempt - 1, 60)))


def signing_secrets(subscription: WebhookSubscription, now: datetime) -> tuple[str, ...]:
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and expires > now:
        return (subscription.secret, subscription.previous_secret)
    return (subscription.secret,)


class WebhookDispatcher:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self.allow = targets.AllowList.parse(settings.webhook_allow_hosts)
        self.rng = random.Random()
        self.client = httpx.Client(
            follow_redirects=False,
            timeout=httpx.Timeout(settings.webhook_timeout_seconds),
            limits=httpx.Limits(max_connections=settings.webhook_concurrency),
            trust_env=False,
        )
        self.pool = ThreadPoolExecutor(
            max_workers=settings.webhook_concurrency, thread_name_prefix="patron-webhooks"
        )

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    def run_once(self) -> bool:
        """Dispatch new events and send due deliveries; False when there was nothing to do."""
        dispatched = self.dispatch()
        sent = self.send()
        return bool(dispatched or sent)

    # ----- dispatch --------------------------------------------------------------------------
    def dispatch(self) -> int:
        """Turn the next batch of events into deliveries; returns how many events were read."""
        with self.database.unit_of_work() as session:
            return dispatch_batch(session, limit=self.settings.webhook_dispatch_batch)

    # ----- send ------------------------------------------------------------------------------
    def send(self) -> int:
        batch = self._claim()
        if not batch:
            return 0
        outcomes = list(self.pool.map(self._post, batch))
        with self.database.unit_of_work() as session:
            record_outcomes(session, outcomes, self.settings, self.rng)
        return len(outcomes)

    def _claim(self) -> list[Outgoing]:
        now = utcnow()
        # Long enough for the whole batch to time out, round after round of the thread pool.
        rounds = -(-self.settings.webhook_send_batch // self.settings.webhook_concurrency)
        lease = timedelta(seconds=self.settings.webhook_timeout_seconds * rounds) + LEASE_MARGIN
        with self.database.unit_of_work() as session:
            rows = repository.claim_due(
                session, now=now, lease_until=now + lease, limit=self.settings.webhook_send_batch
            )
            subscriptions = repository.subscriptions_by_id(
                session, {row.subscription_id for row in rows}
            )
            return [
                Outgoing(
                    delivery_id=row.id,
                    url=subscriptions[row.subscription_id].url,
                    message_id=row.message_id,
                    body=row.body,
                    secrets=signing_secrets(subscriptions[row.subscription_id], now),
                )
                for row in rows
            ]

    def _post(self, outgoing: Outgoing) -> Outcome:
        started = time.perf_counter()
        attempted_at = utcnow()

        def outcome(status: int | None, body: str | None, error: str | None) -> Outcome:
            latency = int((time.perf_counter() - started) * 1000)
            return Outcome(outgoing.delivery_id, status, latency, body, error, attempted_at)

        try:
            target = targets.check(outgoing.url, self.allow)
        except targets.WebhookTargetRefused as exc:
            return outcome(None, None, f"refused: {exc.detail}"[:500])
        timestamp = int(time.time())
        headers = signing.headers(outgoing.secrets, outgoing.message_id, timestamp, outgoing.body)
        headers["host"] = httpx.URL(target.url).netloc.decode("ascii")
        extensions = {"sni_hostname": target.host} if target.url.startswith("https") else {}
        try:
            with self.client.stream(
                "POST",
                targets.pinned_url(target),
                content=outgoing.body.encode(),
                headers=headers,
                extensions=extensions,
            ) as response:
                received = bytearray()
                for chunk in response.iter_bytes():
                    received.extend(chunk)
                    if len(received) >= RESPONSE_BYTES:
                        break
                text = bytes(received[:RESPONSE_BYTES]).decode("utf-8", errors="replace")
                return outcome(response.status_code, text, None)
        except httpx.HTTPError as exc:
            return outcome(None, None, f"{type(exc).__name__}: {exc}"[:500])


def dispatch_batch(session: Session, *, limit: int) -> int:
    cursor = repository.cursor(session)
    batch = events.list_after(session, Principal.system(), after=cursor.position, limit=limit)
    if not batch:
        return 0
    subscriptions = repository.active_subscriptions(session)
    now = utcnow()
    for event in batch:
        for subscription in subscriptions:
            if event.occurred_at < subscription.created_at:
                continue
            if not matches(subscription.event_types, event.type):
                continue
            session.add(
                WebhookDelivery(
                    subscription_id=subscription.id,
                    event_id=event.id,
                    event_position=event.position,
                    event_type=event.type,
                    entity_id=event.entity_id,
                    message_id=signing.message_id(subscription.id, event.id),
                    body=payload(event),
                    next_attempt_at=now,
                    window_started_at=now,
                    created_at=now,
                )
            )
    cursor.position = batch[-1].position
    session.flush()
    return len(batch)


def record_outcomes(
    session: Session, outcomes: list[Outcome], settings: Settings, rng: random.Random
) -> None:
    deliveries = repository.deliveries_by_id(session, (o.delivery_id for o in outcomes))
    subscriptions = repository.subscriptions_by_id(
        session, {d.subscription_id for d in deliveries.values()}
    )
    window = timedelta(seconds=settings.webhook_retry_window_seconds)
    now = utcnow()
    for outcome in outcomes:
        delivery = deliveries.get(outcome.delivery_id)
        if delivery is None:
            continue  # its subscription was deleted meanwhile
        subscription = subscriptions[delivery.subscription_id]
        delivery.attempts += 1
        session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                attempt=delivery.attempts,
                status_code=outcome.status_code,
                latency_ms=outcome.latency_ms,
                response_body=outcome.response_body,
                error=outcome.error,
                attempted_at=outcome.attempted_at,
            )
        )
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
        if outcome.succeeded:
            delivery.status = "succeeded"
            delivery.completed_at = now
            subscription.consecutive_failures = 0
            subscription.failing_since = None
            continue
        if subscription.failing_since is None:
            subscription.failing_since = now
        deadline = delivery.window_started_at + window
        if now >= deadline:
            delivery.status = "failed"
            delivery.completed_at = now
            subscription.consecutive_failures += 1
        else:
            delay = retry_delay(
                delivery.attempts,
                base=settings.webhook_retry_base_seconds,
                cap=settings.webhook_retry_cap_seconds,
                rng=rng,
            )
            delivery.next_attempt_at = min(now + timedelta(seconds=delay), deadline)
        reason = _why_disable(subscription, settings, now)
        if subscription.is_active and reason:
            disable(session, subscription, now, reason)
    session.flush()


def _why_disable(
    subscription: WebhookSubscription, settings: Settings, now: datetime
) -> str | None:
    """Why the subscription should be disabled, or None while it should keep going."""
    if subscription.consecutive_failures >= settings.webhook_disable_after_failures:
        return (
            f"Disabled after {subscription.consecutive_failures} deliveries in a row ran out of "
            "retries."
        )
    since = subscription.failing_since
    limit = timedelta(seconds=settings.webhook_disable_after_failing_seconds)
    if subscription.consecutive_failures and since is not None and now - since > limit:
        return f"Disabled after failing since {since:%Y-%m-%d %H:%M:%S} UTC without a success."
    return None


def disable(
    session: Session, subscription: WebhookSubscription, now: datetime, reason: str
) -> None:
    subscription.is_active = False
    subscription.disabled_at = now
    subscription.disabled_reason = reason
    message = (
        f"Webhook to {subscription.url} was disabled. {reason} Fix the receiver, then enable it."
    )
    session.add(WebhookNotice(subscription_id=subscription.id, message=message[:500]))
    data: dict[str, Any] = {"id": str(subscription.id), "url": subscription.url, "reason": reason}
    events.record(
        session,
        Principal.system(),
        type="webhook.disabled",
        entity="webhook",
        entity_id=subscription.id,
        changed=["is_active"],
        data=data,
    )
    logger.warning("webhook %s disabled: %s", subscription.id, reason)
