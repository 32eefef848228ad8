"""``Idempotency-Key`` on POST requests (as Stripe does it).

The first answer to a key is kept for 24 hours and replayed to every retry with the same key
and the same request; the same key with a different request is refused (422). Keys belong to the
caller (the API key or session that sent them), so two clients cannot collide. While the first
request is still running, a retry gets 409. Answers of 500 and above are not kept, so a retry
after a server error runs again.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron.db.engine import Database
from patron.kit.clock import as_utc, utcnow
from patron.web.idempotency_models import IdempotentRequest

HEADER = b"idempotency-key"
KEEP_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = {"content-type", "location", "etag", "link"}


def _problem(status: int, code: str, detail: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = json.dumps(
        {
            "type": f"https://patron.dev/problems/{code.replace('_', '-')}",
            "title": "Idempotency key problem",
            "status": status,
            "detail": detail,
            "code": code,
        }
    ).encode()
    return status, [(b"content-type", b"application/problem+json")], body


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, database: Database) -> None:
        self.app = app
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(HEADER)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            await _answer(
                send,
                *_problem(
                    422,
                    "invalid_idempotency_key",
                    f"An Idempotency-Key has 1 to {MAX_KEY_LENGTH} characters.",
                ),
            )
            return
        caller = headers.get(b"authorization") or _cookie(headers.get(b"cookie", b""))
        if not caller:
            await self.app(scope, receive, send)  # unauthenticated: the app answers 401
            return
        body = await _read_body(receive)
        owner = hashlib.sha256(caller).hexdigest()
        fingerprint = hashlib.sha256(
            scope["path"].encode() + b"?" + scope.get("query_string", b"") + b"\n" + body
        ).hexdigest()

        outcome = self._claim(owner, key, fingerprint)
        if outcome is not None:
            await _answer(send, *outcome)
            return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}

        async def replay_receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"].extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        finally:
            self._finish(owner, key, captured)

    def _claim(
        self, owner: str, key: str, fingerprint: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """None when this request may run; otherwise the answer to give instead."""
        now = utcnow()
        with self.database.unit_of_work() as session:
            row = session.scalars(
                select(IdempotentRequest).where(
                    IdempotentRequest.owner == owner, IdempotentRequest.key == key
                )
            ).one_or_none()
            if row is not None and as_utc(row.created_at) + KEEP_FOR < now:
                session.delete(row)
                session.flush()
                row = None
            if row is None:
                try:
                    with session.begin_nested():
                        session.add(
                            IdempotentRequest(
                                owner=owner, key=key, fingerprint=fingerprint, created_at=now
                            )
                        )
                    return None
                except IntegrityError:
                    return _problem(
                        409,
                        "idempotency_key_in_use",
                        "A request with this Idempotency-Key is still running.",
                    )
            if row.fingerprint != fingerprint:
                return _problem(
                    422,
                    "idempotency_key_reused",
                    "This Idempotency-Key was used for a different request.",
                )
            if row.status is None:
                return _problem(
                    409,
                    "idempotency_key_in_use",
                    "A request with this Idempotency-Key is still running.",
                )
            stored_headers = [
                (k.encode("latin-1"), v.encode("latin-1")) for k, v in (row.headers or [])
            ]
            stored_headers.append((b"idempotent-replayed", b"true"))
            return row.status, stored_headers, row.body or b""

    def _finish(self, owner: str, key: str, captured: dict[str, Any]) -> None:
        with self.database.unit_of_work() as session:
            row = session.scalars(
                select(IdempotentRequest).where(
                    IdempotentRequest.owner == owner, IdempotentRequest.key == key
                )
            ).one_or_none()
            if row is None:
                return
            status = int(captured["status"])
            if status >= 500 or status == 401:
                session.execute(delete(IdempotentRequest).where(IdempotentRequest.id == row.id))
                return
            row.status = status
            row.headers = [
                [k.decode("latin-1"), v.decode("latin-1")]
                for k, v in captured["headers"]
                if k.decode("latin-1").lower() in REPLAYED_HEADERS
            ]
            row.body = bytes(captured["body"])


def _cookie(header: bytes) -> bytes:
    for part in header.split(b";"):
        name, _, value = part.strip().partition(b"=")
        if name == b"patron_session" and value:
            return value
    return b""


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
