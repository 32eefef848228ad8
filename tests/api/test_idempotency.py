"""Idempotency-Key: a retried POST gets the first answer; a reused key with another body fails."""

from __future__ import annotations

from tests.conftest import Caller, Callers


def test_a_retry_replays_the_first_answer(admin: Caller) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = admin.post("/api/v1/customers", json={"name": "Once"}, headers=headers)
    assert first.status_code == 201
    again = admin.post("/api/v1/customers", json={"name": "Once"}, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    names = [c["name"] for c in admin.get("/api/v1/customers").json()["data"]]
    assert names == ["Once"]


def test_the_same_key_with_another_body_is_refused(admin: Caller) -> None:
    headers = {"Idempotency-Key": "k-1"}
    assert admin.post("/api/v1/customers", json={"name": "A"}, headers=headers).status_code == 201
    reused = admin.post("/api/v1/customers", json={"name": "B"}, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert len(admin.get("/api/v1/customers").json()["data"]) == 1


def test_keys_belong_to_their_caller(admin: Caller, callers: Callers) -> None:
    other = callers.make("admin")
    headers = {"Idempotency-Key": "shared"}
    assert admin.post("/api/v1/customers", json={"name": "A"}, headers=headers).status_code == 201
    assert other.post("/api/v1/customers", json={"name": "A"}, headers=headers).status_code == 201
    assert len(admin.get("/api/v1/customers").json()["data"]) == 2


def test_errors_are_kept_but_bad_keys_refused(admin: Caller) -> None:
    headers = {"Idempotency-Key": "bad-body"}
    first = admin.post("/api/v1/customers", json={"name": ""}, headers=headers)
    assert first.status_code == 422
    assert (
        admin.post("/api/v1/customers", json={"name": ""}, headers=headers).json() == first.json()
    )
    too_long = admin.post("/api/v1/customers", json={"name": "X"},
                          headers={"Idempotency-Key": "x" * 256})  # fmt: skip
    assert too_long.status_code == 422
    assert too_long.json()["code"] == "invalid_idempotency_key"
    assert admin.get("/api/v1/customers").json()["data"] == []
