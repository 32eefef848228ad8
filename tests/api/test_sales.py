"""Products, orders with lines, deals and stages, tickets, activities, targets, timeline."""

from __future__ import annotations

from tests.conftest import Caller
from tests.factories import make_customer, make_order, make_product, make_stage


def test_order_total_is_computed_from_lines(admin: Caller) -> None:
    customer = make_customer(admin)
    widget = make_product(admin, price_minor=1250, currency="EUR")
    gadget = make_product(admin, price_minor=399, currency="EUR")
    order = make_order(
        admin,
        customer["id"],
        widget["id"],
        lines=[
            {"product_id": widget["id"], "quantity": 2},
            {"product_id": gadget["id"], "quantity": 3, "unit_price_minor": 350},
        ],
    )
    assert order["total_minor"] == 2 * 1250 + 3 * 350
    assert [line["quantity"] for line in order["lines"]] == [2, 3]
    assert order["number"].startswith("SO-")

    changed = admin.patch(
        f"/api/v1/orders/{order['id']}",
        json={"lines": [{"product_id": gadget["id"], "quantity": 1}], "version": 1},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["total_minor"] == 399
    assert changed.json()["version"] == 2
    assert len(changed.json()["lines"]) == 1

    in_use = admin.delete(f"/api/v1/products/{gadget['id']}")
    assert in_use.status_code == 409
    assert in_use.json()["code"] == "product_in_use"


def test_order_refuses_unknown_product_and_customer(admin: Caller) -> None:
    customer = make_customer(admin)
    missing = "0195f2d2-6b8a-7c3e-9d4f-123456789abc"
    response = admin.post(
        "/api/v1/orders",
        json={"customer_id": customer["id"], "lines": [{"product_id": missing, "quantity": 1}]},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lines.0.product_id"
    product = make_product(admin)
    response = admin.post(
        "/api/v1/orders",
        json={"customer_id": missing, "lines": [{"product_id": product["id"]}]},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "customer_id"
    assert admin.get("/api/v1/orders").json()["data"] == []


def test_deal_takes_stage_probability_and_closes(admin: Caller) -> None:
    customer = make_customer(admin)
    lead = make_stage(admin, name="Lead", position=1, probability=10)
    won = make_stage(admin, name="Won", position=9, probability=100, is_won=True)
    deal = admin.post(
        "/api/v1/deals",
        json={"customer_id": customer["id"], "title": "Big one", "amount_minor": 500000},
    ).json()
    assert deal["stage_id"] == lead["id"]
    assert deal["probability"] == 10
    assert deal["closed_at"] is None
    closed = admin.patch(f"/api/v1/deals/{deal['id']}", json={"stage_id": won["id"]}).json()
    assert closed["probability"] == 100
    assert closed["closed_at"] is not None
    open_deals = admin.get("/api/v1/deals?open=true").json()["data"]
    assert open_deals == []
    assert admin.delete(f"/api/v1/pipeline-stages/{won['id']}").status_code == 409


def test_ticket_times_and_activity_links(admin: Caller) -> None:
    customer = make_customer(admin)
    other = make_customer(admin)
    ticket = admin.post(
        "/api/v1/tickets",
        json={
            "customer_id": customer["id"],
            "subject": "Broken",
            "opened_at": "2026-01-05T10:00:00Z",
            "first_response_at": "2026-01-05T09:00:00Z",
        },
    )
    assert ticket.status_code == 422
    assert ticket.json()["errors"][0]["field"] == "first_response_at"
    ticket = admin.post(
        "/api/v1/tickets",
        json={"customer_id": customer["id"], "subject": "Broken", "priority": "high"},
    ).json()
    resolved = admin.patch(f"/api/v1/tickets/{ticket['id']}", json={"status": "resolved"}).json()
    assert resolved["resolved_at"] is not None
    note = admin.post(
        "/api/v1/activities",
        json={"customer_id": customer["id"], "type": "call", "ticket_id": ticket["id"]},
    )
    assert note.status_code == 201
    assert note.json()["user_id"] == str(admin.user_id)
    wrong = admin.post(
        "/api/v1/activities",
        json={"customer_id": other["id"], "type": "note", "ticket_id": ticket["id"]},
    )
    assert wrong.status_code == 422


def test_sales_target_is_for_user_or_team(admin: Caller) -> None:
    both = admin.post(
        "/api/v1/sales-targets",
        json={"period_start": "2026-01-01", "period_end": "2026-03-31", "amount_minor": 100},
    )
    assert both.status_code == 422
    target = admin.post(
        "/api/v1/sales-targets",
        json={
            "user_id": str(admin.user_id),
            "period_start": "2026-01-01",
            "period_end": "2026-03-31",
            "amount_minor": 5_000_000,
        },
    )
    assert target.status_code == 201
    active = admin.get("/api/v1/sales-targets?active_on=2026-02-10").json()["data"]
    assert [t["id"] for t in active] == [target.json()["id"]]


def test_timeline_merges_in_time_order_across_pages(admin: Caller) -> None:
    customer = make_customer(admin)
    product = make_product(admin)
    make_stage(admin, name="Lead")
    times = ["2026-01-01T10:00:00Z", "2026-01-03T10:00:00Z", "2026-01-05T10:00:00Z"]
    for at in times:
        make_order(admin, customer["id"], product["id"], ordered_at=at)
        admin.post(
            "/api/v1/tickets", json={"customer_id": customer["id"], "subject": "Q", "opened_at": at}
        )
        admin.post(
            "/api/v1/activities",
            json={"customer_id": customer["id"], "type": "note", "occurred_at": at},
        )
    admin.post("/api/v1/deals", json={"customer_id": customer["id"], "title": "D"})
    seen = []
    url = f"/api/v1/customers/{customer['id']}/timeline?limit=4"
    while url:
        body = admin.get(url).json()
        seen.extend(body["data"])
        url = (
            f"/api/v1/customers/{customer['id']}/timeline?limit=4&cursor={body['next_cursor']}"
            if body["has_more"]
            else ""
        )
    assert len(seen) == 10
    assert len({item["id"] for item in seen}) == 10
    stamps = [item["at"] for item in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert seen[0]["type"] == "deal"
    assert {item["type"] for item in seen[1:4]} == {"order", "ticket", "activity"}


def test_campaign_members(admin: Caller) -> None:
    customers = [make_customer(admin)["id"] for _ in range(3)]
    campaign = admin.post("/api/v1/campaigns", json={"name": "Spring"}).json()
    added = admin.post(
        f"/api/v1/campaigns/{campaign['id']}/members", json={"customer_ids": customers[:2]}
    ).json()
    assert added == {"added": 2, "already_members": 0, "excluded_no_consent": 0}
    again = admin.post(
        f"/api/v1/campaigns/{campaign['id']}/members", json={"customer_ids": customers}
    ).json()
    assert again == {"added": 1, "already_members": 2, "excluded_no_consent": 0}
    members = admin.get(f"/api/v1/campaigns/{campaign['id']}/members").json()["data"]
    assert sorted(m["customer_id"] for m in members) == sorted(customers)
    gone = admin.delete(f"/api/v1/campaigns/{campaign['id']}/members/{customers[0]}")
    assert gone.status_code == 204
    assert len(admin.get(f"/api/v1/campaigns/{campaign['id']}/members").json()["data"]) == 2


def test_duplicate_external_ids_are_field_errors_on_every_record(admin: Caller) -> None:
    customer = make_customer(admin)
    product = make_product(admin)
    make_stage(admin, name="Lead", position=1, probability=10)
    bodies = {
        "orders": {"customer_id": customer["id"], "currency": "EUR",
                   "lines": [{"product_id": product["id"], "quantity": 1}]},
        "deals": {"customer_id": customer["id"], "title": "Deal", "amount_minor": 100},
        "tickets": {"customer_id": customer["id"], "subject": "Help"},
        "activities": {"customer_id": customer["id"], "type": "note"},
    }  # fmt: skip
    for path, body in bodies.items():
        first = admin.post(f"/api/v1/{path}", json={**body, "external_id": f"old-{path}"})
        assert first.status_code == 201, first.text
        again = admin.post(f"/api/v1/{path}", json={**body, "external_id": f"old-{path}"})
        assert again.status_code == 422, (path, again.text)
        assert again.json()["errors"][0]["field"] == "external_id"
        assert again.json()["errors"][0]["code"] == "duplicate"
        other = admin.post(f"/api/v1/{path}", json={**body, "external_id": f"new-{path}"}).json()
        moved = admin.patch(f"/api/v1/{path}/{other['id']}", json={"external_id": f"old-{path}"})
        assert moved.status_code == 422, (path, moved.text)
        assert moved.json()["errors"][0]["field"] == "external_id"
        kept = admin.patch(f"/api/v1/{path}/{other['id']}", json={"external_id": f"new-{path}"})
        assert kept.status_code == 200, (path, kept.text)
    numbered = make_order(admin, customer["id"], product["id"], number="SO-1")
    taken = admin.post("/api/v1/orders", json={**bodies["orders"], "number": numbered["number"]})
    assert taken.status_code == 422
    assert taken.json()["errors"][0]["field"] == "number"
