"""Browser fixtures: the real app on a free port, Debian's Chromium driven by Playwright.

One server and one browser per test process: uvicorn serves ``create_app`` from a background
thread against a SQLite database built by the migrations; every test gets a fresh browser
context (no cookies) and seeds its own uniquely named records through the services.

Chromium is Debian's package, launched by path; Playwright never downloads a browser here. Without
``/usr/bin/chromium`` the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from argon2 import PasswordHasher
from pydantic import SecretStr

from patron.activities.schemas import ActivityCreate
from patron.activities.service import activities
from patron.config import Settings
from patron.customers.schemas import CustomerCreate, CustomerUpdate
from patron.customers.service import customers
from patron.db import migrate
from patron.db.engine import Database
from patron.sales.schemas import OrderCreate, OrderLineIn, ProductCreate
from patron.sales.service import orders, products
from patron.security import passwords
from patron.security import service as security
from patron.security.permissions import Principal, Role
from patron.security.schemas import TeamCreate, UserCreate
from patron.service.schemas import TicketCreate
from patron.service.service import tickets

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "browser-test-passphrase"
IN_CI = os.environ.get("CI", "").lower() == "true"


@dataclass
class Seed:
    """Records made through the services as the system, each in its own unit of work."""

    database: Database
    teams: dict[str, uuid.UUID] = field(default_factory=dict)

    def team(self, name: str) -> uuid.UUID:
        if name not in self.teams:
            with self.database.unit_of_work() as session:
                team = security.teams.create(session, Principal.system(), TeamCreate(name=name))
                self.teams[name] = team.id
        return self.teams[name]

    def user(self, role: Role | str, team: str | None = None, name: str | None = None) -> Any:
        """A user who logs in with ``PASSWORD``; returns the stored user (id, email, name)."""
        email = f"{Role(role).value}-{secrets.token_hex(4)}@example.com"
        data = UserCreate(
            email=email,
            name=name,
            role=Role(role),
            team_id=self.team(team) if team else None,
            password=PASSWORD,
        )
        with self.database.unit_of_work() as session:
            return security.create_user(session, Principal.system(), data)

    def customer(self, **values: Any) -> Any:
        with self.database.unit_of_work() as session:
            return customers.create(session, Principal.system(), CustomerCreate(**values))

    def update_customer(self, customer_id: uuid.UUID, **values: Any) -> Any:
        with self.database.unit_of_work() as session:
            return customers.update(
                session, Principal.system(), customer_id, CustomerUpdate(**values)
            )

    def read_customer(self, customer_id: uuid.UUID) -> Any:
        with self.database.unit_of_work(write=False) as session:
            return customers.get(session, Principal.system(), customer_id)

    def product(self, **values: Any) -> Any:
        body = {
            "sku": f"SKU-{secrets.token_hex(4)}",
            "name": "Widget",
            "price_minor": 1250,
            "currency": "EUR",
            **values,
        }
        with self.database.unit_of_work() as session:
            return products.create(session, Principal.system(), ProductCreate(**body))

    def order(
        self, customer_id: uuid.UUID, product_id: uuid.UUID, quantity: int, **values: Any
    ) -> Any:
        data = OrderCreate(
            customer_id=customer_id,
            currency="EUR",
            status="paid",
            lines=[OrderLineIn(product_id=product_id, quantity=quantity)],
            **values,
        )
        with self.database.unit_of_work() as session:
            return orders.create(session, Principal.system(), data)

    def ticket(self, customer_id: uuid.UUID, subject: str, at: datetime) -> Any:
        data = TicketCreate(customer_id=customer_id, subject=subject, priority="high", opened_at=at)
        with self.database.unit_of_work() as session:
            return tickets.create(session, Principal.system(), data)

    def activity(self, customer_id: uuid.UUID, subject: str, at: datetime) -> Any:
        data = ActivityCreate(
            customer_id=customer_id,
            type="call",
            direction="outbound",
            subject=subject,
            occurred_at=at,
        )
        with self.database.unit_of_work() as session:
            return activities.create(session, Principal.system(), data)


@dataclass
class LiveServer:
    url: str
    seed: Seed


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing (Debian package 'chromium'); browser tests need it"
    if IN_CI:
        pytest.fail(reason + " (CI=true: browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from patron.web.app import create_app

    # Cheap argon2id parameters: the suite is about the pages, not the hash's cost (the server
    # runs in this process, so this reaches its logins too).
    default_hasher = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    directory = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{directory / 'patron.db'}"
    database = Database(url)
    migrate.upgrade(database.engine)
    settings = Settings(
        data_dir=directory / "data",
        database_url=url,
        secret_key=SecretStr("browser-" + secrets.token_hex(16)),
    )
    app = create_app(settings, database=database)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="uvicorn", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", seed=Seed(database))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
        database.dispose()
        passwords._hasher = default_hasher


@pytest.fixture
def seed(live_server: LiveServer) -> Seed:
    return live_server.seed


@pytest.fixture
def page(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page, pointed at the live server."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    refused: list[str] = []  # the CSP allows no inline script: a page that needs one is broken
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    try:
        yield page
    finally:
        context.close()
    assert refused == [], f"the browser refused parts of a page: {refused}"


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
