"""The web pages in headless Chromium: log in, find a customer, read, edit, and the refusals.

Every test seeds its own uniquely named records, so the tests share one server and database.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from patron.security.deps import SESSION_COOKIE
from tests.browser.conftest import PASSWORD, Seed

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def at(day: int, hour: int = 10) -> datetime:
    """A fixed UTC time in March 2026, so the timeline's order is known."""
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def unique(name: str) -> str:
    return f"{name} {secrets.token_hex(3).upper()}"


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def session_cookies(page: Page) -> list[dict[str, Any]]:
    return [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]


def test_find_a_customer_and_read_their_orders(page: Page, seed: Seed, artifacts: Path) -> None:
    rep = seed.user("sales", team="Browser North", name="Rita Rep")
    company = seed.customer(
        name=unique("Analytical Engines Ltd"), kind="company", team_id=rep.team_id
    )
    name = unique("Ada Lovelace")
    ada = seed.customer(
        name=name,
        email="ada@example.com",
        phone="+44 20 7946 0000",
        city="London",
        country="GB",
        address_line1="12 St James's Square",
        postal_code="SW1Y 4JH",
        lifecycle_stage="customer",
        tags=["vip", "b2b"],
        company_id=company.id,
        owner_id=rep.id,
        team_id=rep.team_id,
        source="referral",
    )
    seed.customer(name=unique("Ada Byron-King"), owner_id=rep.id, team_id=rep.team_id)
    widget = seed.product(name="Difference Widget", price_minor=1250)
    number = f"SO-{secrets.token_hex(3).upper()}"
    seed.order(ada.id, widget.id, 3, number=number, ordered_at=at(3))  # 3 x 12.50 EUR
    seed.order(ada.id, widget.id, 100, ordered_at=at(5))  # 1,250.00 EUR
    seed.ticket(ada.id, "Engine output is off by one", at(4))
    seed.activity(ada.id, "Quarterly review call", at(6))

    log_in(page, rep.email)
    expect(page).to_have_url(re.compile(r"/customers$"))
    expect(page.get_by_test_id("current-user")).to_contain_text(rep.email)

    page.get_by_label("Search").fill(name)
    page.get_by_role("button", name="Search").click()
    rows = page.get_by_test_id("customer-table").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(name)
    page.screenshot(path=str(artifacts / "customer-list.png"), full_page=True)
    rows.first.get_by_role("link", name=name).click()

    expect(page).to_have_url(re.compile(rf"/customers/{ada.id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_test_id("company-link")).to_have_text(company.name)
    expect(page.get_by_test_id("owner")).to_contain_text("Rita Rep")
    expect(page.get_by_test_id("team")).to_have_text("Browser North")
    entries = page.get_by_test_id("timeline").locator("li")
    expect(entries).to_have_count(4)
    order = entries.filter(has_text=number)
    expect(order).to_contain_text("37.50 EUR")
    expect(order).to_contain_text("paid")
    expect(entries.first).to_contain_text("Quarterly review call")  # newest first
    expect(entries.filter(has_text="1,250.00 EUR")).to_have_count(1)
    expect(entries.filter(has_text="Engine output is off by one")).to_contain_text("high priority")

    page.screenshot(path=str(artifacts / "customer-page.png"), full_page=True)

    page.get_by_test_id("company-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(company.name)


def test_a_wrong_password_shows_an_error_and_opens_no_session(page: Page, seed: Seed) -> None:
    user = seed.user("support")

    log_in(page, user.email, PASSWORD + "-wrong")

    expect(page.get_by_test_id("login-error")).to_have_text("Wrong email or password.")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_label("Email")).to_have_value(user.email)
    assert session_cookies(page) == []
    page.goto("/customers")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fcustomers$"))


def test_readonly_sees_no_edit_controls_and_cannot_post_the_form(page: Page, seed: Seed) -> None:
    name = unique("Read Only Person")
    customer = seed.customer(name=name, city="Turin")
    viewer = seed.user("readonly")

    log_in(page, viewer.email)
    expect(page).to_have_url(re.compile(r"/customers$"))
    page.goto(f"/customers/{customer.id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_test_id("profile")).to_contain_text("Turin")
    expect(page.get_by_test_id("edit-controls")).to_have_count(0)
    expect(page.get_by_text("Edit customer")).to_have_count(0)
    expect(page.locator("form[action$='/edit']")).to_have_count(0)
    page.goto(f"/customers/{customer.id}/edit")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.locator("form[action$='/edit']")).to_have_count(0)

    # The form posted by hand, with the session's real CSRF token: refused, nothing changed.
    token = page.locator("input[name=csrf_token]").first.input_value()
    assert token
    response = page.request.post(
        f"/customers/{customer.id}/edit",
        form={
            "csrf_token": token,
            "version": "1",
            "name": "Hijacked",
            "kind": "person",
            "lifecycle_stage": "lead",
            "city": "Rome",
        },
    )
    assert response.status in (403, 404)
    assert "Hijacked" not in response.text()
    stored = seed.read_customer(customer.id)
    assert (stored.name, stored.city, stored.version) == (name, "Turin", 1)


def test_a_rep_cannot_open_another_teams_customer(page: Page, seed: Seed) -> None:
    rep_a = seed.user("sales", team="Browser Team A")
    rep_b = seed.user("sales", team="Browser Team B")
    theirs = unique("Team B Secret")
    hidden = seed.customer(name=theirs, owner_id=rep_b.id, team_id=rep_b.team_id)
    ours = seed.customer(name=unique("Team A Visible"), owner_id=rep_a.id, team_id=rep_a.team_id)

    log_in(page, rep_a.email)
    expect(page).to_have_url(re.compile(r"/customers$"))
    table = page.get_by_test_id("customer-table")
    expect(table).to_contain_text(ours.name)
    expect(table).not_to_contain_text(theirs)

    page.get_by_label("Search").fill("Team B Secret")
    page.get_by_role("button", name="Search").click()
    expect(table).to_contain_text("No customers match.")

    response = page.goto(f"/customers/{hidden.id}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_test_id("error-page")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    assert theirs not in page.content()

    timeline = page.request.get(f"/api/v1/customers/{hidden.id}/timeline")
    assert timeline.status == 404  # the same scope through the API


def test_logout_ends_the_session(page: Page, seed: Seed) -> None:
    name = unique("After Logout")
    customer = seed.customer(name=name)
    user = seed.user("analyst")

    log_in(page, user.email)
    expect(page).to_have_url(re.compile(r"/customers$"))
    page.goto(f"/customers/{customer.id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    old_session = session_cookies(page)
    assert len(old_session) == 1

    page.get_by_role("button", name="Log out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/login$"))
    assert session_cookies(page) == []

    page.go_back()
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fcustomers"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    assert name not in page.content()
    page.goto("/customers")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fcustomers$"))

    # The old cookie, replayed: the session is gone on the server too.
    page.context.add_cookies(old_session)
    page.goto("/customers")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fcustomers$"))


def test_the_owner_edits_a_customer_and_a_stale_edit_is_refused(
    page: Page, seed: Seed, artifacts: Path
) -> None:
    rep = seed.user("sales", team="Browser Editors")
    name = unique("Grace Hopper")
    customer = seed.customer(name=name, city="Arlington", owner_id=rep.id, team_id=rep.team_id)
    form = page.get_by_test_id("edit-form")

    log_in(page, rep.email)
    expect(page).to_have_url(re.compile(r"/customers$"))
    page.goto(f"/customers/{customer.id}")
    expect(form).to_be_hidden()
    page.get_by_text("Edit customer").click()
    expect(form).to_be_visible()
    form.get_by_label("City").fill("New York")
    form.get_by_label("Tags").fill("navy, cobol")
    form.get_by_label("Stage").select_option("customer")
    form.get_by_role("button", name="Save changes").click()

    expect(page.get_by_test_id("saved")).to_have_text("Your changes were saved.")
    expect(page.get_by_test_id("address")).to_have_text("New York")
    expect(page.get_by_test_id("profile")).to_contain_text("cobol")
    stored = seed.read_customer(customer.id)
    assert (stored.city, stored.tags, stored.lifecycle_stage) == (
        "New York",
        ["navy", "cobol"],
        "customer",
    )
    assert stored.version == 2

    # A readable error beside the field, and nothing saved.
    page.get_by_text("Edit customer").click()
    form.get_by_label("Country").fill("U5")
    form.get_by_role("button", name="Save changes").click()
    expect(page.get_by_test_id("form-errors")).to_contain_text(
        "Country: Use a two-letter country code, such as DE or US."
    )
    expect(form.get_by_label("Country")).to_have_attribute("aria-invalid", "true")
    assert seed.read_customer(customer.id).version == 2

    # Someone else saves while this form is open: the page's save answers with a conflict.
    form.get_by_label("Country").fill("US")
    seed.update_customer(customer.id, city="Washington")
    form.get_by_label("City").fill("Philadelphia")
    form.get_by_role("button", name="Save changes").click()

    expect(page.get_by_test_id("conflict")).to_contain_text(
        "Someone else changed this customer while you were editing."
    )
    expect(page.get_by_test_id("address")).to_contain_text("Washington")
    expect(form.get_by_label("City")).to_have_value("Philadelphia")
    page.screenshot(path=str(artifacts / "customer-edit-conflict.png"), full_page=True)
    stored = seed.read_customer(customer.id)
    assert (stored.city, stored.country, stored.version) == ("Washington", None, 3)

    # Saving again, having seen the other change, is the user's call.
    form.get_by_role("button", name="Save changes").click()
    expect(page.get_by_test_id("saved")).to_be_visible()
    stored = seed.read_customer(customer.id)
    assert (stored.city, stored.country, stored.version) == ("Philadelphia", "US", 4)


def test_the_api_docs_work_under_a_csp_without_inline_script(page: Page, seed: Seed) -> None:
    admin = seed.user("admin", name="Docs Reader")
    log_in(page, admin.email)
    expect(page).to_have_url(re.compile(r"/customers"))
    response = page.goto("/docs")
    assert response is not None
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self'"
    expect(page.locator(".opblock-tag", has_text="customers").first).to_be_visible(timeout=20_000)
    expect(
        page.locator(".opblock-summary-path", has_text="/api/v1/customers").first
    ).to_be_visible()
