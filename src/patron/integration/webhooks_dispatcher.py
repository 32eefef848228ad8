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
from patron.integration.webhooks_models import WebhookNotice, WebhookSubscription
from patron.integration.webhooks_service import matches
from patron.kit.clock import utcnow
from patron.kit.ids import new_id
from patron.security.permissions import Principal

logger = logging.getLogger("patron.webhooks")
RESPONSE_BYTES = 1024
LEASE_MARGIN_SECONDS = 5.0


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
    tried: bool = True

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
        self.rng = random.Random()  # noqa: S311 - retry jitter, not a secret
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
        """Claim due deliveries, post them concurrently, record the outcomes."""
        lease = self.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
        deadline = time.monotonic() + lease - 1.0  # every post ends before the lease does
        batch = self._claim(timedelta(seconds=lease))
        if not batch:
            return 0
        checked = {url: self._check(url) for url in {outgoing.url for outgoing in batch}}
        outcomes = list(
            self.pool.map(
                lambda outgoing: self._post(outgoing, checked[outgoing.url], deadline), batch
            )
        )
        with self.database.unit_of_work() as session:
            record_outcomes(session, outcomes, self.settings, self.rng)
        return len(outcomes)

    def _claim(self, lease: timedelta) -> list[Outgoing]:
        now = utcnow()
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

    def _check(self, url: str) -> targets.Target | str:
        """The checked target, or why it was refused (checked again at every send)."""
        try:
            return targets.check(url, self.allow)
        except targets.WebhookTargetRefused as exc:
            return f"refused: {exc.detail}"[:500]

    def _post(self, outgoing: Outgoing, target: targets.Target | str, deadline: float) -> Outcome:
        started = time.perf_counter()
        attempted_at = utcnow()

        def outcome(status: int | None, body: str | None, error: str | None) -> Outcome:
            latency = int((time.perf_counter() - started) * 1000)
            return Outcome(outgoing.delivery_id, status, latency, body, error, attempted_at)

        if isinstance(target, str):
            return outcome(None, None, target)
        budget = min(self.settings.webhook_timeout_seconds, deadline - time.monotonic())
        if budget < 0.5:
            # The lease is nearly over: hand the delivery back untried rather than risk a
            # second sender picking it up while this one still waits for an answer.
            return Outcome(outgoing.delivery_id, None, 0, None, None, attempted_at, tried=False)
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
                timeout=budget,
            ) as response:
                return outcome(response.status_code, _first_kilobyte(response), None)
        except httpx.HTTPError as exc:
            return outcome(None, None, f"{type(exc).__name__}: {exc}"[:500])


def _first_kilobyte(response: httpx.Response) -> str:
    received = bytearray()
    for chunk in response.iter_bytes():
        received.extend(chunk)
        if len(received) >= RESPONSE_BYTES:
            break
    return bytes(received[:RESPONSE_BYTES]).decode("utf-8", errors="replace")


def dispatch_batch(session: Session, *, limit: int) -> int:
    cursor = repository.cursor(session)
    batch = events.list_after(session, Principal.system(), after=cursor.position, limit=limit)
    if not batch:
        return 0
    subscriptions = repository.active_subscriptions(session)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for event in batch:
        wanted = [
            subscription
            for subscription in subscriptions
            if event.occurred_at >= subscription.created_at
            and matches(subscription.event_types, event.type)
        ]
        body = payload(event) if wanted else ""
        rows.extend(
            {
                "id": new_id(),
                "subscription_id": subscription.id,
                "event_id": event.id,
                "event_position": event.position,
                "event_type": event.type,
                "entity_id": event.entity_id,
                "message_id": signing.message_id(subscription.id, event.id),
                "body": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "window_started_at": now,
                "created_at": now,
            }
            for subscription in wanted
        )
    repository.add_deliveries(session, rows)
    cursor.position = batch[-1].position
    session.flush()
    return len(batch)


def record_outcomes(
    session: Session, outcomes: list[Outcome], settings: Settings, rng: random.Random
) -> None:
    """Log each attempt and move each delivery on: done, retried later, or out of retries."""
    states = repository.delivery_states(session, (o.delivery_id for o in outcomes))
    subscriptions = repository.subscriptions_by_id(
        session, {state.subscription_id for state in states.values()}
    )
    window = timedelta(seconds=settings.webhook_retry_window_seconds)
    now = utcnow()
    changes: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    for outcome in outcomes:
        state = states.get(outcome.delivery_id)
        if state is None:
            continue  # its subscription was deleted meanwhile
        if not outcome.tried:
            changes.append(_change(state.id, state.attempts, None, "pending", now))
            continue  # handed back untried: due again at once
        subscription = subscriptions[state.subscription_id]
        attempt = state.attempts + 1
        attempts.append(
            {
                "id": new_id(),
                "delivery_id": state.id,
                "attempt": attempt,
                "status_code": outcome.status_code,
                "latency_ms": outcome.latency_ms,
                "response_body": outcome.response_body,
                "error": outcome.error,
                "attempted_at": outcome.attempted_at,
            }
        )
        if outcome.succeeded:
            changes.append(_change(state.id, attempt, outcome, "succeeded", now))
            subscription.consecutive_failures = 0
            subscription.failing_since = None
            continue
        if subscription.failing_since is None:
            subscription.failing_since = now
        deadline = state.window_started_at + window
        if now >= deadline:
            changes.append(_change(state.id, attempt, outcome, "failed", now))
            subscription.consecutive_failures += 1
        else:
            delay = retry_delay(
                attempt,
                base=settings.webhook_retry_base_seconds,
                cap=settings.webhook_retry_cap_seconds,
                rng=rng,
            )
            retry_at = min(now + timedelta(seconds=delay), deadline)
            changes.append(_change(state.id, attempt, outcome, "pending", retry_at))
        reason = _why_disable(subscription, settings, now)
        if subscription.is_active and reason:
            disable(session, subscription, now, reason)
    repository.save_outcomes(session, changes, attempts)
    session.flush()


def _change(
    delivery_id: uuid.UUID, attempts: int, outcome: Outcome | None, status: str, when: datetime
) -> dict[str, Any]:
    """A delivery's new state; ``when`` is the next attempt if pending, else the completion."""
    pending = status == "pending"
    values: dict[str, Any] = {
        "id": delivery_id,
        "attempts": attempts,
        "status": status,
        "next_attempt_at": when,
        "completed_at": None if pending else when,
    }
    if outcome is not None:
        values.update(last_status_code=outcome.status_code, last_error=outcome.error)
    return values


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
