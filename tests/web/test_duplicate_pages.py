"""The duplicates page over HTTP: review a pair, merge it from the page, undo it."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from patron.db.engine import Database
from patron.security import passwords
from patron.worker.runner import Worker
from tests.conftest import Caller, Callers
from tests.factories import make_customer
from tests.web.test_insight_pages import PASSWORD, browser, hidden


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


def test_a_manager_merges_a_pair_from_the_page_and_undoes_it(
    app: FastAPI, db: Database, admin: Caller, callers: Callers
) -> None:
    older = make_customer(admin, name="Grace Hopper", email="grace@example.com")
    newer = make_customer(
        admin, name="Grace Hoper", email="grace@example.com", phone="+1 202 555 0142"
    )
    admin.post("/api/v1/duplicates/scan", json={})
    Worker(db).run_until_idle()
    page_user = browser(app, callers.make("admin", password=PASSWORD))

    page = page_user.get("/duplicates")
    assert page.status_code == 200
    assert page.text.count('data-testid="pair"') == 1
    assert "Grace Hoper" in page.text
    assert "+1 202 555 0142" in page.text
    pair_id = admin.get("/api/v1/duplicates").json()["data"][0]["id"]

    forged = page_user.post(
        f"/duplicates/{pair_id}/merge", data={"csrf_token": "forged", "keep": "left"}
    )
    assert forged.status_code == 403
    merged = page_user.post(
        f"/duplicates/{pair_id}/merge",
        data={"csrf_token": hidden(page.text, "csrf_token"), "keep": "left"},
        follow_redirects=False,
    )
    assert merged.status_code == 303
    after = page_user.get(merged.headers["location"])
    assert 'data-testid="merged-notice"' in after.text
    assert 'data-testid="no-duplicates"' in after.text
    assert admin.get(f"/api/v1/customers/{newer['id']}").json()["merged_into_id"] == older["id"]
    assert admin.get(f"/api/v1/customers/{older['id']}").json()["phone"] == "+1 202 555 0142"

    undo = after.text.split('action="/merges/')[1].split("/undo")[0]
    undone = page_user.post(
        f"/merges/{undo}/undo",
        data={"csrf_token": hidden(after.text, "csrf_token")},
        follow_redirects=False,
    )
    assert undone.status_code == 303
    assert admin.get(f"/api/v1/customers/{newer['id']}").json()["merged_into_id"] is None
    assert admin.get(f"/api/v1/customers/{older['id']}").json()["phone"] is None
    assert page_user.get("/duplicates").text.count('data-testid="pair"') == 1


def test_a_readonly_user_sees_pairs_but_no_buttons(
    app: FastAPI, db: Database, admin: Caller, callers: Callers
) -> None:
    make_customer(admin, name="Alan Turing", email="alan@example.com")
    make_customer(admin, name="Alan Turring", email="alan@example.com")
    admin.post("/api/v1/duplicates/scan", json={})
    Worker(db).run_until_idle()
    reader = browser(app, callers.make("readonly", password=PASSWORD))
    page = reader.get("/duplicates")
    assert page.status_code == 200
    assert 'data-testid="pair"' in page.text
    assert 'data-testid="keep-left"' not in page.text
    assert 'data-testid="dismiss"' not in page.text
