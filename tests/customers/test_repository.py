"""Exact-match lookups that other parts (imports, duplicate checks) rely on."""

from __future__ import annotations

from patron.customers import repository
from patron.customers.models import Customer
from patron.db.engine import Database


def test_customers_by_email_matches_exactly_after_normalising(db: Database) -> None:
    with db.unit_of_work() as session:
        first = Customer(name="Ada Lovelace", email="Ada@Example.com")
        session.add(first)
        session.flush()
        session.add_all(
            [
                Customer(name="Ada again", email="ada@example.com"),
                Customer(name="Someone", email="ada@example.com.au"),
                Customer(name="No email"),
            ]
        )
        session.flush()
        found = repository.customers_by_email(
            session, ["  ADA@example.com ", "nobody@example.com", ""]
        )
        assert set(found) == {"ada@example.com"}
        assert found["ada@example.com"].id == first.id  # the oldest of two on one email
        assert repository.customers_by_email(session, []) == {}


def test_customers_by_email_leaves_merged_customers_out(db: Database) -> None:
    with db.unit_of_work() as session:
        merged = Customer(name="Merged", email="kim@example.com")  # the older of the two
        session.add(merged)
        session.flush()
        kept = Customer(name="Kept", email="kim@example.com")
        session.add(kept)
        session.flush()
        gone = Customer(name="Gone", email="lee@example.com", merged_into_id=kept.id)
        merged.merged_into_id = kept.id
        session.add(gone)
        session.flush()
        found = repository.customers_by_email(session, ["kim@example.com", "lee@example.com"])
        assert {email: customer.id for email, customer in found.items()} == {
            "kim@example.com": kept.id
        }
