"""Scoring runs (clv, churn) through the API and the worker: scores stored on the customers,
shown in the list, used as list filters and as segment rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest

from patron.customers.models import Customer
from patron.db.engine import Database
from patron.sales.models import Order
from patron.worker.runner import Worker
from tests.conftest import Caller

START = datetime(2025, 11, 1, 12, tzinfo=UTC)
DAYS = 365


def _world(db: Database, n: int = 240, seed: int = 5) -> list[str]:
    """``n`` customers over a year: each buys every few weeks from a first day until a last one
    (some stop early, so there are churners), for varying amounts. Written through the models
    (the API would take minutes for this many orders); everything is read back through the API."""
    rng = np.random.default_rng(seed)
    ids = []
    with db.unit_of_work() as session:
        number = 0
        for i in range(n):
            customer = Customer(
                name=f"Shopper {i:03d}", kind="person", country=("DE", "FR", "US")[i % 3],
                lifecycle_stage=("customer", "lead")[i % 2],
            )  # fmt: skip
            session.add(customer)
            session.flush()
            ids.append(str(customer.id))
            first = int(rng.integers(0, 200))
            last = int(rng.integers(first, DAYS + 150))
            gap = int(rng.integers(7, 60))
            spend = float(rng.uniform(20, 400))
            for day in range(first, min(last, DAYS - 1) + 1, gap):
                number += 1
                session.add(
                    Order(
                        customer_id=customer.id, number=f"T-{number:06d}", status="completed",
                        ordered_at=START + timedelta(days=day), currency="USD",
                        total_minor=int(spend * rng.uniform(0.5, 1.5) * 100),
                    )
                )  # fmt: skip
    return ids


def _run(admin: Caller, db: Database, kind: str, parameters: dict[str, Any]) -> dict[str, Any]:
    started = admin.post("/api/v1/analytics/runs", json={"kind": kind, "parameters": parameters})
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "pending"
    assert Worker(db).run_until_idle() >= 1
    run = admin.get(started.headers["Location"])
    assert run.status_code == 200
    return run.json()


def _all_customers(admin: Caller, query: str = "") -> list[dict[str, Any]]:
    found, cursor = [], None
    while True:
        url = f"/api/v1/customers?limit=100{query}" + (f"&cursor={quote(cursor)}" if cursor else "")
        page = admin.get(url)
        assert page.status_code == 200, page.text
        body = page.json()
        found.extend(body["data"])
        if not body["has_more"]:
            return found
        cursor = body["next_cursor"]


def test_clv_run_scores_customers_and_reproduces(admin: Caller, db: Database) -> None:
    ids = _world(db)
    run = _run(admin, db, "clv", {"holdout_days": 90})
    assert run["status"] == "succeeded", run["error"]
    metrics = run["metrics"]
    assert {"r", "alpha", "a", "b", "p", "q", "gamma", "log_likelihood"} <= set(metrics)
    assert all(metrics[k] > 0 for k in ("r", "alpha", "a", "b", "p", "q", "gamma"))
    assert metrics["log_likelihood"] < 0
    assert metrics["calibration_end"] == "2026-10-31"
    holdout = metrics["holdout"]
    assert holdout["calibration_end"] == "2026-08-02"
    assert holdout["actual_purchases"] > 0
    assert holdout["expected_purchases"] > 0
    assert sum(row["customers"] for row in holdout["by_frequency"]) == holdout["n_customers"]

    customers = {c["id"]: c for c in _all_customers(admin)}
    scored = {cid: c for cid, c in customers.items() if c["clv"] is not None}
    assert set(scored) == set(ids)
    assert run["results"]["n_scored"] == len(ids)
    for customer in scored.values():
        assert 0 <= customer["p_alive"] <= 1
        assert customer["expected_purchases"] >= 0
        assert customer["clv"] >= 0
        assert customer["churn_risk"] is None  # no churn run yet
    top = run["results"]["top_customers"][0]
    assert top["clv"] == max(c["clv"] for c in scored.values())
    assert customers[top["customer_id"]]["clv"] == top["clv"]
    one = admin.get(f"/api/v1/customers/{top['customer_id']}").json()
    assert one["clv"] == top["clv"]
    assert one["p_alive"] == top["p_alive"]

    again = _run(admin, db, "clv", {"holdout_days": 90})
    assert again["data_fingerprint"] == run["data_fingerprint"]
    assert again["metrics"] == run["metrics"]
    assert again["results"] == run["results"]
    assert {c["id"]: c["clv"] for c in _all_customers(admin)} == {
        cid: c["clv"] for cid, c in customers.items()
    }


def test_churn_run_keeps_model_and_baseline_metrics(admin: Caller, db: Database) -> None:
    ids = _world(db)
    run = _run(admin, db, "churn", {"horizon_days": 60, "threshold": 0.4})
    assert run["status"] == "succeeded", run["error"]
    metrics = run["metrics"]
    assert (metrics["train_cutoff"], metrics["test_cutoff"]) == ("2026-07-03", "2026-09-01")
    for side in ("model", "baseline"):
        assert 0 <= metrics[side]["roc_auc"] <= 1
        assert 0 <= metrics[side]["precision"] <= 1
        assert 0 <= metrics[side]["recall"] <= 1
    assert metrics["model"]["calibration"]
    assert "brier" in metrics["model"]
    assert metrics["baseline"]["threshold_days"] >= 0
    assert metrics["threshold"] == 0.4
    assert "recency_days" in metrics["features"]
    assert "ticket_total" not in metrics["features"]  # no tickets yet: no ticket features

    risks = {c["id"]: c["churn_risk"] for c in _all_customers(admin)}
    assert all(risks[cid] is not None and 0 <= risks[cid] <= 1 for cid in ids)
    assert run["results"]["at_risk"] == sum(r >= 0.4 for r in risks.values())
    again = _run(admin, db, "churn", {"horizon_days": 60, "threshold": 0.4})
    assert again["metrics"] == metrics
    assert again["results"] == run["results"]

    opened = admin.post("/api/v1/tickets", json={"customer_id": ids[0], "subject": "Broken"})
    assert opened.status_code == 201, opened.text
    with_tickets = _run(admin, db, "churn", {"horizon_days": 60, "threshold": 0.4})
    assert {"ticket_total", "ticket_90d", "days_since_ticket"} <= set(
        with_tickets["metrics"]["features"]
    )


def test_score_filters_select_exactly(admin: Caller, db: Database) -> None:
    _world(db)
    assert _run(admin, db, "clv", {"holdout_days": 0})["status"] == "succeeded"
    assert _run(admin, db, "churn", {"horizon_days": 60})["status"] == "succeeded"
    everyone = _all_customers(admin)
    risks = sorted(c["churn_risk"] for c in everyone)
    values = sorted(c["clv"] for c in everyone)
    alive = sorted(c["p_alive"] for c in everyone)
    third, half = risks[len(risks) // 3], risks[len(risks) // 2]
    cases = {
        f"&churn_risk_min={third}": lambda c: c["churn_risk"] >= third,
        f"&churn_risk_max={half}": lambda c: c["churn_risk"] <= half,
        f"&clv_min={values[len(values) // 2]}&clv_max={values[-10]}":
            lambda c: values[len(values) // 2] <= c["clv"] <= values[-10],
        f"&p_alive_min={alive[20]}&p_alive_max={alive[-20]}&country=DE":
            lambda c: alive[20] <= c["p_alive"] <= alive[-20] and c["country"] == "DE",
    }  # fmt: skip
    for query, wanted in cases.items():
        expected = {c["id"] for c in everyone if wanted(c)}
        assert 0 < len(expected) < len(everyone), query
        assert {c["id"] for c in _all_customers(admin, query)} == expected, query
    for query in ("churn_risk_min=1.5", "p_alive_max=-0.1", "clv_min=nan", "clv_max=inf"):
        assert admin.get(f"/api/v1/customers?{query}").status_code == 422, query
    bad = admin.get("/api/v1/customers?churn_risk_min=1.5")
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


def _members(admin: Caller, segment_id: str) -> set[str]:
    found, cursor = set(), None
    while True:
        url = f"/api/v1/segments/{segment_id}/members?limit=100" + (
            f"&cursor={quote(cursor)}" if cursor else ""
        )
        body = admin.get(url).json()
        found |= {m["customer_id"] for m in body["data"]}
        if not body["has_more"]:
            return found
        cursor = body["next_cursor"]


def test_rules_segment_holds_exactly_the_matching_customers(admin: Caller, db: Database) -> None:
    ids = _world(db)
    assert _run(admin, db, "clv", {"holdout_days": 0})["status"] == "succeeded"
    assert _run(admin, db, "churn", {"horizon_days": 60})["status"] == "succeeded"
    everyone = _all_customers(admin)
    median_clv = sorted(c["clv"] for c in everyone)[len(everyone) // 2]
    rule = {"all": [
        {"field": "clv", "op": ">", "value": median_clv},
        {"any": [{"field": "country", "op": "=", "value": "DE"},
                 {"field": "lifecycle_stage", "op": "!=", "value": "lead"}]},
    ]}  # fmt: skip
    created = admin.post("/api/v1/segments", json={"name": "Valuable", "rules": rule})
    assert created.status_code == 201, created.text
    segment = created.json()
    assert segment["source"] == "rules"

    def matching(customers: list[dict[str, Any]], threshold: float) -> set[str]:
        return {
            c["id"] for c in customers
            if c["clv"] is not None and c["clv"] > threshold
            and (c["country"] == "DE" or c["lifecycle_stage"] != "lead")
        }  # fmt: skip

    expected = matching(everyone, median_clv)
    assert 0 < len(expected) < len(ids)
    assert _members(admin, segment["id"]) == expected
    feed = admin.get("/api/v1/events?limit=100").json()["data"]
    refreshed = [e for e in feed if e["type"] == "segment.members_refreshed"]
    assert [e["data"] for e in refreshed] == [{"added": len(expected), "removed": 0}]
    # A campaign can target it.
    campaign = admin.post("/api/v1/campaigns", json={"name": "VIP", "segment_id": segment["id"]})
    assert campaign.status_code == 201, campaign.text
    # Members follow the rule, not the hand.
    refused = admin.post(f"/api/v1/segments/{segment['id']}/members",
                         json={"customer_ids": [ids[0]]})  # fmt: skip
    assert refused.status_code == 409

    # Changing the rule changes the members.
    higher = sorted(c["clv"] for c in everyone)[3 * len(everyone) // 4]
    rule["all"][0]["value"] = higher
    updated = admin.patch(f"/api/v1/segments/{segment['id']}", json={"rules": rule})
    assert updated.status_code == 200, updated.text
    assert _members(admin, segment["id"]) == matching(everyone, higher)

    # A new scoring run on other data moves the members with the scores.
    with db.unit_of_work() as session:
        for i, cid in enumerate(ids[:60]):
            session.add(Order(
                customer_id=uuid.UUID(cid), number=f"N-{i:04d}",
                status="completed", ordered_at=START + timedelta(days=DAYS - 2),
                currency="USD", total_minor=500_000,
            ))  # fmt: skip
    run = _run(admin, db, "clv", {"holdout_days": 0})
    assert run["status"] == "succeeded", run["error"]
    assert run["results"]["rule_segments_refreshed"]["Valuable"]
    after = _all_customers(admin)
    assert {c["id"]: c["clv"] for c in after} != {c["id"]: c["clv"] for c in everyone}
    assert _members(admin, segment["id"]) == matching(after, higher)


@pytest.mark.parametrize(
    "rules",
    [
        {"all": [{"field": "wealth", "op": ">", "value": 1}]},
        {"all": [{"field": "clv", "op": "~", "value": 1}]},
        {"all": [{"field": "clv", "op": ">", "value": "a lot"}]},
        {"all": [{"field": "country", "op": ">", "value": "DE"}]},
        {"all": []},
        {"all": [{"field": "clv", "op": ">"}]},
        {"all": [{"field": "lifecycle_stage", "op": "=", "value": "royalty"}]},
    ],
)
def test_bad_rules_are_refused(admin: Caller, db: Database, rules: dict[str, Any]) -> None:
    response = admin.post("/api/v1/segments", json={"name": "Bad", "rules": rules})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"].startswith("rules")
    assert admin.get("/api/v1/segments?q=Bad").json()["data"] == []


def test_scoring_without_purchases_fails_visibly(admin: Caller, db: Database) -> None:
    for kind in ("clv", "churn"):
        run = _run(admin, db, kind, {})
        assert run["status"] == "failed"
        assert "no purchases" in run["error"]
    bad = admin.post("/api/v1/analytics/runs", json={"kind": "churn",
                                                     "parameters": {"threshold": 2}})  # fmt: skip
    assert bad.status_code == 422
