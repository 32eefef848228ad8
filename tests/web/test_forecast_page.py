"""The forecast page over HTTP, on both backends: started from its button, drawn from the run."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from patron.db.engine import Database
from patron.insights import pages as insight_pages
from patron.worker.runner import Worker
from tests.api.test_forecast_runs import deal, revenue_world
from tests.conftest import Caller, Callers
from tests.factories import make_customer, make_stage
from tests.web.test_insight_pages import (  # noqa: F401 - the fixture is autouse
    PASSWORD,
    browser,
    fast_password_hashing,
    hidden,
    json_script,
    table,
)


def test_forecast_page_needs_a_login(client: TestClient) -> None:
    response = client.get("/forecast", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_forecast_page_draws_actuals_forecast_bands_backtest_and_pipeline(
    app: FastAPI, db: Database, admin: Caller, callers: Callers
) -> None:
    expected = revenue_world(admin)
    buyer = make_customer(admin, name="Prospect")["id"]
    proposal = make_stage(admin, name="Proposal", probability=40)["id"]
    deal(admin, buyer, proposal, 100_000, "2025-09-10")
    deal(admin, buyer, proposal, 25_000, None)
    web = browser(app, callers.make("analyst", password=PASSWORD))

    empty = web.get("/forecast")
    assert empty.status_code == 200
    assert empty.headers["cache-control"] == "no-store"
    assert 'data-testid="no-forecast"' in empty.text
    assert '<a href="/forecast" aria-current="page">Forecast</a>' in empty.text

    started = web.post(
        "/analyses",
        data={"csrf_token": hidden(empty.text, "csrf_token"), "kind": "forecast"},
        follow_redirects=False,
    )
    assert started.status_code == 303
    run_id = started.headers["location"].removeprefix("/analyses?started=")
    assert Worker(db).run_until_idle() == 1
    stored = admin.get(f"/api/v1/analytics/runs/{run_id}").json()
    assert stored["status"] == "succeeded", stored["error"]
    assert stored["parameters"]["horizon"] == 6
    assert 'href="/forecast">See the forecast</a>' in web.get(f"/analyses/{run_id}").text

    page = web.get("/forecast")
    assert page.status_code == 200
    assert f'href="/analyses/{run_id}"' in page.text
    # The figures: actuals, the forecast joined to the last actual, both bands; plotly.js
    # comes from this server.
    assert re.findall(r'<script src="([^"]+)"', page.text) == [
        insight_pages.PLOTLY_URL,
        "/static/charts.js",
    ]
    figure = json_script(page.text, "forecast-chart-data")
    traces = {trace["name"]: trace for trace in figure["data"] if trace.get("showlegend", True)}
    assert set(traces) == {"95 % interval", "80 % interval", "Actual", "Forecast"}
    assert traces["Actual"]["x"] == list(expected)
    assert traces["Actual"]["y"] == list(expected.values())
    ahead = stored["results"]["forecast"]
    assert traces["Forecast"]["x"] == ["2025-08", *[row["month"] for row in ahead]]
    assert traces["Forecast"]["y"][1:] == [row["forecast"] for row in ahead]
    upper95 = next(t for t in figure["data"] if t["name"] == "95 % interval" and "fill" not in t)
    assert upper95["y"] == [row["hi_95"] for row in ahead]
    assert traces["95 % interval"]["y"] == [row["lo_95"] for row in ahead]
    assert traces["80 % interval"]["fill"] == "tonexty"
    months = list(expected) + [row["month"] for row in ahead]
    assert figure["layout"]["xaxis"]["categoryarray"] == months  # in time order
    # Beside it, the back-test error and its one-month-ahead forecasts.
    metrics = stored["metrics"]
    assert table(page.text, "backtest-table") == [
        [metrics["model"], f"{metrics['mape']:,.1f} %", f"{metrics['mase']:,.2f}"],
        ["Seasonal naive", f"{metrics['naive_mape']:,.1f} %", f"{metrics['naive_mase']:,.2f}"],
    ]
    backtest = json_script(page.text, "backtest-chart-data")
    assert [trace["name"] for trace in backtest["data"]] == [
        "Actual", "Model, 1 month ahead", "Seasonal naive",
    ]  # fmt: skip
    assert backtest["data"][0]["x"] == list(expected)[13:]  # origins after 13 .. 19 months
    rows = table(page.text, "forecast-table")
    assert [row[0] for row in rows] == [row["month"] for row in ahead]
    assert rows[0][1] == f"{ahead[0]['forecast']:,.2f}"
    assert table(page.text, "pipeline-table") == [
        ["2025-09", "1", "1,000.00", "400.00"],
        ["No close date", "1", "250.00", "100.00"],
        ["Total", "2", "1,250.00", "500.00"],
    ]
    listed = web.get("/analyses")
    assert table(listed.text, "run-table")[0][0] == "Sales forecast"
    # A manager reads the forecast but may not start runs: no button.
    manager = browser(app, callers.make("manager", password=PASSWORD)).get("/forecast")
    assert table(manager.text, "forecast-table") == rows
    assert 'data-testid="start-forecast"' not in manager.text
    assert 'data-testid="start-forecast"' in page.text


def test_a_role_without_runs_cannot_see_the_forecast(app: FastAPI, callers: Callers) -> None:
    web = browser(app, callers.make("support", password=PASSWORD))
    page = web.get("/forecast")
    assert page.status_code == 403
    assert 'href="/forecast"' not in web.get("/customers").text
