"""GDPR: a customer's export finds every table from the schema; erasure leaves no personal value
anywhere in the database but keeps the accounts; consent decides who campaigns reach."""

from __future__ import annotations

import json
import secrets
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from patron.cli.main import app as cli
from patron.db import migrate
from patron.db.engine import Database
from patron.db.models import Base
from patron.insights.models import CustomerInsight
from patron.integration.webhooks_models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from patron.privacy import repository, service
from patron.security.permissions import Principal, Role
from tests.conftest import Caller, Callers
from tests.factories import make_customer, make_product, make_stage

PLANTED = {
    "name": "Zebulon Quixote-Marsh",
    "email": "zebulon.quixote@example.org",
    "phone": "+44 20 7946 0958",
    "address_line1": "17 Cherry Orchard Lane",
    "notes": "Prefers calls after six, allergic to peanuts",
}
ACTIVITY_BODY = "Talked about the Quixote family wedding in June"
TICKET_TEXT = "Parcel for Zebulon left at the wrong door"
DEAL_TITLE = "Quixote-Marsh household renewal"


def _referencing_customer() -> set[str]:
    return {
        table.name
        for table in Base.metadata.sorted_tables
        for key in table.foreign_keys
        if key.column.table.name == "customer" and table.name != "customer"
    }


def test_every_table_that_references_customers_is_covered() -> None:
    owned = repository.owned_tables()
    direct = _referencing_customer()
    assert direct, "the schema walk must find something"
    assert direct <= set(owned)
    assert "order_line" in owned  # reached through its order, not by a column of its own
    assert "event" in {table.name for table in repository.reference_tables()}
    service.check_policies()  # every table reached has an erasure policy
    assert set(owned) <= set(service.POLICIES)


def test_a_table_without_a_policy_stops_the_erasure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(service.POLICIES, "activity")
    with pytest.raises(service.NoErasurePolicy, match="activity"):
        service.check_policies()


def _world(admin: Caller, db: Database) -> dict[str, Any]:
    customer = make_customer(admin, **PLANTED, tags=["vip"], custom_fields={"shoe": "44"})
    other = make_customer(admin, name="Unrelated Person", email="other@example.org")
    product = make_product(admin, currency="USD", price_minor=4200)
    stage = make_stage(admin, name=f"Qualified {secrets.token_hex(2)}")
    order = admin.post(
        "/api/v1/orders",
        json={
            "customer_id": customer["id"],
            "currency": "USD",
            "lines": [{"product_id": product["id"], "quantity": 2}],
        },
    ).json()
    ticket = admin.post(
        "/api/v1/tickets",
        json={"customer_id": customer["id"], "subject": TICKET_TEXT, "description": TICKET_TEXT},
    ).json()
    activity = admin.post(
        "/api/v1/activities",
        json={"customer_id": customer["id"], "type": "call", "body": ACTIVITY_BODY},
    ).json()
    deal = admin.post(
        "/api/v1/deals",
        json={"customer_id": customer["id"], "title": DEAL_TITLE, "stage_id": stage["id"]},
    ).json()
    campaign = admin.post("/api/v1/campaigns", json={"name": f"Spring {secrets.token_hex(2)}"})
    segment = admin.post("/api/v1/segments", json={"name": f"VIP {secrets.token_hex(2)}"})
    for parent, body in (("campaigns", campaign.json()), ("segments", segment.json())):
        added = admin.post(
            f"/api/v1/{parent}/{body['id']}/members", json={"customer_ids": [customer["id"]]}
        )
        assert added.status_code == 200, added.text
    with db.unit_of_work() as session:
        session.add(
            CustomerInsight(customer_id=uuid.UUID(customer["id"]), segment_name="Champions")
        )
        # A webhook delivery of the customer's creation, with the receiver's echoing answer.
        subscription = WebhookSubscription(url="https://example.org/hook", secret="whsec_x")
        session.add(subscription)
        session.flush()
        delivery = WebhookDelivery(
            subscription_id=subscription.id, event_id=uuid.uuid4(), event_position=1,
            event_type="customer.created", entity_id=uuid.UUID(customer["id"]),
            message_id="msg_1", body=json.dumps({"data": {"email": PLANTED["email"]}}),
        )  # fmt: skip
        session.add(delivery)
        session.flush()
        session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                attempt=1,
                status_code=200,
                latency_ms=5,
                response_body=f"got {PLANTED['phone']}",
            )
        )
    for response in (order, ticket, activity, deal):
        assert "id" in response, response
    return {
        "customer": customer,
        "other": other,
        "order": order,
        "ticket": ticket,
        "activity": activity,
        "deal": deal,
    }


def test_export_holds_everything_about_the_customer_and_nothing_else(
    admin: Caller, db: Database
) -> None:
    world = _world(admin, db)
    response = admin.get(f"/api/v1/customers/{world['customer']['id']}/export")
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["profile"]["email"] == PLANTED["email"]
    records = data["records"]
    for table in _referencing_customer() | {"order_line"}:
        assert table in records, table
    assert [row["id"] for row in records["order"]] == [world["order"]["id"]]
    assert len(records["order_line"]) == 1
    assert [row["id"] for row in records["ticket"]] == [world["ticket"]["id"]]
    assert records["activity"][0]["body"] == ACTIVITY_BODY
    assert records["deal"][0]["title"] == DEAL_TITLE
    assert len(records["campaign_member"]) == len(records["segment_member"]) == 1
    assert records["customer_insight"][0]["segment_name"] == "Champions"
    event_types = {row["type"] for row in data["references"]["event"]}
    assert {"customer.created", "order.created", "ticket.created", "deal.created"} <= event_types
    assert world["other"]["id"] not in json.dumps(data)
    assert "other@example.org" not in json.dumps(data)


def _all_text(db: Database) -> str:
    """Every value of every table, as one string (what a raw look at the database shows)."""
    chunks: list[str] = []
    with db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                chunks.append(repr(tuple(row)))
    return "\n".join(chunks)


def test_erasure_leaves_no_personal_value_and_keeps_the_accounts(
    admin: Caller, db: Database, settings: Any
) -> None:
    world = _world(admin, db)
    customer_id = world["customer"]["id"]
    secrets_planted = [*PLANTED.values(), ACTIVITY_BODY, TICKET_TEXT, DEAL_TITLE, "Quixote"]
    before = _all_text(db)
    assert all(value in before for value in secrets_planted[:3])

    response = admin.post(f"/api/v1/customers/{customer_id}/erase")
    assert response.status_code == 200, response.text
    erasure = response.json()
    assert erasure["summary"]["activity"] == 1
    assert erasure["summary"]["campaign_member"] == 1
    assert erasure["summary"]["webhook_delivery"] == 1
    assert erasure["summary"]["webhook_attempt"] == 1

    after = _all_text(db)
    for value in secrets_planted:
        assert value not in after, value
    profile = admin.get(f"/api/v1/customers/{customer_id}").json()
    assert profile["name"] == service.ERASED_NAME
    assert profile["email"] is profile["phone"] is profile["notes"] is None
    assert profile["tags"] == []
    assert profile["custom_fields"] == {}
    assert profile["erased_at"] is not None
    assert profile["marketing_consent"] == "opted_out"
    order = admin.get(f"/api/v1/orders/{world['order']['id']}").json()
    assert order["total_minor"] == world["order"]["total_minor"] == 8400
    assert order["customer_id"] == customer_id
    other = admin.get(f"/api/v1/customers/{world['other']['id']}").json()
    assert other["email"] == "other@example.org"
    feed = admin.get("/api/v1/events?entity=customer&limit=100").json()["data"]
    assert "customer.erased" in [event["type"] for event in feed]
    ledger = settings.data_dir / service.LEDGER_NAME
    assert json.loads(ledger.read_text().splitlines()[-1])["customer_id"] == customer_id


@pytest.mark.parametrize("role", [Role.MANAGER, Role.SALES, Role.MARKETING, Role.READONLY])
def test_who_may_export_and_erase(role: Role, callers: Callers, admin: Caller) -> None:
    caller = callers.make(role, team="A")
    customer = make_customer(
        admin, name="Kept Safe", email="kept@example.org", team_id=str(callers.team("A"))
    )
    export = caller.get(f"/api/v1/customers/{customer['id']}/export")
    assert export.status_code == (200 if role is Role.MANAGER else 403), export.text
    erase = caller.post(f"/api/v1/customers/{customer['id']}/erase")
    assert erase.status_code == 403
    assert admin.get(f"/api/v1/customers/{customer['id']}").json()["email"] == "kept@example.org"


def test_other_teams_customers_are_not_found(callers: Callers, admin: Caller) -> None:
    manager = callers.make(Role.MANAGER, team="A")
    theirs = make_customer(admin, name="Theirs", team_id=str(callers.team("B")))
    assert manager.get(f"/api/v1/customers/{theirs['id']}/export").status_code == 404


def test_consent_decides_who_a_campaign_reaches(admin: Caller) -> None:
    keen, unsure, refused, segment_only = (
        make_customer(admin, name=name) for name in ("Keen", "Unsure", "Refused", "Segmented")
    )
    assert (
        admin.put(
            f"/api/v1/customers/{keen['id']}/consent",
            json={"marketing_consent": "opted_in", "source": "signup form"},
        ).json()["marketing_consent"]
        == "opted_in"
    )
    refusal = admin.put(
        f"/api/v1/customers/{refused['id']}/consent",
        json={"marketing_consent": "opted_out", "source": "unsubscribe link"},
    ).json()
    assert refusal["consent_source"] == "unsubscribe link"
    assert refusal["consent_at"]
    bad = admin.put(
        f"/api/v1/customers/{keen['id']}/consent",
        json={"marketing_consent": "maybe", "source": "x"},
    )
    assert bad.status_code == 422

    segment = admin.post("/api/v1/segments", json={"name": "Everyone"}).json()
    admin.post(
        f"/api/v1/segments/{segment['id']}/members",
        json={"customer_ids": [refused["id"], segment_only["id"]]},
    )
    campaign = admin.post(
        "/api/v1/campaigns", json={"name": "Autumn", "segment_id": segment["id"]}
    ).json()
    added = admin.post(
        f"/api/v1/campaigns/{campaign['id']}/members",
        json={"customer_ids": [keen["id"], unsure["id"], refused["id"]]},
    ).json()
    assert added == {"added": 2, "already_members": 0, "excluded_no_consent": 1}
    audience = admin.get(f"/api/v1/campaigns/{campaign['id']}/audience").json()["data"]
    assert {row["name"] for row in audience} == {"Keen", "Unsure", "Segmented"}
    listed = admin.get("/api/v1/customers?marketing_consent=opted_out").json()["data"]
    assert [row["name"] for row in listed] == ["Refused"]


def test_cli_exports_and_erases(admin: Caller, db: Database, settings: Any, tmp_path: Path) -> None:
    customer = make_customer(admin, **PLANTED)
    env = {"PATRON_DATABASE_URL": db.url, "PATRON_DATA_DIR": str(settings.data_dir)}
    out = tmp_path / "export.json"
    result = CliRunner().invoke(
        cli, ["customers", "export-data", customer["id"], "--output", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["profile"]["email"] == PLANTED["email"]
    result = CliRunner().invoke(
        cli, ["customers", "erase", customer["id"], "--yes", "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["customer_id"] == customer["id"]
    assert admin.get(f"/api/v1/customers/{customer['id']}").json()["email"] is None
    missing = CliRunner().invoke(cli, ["customers", "export-data", "not-a-uuid"], env=env)
    assert missing.exit_code == 2


def test_restoring_an_older_copy_erases_again(tmp_path: Path) -> None:
    """The ledger lives outside the database, so an erasure survives a restore of an old copy."""
    path = tmp_path / "live.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database.engine)
    from patron.customers.models import Customer

    with database.unit_of_work() as session:
        customer = Customer(name=PLANTED["name"], email=PLANTED["email"])
        session.add(customer)
        session.flush()
        customer_id = customer.id
    old_copy = tmp_path / "old.db"
    with sqlite3.connect(path) as live, sqlite3.connect(old_copy) as copy:
        live.backup(copy)
    ledger = tmp_path / "data" / service.LEDGER_NAME
    with database.unit_of_work() as session:
        service.erase(session, Principal.system(), customer_id, ledger=ledger)
    database.engine.dispose()

    with sqlite3.connect(old_copy) as copy, sqlite3.connect(path) as live:
        copy.backup(live)  # the restore of a backup taken before the erasure
    restored = Database(f"sqlite:///{path}")
    with restored.engine.connect() as connection:
        name = connection.execute(text("SELECT name FROM customer")).scalar_one()
    assert name == PLANTED["name"]
    with restored.unit_of_work() as session:
        again = service.reapply(session, ledger)
    assert again == [customer_id]
    with restored.unit_of_work() as session:
        assert service.reapply(session, ledger) == []  # nothing left to do
    with restored.engine.connect() as connection:
        row = connection.execute(text("SELECT name, email FROM customer")).one()
    assert tuple(row) == (service.ERASED_NAME, None)
    restored.engine.dispose()


def test_erasure_removes_the_import_files_the_app_kept(
    admin: Caller, db: Database, settings: Any
) -> None:
    from patron.integration.imports_models import ImportRun
    from patron.worker.runner import Worker

    body = f"id,name,email\nq-1,{PLANTED['name']},{PLANTED['email']}\nq-2,Other,broken\n"
    started = admin.post(
        "/api/v1/imports",
        files={"file": ("people.csv", body.encode(), "text/csv")},
        data={"entity": "customers"},
    )
    assert started.status_code == 202, started.text
    Worker(db).run_until_idle()
    with db.unit_of_work(write=False) as session:
        run = session.get(ImportRun, uuid.UUID(started.json()["import_id"]))
        assert run is not None
        kept = [Path(run.file_path), Path(run.error_file or "")]
    assert all(path.exists() for path in kept)
    assert kept[0].resolve().is_relative_to(settings.data_dir.resolve())
    found = admin.get("/api/v1/customers", params={"q": PLANTED["name"]}).json()["data"]
    erased = admin.post(f"/api/v1/customers/{found[0]['id']}/erase")
    assert erased.status_code == 200, erased.text
    assert erased.json()["summary"]["import_files"] == 2
    assert not any(path.exists() for path in kept)
