"""Secrets never show up where they do not belong.

Canary values stand in for a password, an API key and a session cookie. The test walks the
paths where a careless app leaks them — validation errors that echo input, failed logins,
refused keys, unknown routes, error pages, the CLI — and scans every answer (bodies and headers)
and every log record the app produced at DEBUG for any of them. The only places a secret may
appear are the ones meant to show it: the key in the answer that creates it (once), the cookie in
the Set-Cookie header that sets it.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from patron.cli.main import app as cli
from patron.db.engine import Database
from patron.security import passwords
from patron.security.deps import SESSION_COOKIE
from tests.conftest import Caller, Callers


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name}: {text}")


@pytest.fixture
def logs() -> Iterator[Recorder]:
    recorder = Recorder()
    root = logging.getLogger()
    quiet = logging.getLogger("sqlalchemy")  # SQL echo is not the app's log
    levels = (root.level, quiet.level, logging.getLogger("patron").level)
    root.addHandler(recorder)
    root.setLevel(logging.DEBUG)
    quiet.setLevel(logging.WARNING)
    logging.getLogger("patron").setLevel(logging.DEBUG)
    yield recorder
    root.removeHandler(recorder)
    root.setLevel(levels[0])
    quiet.setLevel(levels[1])
    logging.getLogger("patron").setLevel(levels[2])


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


class Answers:
    """Every answer seen, flattened to text, so nothing escapes the scan."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def keep(self, label: str, response: httpx.Response, *, allow_cookie: bool = False) -> None:
        headers = [
            f"{name}: {value}"
            for name, value in response.headers.multi_items()
            if not (allow_cookie and name.lower() == "set-cookie")
        ]
        self.seen.append((label, "\n".join(headers) + "\n" + response.text))

    def leaks(self, canaries: dict[str, str]) -> list[str]:
        return [
            f"{what} in {label}"
            for label, text in self.seen
            for what, value in canaries.items()
            if value in text
        ]


def _login(client: TestClient, email: str, password: str) -> httpx.Response:
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]*)"', form.text)
    assert token
    data = {"email": email, "password": password, "csrf_token": token.group(1)}
    return client.post("/login", data=data, follow_redirects=False)


def test_canaries_never_leak_into_answers_or_logs(
    client: TestClient, callers: Callers, admin: Caller, logs: Recorder, db: Database, settings: Any
) -> None:
    password = "canary-pass-" + secrets.token_hex(8)
    wrong_password = "canary-wrong-" + secrets.token_hex(8)
    answers = Answers()

    # A user with the canary password, through the API; and attempts the rules refuse.
    email = f"canary-{secrets.token_hex(3)}@example.com"
    created = admin.post(
        "/api/v1/users", json={"email": email, "role": "sales", "password": password}
    )
    assert created.status_code == 201, created.text
    answers.keep("user create", created)
    for bad in ("iloveyou", "canary" + "x" * 200, "c4n-" + secrets.token_hex(1)):
        refused = admin.post(
            "/api/v1/users",
            json={
                "email": f"x{secrets.token_hex(2)}@example.com",
                "role": "sales",
                "password": bad,
            },
        )
        assert refused.status_code == 422
        answers.keep(f"user create refused ({bad[:6]})", refused)
        assert bad not in refused.text

    # Failed and successful logins.
    for _ in range(3):
        answers.keep("failed login", _login(client, email, wrong_password))
    answers.keep("unknown account login", _login(client, "nobody@example.com", wrong_password))
    success = _login(client, email, password)
    assert success.status_code == 303
    answers.keep("login", success, allow_cookie=True)
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie
    for url in (
        "/customers/not-a-uuid",
        "/customers/0195f2d2-6b8a-7c3e-9d4f-123456789abc",
        "/nope",
    ):
        answers.keep(f"page {url}", client.get(url))
    answers.keep("bad form post", client.post("/logout", data={"csrf_token": "forged"}))
    client.cookies.clear()

    # An API key: shown once when created, never again.
    issued = admin.post("/api/v1/api-keys", json={"name": "canary"})
    assert issued.status_code == 201, issued.text
    key = issued.json()["key"]
    key_id = issued.json()["id"]
    with_key = {"Authorization": f"Bearer {key}"}
    for method, url, body in (
        ("GET", "/api/v1/customers?limit=1000", None),
        ("POST", "/api/v1/customers", {"name": ""}),
        ("GET", "/api/v1/customers/not-a-uuid", None),
        ("GET", "/api/v1/nowhere", None),
        ("PATCH", "/api/v1/customers/0195f2d2-6b8a-7c3e-9d4f-123456789abc", {"name": "x"}),
    ):
        answers.keep(f"{method} {url}", client.request(method, url, headers=with_key, json=body))
    answers.keep("api-keys list", admin.get("/api/v1/api-keys"))
    answers.keep("api-key read", admin.get(f"/api/v1/api-keys/{key_id}"))
    near_miss = {"Authorization": f"Bearer {key}x"}
    answers.keep("near-miss key", client.get("/api/v1/customers", headers=near_miss))
    answers.keep("revoke", admin.delete(f"/api/v1/api-keys/{key_id}"))
    answers.keep("revoked key", client.get("/api/v1/customers", headers=with_key))
    client.cookies.set(SESSION_COOKIE, key)
    answers.keep("key as cookie", client.get("/customers"))
    client.cookies.clear()

    # A webhook signing secret: shown once when the subscription is made, never again.
    hook = admin.post(
        "/api/v1/webhooks", json={"url": "https://93.184.216.34/hook", "event_types": ["*"]}
    )
    assert hook.status_code == 201, hook.text
    webhook_secret = hook.json()["secret"]
    for url in ("/api/v1/webhooks", f"/api/v1/webhooks/{hook.json()['id']}", "/api/v1/audit"):
        answers.keep(url, admin.get(url))
    answers.keep("events", admin.get("/api/v1/events?limit=100"))

    # The command line.
    env = {"PATRON_DATABASE_URL": db.url, "PATRON_DATA_DIR": str(settings.data_dir)}
    listed = CliRunner().invoke(cli, ["api-keys", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    users = CliRunner().invoke(cli, ["users", "list"], env=env)
    assert users.exit_code == 0, users.output

    canaries = {
        "password": password, "wrong password": wrong_password, "API key": key,
        "webhook secret": webhook_secret,
    }  # fmt: skip
    canaries["session cookie"] = cookie
    assert answers.leaks(canaries) == []
    for output in (listed.output, users.output):
        for what, value in canaries.items():
            assert value not in output, what
    assert logs.lines, "the app logged nothing: the recorder is not attached"
    leaked = [line for line in logs.lines for value in canaries.values() if value in line]
    assert leaked == []
