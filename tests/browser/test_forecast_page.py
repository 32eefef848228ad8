"""The forecast page in headless Chromium: actuals, forecast and both bands drawn by plotly.js
served from this server, the back-test error beside them, and the pipeline table."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from patron.insights.schemas import RunCreate
from patron.insights.service import runs
from patron.sales.schemas import DealCreate, OrderCreate, OrderLineIn, PipelineStageCreate
from patron.sales.service import deals, orders, pipeline_stages
from patron.security.permissions import Principal
from patron.worker.runner import Worker
from tests.browser.conftest import LiveServer, Seed
from tests.browser.test_pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
CHART_TIMEOUT = 20_000  # ms
CURRENCY = "GBP"  # the other browser tests buy in EUR: this forecast sees only its own orders


def history(seed: Seed) -> None:
    """Twenty months of orders in pounds, from January 2024, and two open deals."""
    product = seed.product(name="Plan", price_minor=10_000, currency=CURRENCY)
    customer = seed.customer(name=f"Forecast buyer {secrets.token_hex(3)}")
    system = Principal.system()
    with seed.database.unit_of_work() as session:
        for index in range(20):
            when = datetime(2024 + index // 12, 1 + index % 12, 15, 12, tzinfo=UTC)
            data = OrderCreate(
                customer_id=customer.id, currency=CURRENCY, status="completed", ordered_at=when,
                lines=[OrderLineIn(product_id=product.id, quantity=2 + index // 3)],
            )  # fmt: skip
            orders.create(session, system, data)
        stage = pipeline_stages.create(
            session, system,
            PipelineStageCreate(name=f"Proposal {secrets.token_hex(3)}", probability=40),
        )  # fmt: skip
        for amount, close in ((500_000, date(2025, 9, 10)), (100_000, None)):
            deals.create(session, system, DealCreate(
                customer_id=customer.id, title="Renewal", amount_minor=amount,
                currency=CURRENCY, stage_id=stage.id, expected_close_on=close,
            ))  # fmt: skip


def test_an_analyst_reads_the_forecast_with_its_bands_and_backtest(
    page: Page, seed: Seed, live_server: LiveServer, artifacts: Path
) -> None:
    history(seed)
    analyst = seed.user("analyst", name="Ada Analyst")
    with seed.database.unit_of_work() as session:
        runs.start(session, Principal.system(),
                   RunCreate(kind="forecast", parameters={"currency": CURRENCY}))  # fmt: skip
    assert Worker(seed.database).run_until_idle() >= 1
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: problems.append(str(error)))

    log_in(page, analyst.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Forecast").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sales forecast")
    expect(page.get_by_test_id("forecast-run")).to_contain_text("monthly revenue in GBP")
    chart = page.get_by_test_id("forecast-chart")
    expect(chart.locator("svg.main-svg").first).to_be_visible(timeout=CHART_TIMEOUT)
    # Two bands (an upper edge and a filled lower edge each), the actuals and the forecast.
    expect(chart.locator("g.trace.scatter")).to_have_count(6)
    expect(chart.locator("g.legend")).to_contain_text("95 % interval")
    expect(chart.locator("g.legend")).to_contain_text("80 % interval")
    backtest = page.get_by_test_id("backtest-chart")
    expect(backtest.locator("g.trace.scatter")).to_have_count(3, timeout=CHART_TIMEOUT)
    rows = page.get_by_test_id("backtest-table").locator("tbody tr")
    expect(rows.nth(0)).to_contain_text("ETS(A,")
    expect(rows.nth(1)).to_contain_text("Seasonal naive")
    expect(page.get_by_test_id("forecast-table").locator("tbody tr")).to_have_count(6)
    expect(page.get_by_test_id("forecast-table").locator("tbody tr").first).to_contain_text(
        "2025-09"
    )
    pipeline = page.get_by_test_id("pipeline-table")
    expect(pipeline.locator("tbody tr").first).to_contain_text("2025-09")
    expect(pipeline.locator("tbody tr").first).to_contain_text("2,000.00")  # 40 % of 5,000
    expect(pipeline.locator("tfoot")).to_contain_text("2,400.00")
    page.screenshot(path=str(artifacts / "forecast.png"), full_page=True)

    assert problems == []
    assert all(url.startswith(live_server.url) for url in requests), "a request left the server"
