"""Live updates in Chromium: a change made through the API shows on the open page, no reload."""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from patron.security import service as security
from patron.security.permissions import Principal
from patron.security.schemas import ApiKeyCreate
from tests.browser.conftest import LiveServer, Seed
from tests.browser.test_pages import log_in, unique

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def api(live_server: LiveServer, seed: Seed) -> httpx.Client:
    admin = seed.user("admin")
    with seed.database.unit_of_work() as session:
        _, key = security.api_keys.issue(
            session, Principal.system(), ApiKeyCreate(name="browser", user_id=admin.id)
        )
    return httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


def mark_page(page: Page) -> None:
    """A flag that a reload would wipe out."""
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.__notReloaded === true"))


def test_customer_changes_appear_on_the_open_list(
    page: Page, seed: Seed, live_server: LiveServer, artifacts: Any
) -> None:
    agent = seed.user("support")
    tag = secrets.token_hex(3).upper()
    first = seed.customer(name=f"Live {tag} Ada", country="GB", lifecycle_stage="lead")
    log_in(page, agent.email)
    page.goto(f"/customers?q=Live+{tag}")
    rows = page.get_by_test_id("customer-table").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(page.locator("[data-live-status]")).to_have_text("Live")
    mark_page(page)

    with api(live_server, seed) as client:
        changed = client.patch(
            f"/api/v1/customers/{first.id}", json={"lifecycle_stage": "churned", "country": "FR"}
        )
        assert changed.status_code == 200, changed.text
        row = page.locator(f"tr[data-id='{first.id}']")
        expect(row).to_contain_text("Churned")
        expect(row).to_contain_text("FR")
        expect(row).to_have_class(re.compile(r"\blive-changed\b"))

        made = client.post("/api/v1/customers", json={"name": f"Live {tag} Bea"})
        assert made.status_code == 201, made.text
        expect(rows).to_have_count(2)
        expect(page.locator(f"tr[data-id='{made.json()['id']}']")).to_contain_text("Bea")

        assert client.delete(f"/api/v1/customers/{first.id}").status_code == 204
        expect(rows).to_have_count(1)
    expect(page.locator("[data-live-status]")).to_contain_text("Updated live")
    page.screenshot(path=str(artifacts / "customers-live.png"), full_page=True)
    assert not_reloaded(page)


def test_ticket_changes_appear_on_the_filtered_tickets_page(
    page: Page, seed: Seed, live_server: LiveServer
) -> None:
    agent = seed.user("support")
    customer = seed.customer(name=unique("Ticket Owner"))
    log_in(page, agent.email)
    page.get_by_role("link", name="Tickets").click()
    expect(page).to_have_url(re.compile(r"/tickets$"))
    page.get_by_test_id("priority-filter").select_option("urgent")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"priority=urgent"))
    expect(page.locator("[data-live-status]")).to_have_text("Live")
    mark_page(page)
    subject = unique("Server room flooded")

    with api(live_server, seed) as client:
        made = client.post(
            "/api/v1/tickets",
            json={"customer_id": str(customer.id), "subject": subject, "priority": "urgent"},
        )
        assert made.status_code == 201, made.text
        row = page.locator(f"tr[data-id='{made.json()['id']}']")
        expect(row).to_contain_text(subject)
        expect(row).to_contain_text("Urgent")
        expect(row).to_have_class(re.compile(r"\blive-changed\b"))

        resolved = client.patch(f"/api/v1/tickets/{made.json()['id']}", json={"status": "resolved"})
        assert resolved.status_code == 200
        expect(row).to_contain_text("Resolved")

        lowered = client.patch(f"/api/v1/tickets/{made.json()['id']}", json={"priority": "low"})
        assert lowered.status_code == 200
        expect(row).to_have_count(0)  # no longer matches the page's filter
    assert not_reloaded(page)
