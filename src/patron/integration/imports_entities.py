"""What each importable entity takes: its fields and their cleaning, its keys, its references.

A spec turns a mapped row (field name -> raw cell) into the values its service's create schema
takes, names the keys an existing record is found by (external id first), and resolves what the
row points at (the customer of an order, its product) by external id, email or sku.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.crud.service import CrudService
from patron.integration import cleaning
from patron.integration.cleaning import CleaningError, CleaningOptions


class RowError(Exception):
    """A row that cannot be imported: the column at fault and why."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason


Cleaner = Callable[[Any, CleaningOptions], Any]
Finder = Callable[[Session, set[str]], dict[str, Any]]


@dataclass(frozen=True)
class EntitySpec:
    name: str
    service: CrudService[Any]
    create_schema: type[BaseModel]
    update_schema: type[BaseModel]
    cleaners: dict[str, Cleaner]
    keys: tuple[str, ...]  # tried in order: the first that finds a record wins
    finders: dict[str, Finder]
    references: tuple[str, ...] = ()  # fields that name other records, resolved per row
    synonyms: dict[str, str] = field(default_factory=dict)
    immutable: frozenset[str] = frozenset()  # set on create, never compared or updated

    @property
    def fields(self) -> list[str]:
        extra = ["custom_fields.<name>"] if self.name == "customers" else []
        return [*self.cleaners, *self.references, *extra]

    def clean(self, mapped: dict[str, Any], options: CleaningOptions) -> dict[str, Any]:
        values: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        for name, raw in mapped.items():
            if name.startswith("custom_fields."):
                custom[name.split(".", 1)[1]] = _custom_value(name, raw)
                continue
            cleaner = self.cleaners.get(name)
            if name in self.references:
                cleaner = _reference
            if cleaner is None:
                continue
            try:
                value = cleaner(raw, options)
            except CleaningError as exc:
                raise RowError(name, exc.reason) from None
            if isinstance(value, dict) and name == "phone":
                values.update(value)
            elif value is not None:
                values[name] = value
        if custom:
            values.setdefault("custom_fields", {}).update(
                {key: value for key, value in custom.items() if value is not None}
            )
        return values


def _custom_value(name: str, raw: Any) -> Any:
    if isinstance(raw, str):
        return cleaning.text(raw, max_length=10_000)
    if raw is None or isinstance(raw, bool | int | float | list | dict):
        return raw
    return str(raw)


def _reference(raw: Any, _options: CleaningOptions) -> str | None:
    return cleaning.text(raw, max_length=320)


def _text(max_length: int) -> Cleaner:
    return lambda raw, _options: cleaning.text(raw, max_length=max_length)


def _choice(allowed: tuple[str, ...]) -> Cleaner:
    return lambda raw, _options: cleaning.choice(raw, allowed)


def _moment(raw: Any, options: CleaningOptions) -> Any:
    return cleaning.moment(raw, options.date_formats)


def _day(raw: Any, options: CleaningOptions) -> Any:
    return cleaning.day(raw, options.date_formats)


def _phone(raw: Any, options: CleaningOptions) -> dict[str, Any] | None:
    cleaned = cleaning.phone(raw, options.default_region)
    if cleaned is None:
        return None
    e164, original = cleaned
    values: dict[str, Any] = {"phone": e164}
    if original != e164:
        values["phone_raw"] = original  # the number as the file wrote it (stored encrypted)
    return values


def _tags(raw: Any, _options: CleaningOptions) -> list[str] | None:
    if raw is None:
        return None
    items = raw if isinstance(raw, list) else str(raw).replace(";", ",").split(",")
    tags = [cleaning.text(item, max_length=50) for item in items]
    return sorted({tag for tag in tags if tag}) or None


def _lines(raw: Any, _options: CleaningOptions) -> list[dict[str, Any]] | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise CleaningError("is not a JSON list of lines") from None
    if not isinstance(raw, list) or not all(isinstance(line, dict) for line in raw):
        raise CleaningError('is not a list of lines like [{"sku": "A1", "quantity": 2}]')
    return raw


def _by_column(model: Any, column: str) -> Finder:
    def find(session: Session, values: set[str]) -> dict[str, Any]:
        if not values:
            return {}
        attribute = getattr(model, column)
        return {
            getattr(row, column): row
            for row in session.scalars(select(model).where(attribute.in_(values)))
        }

    return find


def _customers_by_email(session: Session, values: set[str]) -> dict[str, Any]:
    from patron.customers.repository import customers_by_email

    return customers_by_email(session, values)


REFERENCE_FIELDS = ("customer_external_id", "customer_email", "customer_name")
CUSTOMER_SYNONYMS = {
    "customer": "customer_external_id",
    "customer_id": "customer_external_id",
    "client_id": "customer_external_id",
    "customer_mail": "customer_email",
}


def _specs() -> dict[str, EntitySpec]:
    from patron.activities.models import ACTIVITY_TYPES, DIRECTIONS, Activity
    from patron.activities.schemas import ActivityCreate, ActivityUpdate
    from patron.activities.service import activities
    from patron.customers.models import LIFECYCLE_STAGES, Customer
    from patron.customers.schemas import CustomerCreate, CustomerUpdate
    from patron.customers.service import customers
    from patron.sales.models import ORDER_STATUSES, Deal, Order, Product
    from patron.sales.schemas import (
        DealCreate,
        DealUpdate,
        OrderCreate,
        OrderUpdate,
        ProductCreate,
        ProductUpdate,
    )
    from patron.sales.service import deals, orders, products
    from patron.service.models import TICKET_CHANNELS, TICKET_PRIORITIES, TICKET_STATUSES, Ticket
    from patron.service.schemas import TicketCreate, TicketUpdate
    from patron.service.service import tickets

    external = _text(120)
    customer_spec = EntitySpec(
        name="customers",
        service=customers,
        create_schema=CustomerCreate,
        update_schema=CustomerUpdate,
        cleaners={
            "external_id": external,
            "name": lambda raw, _o: cleaning.name(raw),
            "kind": _choice(("person", "company")),
            "email": lambda raw, _o: cleaning.email(raw),
            "phone": _phone,
            "address_line1": _text(200),
            "address_line2": _text(200),
            "city": _text(100),
            "region": _text(100),
            "postal_code": _text(20),
            "country": lambda raw, _o: cleaning.country(raw),
            "tags": _tags,
            "lifecycle_stage": _choice(LIFECYCLE_STAGES),
            "source": _text(60),
            "notes": _text(50_000),
        },
        keys=("external_id", "email"),
        finders={
            "external_id": _by_column(Customer, "external_id"),
            "email": _customers_by_email,
        },
        synonyms={
            "id": "external_id",
            "customer_id": "external_id",
            "full_name": "name",
            "customer_name": "name",
            "company": "name",
            "first_name": "name",
            "given_name": "name",
            "last_name": "name",
            "surname": "name",
            "e_mail": "email",
            "email_address": "email",
            "mail": "email",
            "phone_number": "phone",
            "telephone": "phone",
            "tel": "phone",
            "mobile": "phone",
            "street": "address_line1",
            "address": "address_line1",
            "address_1": "address_line1",
            "address_2": "address_line2",
            "town": "city",
            "suburb": "city",
            "state": "region",
            "province": "region",
            "zip": "postal_code",
            "zip_code": "postal_code",
            "postcode": "postal_code",
            "country_code": "country",
            "stage": "lifecycle_stage",
        },
    )
    product_spec = EntitySpec(
        name="products",
        service=products,
        create_schema=ProductCreate,
        update_schema=ProductUpdate,
        cleaners={
            "sku": _text(64),
            "name": lambda raw, _o: cleaning.name(raw),
            "category": _text(100),
            "description": _text(20_000),
            "currency": lambda raw, options: cleaning.currency(raw, options.default_currency),
            "price": lambda raw, _o: raw,  # to minor units once the currency is known
            "is_active": lambda raw, _o: cleaning.boolean(raw),
        },
        keys=("sku",),
        finders={"sku": _by_column(Product, "sku")},
        synonyms={"product_code": "sku", "code": "sku", "item": "sku", "title": "name"},
    )
    order_spec = EntitySpec(
        name="orders",
        service=orders,
        create_schema=OrderCreate,
        update_schema=OrderUpdate,
        cleaners={
            "external_id": external,
            "number": _text(40),
            "status": _choice(ORDER_STATUSES),
            "ordered_at": _moment,
            "currency": lambda raw, options: cleaning.currency(raw, options.default_currency),
            "sku": _text(64),
            "product_name": lambda raw, _o: cleaning.name(raw),
            "quantity": lambda raw, _o: cleaning.integer(raw, minimum=1, maximum=1_000_000),
            "unit_price": lambda raw, _o: raw,
            "lines": _lines,
        },
        keys=("external_id", "number"),
        finders={
            "external_id": _by_column(Order, "external_id"),
            "number": _by_column(Order, "number"),
        },
        references=REFERENCE_FIELDS,
        synonyms={**CUSTOMER_SYNONYMS, "order_id": "external_id", "order_number": "number"},
        immutable=frozenset({"lines", "currency"}),
    )
    with_customer = {**CUSTOMER_SYNONYMS, "id": "external_id"}
    ticket_spec = EntitySpec(
        name="tickets",
        service=tickets,
        create_schema=TicketCreate,
        update_schema=TicketUpdate,
        cleaners={
            "external_id": external,
            "subject": _text(300),
            "description": _text(100_000),
            "status": _choice(TICKET_STATUSES),
            "priority": _choice(TICKET_PRIORITIES),
            "channel": _choice(TICKET_CHANNELS),
            "opened_at": _moment,
            "first_response_at": _moment,
            "resolved_at": _moment,
            "satisfaction_score": lambda raw, _o: cleaning.integer(raw, minimum=1, maximum=5),
        },
        keys=("external_id",),
        finders={"external_id": _by_column(Ticket, "external_id")},
        references=REFERENCE_FIELDS,
        synonyms=with_customer,
        immutable=frozenset({"opened_at"}),
    )
    activity_spec = EntitySpec(
        name="activities",
        service=activities,
        create_schema=ActivityCreate,
        update_schema=ActivityUpdate,
        cleaners={
            "external_id": external,
            "type": _choice(ACTIVITY_TYPES),
            "direction": _choice(DIRECTIONS),
            "subject": _text(300),
            "body": _text(100_000),
            "occurred_at": _moment,
        },
        keys=("external_id",),
        finders={"external_id": _by_column(Activity, "external_id")},
        references=REFERENCE_FIELDS,
        synonyms=with_customer,
    )
    deal_spec = EntitySpec(
        name="deals",
        service=deals,
        create_schema=DealCreate,
        update_schema=DealUpdate,
        cleaners={
            "external_id": external,
            "title": _text(200),
            "currency": lambda raw, options: cleaning.currency(raw, options.default_currency),
            "amount": lambda raw, _o: raw,
            "probability": lambda raw, _o: cleaning.integer(raw, minimum=0, maximum=100),
            "expected_close_on": _day,
            "stage": _text(80),
            "won_reason": _text(300),
            "lost_reason": _text(300),
        },
        keys=("external_id",),
        finders={"external_id": _by_column(Deal, "external_id")},
        references=REFERENCE_FIELDS,
        synonyms=with_customer,
    )
    specs = [customer_spec, product_spec, order_spec, ticket_spec, activity_spec, deal_spec]
    return {spec.name: spec for spec in specs}


_SPECS: dict[str, EntitySpec] | None = None
ENTITIES = ("customers", "products", "orders", "tickets", "activities", "deals")


def specs() -> dict[str, EntitySpec]:
    global _SPECS
    if _SPECS is None:
        _SPECS = _specs()
    return _SPECS


def spec_for(entity: str) -> EntitySpec:
    from patron.integration.imports_read import ImportFileError

    found = specs().get(entity.strip().lower())
    if found is None:
        raise ImportFileError(f"Cannot import {entity!r}; use one of {', '.join(ENTITIES)}.")
    return found


def new_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
