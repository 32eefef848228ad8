"""The tickets page over HTTP, and what the pages' live updates may see."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from patron.db.engine import Database
from patron.events import live
from patron.security import passwords
from patron.security.permissions import Principal, Role
from tests.conftest import Caller, Callers
from tests.factories import make_customer
from tests.web.test_pages_http import PASSWORD, logged_in


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


def make_ticket(caller: Caller, customer_id: str, subject: str, **values: str) -> dict:
    response = caller.post(
        "/api/v1/tickets", json={"customer_id": customer_id, "subject": subject, **values}
    )
    assert response.status_code == 201, response.text
    return response.json()


def subjects(html: str) -> list[str]:
    return re.findall(r'<td class="strong">([^<]*)</td>', html)


def test_tickets_page_lists_and_filters(
    client: TestClient, callers: Callers, admin: Caller
) -> None:
    agent = callers.make(Role.SUPPORT, password=PASSWORD)
    customer = make_customer(admin, name="Grace Hopper")
    make_ticket(admin, customer["id"], "Printer on fire", priority="urgent")
    make_ticket(admin, customer["id"], "Invoice copy", status="pending", priority="low")
    make_ticket(admin, customer["id"], "Old question", status="closed")
    logged_in(client, agent)

    page = client.get("/tickets")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert subjects(page.text) == ["Old question", "Invoice copy", "Printer on fire"]
    assert "Grace Hopper" in page.text
    assert '<a href="/tickets" aria-current="page">Tickets</a>' in page.text
    assert 'data-live="/live/tickets"' in page.text
    assert '<script src="/static/live.js" defer></script>' in page.text

    assert subjects(client.get("/tickets?priority=urgent").text) == ["Printer on fire"]
    assert subjects(client.get("/tickets?status=pending&priority=low").text) == ["Invoice copy"]
    assert subjects(client.get("/tickets?status=closed&priority=urgent").text) == []
    refused = client.get("/tickets?status=bogus")
    assert "Some filters are not valid" in refused.text
    assert len(subjects(refused.text)) == 3


def test_tickets_page_keeps_to_the_callers_scope(
    client: TestClient, callers: Callers, admin: Caller
) -> None:
    rep = callers.make(Role.SALES, team="North", password=PASSWORD)
    mine = make_customer(admin, name="Ours", team_id=str(callers.team("North")))
    theirs = make_customer(admin, name="Theirs", team_id=str(callers.team("South")))
    make_ticket(admin, mine["id"], "Our ticket")
    make_ticket(admin, theirs["id"], "Their ticket")
    logged_in(client, rep)
    assert subjects(client.get("/tickets").text) == ["Our ticket"]


def test_static_live_script_is_served_and_pages_carry_no_inline_script(
    client: TestClient, callers: Callers
) -> None:
    logged_in(client, callers.make(Role.SUPPORT, password=PASSWORD))
    script = client.get("/static/live.js")
    assert script.status_code == 200
    assert "EventSource" in script.text
    for path in ("/customers", "/tickets"):
        html = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path


def test_live_changes_keep_to_scope(db: Database, callers: Callers, admin: Caller) -> None:
    rep = callers.make(Role.SALES, team="North")
    principal = Principal(user_id=rep.user_id, role=Role.SALES, team_id=rep.team_id)
    mine = make_customer(admin, name="Ours", team_id=str(callers.team("North")))
    theirs = make_customer(admin, name="Theirs", team_id=str(callers.team("South")))
    admin.patch(f"/api/v1/customers/{theirs['id']}", json={"city": "Elsewhere"})
    make_ticket(admin, mine["id"], "Ours")
    make_ticket(admin, theirs["id"], "Theirs")
    admin.delete(f"/api/v1/customers/{theirs['id']}")
    with db.unit_of_work(write=False) as session:
        seen = live.changes_after(session, principal, "customers", after=0, limit=100)
        everything = live.changes_after(
            session, Principal.system(), "customers", after=0, limit=100
        )
        their_tickets = live.changes_after(session, principal, "tickets", after=0, limit=100)
    assert [(c.type, c.entity_id) for c in seen.changes] == [
        ("customer.created", mine["id"]),
        ("customer.deleted", theirs["id"]),  # a deletion cannot be checked: its id only
    ]
    assert len(everything.changes) == 4
    assert seen.reached == everything.reached  # the scan moves on past what it left out
    assert [c.type for c in their_tickets.changes] == ["ticket.created"]
    with db.unit_of_work(write=False) as session:
        marketing = Principal(user_id=rep.user_id, role=Role.MARKETING)
        assert live.changes_after(session, marketing, "tickets", after=0, limit=5).changes
