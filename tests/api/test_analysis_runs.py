"""Analysis runs through the API and the worker: segments and rules, stored and applied."""

from __future__ import annotations

from typing import Any

from patron.db.engine import Database
from patron.worker.runner import Worker
from tests.conftest import Caller
from tests.factories import make_customer, make_product

# Three kinds of shopper; coffee gear sells together, and so does camera gear.
BASKETS = {
    "coffee": [["machine", "beans", "descaler"], ["machine", "beans"], ["beans", "descaler"]],
    "camera": [["camera", "card", "bag"], ["camera", "card"], ["card", "bag"]],
}


def _world(admin: Caller, n: int = 24) -> dict[str, Any]:
    products = {
        sku: make_product(admin, sku=sku, name=sku.title(), price_minor=price, currency="USD")
        for sku, price in [("machine", 30000), ("beans", 1500), ("descaler", 900),
                           ("camera", 50000), ("card", 2500), ("bag", 4000)]
    }  # fmt: skip
    customers = []
    for i in range(n):
        customer = make_customer(admin, name=f"Shopper {i:02d}")
        customers.append(customer)
        group = BASKETS["coffee" if i % 2 else "camera"]
        visits = 1 + (i % 4) * 2  # frequencies 1, 3, 5, 7
        for visit in range(visits):
            basket = group[visit % len(group)]
            day = 1 + (i * 7 + visit * 11) % 250
            response = admin.post("/api/v1/orders", json={
                "customer_id": customer["id"], "currency": "USD", "status": "completed",
                "ordered_at": f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}T12:00:00Z",
                "lines": [{"product_id": products[sku]["id"]} for sku in basket],
            })  # fmt: skip
            assert response.status_code == 201, response.text
    return {"products": products, "customers": customers}


def _run(admin: Caller, db: Database, kind: str, parameters: dict[str, Any]) -> dict[str, Any]:
    started = admin.post("/api/v1/analytics/runs", json={"kind": kind, "parameters": parameters})
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "pending"
    assert Worker(db).run_until_idle() >= 1
    run = admin.get(started.headers["Location"])
    assert run.status_code == 200
    return run.json()


def test_segmentation_run_materialises_segments(admin: Caller, db: Database) -> None:
    world = _world(admin)
    run = _run(admin, db, "segmentation", {"k": 3, "random_state": 7})
    assert run["status"] == "succeeded", run["error"]
    assert run["metrics"]["k"] == 3
    assert run["metrics"]["n_customers"] == len(world["customers"])
    assert len(run["data_fingerprint"]) == 64
    segments = run["results"]["segments"]
    assert sum(s["size"] for s in segments) == len(world["customers"])
    listed = admin.get("/api/v1/segments?limit=100").json()["data"]
    analysis = {s["name"]: s for s in listed if s["source"] == "analysis"}
    assert len(analysis) == 3
    sizes = {}
    for name, segment in analysis.items():
        members = admin.get(f"/api/v1/segments/{segment['id']}/members?limit=100").json()["data"]
        sizes[name] = len(members)
    assert sorted(sizes.values()) == sorted(s["size"] for s in segments)
    # A segment is a campaign audience.
    segment = next(iter(analysis.values()))
    campaign = admin.post(
        "/api/v1/campaigns", json={"name": "Win back", "segment_id": segment["id"]}
    )
    assert campaign.status_code == 201

    again = _run(admin, db, "segmentation", {"k": 3, "random_state": 7})
    assert again["data_fingerprint"] == run["data_fingerprint"]
    assert again["results"]["segments"] == run["results"]["segments"]


def test_rules_run_drives_recommendations(admin: Caller, db: Database) -> None:
    world = _world(admin)
    run = _run(admin, db, "rules", {"min_support": 0.1, "min_confidence": 0.5, "min_lift": 1.0})
    assert run["status"] == "succeeded", run["error"]
    assert run["metrics"]["n_rules"] > 0
    machine = world["products"]["machine"]["id"]
    together = admin.get(f"/api/v1/products/{machine}/frequently-bought-together").json()
    assert together["run_id"] == run["id"]
    assert {p["sku"] for p in together["data"]} <= {"beans", "descaler"}
    assert "beans" in {p["sku"] for p in together["data"]}
    # A new shopper who bought only the machine is offered the rest of the coffee gear, each
    # product with the rule that fires for it.
    newcomer = make_customer(admin, name="Newcomer")
    order = admin.post("/api/v1/orders", json={
        "customer_id": newcomer["id"], "currency": "USD", "status": "completed",
        "lines": [{"product_id": machine}],
    })  # fmt: skip
    assert order.status_code == 201, order.text
    recommended = admin.get(f"/api/v1/customers/{newcomer['id']}/recommendations").json()
    assert recommended["run_id"] == run["id"]
    assert recommended["data"], "the machine fires rules, so something is recommended"
    assert {p["sku"] for p in recommended["data"]} <= {"beans", "descaler"}
    assert "beans" in {p["sku"] for p in recommended["data"]}
    assert all(p["because_of"] == ["Machine"] for p in recommended["data"])
    third = world["customers"][3]  # coffee, visits 7: bought everything in the coffee group
    assert admin.get(f"/api/v1/customers/{third['id']}/recommendations").json()["data"] == []


def test_bad_runs_are_refused_or_fail_visibly(admin: Caller, db: Database, callers) -> None:  # type: ignore[no-untyped-def]
    bad = admin.post("/api/v1/analytics/runs", json={"kind": "segmentation",
                                                     "parameters": {"k": 1}})  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"].startswith("parameters")
    assert admin.post("/api/v1/analytics/runs", json={"kind": "magic"}).status_code == 422
    assert callers.make("support").post("/api/v1/analytics/runs",
                                        json={"kind": "rules"}).status_code == 403  # fmt: skip
    empty = _run(admin, db, "rules", {})
    assert empty["status"] == "failed"
    assert "no order lines" in empty["error"]
