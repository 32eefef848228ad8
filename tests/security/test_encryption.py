"""Field-level encryption: what reaches the disk, lookups through the blind index, wrong keys.

Keys come from a keyring file made as ``patron init`` makes it (not the suite's
``PATRON_ENCRYPTION_KEYS``), so these tests exercise the file path end to end.
"""

from __future__ import annotations

import base64
import glob
import os
import secrets
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Text, select, text, type_coerce
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from patron.cli.main import app as cli
from patron.config import Settings
from patron.customers import repository
from patron.customers.models import Customer
from patron.db.engine import Database
from patron.security import crypto
from patron.security.crypto import EncryptionKeyError, Key, Keyring
from tests.conftest import Caller
from tests.security.encryption_fixtures import (  # noqa: F401  (fixtures register on import)
    canaries,
    file_keyring_settings,
    suite_keys_afterwards,
    write_through_api,
)


def secrets_in(values: dict[str, str]) -> dict[str, bytes]:
    found = {name: value.encode() for name, value in values.items() if name != "name"}
    found["phone digits"] = b"2079460958"
    return found


def raw_database_bytes(db: Database) -> bytes:
    """The SQLite file after a checkpoint (and any WAL left), or a pg_dump of the database."""
    url = make_url(db.url)
    if db.dialect == "sqlite":
        db.engine.dispose()  # idle pooled connections would keep WAL frames alive
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        # Closing any descriptor of the file drops every SQLite lock this process holds on it,
        # so no connection may be open while the bytes are read.
        db.engine.dispose()
        path = Path(str(url.database))
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    return subprocess.run(
        [pg_dump(db), "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
         "-U", url.username or "postgres", "--no-password", str(url.database)],
        check=True, capture_output=True, timeout=120,
    ).stdout  # fmt: skip


def pg_dump(db: Database) -> str:
    """The pg_dump of the server's major version (Debian keeps one per version)."""
    with db.engine.connect() as connection:
        major = int(connection.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000
    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/{major}/bin/pg_dump")):
        return candidate
    found = shutil.which("pg_dump")
    if found is None:
        pytest.skip("pg_dump is not installed")
    return found


def stored(db: Database, table: str, column: str) -> list[str]:
    """The envelopes as stored, by raw SQL."""
    with db.engine.connect() as connection:
        rows = connection.execute(text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"))
        return [row[0] for row in rows]


# ----- what reaches the disk ---------------------------------------------------------------------


def test_personal_data_never_reaches_the_database_in_plaintext(
    admin: Caller, db: Database, settings: Settings
) -> None:
    from patron.integration.webhooks_dispatcher import dispatch_batch

    values = canaries()
    # A webhook subscription, so the deliveries (copies of the changes) are on disk too.
    hook = admin.post(
        "/api/v1/webhooks", json={"url": "https://93.184.216.34/hook", "event_types": ["*"]}
    )
    assert hook.status_code == 201, hook.text
    made = write_through_api(admin, values)
    updated = admin.patch(
        f"/api/v1/customers/{made['customer']['id']}",
        json={
            "version": made["customer"]["version"],
            "notes": values["notes"] + "-edited",
            "phone_raw": "raw " + values["phone"],
        },
    )
    assert updated.status_code == 200, updated.text
    with db.unit_of_work() as session:
        assert dispatch_batch(session, limit=1000) > 0

    dump = raw_database_bytes(db)
    assert values["name"].encode() in dump  # the scan sees plain columns, so it can fail
    secrets = {**secrets_in(values), "webhook secret": hook.json()["secret"].encode()}
    leaked = [name for name, secret in secrets.items() if secret in dump]
    assert leaked == []

    data_key = crypto.load_keyring(settings).current[crypto.DATA]
    for table, column in (
        ("customer", "email"), ("customer", "phone"), ("customer", "address_line1"),
        ("customer", "address_line2"), ("customer", "notes"), ("activity", "body"),
        ("ticket", "description"), ("customer", "phone_raw"), ("webhook_subscription", "secret"),
    ):  # fmt: skip
        envelopes = stored(db, table, column)
        assert len(envelopes) == 1, (table, column)
        assert envelopes[0].startswith(f"v1:{data_key}:"), (table, column)


def test_the_api_reads_and_searches_as_before(admin: Caller, settings: Settings) -> None:
    values = canaries()
    made = write_through_api(admin, values)
    customer_id = made["customer"]["id"]
    read = admin.get(f"/api/v1/customers/{customer_id}").json()
    for field in ("email", "phone", "address_line1", "address_line2", "notes"):
        assert read[field] == values[field]
    assert (
        admin.get(f"/api/v1/activities/{made['activity']['id']}").json()["body"] == values["body"]
    )
    ticket = admin.get(f"/api/v1/tickets/{made['ticket']['id']}").json()
    assert ticket["description"] == values["description"]

    def found(q: str) -> list[str]:
        response = admin.get("/api/v1/customers", params={"q": q})
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["data"]]

    assert found(values["email"].upper()) == [customer_id]
    assert found("+442079460958") == [customer_id]
    assert found("442079460958") == [customer_id]
    assert found(values["name"][-6:]) == [customer_id]  # names still match by substring
    assert found(values["email"][:12]) == []  # fragments of an email no longer do

    new_email = "changed." + values["email"]
    patched = admin.patch(
        f"/api/v1/customers/{customer_id}",
        json={"version": read["version"], "email": new_email, "phone": "+1 415 555 2671"},
    )
    assert patched.status_code == 200, patched.text
    assert found(new_email) == [customer_id]
    assert found(values["email"]) == []
    assert found("+1 (415) 555-2671") == [customer_id]
    assert found(values["phone"]) == []


def test_exact_lookups_go_through_the_blind_index(db: Database, settings: Settings) -> None:
    with db.unit_of_work() as session:
        first = Customer(name="Ada", email="Ada@Example.com", phone="+44 20 7946 0958")
        session.add(first)
        session.flush()
        session.add_all(
            [
                Customer(name="Ada again", email="ada@example.com", phone="+442079460958"),
                Customer(name="Other", email="ada@example.com.au", phone="020 7946 0958"),
            ]
        )
        session.flush()
        by_email = repository.customers_by_email(session, [" ADA@example.com", "x@y.example"])
        assert list(by_email) == ["ada@example.com"]
        assert by_email["ada@example.com"].id == first.id
        by_phone = repository.customers_by_phone(session, ["+44 (0)20 7946-0958", ""])
        assert list(by_phone) == ["442079460958"]
        assert by_phone["442079460958"].id == first.id
        assert repository.customers_by_phone(session, ["02079460958"])["02079460958"].name == (
            "Other"
        )
        index = session.scalar(
            select(type_coerce(Customer.email_index, Text())).where(Customer.id == first.id)
        )
    keyring = crypto.load_keyring(settings)
    assert index == keyring.blind_index("email", "ada@example.com")
    assert index is not None
    assert len(index) == 64


# ----- the keyring and the envelope --------------------------------------------------------------


def test_init_creates_a_private_keyring_and_list_shows_no_key_material(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PATRON_ENCRYPTION_KEYS", raising=False)
    env = {"PATRON_DATA_DIR": str(tmp_path / "data"), "PATRON_DATABASE_URL": db.url}
    result = CliRunner().invoke(cli, ["init", "--admin-password", "correct horse battery"], env=env)
    assert result.exit_code == 0, result.output
    path = tmp_path / "data" / "keyring.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keyring = crypto.load_keyring(Settings(data_dir=tmp_path / "data"))

    listed = CliRunner().invoke(cli, ["keys", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    for key in keyring.keys.values():
        assert key.id in listed.stdout
        assert base64.b64encode(key.material).decode() not in listed.output
    assert '"current": true' in listed.stdout

    path.chmod(0o644)
    refused = CliRunner().invoke(cli, ["keys", "list"], env=env)
    assert refused.exit_code == 1
    assert "chmod 600" in refused.output


def test_envelopes_are_fresh_bound_to_their_column_and_refuse_a_wrong_key() -> None:
    keyring = Keyring.generate()
    one, two = (
        keyring.encrypt("customer.email", "a@b.example"),
        keyring.encrypt("customer.email", "a@b.example"),
    )
    assert one != two  # a fresh nonce per value
    assert one.startswith(f"v1:{keyring.current[crypto.DATA]}:")
    assert len(base64.b64decode(one.split(":")[2])) == 12 + len("a@b.example") + 16
    assert keyring.decrypt("customer.email", one) == "a@b.example"
    with pytest.raises(EncryptionKeyError, match=r"customer\.phone"):
        keyring.decrypt("customer.phone", one)  # copied into another column
    data_id = keyring.current[crypto.DATA]
    impostor = Keyring(
        keys={
            **keyring.keys,
            data_id: Key(id=data_id, purpose=crypto.DATA, material=secrets.token_bytes(32)),
        },
        current=dict(keyring.current),
    )
    with pytest.raises(EncryptionKeyError, match="key is wrong or the value was altered"):
        impostor.decrypt("customer.email", one)
    tampered = one[:-6] + ("A" if one[-6] != "A" else "B") + one[-5:]
    with pytest.raises(EncryptionKeyError):
        keyring.decrypt("customer.email", tampered)
    with pytest.raises(EncryptionKeyError, match="lacks"):
        Keyring.generate().decrypt("customer.email", one)


def test_environment_keys_parse_and_reject_bad_input() -> None:
    data, index = (
        base64.b64encode(os.urandom(32)).decode(),
        base64.b64encode(os.urandom(32)).decode(),
    )
    old = base64.b64encode(os.urandom(32)).decode()
    keyring = Keyring.parse_environment(f"data:k2:{data}, data:k1:{old},index:i1:{index}")
    assert keyring.current == {"data": "k2", "index": "i1"}
    assert set(keyring.keys) == {"k2", "k1", "i1"}
    for bad in (
        f"data:k2:{data}",
        "data:k:notbase64!,index:i:x",
        f"data:k:{data[:10]},index:i:{index}",
    ):
        with pytest.raises(EncryptionKeyError) as caught:
            Keyring.parse_environment(bad)
        assert data not in caught.value.detail
        assert index not in caught.value.detail


# ----- wrong or missing keys: a clear error, never garbage ---------------------------------------


def test_a_wrong_or_missing_key_is_a_clear_error_on_the_api(
    admin: Caller, settings: Settings
) -> None:
    values = canaries()
    customer_id = write_through_api(admin, values)["customer"]["id"]
    keyring = crypto.load_keyring(settings)
    wrong = Keyring(
        keys={
            key.id: Key(id=key.id, purpose=key.purpose, material=secrets.token_bytes(32))
            for key in keyring.keys.values()
        },
        current=dict(keyring.current),
    )
    crypto.use_keyring(wrong)
    response = admin.get(f"/api/v1/customers/{customer_id}")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "encryption_key_unavailable"
    assert "key is wrong" in body["detail"]
    exposed = response.text
    for key in [*keyring.keys.values(), *wrong.keys.values()]:
        assert base64.b64encode(key.material).decode() not in exposed
    assert all(secret.decode() not in exposed for secret in secrets_in(values).values())

    crypto.use_keyring(None)
    crypto.keyring_path(settings).unlink()
    crypto.configure(settings)
    created = admin.post("/api/v1/customers", json={"name": "N", "email": "n@x.example"})
    assert created.status_code == 500
    assert created.json()["code"] == "encryption_key_unavailable"
    assert "patron init" in created.json()["detail"]
    listed = admin.get(f"/api/v1/customers/{customer_id}")
    assert listed.json()["code"] == "encryption_key_unavailable"


def test_a_wrong_key_is_a_readable_cli_error(
    admin: Caller, settings: Settings, tmp_path: Path
) -> None:
    write_through_api(admin, canaries())
    crypto.save_keyring(settings, Keyring.generate())  # someone replaced the keyring
    env = {"PATRON_DATA_DIR": str(settings.data_dir), "PATRON_DATABASE_URL": settings.database_url}
    result = CliRunner().invoke(cli, ["export", "customers", "--format", "jsonl"], env=env)
    assert result.exit_code == 1
    assert "which the keyring lacks" in result.stderr
    assert "Traceback" not in result.output
