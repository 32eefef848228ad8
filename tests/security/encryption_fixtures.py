"""Fixtures shared by the field-encryption tests: keys from a keyring file, known values."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from patron.config import Settings
from patron.db.engine import Database
from patron.security import crypto
from tests.conftest import Caller
from tests.factories import make_customer


@pytest.fixture(autouse=True)
def suite_keys_afterwards() -> Iterator[None]:
    """Whatever a test configures, the next one gets the suite's keys back."""
    yield
    crypto.use_keyring(None)
    crypto.configure(Settings())


@pytest.fixture(name="settings")
def file_keyring_settings(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Overrides the suite's ``settings``: keys from keyring.json, made as ``patron init`` does."""
    monkeypatch.delenv("PATRON_ENCRYPTION_KEYS", raising=False)
    config = Settings(
        data_dir=tmp_path / "data",
        database_url=db.url,
        secret_key=SecretStr("test-secret-" + secrets.token_hex(8)),
        worker_in_process=False,
    )
    assert crypto.ensure_keyring(config)
    crypto.configure(config)
    return config


def canaries() -> dict[str, str]:
    tag = secrets.token_hex(5)
    return {
        "email": f"canary.{tag}@plaincheck.example",
        "phone": "+44 20 7946 0958",
        "address_line1": f"{tag} Canary Wharf Road",
        "address_line2": f"Flat Q{tag}",
        "notes": f"notes-canary-{tag}",
        "body": f"activity-body-canary-{tag}",
        "description": f"ticket-description-canary-{tag}",
        "name": f"Visible Name {tag}",
    }


def write_through_api(caller: Caller, values: dict[str, str]) -> dict[str, Any]:
    customer = make_customer(
        caller,
        name=values["name"],
        email=values["email"],
        phone=values["phone"],
        address_line1=values["address_line1"],
        address_line2=values["address_line2"],
        notes=values["notes"],
    )
    activity = caller.post(
        "/api/v1/activities",
        json={"customer_id": customer["id"], "type": "note", "body": values["body"]},
    )
    assert activity.status_code == 201, activity.text
    ticket = caller.post(
        "/api/v1/tickets",
        json={
            "customer_id": customer["id"],
            "subject": "Help",
            "description": values["description"],
        },
    )
    assert ticket.status_code == 201, ticket.text
    return {"customer": customer, "activity": activity.json(), "ticket": ticket.json()}
