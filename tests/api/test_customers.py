"""Customers through the API: create, read, update with versions, list, filter, delete."""

from __future__ import annotations

from tests.conftest import Caller
from tests.factories import make_customer


def test_create_read_update_delete(admin: Caller) -> None:
    created = make_customer(
        admin, name="  Ada Lovelace ", email="ADA@Example.com", country="gb", tags=["vip", "vip"]
    )
    assert created["name"] == "Ada Lovelace"
    assert created["email"] == "ada@example.com"
    assert created["country"] == "GB"
    assert created["tags"] == ["vip"]
    assert created["version"] == 1

    read = admin.get(f"/api/v1/customers/{created['id']}")
    assert read.status_code == 200
    assert read.headers["ETag"] == '"1"'

    updated = admin.patch(
        f"/api/v1/customers/{created['id']}", json={"city": "London", "version": 1}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["city"] == "London"
    assert updated.json()["version"] == 2

    stale = admin.patch(f"/api/v1/customers/{created['id']}", json={"city": "Paris", "version": 1})
    assert stale.status_code == 409
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert stale.json()["code"] == "version_conflict"
    assert admin.get(f"/api/v1/customers/{created['id']}").json()["city"] == "London"

    stale_header = admin.patch(
        f"/api/v1/customers/{created['id']}", json={"city": "Rome"}, headers={"If-Match": '"1"'}
    )
    assert stale_header.status_code == 409

    deleted = admin.delete(f"/api/v1/customers/{created['id']}")
    assert deleted.status_code == 204
    assert admin.get(f"/api/v1/customers/{created['id']}").status_code == 404


def test_list_paginates_without_gaps_or_repeats(admin: Caller) -> None:
    names = {make_customer(admin, name=f"Person {i:02d}")["name"] for i in range(23)}
    seen: list[str] = []
    url = "/api/v1/customers?limit=5&sort=name"
    pages = 0
    while url:
        response = admin.get(url)
        assert response.status_code == 200
        body = response.json()
        seen.extend(item["name"] for item in body["data"])
        pages += 1
        if body["has_more"]:
            assert 'rel="next"' in response.headers["Link"]
            url = f"/api/v1/customers?limit=5&sort=name&cursor={body['next_cursor']}"
        else:
            assert body["next_cursor"] is None
            url = ""
    assert pages == 5
    assert seen == sorted(names)


def test_filters(admin: Caller) -> None:
    make_customer(admin, name="Alpha GmbH", kind="company", country="DE", tags=["b2b"])
    make_customer(
        admin, name="Bob", email="bob@shop.example.org", country="US", lifecycle_stage="customer"
    )
    make_customer(admin, name="Carol", phone="+1 555 0100", country="US", tags=["vip", "b2b"])

    def names(query: str) -> list[str]:
        response = admin.get(f"/api/v1/customers?sort=name&{query}")
        assert response.status_code == 200, response.text
        return [c["name"] for c in response.json()["data"]]

    # Email and phone are encrypted: q matches them exactly (through the blind index), never
    # by fragment; names still match by substring.
    assert names("q=%20BOB@Shop.Example.org") == ["Bob"]
    assert names("q=shop.example") == []
    assert names("q=%2B1%20555%200100") == ["Carol"]
    assert names("q=%2B1-555-0100") == ["Carol"]
    assert names("q=555") == []
    assert names("q=alpha") == ["Alpha GmbH"]
    assert names("country=us") == ["Bob", "Carol"]
    assert names("tag=b2b") == ["Alpha GmbH", "Carol"]
    assert names("tag=vip") == ["Carol"]
    assert names("lifecycle_stage=customer") == ["Bob"]
    assert names("kind=company") == ["Alpha GmbH"]
    assert names("q=100%25") == []


def test_bad_input_gets_problem_details(admin: Caller) -> None:
    response = admin.post("/api/v1/customers", json={"name": "", "email": "not-an-email"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    assert {error["field"] for error in body["errors"]} == {"name", "email"}
    assert admin.get("/api/v1/customers?limit=0").status_code == 422
    assert admin.get("/api/v1/customers?cursor=garbage").status_code == 422
    assert admin.get("/api/v1/customers?sort=password").status_code == 422
    assert admin.get("/api/v1/customers/not-a-uuid").status_code == 422
    unknown = admin.get("/api/v1/customers/0195f2d2-6b8a-7c3e-9d4f-123456789abc")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "customer_not_found"


def test_duplicates_are_field_errors(admin: Caller) -> None:
    make_customer(admin, external_id="crm-1")
    again = admin.post("/api/v1/customers", json={"name": "B", "external_id": "crm-1"})
    assert again.status_code == 422
    assert again.json()["errors"][0] == {
        "field": "external_id",
        "message": "Another customer already has this external id.",
        "code": "duplicate",
    }
    first = admin.post("/api/v1/products", json={"sku": "A-1", "name": "A"})
    assert first.status_code == 201
    second = admin.post("/api/v1/products", json={"sku": "A-1", "name": "B"})
    assert second.status_code == 422
    assert second.json()["errors"][0]["field"] == "sku"
