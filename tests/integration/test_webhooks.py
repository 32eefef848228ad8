"""Webhooks: subscriptions through the API, Standard Webhooks signatures (checked by code written
here from the specification, not Patron's), secret rotation, the SSRF guard, order per record,
retries, the delivery log, redelivery and automatic disabling. A real HTTP receiver on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from patron.config import Settings
from patron.db.engine import Database
from patron.events import service as events
from patron.integration.webhooks_dispatcher import WebhookDispatcher, disable
from patron.integration.webhooks_models import WebhookAttempt, WebhookDelivery
from patron.integration.webhooks_service import webhooks
from patron.security.permissions import Principal, Role
from tests.conftest import Caller, Callers

ALLOW_LOOPBACK = "127.0.0.1/32"


# ----- an independent verifier (Standard Webhooks 1.0, section "Verifying") -------------------
def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret[len("whsec_") :])
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for candidate in headers["webhook-signature"].split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return True
    return False


@dataclass
class Received:
    msg_id: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)["data"]


@dataclass
class Receiver:
    """A real HTTP server in a thread. ``answer`` picks the status for each request."""

    secrets: list[str] = field(default_factory=list)
    answer: Callable[[Received], int] = lambda _: 200
    response_body: bytes = b"ok"
    requests: list[Received] = field(default_factory=list)
    bad_signatures: int = 0
    delivered: dict[str, Received] = field(default_factory=dict)  # first 2xx per webhook-id
    delivered_order: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        received = Received(headers["webhook-id"], headers, body, 0)
        ok = any(verify(secret, headers, body) for secret in self.secrets)
        with self.lock:
            if not ok:
                self.bad_signatures += 1
            received.status = self.answer(received)
            self.requests.append(received)
            if 200 <= received.status < 300 and received.msg_id not in self.delivered:
                self.delivered[received.msg_id] = received
                event = received.event
                self.delivered_order[event["entity_id"]].append(event["position"])
        return received.status, self.response_body

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.delivered) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.delivered)} of {count} delivered in {timeout}s")
            time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:  # the sender died mid-request: nothing was delivered
                self.close_connection = True
                return
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, answer = state.handle(headers, body)
            self.send_response(status)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a sender killed mid-request resets its connection: expected, not news

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()


def fast_settings(db: Database, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db.url,
        "webhook_allow_hosts": ALLOW_LOOPBACK,
        "webhook_retry_base_seconds": 0.01,
        "webhook_retry_cap_seconds": 0.05,
        "webhook_retry_window_seconds": 3600,
        "webhook_timeout_seconds": 5,
        "webhook_send_batch": 50,
        "webhook_concurrency": 4,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def allow_loopback(settings: Settings) -> Settings:
    settings.webhook_allow_hosts = ALLOW_LOOPBACK
    return settings


def subscribe(admin: Caller, url: str, types: list[str] | None = None) -> dict[str, Any]:
    response = admin.post(
        "/api/v1/webhooks", json={"url": url, "event_types": types or ["customer.*"]}
    )
    assert response.status_code == 201, response.text
    return response.json()


def emit(db: Database, event_type: str, entity_id: uuid.UUID, **data: Any) -> None:
    with db.unit_of_work() as session:
        events.record(
            session, Principal.system(), type=event_type, entity=event_type.split(".")[0],
            entity_id=entity_id, data=data,
        )  # fmt: skip


def drain(dispatcher: WebhookDispatcher, until: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the dispatcher did not finish in time"
        if not dispatcher.run_once():
            time.sleep(0.01)


# ----- subscriptions ---------------------------------------------------------------------------
def test_subscription_crud_shows_the_secret_once(
    allow_loopback: Settings, admin: Caller, receiver: tuple[Receiver, str]
) -> None:
    _, url = receiver
    created = subscribe(admin, url, ["customer.*", "ticket.created"])
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"][6:])) >= 24
    assert created["event_types"] == ["customer.*", "ticket.created"]
    assert created["is_active"] is True
    read = admin.get(f"/api/v1/webhooks/{created['id']}").json()
    assert "secret" not in read
    assert [w["id"] for w in admin.get("/api/v1/webhooks").json()["data"]] == [created["id"]]
    changed = admin.patch(
        f"/api/v1/webhooks/{created['id']}", json={"description": "shop", "is_active": False}
    )
    assert changed.status_code == 200
    assert (changed.json()["description"], changed.json()["is_active"]) == ("shop", False)
    bad = admin.post("/api/v1/webhooks", json={"url": url, "event_types": ["Customer created"]})
    assert bad.status_code == 422
    rotated = admin.post(f"/api/v1/webhooks/{created['id']}/rotate-secret").json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    assert admin.delete(f"/api/v1/webhooks/{created['id']}").status_code == 204
    assert admin.get(f"/api/v1/webhooks/{created['id']}").status_code == 404


def test_only_admins_manage_webhooks(allow_loopback: Settings, callers: Callers) -> None:
    manager = callers.make(Role.MANAGER)
    response = manager.post(
        "/api/v1/webhooks", json={"url": "https://93.184.216.34/", "event_types": ["*"]}
    )
    assert response.status_code == 403
    assert manager.get("/api/v1/webhooks").status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://224.0.0.1/hook",
        "http://240.0.0.1/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
        "ftp://93.184.216.34/hook",
        "http://user:pw@93.184.216.34/hook",
    ],
)
def test_ssrf_guard_refuses_non_public_targets(admin: Caller, url: str) -> None:
    response = admin.post("/api/v1/webhooks", json={"url": url, "event_types": ["*"]})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "webhook_target_refused"
    assert problem["errors"][0]["field"] == "url"
    assert admin.get("/api/v1/webhooks").json()["data"] == []


def test_ssrf_guard_is_checked_again_at_send_time(
    db: Database, allow_loopback: Settings, admin: Caller, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    created = subscribe(admin, url)
    emit(db, "customer.created", uuid.uuid4())
    # The allow-list is gone when the worker runs: the send is refused and logged, never made.
    dispatcher = WebhookDispatcher(db, fast_settings(db, webhook_allow_hosts=""))
    try:
        dispatcher.run_once()
        dispatcher.run_once()
    finally:
        dispatcher.close()
    assert state.requests == []
    log = admin.get(f"/api/v1/webhooks/{created['id']}/deliveries").json()["data"]
    attempt = log[0]["attempt_log"][0]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("refused: The host '127.0.0.1' resolves to 127.0.0.1")
    assert log[0]["status"] == "pending"


# ----- signing ---------------------------------------------------------------------------------
def test_signature_follows_standard_webhooks(
    db: Database, allow_loopback: Settings, admin: Caller, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    created = subscribe(admin, url, ["customer.created"])
    state.secrets = [created["secret"]]
    entity = uuid.uuid4()
    emit(db, "customer.created", entity, name="Ada")
    emit(db, "ticket.created", uuid.uuid4())  # not subscribed
    dispatcher = WebhookDispatcher(db, fast_settings(db))
    try:
        drain(dispatcher, lambda: len(state.delivered) == 1)
        dispatcher.run_once()
    finally:
        dispatcher.close()
    assert len(state.requests) == 1
    (got,) = state.requests
    assert state.bad_signatures == 0
    assert got.msg_id.startswith("msg_")
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    signature = got.headers["webhook-signature"]
    assert signature.startswith("v1,")
    assert " " not in signature
    assert len(base64.b64decode(signature[3:])) == 32
    body = json.loads(got.body)
    assert body["type"] == "customer.created"
    assert body["data"]["entity_id"] == str(entity)
    assert body["data"]["data"] == {"name": "Ada"}
    # A signature made with another secret does not verify: the check can fail.
    assert not verify("whsec_" + base64.b64encode(b"x" * 32).decode(), got.headers, got.body)
    assert not verify(created["secret"], got.headers, got.body + b" ")


def test_rotation_signs_with_both_secrets_during_the_grace_period(
    db: Database, allow_loopback: Settings, admin: Caller, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    created = subscribe(admin, url)
    old = created["secret"]
    new = admin.post(f"/api/v1/webhooks/{created['id']}/rotate-secret").json()["secret"]
    state.secrets = [old]  # a receiver that has not picked up the new secret yet
    emit(db, "customer.created", uuid.uuid4())
    dispatcher = WebhookDispatcher(db, fast_settings(db))
    try:
        drain(dispatcher, lambda: len(state.delivered) == 1)
    finally:
        dispatcher.close()
    (got,) = state.requests
    signatures = got.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert verify(old, got.headers, got.body)
    assert verify(new, got.headers, got.body)
    assert state.bad_signatures == 0
    assert not verify(new, {**got.headers, "webhook-signature": signatures[1]}, got.body)


def test_after_the_grace_period_only_the_new_secret_signs(
    db: Database, allow_loopback: Settings, admin: Caller, receiver: tuple[Receiver, str]
) -> None:
    allow_loopback.webhook_rotation_grace_seconds = 0
    state, url = receiver
    created = subscribe(admin, url)
    new = admin.post(f"/api/v1/webhooks/{created['id']}/rotate-secret").json()["secret"]
    state.secrets = [new]
    emit(db, "customer.created", uuid.uuid4())
    dispatcher = WebhookDispatcher(db, fast_settings(db))
    try:
        drain(dispatcher, lambda: len(state.delivered) == 1)
    finally:
        dispatcher.close()
    (got,) = state.requests
    assert " " not in got.headers["webhook-signature"]
    assert verify(new, got.headers, got.body)
    assert not verify(created["secret"], got.headers, got.body)


# ----- retries, order, log, redelivery, disabling -----------------------------------------------
def test_order_is_kept_per_record_through_failures(
    db: Database, allow_loopback: Settings, admin: Caller, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    created = subscribe(admin, url)
    state.secrets = [created["secret"]]
    rng = random.Random(7)
    state.answer = lambda _: 500 if rng.random() < 0.5 else 200
    records = [uuid.uuid4() for _ in range(5)]
    for index in range(60):
        emit(db, "customer.updated", records[index % 5], n=index)
    dispatcher = WebhookDispatcher(db, fast_settings(db))
    try:
        drain(dispatcher, lambda: len(state.delivered) == 60, timeout=60)
    finally:
        dispatcher.close()
    assert any(r.status == 500 for r in state.requests)  # failures happened and were retried
    for positions in state.delivered_order.values():
        assert positions == sorted(positions)
        assert len(positions) == 12
    # While a record's delivery was being retried, no later one for it was sent.
    seen: dict[str, int] = {}
    for request in state.requests:
        event = request.event
        assert event["position"] >= seen.get(event["entity_id"], 0), "a later event overtook"
        if request.status == 200:
            seen[event["entity_id"]] = event["position"]
    assert state.bad_signatures == 0


def test_delivery_log_keeps_the_first_kilobyte_and_redelivery_resends(
    db: Database, allow_loopback: Settings, admin: Caller, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    created = subscribe(admin, url)
    state.secrets = [created["secret"]]
    state.response_body = ("é" * 2000).encode()  # 4000 bytes, two per character
    answers = iter([503, 200, 200])
    state.answer = lambda _: next(answers)
    emit(db, "customer.created", uuid.uuid4())
    dispatcher = WebhookDispatcher(db, fast_settings(db))
    try:
        drain(dispatcher, lambda: len(state.delivered) == 1)
        base = f"/api/v1/webhooks/{created['id']}/deliveries"
        (delivery,) = admin.get(base).json()["data"]
        assert (delivery["status"], delivery["attempts"]) == ("succeeded", 2)
        first, second = delivery["attempt_log"]
        assert (first["attempt"], first["status_code"]) == (1, 503)
        assert (second["attempt"], second["status_code"]) == (2, 200)
        assert first["response_body"] == "é" * 512
        assert first["latency_ms"] >= 0
        assert first["error"] is None
        again = admin.post(f"{base}/{delivery['id']}/redeliver")
        assert again.status_code == 202
        assert again.json()["status"] == "pending"
        drain(dispatcher, lambda: len(state.requests) == 3)
        drain(dispatcher, lambda: admin.get(base).json()["data"][0]["status"] == "succeeded")
    finally:
        dispatcher.close()
    assert state.requests[2].msg_id == state.requests[0].msg_id  # same webhook-id: dedupable
    assert admin.get(base).json()["data"][0]["attempts"] == 3
    missing = admin.post(f"{base}/{uuid.uuid4()}/redeliver")
    assert missing.status_code == 404


def test_persistent_failure_disables_the_subscription_and_tells_admins(
    db: Database, allow_loopback: Settings, admin: Caller, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    created = subscribe(admin, url, ["customer.*"])
    state.secrets = [created["secret"]]
    state.answer = lambda _: 500
    record = uuid.uuid4()  # one record, so its deliveries go one after the other
    for _ in range(3):
        emit(db, "customer.updated", record)
    settings = fast_settings(
        db,
        webhook_retry_window_seconds=0.3,
        webhook_disable_after_failures=2,
        webhook_disable_after_failing_seconds=3600,
    )
    dispatcher = WebhookDispatcher(db, settings)
    read = f"/api/v1/webhooks/{created['id']}"
    try:
        drain(dispatcher, lambda: admin.get(read).json()["is_active"] is False)
        dispatcher.run_once()
    finally:
        dispatcher.close()
    subscription = admin.get(read).json()
    assert subscription["disabled_reason"].startswith("Disabled after 2 deliveries in a row")
    statuses = sorted(d["status"] for d in admin.get(f"{read}/deliveries").json()["data"])
    assert statuses == ["failed", "failed", "pending"]
    with db.unit_of_work(write=False) as session:
        attempts = session.scalar(select(func.count()).select_from(WebhookAttempt))
        disabled = events.list_after(session, Principal.system(), after=0, limit=100)
        deliveries = session.scalar(select(func.count()).select_from(WebhookDelivery))
        notices = webhooks.notices(session, Principal.system())
    assert attempts >= 4
    assert deliveries == 3
    assert [e.type for e in disabled].count("webhook.disabled") == 1
    assert len(notices) == 1
    assert notices[0].message.startswith(f"Webhook to {url} was disabled.")
    # A disabled subscription is not sent to any more.
    sent = len(state.requests)
    emit(db, "customer.created", uuid.uuid4())
    dispatcher = WebhookDispatcher(db, settings)
    try:
        for _ in range(5):
            dispatcher.run_once()
    finally:
        dispatcher.close()
    assert len(state.requests) == sent


def test_webhooks_page_creates_shows_the_log_and_redelivers(
    db: Database, allow_loopback: Settings, client: TestClient, callers: Callers,
    receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from argon2 import PasswordHasher

    from patron.security import passwords
    from tests.web.test_pages_http import hidden, login

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    state, url = receiver
    user = callers.make(Role.ADMIN, password="webhook-page-passphrase")
    assert login(client, user.email, "webhook-page-passphrase").status_code == 303
    token = hidden(client.get("/webhooks").text, "csrf_token")

    refused = client.post(
        "/webhooks", data={"url": "http://10.0.0.1/x", "event_types": "*", "csrf_token": token}
    )
    assert refused.status_code == 422
    assert "resolves to 10.0.0.1, a private address" in refused.text
    forged = client.post("/webhooks", data={"url": url, "event_types": "*", "csrf_token": "x"})
    assert forged.status_code == 403
    created = client.post(
        "/webhooks",
        data={"url": url, "event_types": "customer.*, ticket.created", "csrf_token": token},
    )
    assert created.status_code == 201
    secret = re.search(r'data-testid="webhook-secret">(whsec_[^<]+)<', created.text)
    assert secret is not None
    state.secrets = [secret.group(1)]
    (subscription,) = user.get("/api/v1/webhooks").json()["data"]
    assert subscription["event_types"] == ["customer.*", "ticket.created"]

    emit(db, "customer.created", uuid.uuid4())
    dispatcher = WebhookDispatcher(db, fast_settings(db))
    try:
        drain(dispatcher, lambda: len(state.delivered) == 1)
        detail = client.get(f"/webhooks/{subscription['id']}")
        assert detail.status_code == 200
        assert state.requests[0].msg_id in detail.text
        assert "succeeded" in detail.text
        (delivery,) = user.get(f"/api/v1/webhooks/{subscription['id']}/deliveries").json()["data"]
        again = client.post(
            f"/webhooks/{subscription['id']}/deliveries/{delivery['id']}/redeliver",
            data={"csrf_token": token},
            follow_redirects=False,
        )
        assert again.status_code == 303
        drain(dispatcher, lambda: len(state.requests) == 2)
    finally:
        dispatcher.close()
    assert state.bad_signatures == 0

    with db.unit_of_work() as session:  # the dispatcher's own disable, as after persistent failure
        record = webhooks.get(session, Principal.system(), uuid.UUID(subscription["id"]))
        disable(session, record, record.updated_at, "Disabled after 5 deliveries in a row.")
    listing = client.get("/webhooks").text
    assert 'data-testid="webhook-notice"' in listing
    assert f"Webhook to {url} was disabled. Disabled after 5 deliveries in a row." in listing

    reader = callers.make(Role.MANAGER, password="webhook-page-passphrase")
    client.cookies.clear()
    assert login(client, reader.email, "webhook-page-passphrase").status_code == 303
    assert client.get("/webhooks").status_code == 403


def test_a_subscription_failing_too_long_is_disabled_and_enabling_resets_it(
    db: Database, allow_loopback: Settings, admin: Caller, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    created = subscribe(admin, url)
    state.secrets = [created["secret"]]
    state.answer = lambda _: 500
    emit(db, "customer.created", uuid.uuid4())
    settings = fast_settings(
        db,
        webhook_retry_window_seconds=0.3,
        webhook_disable_after_failures=100,
        webhook_disable_after_failing_seconds=0.1,
    )
    dispatcher = WebhookDispatcher(db, settings)
    read = f"/api/v1/webhooks/{created['id']}"
    try:
        drain(dispatcher, lambda: admin.get(read).json()["is_active"] is False)
    finally:
        dispatcher.close()
    disabled = admin.get(read).json()
    assert disabled["disabled_reason"].startswith("Disabled after failing since ")
    assert disabled["consecutive_failures"] == 1
    enabled = admin.patch(read, json={"is_active": True}).json()
    assert enabled["is_active"] is True
    assert (enabled["consecutive_failures"], enabled["disabled_reason"]) == (0, None)
