"""Forecast runs through the API and the worker: monthly revenue, back-test and pipeline."""

from __future__ import annotations

from typing import Any

import pytest

from patron.db.engine import Database
from patron.worker.runner import Worker
from tests.conftest import Caller
from tests.factories import make_customer, make_product, make_stage

MONTHS = [f"{2024 + (i // 12)}-{1 + i % 12:02d}" for i in range(20)]  # 2024-01 .. 2025-08


def revenue_world(admin: Caller) -> dict[str, float]:
    """Twenty months of orders in USD (growing, with a wobble), one order in EUR that a USD
    forecast leaves out, and a cancelled order that does not count. Returns USD per month."""
    product = make_product(admin, sku="plan", price_minor=10_000, currency="USD")
    customers = [make_customer(admin, name=f"Buyer {i}") for i in range(3)]
    expected: dict[str, float] = {}
    for index, month in enumerate(MONTHS):
        quantities = [1 + index // 4, 1 + (index % 3)]
        for number, quantity in enumerate(quantities):
            order(admin, customers[number]["id"], product["id"], month, quantity, "USD")
        expected[month] = 100.0 * sum(quantities)
    order(admin, customers[2]["id"], product["id"], "2025-03", 50, "EUR")
    order(admin, customers[2]["id"], product["id"], "2025-04", 70, "USD", status="cancelled")
    return expected


def order(
    admin: Caller, customer: str, product: str, month: str, quantity: int, currency: str,
    status: str = "completed",
) -> None:  # fmt: skip
    response = admin.post("/api/v1/orders", json={
        "customer_id": customer, "currency": currency, "status": status,
        "ordered_at": f"{month}-15T23:30:00Z",
        "lines": [{"product_id": product, "quantity": quantity, "unit_price_minor": 10_000}],
    })  # fmt: skip
    assert response.status_code == 201, response.text


def deal(admin: Caller, customer: str, stage: str, amount: int, close: str | None) -> None:
    body: dict[str, Any] = {
        "customer_id": customer, "title": f"Deal {amount}", "amount_minor": amount,
        "currency": "USD", "stage_id": stage,
    }  # fmt: skip
    if close:
        body["expected_close_on"] = close
    response = admin.post("/api/v1/deals", json=body)
    assert response.status_code == 201, response.text


def start(admin: Caller, db: Database, parameters: dict[str, Any]) -> dict[str, Any]:
    started = admin.post("/api/v1/analytics/runs", json={"kind": "forecast",
                                                         "parameters": parameters})  # fmt: skip
    assert started.status_code == 202, started.text
    assert Worker(db).run_until_idle() >= 1
    run = admin.get(started.headers["Location"])
    assert run.status_code == 200
    return run.json()  # type: ignore[no-any-return]


def test_forecast_run_stores_forecast_intervals_backtest_and_pipeline(
    admin: Caller, db: Database
) -> None:
    expected = revenue_world(admin)
    buyer = make_customer(admin, name="Prospect")["id"]
    proposal = make_stage(admin, name="Proposal", probability=40)["id"]
    qualified = make_stage(admin, name="Qualified", probability=10)["id"]
    won = make_stage(admin, name="Won", probability=100, is_won=True)["id"]
    lost = make_stage(admin, name="Lost", probability=0, is_lost=True)["id"]
    deal(admin, buyer, proposal, 100_000, "2025-09-10")
    deal(admin, buyer, qualified, 50_000, "2025-09-30")
    deal(admin, buyer, proposal, 20_000, "2025-11-01")
    deal(admin, buyer, qualified, 30_000, None)
    deal(admin, buyer, won, 999_900, "2025-09-15")  # closed: not in the pipeline
    deal(admin, buyer, lost, 888_800, "2025-09-15")

    run = start(admin, db, {"horizon": 4, "currency": "USD"})
    assert run["status"] == "succeeded", run["error"]
    results, metrics = run["results"], run["metrics"]
    assert results["currency"] == "USD"
    assert {row["month"]: row["revenue"] for row in results["history"]} == expected
    assert [row["month"] for row in results["forecast"]] == ["2025-09", "2025-10", "2025-11",
                                                            "2025-12"]  # fmt: skip
    for row in results["forecast"]:
        assert row["lo_95"] <= row["lo_80"] <= row["forecast"] <= row["hi_80"] <= row["hi_95"]
        assert row["hi_95"] - row["lo_95"] > row["hi_80"] - row["lo_80"]
    assert metrics["model"].startswith("ETS(A,")
    assert metrics["n_months"] == 20
    assert metrics["forecast_total"] == pytest.approx(
        sum(r["forecast"] for r in results["forecast"])
    )

    # Back-test: origins after 13..19 months, up to 3 months ahead, scaled the textbook way.
    backtest = results["backtest"]
    assert metrics["backtest_origins"] == 7
    assert len(backtest["forecasts"]) == 3 * 5 + 2 + 1
    first = backtest["forecasts"][0]
    assert (first["origin"], first["month"], first["step"]) == ("2025-01", "2025-02", 1)
    assert first["actual"] == expected["2025-02"]
    assert first["naive"] == expected["2024-02"]  # the same month a year before
    naive_errors = [abs(r["actual"] - r["naive"]) for r in backtest["forecasts"]]
    assert metrics["naive_mase"] > 0
    assert backtest["seasonal_naive"]["mase"] == metrics["naive_mase"]
    assert metrics["naive_mape"] == pytest.approx(
        100 * sum(e / r["actual"] for e, r in zip(naive_errors, backtest["forecasts"],
                                                   strict=True)) / len(naive_errors)
    )  # fmt: skip
    assert metrics["mape"] is not None

    # Pipeline: the open deals times their stage's probability, by expected close month.
    assert results["pipeline"] == [
        {"month": "2025-09", "deals": 2, "amount": 1500.0, "expected": pytest.approx(450.0)},
        {"month": "2025-11", "deals": 1, "amount": 200.0, "expected": pytest.approx(80.0)},
        {"month": None, "deals": 1, "amount": 300.0, "expected": pytest.approx(30.0)},
    ]
    assert metrics["open_deals"] == 4
    assert metrics["pipeline_expected"] == pytest.approx(560.0)
    assert len(run["data_fingerprint"]) == 64

    again = start(admin, db, {"horizon": 4, "currency": "USD"})
    assert again["data_fingerprint"] == run["data_fingerprint"]
    assert again["results"]["forecast"] == run["results"]["forecast"]


def test_forecast_run_needs_enough_months_and_valid_parameters(admin: Caller, db: Database) -> None:
    bad = admin.post("/api/v1/analytics/runs",
                     json={"kind": "forecast", "parameters": {"horizon": 0}})  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "parameters.horizon"
    empty = start(admin, db, {})
    assert empty["status"] == "failed"
    assert "no purchases to forecast" in empty["error"]
    product = make_product(admin, sku="one", price_minor=500, currency="USD")
    customer = make_customer(admin)["id"]
    for month in MONTHS[:6]:
        order(admin, customer, product["id"], month, 1, "USD")
    short = start(admin, db, {"currency": "USD"})
    assert short["status"] == "failed"
    assert "6 months of purchases are too few" in short["error"]
