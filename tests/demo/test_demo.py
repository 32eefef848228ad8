"""The demo data: deterministic, consistent, and shaped like a real business."""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from patron.db import migrate
from patron.db.engine import Database
from patron.db.models import Base, Customer, Event, PipelineStage, Team
from patron.demo import DEFAULT_AS_OF, DEMO_EVENT, DemoAlreadyLoaded, DemoSummary, generate
from patron.demo.reference import COUNTRIES
from patron.security.passwords import verify_password

CUSTOMERS = 300
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _fresh(path: Path) -> Database:
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database.engine)
    return database


# Argon2 is slow by design. Tests hash with the same algorithm at its lowest cost (login still
# verifies: the parameters travel inside each hash), or with a stub where nobody logs in.
_quick_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _cheap_hash(password: str) -> str:
    return f"not-a-hash:{len(password)}"


def _generate(database: Database, seed: int, *, real_hashes: bool = False) -> DemoSummary:
    with pytest.MonkeyPatch.context() as patch:
        hasher = _quick_hasher.hash if real_hashes else _cheap_hash
        patch.setattr("patron.demo.generator.hash_password", hasher)
        return generate(database, customers=CUSTOMERS, seed=seed)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, DemoSummary]]:
    database = _fresh(tmp_path_factory.mktemp("demo") / "t.db")
    summary = _generate(database, 42, real_hashes=True)
    yield database, summary
    database.dispose()


def _frame(database: Database, sql: str) -> pd.DataFrame:
    with database.engine.connect() as connection:
        return pd.read_sql_query(text(sql), connection)


def _dump(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted; what legitimately differs per load is left out."""
    skip = {("user_account", "password_hash")}
    dump: dict[str, list[tuple[Any, ...]]] = {}
    with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name == "event":
                continue
            columns = [c for c in table.c if (table.name, c.name) not in skip]
            rows = connection.execute(select(*columns)).all()
            dump[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return dump


def test_the_summary_counts_what_is_in_the_database(loaded: tuple[Database, DemoSummary]) -> None:
    database, summary = loaded
    with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            count = connection.scalar(select(func.count()).select_from(table))
            assert count == summary.counts.get(table.name, 0), table.name
    expected_filled = {
        "team", "user_account", "pipeline_stage", "product", "customer", "order", "order_line",
        "ticket", "deal", "activity", "sales_target", "segment", "segment_member", "campaign",
        "campaign_member", "event",
    }  # fmt: skip
    assert {name for name, count in summary.counts.items() if count > 0} == expected_filled
    assert summary.counts["customer"] == CUSTOMERS
    assert summary.counts["event"] == 1
    assert 150 <= summary.counts["product"] <= 300
    assert summary.as_of == DEFAULT_AS_OF


def test_same_seed_same_rows_and_another_seed_other_rows(
    loaded: tuple[Database, DemoSummary], tmp_path: Path
) -> None:
    database, _ = loaded
    again = _fresh(tmp_path / "again.db")
    other = _fresh(tmp_path / "other.db")
    try:
        _generate(again, 42)
        _generate(other, 7)
        first, second, third = _dump(database), _dump(again), _dump(other)
        assert first.keys() == second.keys()
        for name in first:
            assert first[name] == second[name], name
        for name in ("customer", "order", "order_line", "ticket", "deal", "activity"):
            assert first[name] != third[name], name
        # The catalogue and the staff are the same business whatever the seed.
        assert [r[1:4] for r in first["product"]] == [r[1:4] for r in third["product"]]
    finally:
        again.dispose()
        other.dispose()


def test_order_totals_are_the_sum_of_their_lines(loaded: tuple[Database, DemoSummary]) -> None:
    database, _ = loaded
    orders = _frame(database, 'SELECT id, total_minor, number FROM "order"')
    lines = _frame(
        database,
        "SELECT l.order_id, l.quantity, l.unit_price_minor, p.id AS product "
        "FROM order_line l LEFT JOIN product p ON p.id = l.product_id",
    )
    assert lines["product"].notna().all()
    assert (lines["quantity"] > 0).all()
    assert (lines["unit_price_minor"] > 0).all()
    lines["amount"] = lines["quantity"] * lines["unit_price_minor"]
    per_order = lines.groupby("order_id").agg(amount=("amount", "sum"), lines=("amount", "size"))
    merged = orders.set_index("id").join(per_order, how="left")
    assert merged["lines"].between(1, 6).all()
    assert (merged["total_minor"] == merged["amount"]).all()
    assert orders["number"].is_unique


def test_ticket_times_are_in_order(loaded: tuple[Database, DemoSummary]) -> None:
    database, _ = loaded
    tickets = _frame(
        database,
        "SELECT status, opened_at, first_response_at, resolved_at, satisfaction_score FROM ticket",
    )
    for column in ("opened_at", "first_response_at", "resolved_at"):
        tickets[column] = pd.to_datetime(tickets[column])
    answered = tickets["first_response_at"].notna()
    resolved = tickets["resolved_at"].notna()
    assert (tickets.loc[answered, "opened_at"] <= tickets.loc[answered, "first_response_at"]).all()
    assert not (resolved & ~answered).any()
    both = tickets[resolved]
    assert (both["first_response_at"] <= both["resolved_at"]).all()
    end = pd.Timestamp(DEFAULT_AS_OF) + pd.Timedelta(days=1)
    assert (tickets[["opened_at"]].max() < end).all()
    assert (tickets.loc[resolved, "resolved_at"] < end).all()
    scores = tickets["satisfaction_score"].dropna()
    assert scores.between(1, 5).all()
    assert scores.nunique() >= 3
    assert tickets.loc[tickets["satisfaction_score"].notna(), "resolved_at"].notna().all()
    assert set(tickets.loc[resolved, "status"]) <= {"resolved", "closed"}
    assert set(tickets.loc[~resolved, "status"]) <= {"open", "pending"}


def test_satisfaction_falls_with_resolution_time(loaded: tuple[Database, DemoSummary]) -> None:
    database, _ = loaded
    rated = _frame(
        database,
        "SELECT opened_at, resolved_at, satisfaction_score FROM ticket "
        "WHERE satisfaction_score IS NOT NULL",
    )
    hours = (
        pd.to_datetime(rated["resolved_at"]) - pd.to_datetime(rated["opened_at"])
    ).dt.total_seconds() / 3600
    assert hours.corr(rated["satisfaction_score"], method="spearman") < -0.2


def test_every_stage_has_deals_and_closed_deals_have_reasons(
    loaded: tuple[Database, DemoSummary],
) -> None:
    database, _ = loaded
    deals = _frame(
        database,
        "SELECT s.name AS stage, s.is_won, s.is_lost, s.probability AS stage_probability, "
        "d.probability, d.closed_at, d.won_reason, d.lost_reason, d.amount_minor "
        "FROM deal d JOIN pipeline_stage s ON s.id = d.stage_id",
    )
    assert set(deals["stage"]) == {"Lead", "Qualified", "Proposal", "Negotiation", "Won", "Lost"}
    assert (deals["probability"] == deals["stage_probability"]).all()
    assert (deals["amount_minor"] > 0).all()
    won, lost = deals[deals["is_won"] == 1], deals[deals["is_lost"] == 1]
    still_open = deals[(deals["is_won"] == 0) & (deals["is_lost"] == 0)]
    assert won["won_reason"].notna().all()
    assert won["closed_at"].notna().all()
    assert lost["lost_reason"].notna().all()
    assert lost["closed_at"].notna().all()
    assert still_open["closed_at"].isna().all()
    assert still_open[["won_reason", "lost_reason"]].isna().all().all()


def test_bundles_make_strong_association_rules(loaded: tuple[Database, DemoSummary]) -> None:
    database, _ = loaded
    lines = _frame(database, "SELECT order_id, product_id FROM order_line")
    baskets = lines.groupby("order_id")["product_id"].apply(lambda s: sorted(set(s)))
    n_orders = len(baskets)
    item_support = lines.drop_duplicates().groupby("product_id").size() / n_orders
    pairs = pd.Series(
        [pair for basket in baskets for pair in itertools.combinations(basket, 2)]
    ).value_counts()
    (first, second), count = pairs.index[0], pairs.iloc[0]
    lift = (count / n_orders) / (item_support[first] * item_support[second])
    assert lift > 2, (first, second, lift)
    frequent = pairs[pairs >= 10]
    lifts = [
        (c / n_orders) / (item_support[a] * item_support[b])
        for (a, b), c in frequent.items()
    ]  # fmt: skip
    assert sum(value > 5 for value in lifts) >= 5


def test_customer_types_differ_in_frequency_recency_and_spend(
    loaded: tuple[Database, DemoSummary],
) -> None:
    database, _ = loaded
    orders = _frame(
        database,
        'SELECT customer_id, ordered_at, total_minor FROM "order" '
        "WHERE status NOT IN ('cancelled', 'refunded')",
    )
    orders["ordered_at"] = pd.to_datetime(orders["ordered_at"])
    per_customer = orders.groupby("customer_id").agg(
        frequency=("ordered_at", "size"), last=("ordered_at", "max"), spend=("total_minor", "sum")
    )
    frequency = per_customer["frequency"]
    assert (frequency == 1).mean() > 0.15  # one-time buyers
    assert frequency.quantile(0.95) >= 4 * frequency.median()  # champions
    assert frequency.max() >= 15
    days_since = (pd.Timestamp(DEFAULT_AS_OF) - per_customer["last"]).dt.days
    assert 0.1 < (days_since > 270).mean() < 0.5  # lapsed and churned
    assert (days_since < 60).mean() > 0.15  # active
    spend = per_customer["spend"]
    assert spend.quantile(0.9) > 5 * spend.quantile(0.25)
    customers = _frame(database, "SELECT lifecycle_stage FROM customer")
    assert {"lead", "prospect", "customer", "churned"} <= set(customers["lifecycle_stage"])


def test_orders_peak_in_the_fourth_quarter(loaded: tuple[Database, DemoSummary]) -> None:
    database, _ = loaded
    orders = _frame(database, 'SELECT ordered_at FROM "order"')
    months = pd.to_datetime(orders["ordered_at"]).dt.month
    q4 = months.isin([11, 12]).sum() / 61
    summer = months.isin([5, 6]).sum() / 61
    assert q4 > 1.2 * summer


def test_records_point_where_a_real_crm_would(loaded: tuple[Database, DemoSummary]) -> None:
    database, _ = loaded
    owners = _frame(
        database,
        "SELECT c.team_id, u.team_id AS owner_team, u.role FROM customer c "
        "JOIN user_account u ON u.id = c.owner_id",
    )
    assert len(owners) == CUSTOMERS
    assert (owners["role"] == "sales").all()
    assert (owners["team_id"] == owners["owner_team"]).all()
    employees = _frame(
        database,
        "SELECT p.created_at, c.created_at AS company_created, c.kind FROM customer p "
        "JOIN customer c ON c.id = p.company_id",
    )
    assert len(employees) > 0
    assert (employees["kind"] == "company").all()
    assert (employees["company_created"] <= employees["created_at"]).all()
    with database.engine.connect() as connection:  # typed: emails are stored encrypted
        stored = connection.scalars(select(Customer.email).where(Customer.email.is_not(None)))
        emails = pd.Series(list(stored), dtype=object)
    assert emails.is_unique
    assert emails.str.contains(r"@(?:[a-z0-9]+\.)?example\.(?:com|org|net)$").all()
    linked = _frame(
        database, "SELECT deal_id, ticket_id FROM activity WHERE deal_id IS NOT NULL OR "
        "ticket_id IS NOT NULL",
    )  # fmt: skip
    assert linked["deal_id"].notna().any()
    assert linked["ticket_id"].notna().any()
    targets = _frame(database, "SELECT user_id, team_id FROM sales_target")
    assert targets["user_id"].notna().any()
    assert targets["team_id"].notna().any()


def test_nothing_happens_before_a_customer_exists_or_after_as_of(
    loaded: tuple[Database, DemoSummary],
) -> None:
    database, _ = loaded
    end = (pd.Timestamp(DEFAULT_AS_OF) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    checks = {
        "order": ('"order"', "ordered_at"),
        "ticket": ("ticket", "opened_at"),
        "activity": ("activity", "occurred_at"),
        "deal": ("deal", "created_at"),
        "segment_member": ("segment_member", "added_at"),
        "campaign_member": ("campaign_member", "created_at"),
    }
    for name, (table, column) in checks.items():
        early = _frame(
            database,
            f"SELECT count(*) AS n FROM {table} x JOIN customer c ON c.id = x.customer_id "
            f"WHERE x.{column} < c.created_at",
        )
        late = _frame(database, f"SELECT count(*) AS n FROM {table} WHERE {column} >= '{end}'")
        assert early["n"][0] == 0, name
        assert late["n"][0] == 0, name
    for table in ("customer", '"order"', "ticket", "deal", "activity", "campaign_member"):
        stale = _frame(database, f"SELECT count(*) AS n FROM {table} WHERE updated_at < created_at")
        assert stale["n"][0] == 0, table


def test_ids_are_uuid7_stamped_with_the_creation_time(
    loaded: tuple[Database, DemoSummary],
) -> None:
    database, _ = loaded
    with database.engine.connect() as connection:
        rows = connection.execute(text('SELECT id, created_at FROM "order" LIMIT 200')).all()
    for raw_id, created in rows:
        value = uuid.UUID(hex=raw_id)
        assert value.version == 7
        created_ms = int(pd.Timestamp(created).tz_localize("UTC").timestamp() * 1000)
        assert value.int >> 80 == created_ms


def test_demo_staff_can_log_in_and_one_event_marks_the_load(
    loaded: tuple[Database, DemoSummary],
) -> None:
    database, summary = loaded
    roles = {user.role for user in summary.users}
    assert roles == {"manager", "sales", "support", "marketing", "analyst", "readonly"}
    assert all(user.email.endswith("@example.com") for user in summary.users)
    users = _frame(database, "SELECT email, password_hash FROM user_account")
    hashes = dict(zip(users["email"], users["password_hash"], strict=True))
    for user in summary.users:
        assert verify_password(hashes[user.email], user.password)
    with database.session(write=False) as session:
        events = session.scalars(select(Event)).all()
    assert [(e.type, e.entity, e.actor_type) for e in events] == [(DEMO_EVENT, "demo", "system")]
    assert events[0].data["counts"]["order_line"] == summary.counts["order_line"]


def test_a_second_load_is_refused_and_changes_nothing(
    loaded: tuple[Database, DemoSummary],
) -> None:
    database, summary = loaded
    with pytest.raises(DemoAlreadyLoaded):
        generate(database, customers=10, seed=1)
    with database.engine.connect() as connection:
        assert (
            connection.scalar(select(func.count()).select_from(Base.metadata.tables["customer"]))
            == (summary.counts["customer"])
        )


def test_existing_teams_and_stages_are_reused(tmp_path: Path) -> None:
    fresh = _fresh(tmp_path / "fresh.db")
    used = _fresh(tmp_path / "used.db")
    try:
        with used.unit_of_work() as session:
            team = Team(name="EMEA", description="Made by patron init")
            stage = PipelineStage(name="Won", position=9, probability=100, is_won=True)
            session.add_all([team, stage])
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("patron.demo.generator.hash_password", _cheap_hash)
            generate(fresh, customers=60, seed=5)
            summary = generate(used, customers=60, seed=5)
        assert summary.counts["team"] == 2
        assert summary.counts["pipeline_stage"] == 5
        codes = ", ".join(f"'{country.code}'" for country in COUNTRIES if country.team == 1)
        emea = _frame(used, f"SELECT count(*) AS n FROM customer WHERE country IN ({codes})")
        in_team = _frame(
            used, f"SELECT count(*) AS n FROM customer WHERE team_id = '{team.id.hex}'"
        )
        assert in_team["n"][0] == emea["n"][0] > 0
        won = _frame(used, f"SELECT count(*) AS n FROM deal WHERE stage_id = '{stage.id.hex}'")
        assert won["n"][0] > 0
        # Everything else is the same load as in an empty database, ids included.
        assert _dump(used)["order_line"] == _dump(fresh)["order_line"]
    finally:
        fresh.dispose()
        used.dispose()


def _indexes(database: Database) -> set[tuple[str, str]]:
    with database.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).all()
    return {(name, sql) for name, sql in rows}


def test_indexes_dropped_for_the_load_come_back_unchanged(
    loaded: tuple[Database, DemoSummary], tmp_path: Path
) -> None:
    database, _ = loaded
    empty = _fresh(tmp_path / "empty.db")
    try:
        expected = _indexes(empty)
    finally:
        empty.dispose()
    assert len(expected) > 20
    assert _indexes(database) == expected


def test_a_failed_load_leaves_nothing_behind(tmp_path: Path) -> None:
    database = _fresh(tmp_path / "failed.db")
    expected = _indexes(database)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is full")

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("patron.demo.generator.hash_password", _cheap_hash)
            patch.setattr("patron.demo.engagement.make_deals", broken)
            with pytest.raises(RuntimeError, match="disk is full"):
                generate(database, customers=50)
        with database.engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                count = connection.scalar(select(func.count()).select_from(table))
                assert count == 0, table.name
        assert _indexes(database) == expected
    finally:
        database.dispose()


def test_the_cli_loads_once_and_prints_json(tmp_path: Path) -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from patron.cli import demo as demo_cli

    try:
        from patron.cli.main import app
    except ImportError:  # the root app may be mid-construction; the command is the same
        app = typer.Typer()
        demo_cli.register(app)

        @app.command("noop")
        def _noop() -> None:  # a second command keeps Typer from collapsing the group
            pass

    env = {
        "PATRON_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "PATRON_DATA_DIR": str(tmp_path),
    }
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("patron.demo.generator.hash_password", _cheap_hash)
        first = runner.invoke(app, ["demo", "--customers", "40", "--seed", "3", "--json"], env=env)
        assert first.exit_code == 0, first.output
        data = json.loads(first.stdout.strip().splitlines()[-1])
        assert data["counts"]["customer"] == 40
        assert {user["role"] for user in data["users"]} >= {"sales", "support", "manager"}
        assert all(len(user["password"]) >= 12 for user in data["users"])
        second = runner.invoke(app, ["demo", "--customers", "40"], env=env)
        other = {**env, "PATRON_DATABASE_URL": f"sqlite:///{tmp_path / 'plain.db'}"}
        plain = runner.invoke(app, ["demo", "--customers", "40"], env=other)
    assert second.exit_code == 1
    assert "already loaded" in second.output
    assert plain.exit_code == 0, plain.output
    # Every password is printed whole, on its own line, whatever the terminal width.
    logins = re.findall(r"^ +(\S+@example\.com) +(\S+) +\w+", plain.stdout, re.MULTILINE)
    assert len(logins) == len(data["users"])
    assert all(len(password) == len(data["users"][0]["password"]) for _, password in logins)


@pytest.mark.postgres
def test_loads_into_postgresql() -> None:
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except Exception as exc:  # any failure to connect means "not here"
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required on CI but unreachable: {exc}")
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432: {exc}")
    name = f"patron_test_demo_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    try:
        migrate.upgrade(database.engine)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("patron.demo.generator.hash_password", _cheap_hash)
            summary = generate(database, customers=200, seed=42)
        with database.engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                count = connection.scalar(select(func.count()).select_from(table))
                assert count == summary.counts.get(table.name, 0), table.name
            mismatched = connection.scalar(
                text(
                    'SELECT count(*) FROM "order" o JOIN (SELECT order_id, '
                    "sum(quantity * unit_price_minor) AS amount FROM order_line GROUP BY order_id)"
                    " l ON l.order_id = o.id WHERE l.amount <> o.total_minor"
                )
            )
            assert mismatched == 0
            latest = connection.scalar(text('SELECT max(ordered_at) FROM "order"'))
            assert latest.tzinfo is not None
            assert latest.astimezone(UTC).date() <= DEFAULT_AS_OF
        with pytest.raises(DemoAlreadyLoaded):
            generate(database, customers=10)
    finally:
        database.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
