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
