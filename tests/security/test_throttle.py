"""Login throttling: repeated failures lock the account and the address, alike for everyone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from patron.db.engine import Database
from patron.kit.clock import utcnow
from patron.security import throttle
from tests.conftest import Callers

PASSWORD = "a perfectly fine passphrase"


def _login(client: TestClient, email: str, password: str) -> int:
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    return response.status_code


def test_an_account_locks_after_repeated_failures(client: TestClient, callers: Callers) -> None:
    user = callers.make("sales", password=PASSWORD)
    for _ in range(throttle.ACCOUNT_LIMIT):
        assert _login(client, user.email, "wrong password!") == 401
    assert _login(client, user.email, PASSWORD) == 429  # even the right password waits
    assert "session" not in "".join(client.cookies.keys()).replace("login_csrf", "")


def test_unknown_accounts_get_the_same_answers(client: TestClient) -> None:
    answers = [_login(client, "nobody@example.com", "wrong password!") for _ in range(6)]
    assert answers == [401] * throttle.ACCOUNT_LIMIT + [429]


def test_locks_pass_and_success_resets(db: Database) -> None:
    now = utcnow()
    with db.unit_of_work() as session:
        for _ in range(throttle.ACCOUNT_LIMIT):
            throttle.failed(session, "a@example.com", "10.0.0.1", now)
    with db.unit_of_work() as session:
        with pytest.raises(throttle.TooManyAttempts) as raised:
            throttle.check(session, "A@example.com ", "10.0.0.2", now)
        assert raised.value.status == 429
        throttle.check(session, "a@example.com", None, now + timedelta(minutes=2))
        throttle.check(session, "b@example.com", "10.0.0.1", now)  # the address is below its limit
        throttle.succeeded(session, "a@example.com")
    with db.unit_of_work() as session:
        throttle.check(session, "a@example.com", None, now)


def test_log_out_everywhere_ends_every_session(app, callers: Callers) -> None:  # type: ignore[no-untyped-def]
    user = callers.make("support", password=PASSWORD)
    browsers = [TestClient(app), TestClient(app)]
    for browser in browsers:
        assert _login(browser, user.email, PASSWORD) == 303
        assert browser.get("/customers", follow_redirects=False).status_code == 200
    ended = user.client.delete("/api/v1/me/sessions", headers=user.headers)
    assert ended.status_code == 200
    assert ended.json() == {"ended": 2}
    for browser in browsers:
        assert browser.get("/customers", follow_redirects=False).status_code == 303
