"""Duplicate review and merging: a scan's pairs listed and explained, a merge that keeps every
record of both customers, and an undo that puts everything back."""

from __future__ import annotations

import secrets
from typing import Any

from patron.db.engine import Database
from patron.worker.runner import Worker
from tests.conftest import Caller, Callers
from tests.factories import make_customer, make_product, make_stage


def _order(admin: Caller, customer_id: str, product_id: str) -> dict[str, Any]:
    response = admin.post(
        "/api/v1/orders",
        json={"customer_id": customer_id, "lines": [{"product_id": product_id, "quantity": 1}]},
    )
    assert response.status_code == 201, response.text
    return response.json()


def _pair_world(admin: Caller) -> dict[str, Any]:
    keep = make_customer(
        admin, name="Jonathan Smith", email="jon.smith@example.com", tags=["newsletter"]
    )
    dupe = make_customer(
        admin,
        name="Jonathon Smith",
        phone="+44 20 7946 0001",
        city="Leeds",
        tags=["vip"],
        lifecycle_stage="customer",
        custom_fields={"dob": "1980-02-03"},
    )
    product = make_product(admin, currency="USD")
    orders = [_order(admin, dupe["id"], product["id"]) for _ in range(2)]
    ticket = admin.post("/api/v1/tickets", json={"customer_id": dupe["id"], "subject": "Late"})
    activity = admin.post("/api/v1/activities", json={"customer_id": dupe["id"], "type": "call"})
    stage = make_stage(admin, name=f"Open {secrets.token_hex(2)}")
    deal = admin.post(
        "/api/v1/deals",
        json={"customer_id": dupe["id"], "title": "Renewal", "stage_id": stage["id"]},
    )
    shared = admin.post("/api/v1/segments", json={"name": f"Both {secrets.token_hex(2)}"}).json()
    only = admin.post("/api/v1/campaigns", json={"name": f"Dupe {secrets.token_hex(2)}"}).json()
    admin.post(
        f"/api/v1/segments/{shared['id']}/members", json={"customer_ids": [keep["id"], dupe["id"]]}
    )
    admin.post(f"/api/v1/campaigns/{only['id']}/members", json={"customer_ids": [dupe["id"]]})
    return {
        "keep": keep,
        "dupe": dupe,
        "orders": orders,
        "ticket": ticket.json(),
        "activity": activity.json(),
        "deal": deal.json(),
        "segment": shared,
        "campaign": only,
    }


def _members(admin: Caller, kind: str, parent_id: str) -> list[str]:
    data = admin.get(f"/api/v1/{kind}/{parent_id}/members?limit=100").json()["data"]
    return sorted(member["customer_id"] for member in data)


def test_merge_keeps_every_record_and_undo_puts_everything_back(admin: Caller) -> None:
    world = _pair_world(admin)
    keep, dupe = world["keep"]["id"], world["dupe"]["id"]

    response = admin.post(f"/api/v1/customers/{keep}/merge", json={"duplicate_id": dupe})
    assert response.status_code == 200, response.text
    merge = response.json()
    assert merge["survivor_id"] == keep
    assert merge["merged_id"] == dupe

    survivor = admin.get(f"/api/v1/customers/{keep}").json()
    assert survivor["name"] == "Jonathan Smith"  # the survivor's own value wins
    assert survivor["email"] == "jon.smith@example.com"
    assert survivor["phone"] == "+44 20 7946 0001"  # an empty field takes the duplicate's
    assert survivor["city"] == "Leeds"
    assert survivor["tags"] == ["newsletter", "vip"]
    assert survivor["lifecycle_stage"] == "customer"
    assert survivor["custom_fields"] == {"dob": "1980-02-03"}
    for key in ("orders", "ticket", "activity", "deal"):
        records = world[key] if key == "orders" else [world[key]]
        for record in records:
            path = {"orders": "orders", "ticket": "tickets", "activity": "activities"}.get(
                key, "deals"
            )
            moved = admin.get(f"/api/v1/{path}/{record['id']}").json()
            assert moved["customer_id"] == keep, key
    timeline = admin.get(f"/api/v1/customers/{keep}/timeline?limit=100").json()["data"]
    assert len([item for item in timeline if item["type"] == "order"]) == 2
    # Both were in the segment: the survivor keeps its membership, the duplicate's stays with
    # the hidden record (and comes back with it on undo).
    assert _members(admin, "segments", world["segment"]["id"]) == sorted([keep, dupe])
    assert _members(admin, "campaigns", world["campaign"]["id"]) == [keep]
    listed = [c["id"] for c in admin.get("/api/v1/customers?limit=100").json()["data"]]
    assert dupe not in listed
    assert keep in listed
    hidden = admin.get(f"/api/v1/customers/{dupe}").json()
    assert hidden["merged_into_id"] == keep
    types = [
        e["type"] for e in admin.get("/api/v1/events?entity=customer&limit=100").json()["data"]
    ]
    assert "customer.merged" in types
    again = admin.post(f"/api/v1/customers/{keep}/merge", json={"duplicate_id": dupe})
    assert again.status_code == 409

    undone = admin.post(f"/api/v1/merges/{merge['id']}/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json()["undone_at"]
    survivor = admin.get(f"/api/v1/customers/{keep}").json()
    assert survivor["phone"] is None
    assert survivor["city"] is None
    assert survivor["tags"] == ["newsletter"]
    assert survivor["lifecycle_stage"] == "lead"
    assert survivor["custom_fields"] == {}
    for record in world["orders"]:
        assert admin.get(f"/api/v1/orders/{record['id']}").json()["customer_id"] == dupe
    assert admin.get(f"/api/v1/deals/{world['deal']['id']}").json()["customer_id"] == dupe
    assert _members(admin, "segments", world["segment"]["id"]) == sorted([keep, dupe])
    assert _members(admin, "campaigns", world["campaign"]["id"]) == [dupe]
    assert admin.get(f"/api/v1/customers/{dupe}").json()["merged_into_id"] is None
    listed = [c["id"] for c in admin.get("/api/v1/customers?limit=100").json()["data"]]
    assert dupe in listed
    assert admin.post(f"/api/v1/merges/{merge['id']}/undo").status_code == 409


def test_undo_keeps_what_someone_changed_since(admin: Caller) -> None:
    keep = make_customer(admin, name="Ann Lee")
    dupe = make_customer(admin, name="Anne Lee", phone="+1 555 0100", city="Austin")
    merge = admin.post(
        f"/api/v1/customers/{keep['id']}/merge", json={"duplicate_id": dupe["id"]}
    ).json()
    admin.patch(f"/api/v1/customers/{keep['id']}", json={"phone": "+1 555 0199"})
    assert admin.post(f"/api/v1/merges/{merge['id']}/undo").status_code == 200
    survivor = admin.get(f"/api/v1/customers/{keep['id']}").json()
    assert survivor["phone"] == "+1 555 0199"  # edited after the merge: kept
    assert survivor["city"] is None  # filled by the merge, untouched since: restored


def test_merges_that_make_no_sense_are_refused(admin: Caller, callers: Callers) -> None:
    person = make_customer(admin, name="Pat Doe")
    other = make_customer(admin, name="Pat Doe")
    company = make_customer(admin, name="Doe Ltd", kind="company")
    same = admin.post(
        f"/api/v1/customers/{person['id']}/merge", json={"duplicate_id": person["id"]}
    )
    assert same.status_code == 422
    mixed = admin.post(
        f"/api/v1/customers/{company['id']}/merge", json={"duplicate_id": person["id"]}
    )
    assert mixed.status_code == 422
    sales = callers.make("sales")
    refused = sales.post(
        f"/api/v1/customers/{person['id']}/merge", json={"duplicate_id": other["id"]}
    )
    assert refused.status_code in (403, 404)
    assert admin.get(f"/api/v1/customers/{other['id']}").json()["merged_into_id"] is None
    missing = admin.post("/api/v1/merges/0195f2d2-6b8a-7c3e-9d4f-123456789abc/undo")
    assert missing.status_code == 404


def test_scan_lists_explained_pairs_for_review(admin: Caller, db: Database) -> None:
    first = make_customer(admin, name="Margaret Hamilton", email="mh@example.com", city="Boston")
    second = make_customer(admin, name="Margret Hamilton", email="mh@example.com", city="Boston")
    third = make_customer(admin, name="Completely Different", email="cd@example.org")
    started = admin.post("/api/v1/duplicates/scan", json={"threshold": 0.5})
    assert started.status_code == 202, started.text
    assert Worker(db).run_until_idle() >= 1
    pairs = admin.get("/api/v1/duplicates").json()["data"]
    assert len(pairs) == 1
    pair = pairs[0]
    assert {pair["left"]["id"], pair["right"]["id"]} == {first["id"], second["id"]}
    assert third["id"] not in (pair["left"]["id"], pair["right"]["id"])
    assert pair["score"] >= 0.5
    assert pair["explanation"]["email"]["similarity"] == 1.0
    assert pair["explanation"]["email"]["weight"] > 0

    assert admin.post(f"/api/v1/duplicates/{pair['id']}/dismiss").status_code == 204
    assert admin.get("/api/v1/duplicates").json()["data"] == []
    admin.post("/api/v1/duplicates/scan", json={"threshold": 0.5})
    Worker(db).run_until_idle()
    assert admin.get("/api/v1/duplicates").json()["data"] == []  # dismissed stays dismissed


def test_erasing_a_customer_erases_the_records_merged_into_it(admin: Caller) -> None:
    keep = make_customer(admin, name="Ruth Bader", email="ruth@example.com")
    dupe = make_customer(admin, name="Ruth Bader", email="rbg@example.com")
    admin.post(f"/api/v1/customers/{keep['id']}/merge", json={"duplicate_id": dupe["id"]})
    assert admin.post(f"/api/v1/customers/{keep['id']}/erase").status_code == 200
    hidden = admin.get(f"/api/v1/customers/{dupe['id']}").json()
    assert hidden["email"] is None
    assert hidden["erased_at"] is not None


def test_cli_scan_saves_pairs_for_review(admin: Caller, db: Database, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from patron.cli.main import app

    make_customer(admin, name="Ada Lovelace", email="ada@example.com")
    make_customer(admin, name="Ada Lovelac", email="ada@example.com")
    result = CliRunner().invoke(
        app,
        ["dedupe", "scan", "--output", str(tmp_path / "pairs.csv"), "--save", "--json"],
        env={"PATRON_DATABASE_URL": db.url},
    )
    assert result.exit_code == 0, result.output
    assert '"saved": 1' in result.stdout
    assert len(admin.get("/api/v1/duplicates").json()["data"]) == 1
