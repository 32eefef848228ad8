"""The analysis pages in headless Chromium: a marketer segments the customers, reads the segments
and their chart (drawn by plotly.js served from this server), turns a segment into a campaign
audience, mines product rules and finds them as recommendations on a customer page.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from patron.marketing.models import Campaign
from patron.sales.schemas import OrderCreate, OrderLineIn
from patron.sales.service import orders
from patron.security.permissions import Principal
from patron.worker.runner import Worker
from tests.browser.conftest import LiveServer, Seed
from tests.browser.test_pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
CHART_TIMEOUT = 20_000  # ms

BASKETS = {
    "coffee": [["machine", "beans", "descaler"], ["machine", "beans"], ["beans", "descaler"]],
    "camera": [["camera", "card", "bag"], ["camera", "card"], ["card", "bag"]],
}


def buy(seed: Seed, customer_id: Any, products: list[Any], at: datetime) -> None:
    data = OrderCreate(
        customer_id=customer_id,
        currency="EUR",
        status="completed",
        ordered_at=at,
        lines=[OrderLineIn(product_id=product.id, quantity=1) for product in products],
    )
    with seed.database.unit_of_work() as session:
        orders.create(session, Principal.system(), data)


def shop(seed: Seed, tag: str) -> dict[str, Any]:
    """Sixteen shoppers of coffee or camera gear, and a newcomer who bought the machine alone."""
    prices = {"machine": 30000, "beans": 1500, "descaler": 900, "camera": 50000, "card": 2500,
              "bag": 4000}  # fmt: skip
    products = {
        sku: seed.product(sku=f"{sku}-{tag}", name=f"{sku.title()} {tag}", price_minor=price)
        for sku, price in prices.items()
    }
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    for i in range(16):
        shopper = seed.customer(name=f"Shopper {tag} {i:02d}", lifecycle_stage="customer")
        group = BASKETS["coffee" if i % 2 else "camera"]
        for visit in range(1 + (i % 4) * 2):
            basket = [products[sku] for sku in group[visit % len(group)]]
            buy(seed, shopper.id, basket, start + timedelta(days=(i * 7 + visit * 11) % 250))
    newcomer = seed.customer(name=f"Newcomer {tag}", lifecycle_stage="customer")
    buy(seed, newcomer.id, [products["machine"]], start + timedelta(days=200))
    return {"products": products, "newcomer": newcomer}


def test_a_marketer_segments_customers_and_acts_on_the_results(
    page: Page, seed: Seed, live_server: LiveServer, artifacts: Path
) -> None:
    tag = secrets.token_hex(3).upper()
    world = shop(seed, tag)
    marketer = seed.user("marketing", name="Mia Marketer")
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and "status of 404" not in message.text
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico")
            else None
        ),
    )

    log_in(page, marketer.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Analyses").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Analyses")
    page.get_by_label("Number of segments").select_option("3")
    page.get_by_role("button", name="Start segmentation").click()
    expect(page.get_by_test_id("run-started")).to_contain_text("Segmentation run started")
    latest = page.get_by_test_id("run-table").locator("tbody tr").first
    expect(latest.get_by_test_id("run-status")).to_have_text("Queued")
    expect(latest).to_contain_text("Mia Marketer")

    assert Worker(seed.database).run_until_idle() == 1

    # The list reloads itself while a run is in progress, and shows the outcome.
    expect(latest.get_by_test_id("run-status")).to_have_text("Succeeded", timeout=15_000)
    expect(latest).to_contain_text("3 segments of")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Segments").click()
    segment_rows = page.get_by_test_id("segment-table").locator("tbody tr")
    expect(segment_rows).to_have_count(3)
    chart = page.get_by_test_id("rfm-chart")
    # plotly.js is large: give a busy machine time to load and run it.
    expect(chart.locator("svg.main-svg").first).to_be_visible(timeout=CHART_TIMEOUT)
    expect(chart.locator("g.trace.bars")).to_have_count(3)  # recency, frequency, spend
    share_chart = page.get_by_test_id("share-chart").locator("svg.main-svg").first
    expect(share_chart).to_be_visible(timeout=CHART_TIMEOUT)
    page.screenshot(path=str(artifacts / "segments.png"), full_page=True)

    name = segment_rows.first.locator("a").inner_text()
    segment_rows.first.get_by_role("link").click()
    expect(page.get_by_test_id("segment-name")).to_have_text(f"RFM: {name}")
    members = page.get_by_test_id("member-table").locator("tbody tr")
    expect(members.first.get_by_role("link")).to_be_visible()
    page.screenshot(path=str(artifacts / "segment.png"), full_page=True)
    campaign = f"Spring offer {tag}"
    page.get_by_label("Campaign name").fill(campaign)
    page.get_by_label("Channel").select_option("email")
    page.get_by_role("button", name="Create draft campaign").click()
    expect(page.get_by_test_id("campaign-created")).to_contain_text(f"Campaign “{campaign}”")
    segment_id = re.search(r"/segments/([0-9a-f-]{36})", page.url).group(1)  # type: ignore[union-attr]
    with seed.database.unit_of_work(write=False) as session:
        stored = session.scalars(select(Campaign).where(Campaign.name == campaign)).one()
        assert (str(stored.segment_id), stored.status) == (segment_id, "draft")

    page.goto("/analyses")
    page.get_by_label("Minimum support").fill("0.05")
    page.get_by_label("Minimum confidence").fill("0.3")
    page.get_by_role("button", name="Start rules run").click()
    expect(page.get_by_test_id("run-started")).to_contain_text("Association rules run started")
    assert Worker(seed.database).run_until_idle() == 1
    page.reload()
    expect(page.get_by_test_id("run-status").first).to_have_text("Succeeded")
    page.screenshot(path=str(artifacts / "analyses.png"), full_page=True)
    page.get_by_role("link", name="Follow the run").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Association rules run")
    expect(page.get_by_test_id("run-metrics")).to_contain_text("n rules")
    expect(page.get_by_test_id("run-rules").locator("tbody tr").first).to_contain_text(tag)
    page.screenshot(path=str(artifacts / "analysis-run.png"), full_page=True)

    page.goto("/rules?q=" + tag)
    expect(page.get_by_test_id("rule-table").locator("tbody tr").first).to_contain_text(tag)
    page.get_by_test_id("sort-confidence").click()
    expect(page).to_have_url(re.compile(r"sort=-confidence"))
    page.screenshot(path=str(artifacts / "rules.png"), full_page=True)

    # The customer list filters by segment and shows each customer's.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
    page.get_by_label("Search").fill(tag)
    page.get_by_label("Segment").select_option(label=f"RFM: {name}")
    page.get_by_role("button", name="Search").click()
    rows = page.get_by_test_id("customer-table").locator("tbody tr")
    expect(rows.first).to_contain_text(tag)
    for row in rows.all():
        expect(row.locator("td").nth(5)).to_have_text(name)
    page.screenshot(path=str(artifacts / "customers-by-segment.png"), full_page=True)

    newcomer = world["newcomer"]
    page.goto(f"/customers/{newcomer.id}")
    expect(page.get_by_test_id("segment-badge")).to_be_visible()
    expect(page.get_by_test_id("rfm-profile")).to_contain_text("Purchases")
    suggestions = page.get_by_test_id("recommendation")
    expect(suggestions.first).to_contain_text(f"Beans {tag}")
    expect(suggestions.first).to_contain_text(f"because they bought Machine {tag}")
    expect(suggestions.first).to_contain_text(re.compile(r"confidence \d+ % · lift \d+\.\d\d"))
    page.screenshot(path=str(artifacts / "customer-recommendations.png"), full_page=True)

    assert problems == []
    assert all(url.startswith(live_server.url) for url in requests), "a request left the server"
    assert any(url.startswith(live_server.url + "/static/vendor/plotly.min.js") for url in requests)
