"""``patron demo``: a realistic, deterministic business to explore, at any size.

The demo shop sells photo, coffee, kitchen, audio, computer, office, gaming, smart-home, fitness
and outdoor products in fifteen countries, through three sales teams. :func:`generate` writes its
teams and staff, catalogue, customers, three years of orders, tickets, deals, activities, sales
targets, segments and campaigns; see the modules beside this one for how each is made.

Deterministic: the same ``seed``, ``customers`` and ``as_of`` give the same rows, ids included
(ids are UUIDv7 built from each record's own creation time and seeded random bits, so they also
sort by creation time). The data ends at ``as_of``, a fixed date (``DEFAULT_AS_OF``) rather than
today, so a demo loaded next year is the same demo. Two things differ on purpose: the staff's
passwords are random (a published seed must not open a demo install to anyone), so their hashes
differ; and the ``demo.loaded`` event carries the time of loading.

Bulk seed, not user changes: the rows are written with bulk inserts (SQLite ``executemany``,
PostgreSQL ``COPY``), with no per-record ``*.created`` events. A hundred thousand customers would
otherwise flood the change feed, the live stream and every webhook subscriber with a million
notifications about data nobody changed. One ``demo.loaded`` event records the load instead; it
also marks the database, so a second load is refused.

The whole load is one transaction: it either all lands or none of it does.
"""

from __future__ import annotations

import os
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.db.engine import WRITE_OPTION, Database
from patron.db.models import (
    Activity,
    Campaign,
    CampaignMember,
    Customer,
    Deal,
    Event,
    Order,
    OrderLine,
    PipelineStage,
    Product,
    SalesTarget,
    Segment,
    SegmentMember,
    Team,
    Ticket,
    User,
)
from patron.demo import customers as customer_module
from patron.demo import engagement
from patron.demo import marketing as marketing_module
from patron.demo.catalog import CATEGORY_NAMES, DESCRIPTIONS, Catalogue, build_catalogue
from patron.demo.orders import BasketMaker, book_orders, order_chunks
from patron.demo.reference import COUNTRIES, COUNTRY_NAMES, TEAMS, USERS
from patron.demo.timeline import Timeline
from patron.demo.vectors import US_PER_DAY, US_PER_MINUTE, datetime_text, uuid7_hex
from patron.demo.writer import BulkWriter, prefetch
from patron.errors import Conflict, ValidationFailed
from patron.security.passwords import generate_password, hash_password

DEFAULT_AS_OF = date(2026, 10, 31)
DEFAULT_CUSTOMERS = 2000
DEFAULT_SEED = 42
MAX_CUSTOMERS = 2_000_000
DEMO_EVENT = "demo.loaded"

# name, position, probability (percent), won, lost
PIPELINE_STAGES = (
    ("Lead", 1, 10, False, False),
    ("Qualified", 2, 25, False, False),
    ("Proposal", 3, 50, False, False),
    ("Negotiation", 4, 75, False, False),
    ("Won", 5, 100, True, False),
    ("Lost", 6, 0, False, True),
)

BULK_TABLES = tuple(
    model.__table__  # type: ignore[attr-defined]
    for model in (Customer, Order, OrderLine, Ticket, Deal, Activity, SegmentMember, CampaignMember)
)

Progress = Callable[[str, float], None]
"""Called with what is being done and the share of the whole load done so far (0 to 1)."""

# Independent random streams, so changing how one table is made leaves the others alone.
STREAMS = {
    "ids": 1, "customers": 2, "rows": 3, "orders": 4, "lines": 5, "tickets": 6, "deals": 7,
    "activities": 8, "targets": 9, "marketing": 10,
}  # fmt: skip


class DemoAlreadyLoaded(Conflict):
    code = "demo_already_loaded"
    title = "Demo data is already loaded"


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: str
    team: str | None
    password: str = field(repr=False)  # shown once by the CLI, never logged


@dataclass(frozen=True)
class DemoSummary:
    """What was loaded: rows per table and the staff accounts with their one-time passwords."""

    counts: dict[str, int]
    users: tuple[DemoUser, ...]
    seed: int
    customers: int
    as_of: date
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        data["users"] = [asdict(user) for user in self.users]
        return data


def generate(
    target: Database | Engine | Session,
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    as_of: date = DEFAULT_AS_OF,
    progress: Progress | None = None,
) -> DemoSummary:
    """Load the demo business into a migrated database and return what was loaded.

    ``target`` is a :class:`Database` or an ``Engine`` (the load is committed, or rolled back
    on error) or a ``Session`` (the caller commits). Raises :class:`DemoAlreadyLoaded` when a
    demo was loaded before, :class:`~patron.errors.Conflict` when demo records would collide
    with existing ones.
    """
    if not 1 <= customers <= MAX_CUSTOMERS:
        raise ValidationFailed.field(
            "customers", f"Choose between 1 and {MAX_CUSTOMERS:,} customers.", "out_of_range"
        )
    if isinstance(target, Session):
        return _load(target, customers=customers, seed=seed, as_of=as_of, progress=progress)
    engine = target.engine if isinstance(target, Database) else target
    with Session(engine.execution_options(**{WRITE_OPTION: True})) as session, session.begin():
        summary = _load(session, customers=customers, seed=seed, as_of=as_of, progress=progress)
    return summary


def is_loaded(session: Session) -> bool:
    """Whether a demo was loaded into this database before."""
    return session.scalar(select(Event.id).where(Event.type == DEMO_EVENT).limit(1)) is not None


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _staff() -> list[tuple[str, str, str, int | None]]:
    staff = []
    for name, role, team in USERS:
        first, last = _ascii(name).lower().split(" ", 1)
        staff.append((f"{first}.{last.replace(' ', '')}@example.com", name, role, team))
    return staff


def _refuse_collisions(session: Session, catalogue_skus: tuple[str, ...]) -> None:
    checks = (
        ("users", User.email, [email for email, *_ in _staff()]),
        ("products", Product.sku, list(catalogue_skus)),
        ("segments", Segment.name, [name for name, _, _ in marketing_module.SEGMENTS]),
    )
    for label, column, values in checks:
        taken = session.scalars(select(column).where(column.in_(values)).limit(5)).all()
        if taken:
            raise Conflict(
                f"The demo data would collide with existing {label}: {', '.join(taken)}.",
                code="demo_collision",
            )


def _load(
    session: Session, *, customers: int, seed: int, as_of: date, progress: Progress | None
) -> DemoSummary:
    started = time.perf_counter()

    def report(step: str, done: float) -> None:
        if progress is not None:
            progress(step, done)

    report("Checking the database", 0.0)
    if is_loaded(session):
        raise DemoAlreadyLoaded(
            "Demo data was already loaded into this database; it is loaded only once."
        )
    catalogue = build_catalogue()
    _refuse_collisions(session, catalogue.skus)

    timeline = Timeline(as_of)
    writer = BulkWriter(session.connection())
    try:
        with writer.fast_sqlite(), writer.deferred_indexes(BULK_TABLES):
            summary_users = _load_rows(
                session, writer, customers, seed, timeline, catalogue, report
            )
            report("Building indexes", 0.98)
    except IntegrityError as exc:
        raise Conflict(
            f"The demo data collides with records already in the database: {exc.orig}",
            code="demo_collision",
        ) from exc
    counts = {name: count for name, count in writer.counts.items() if count}
    _record_event(session, counts=counts, seed=seed, customers=customers, as_of=as_of)
    counts["event"] = counts.get("event", 0) + 1
    report("Done", 1.0)
    return DemoSummary(
        counts=counts,
        users=tuple(summary_users),
        seed=seed,
        customers=customers,
        as_of=as_of,
        seconds=round(time.perf_counter() - started, 3),
    )


def _record_event(
    session: Session, *, counts: dict[str, int], seed: int, customers: int, as_of: date
) -> None:
    from patron.events import service as events_service
    from patron.kit.ids import new_id
    from patron.security.permissions import Principal

    events_service.record(
        session,
        Principal.system(),
        type=DEMO_EVENT,
        entity="demo",
        entity_id=new_id(),
        data={"counts": counts, "seed": seed, "customers": customers, "as_of": as_of.isoformat()},
    )


@dataclass
class _Setup:
    """The records every other one refers to, as id strings."""

    team_ids: list[str]
    user_ids: list[str]
    stages: dict[str, tuple[str, int]]  # name -> (id, probability)
    product_ids: np.ndarray
    users: list[DemoUser]


def _write_setup(
    session: Session,
    writer: BulkWriter,
    catalogue: Catalogue,
    hashes: list[Future[str]],
    passwords: list[str],
    setup_us: int,
    ids: np.random.Generator,
) -> _Setup:
    """Teams, staff, pipeline stages and products; existing teams and stages are reused."""
    existing_teams = {
        name: team_id.hex for name, team_id in session.execute(select(Team.name, Team.id))
    }
    # Ids are drawn for every team and stage, used or not, so that the ids of everything
    # after them do not depend on what the database already held.
    all_team_ids = uuid7_hex(setup_us + np.arange(len(TEAMS)) * US_PER_MINUTE, ids)
    new = [i for i, (name, _) in enumerate(TEAMS) if name not in existing_teams]
    new_teams = [TEAMS[i] for i in new]
    fresh = all_team_ids[new]
    known = {**existing_teams, **{row[0]: str(i) for row, i in zip(new_teams, fresh, strict=True)}}
    team_ids = [known[name] for name, _ in TEAMS]
    stamp = datetime_text(np.full(len(new_teams), setup_us))
    writer.insert(
        Team.__table__,
        {
            "id": fresh,
            "name": [row[0] for row in new_teams],
            "description": [row[1] for row in new_teams],
            "created_at": stamp,
            "updated_at": stamp,
            "version": [1] * len(new_teams),
        },
    )

    staff = _staff()
    user_times = setup_us + US_PER_DAY + np.arange(len(staff)) * US_PER_MINUTE
    user_ids = [str(u) for u in uuid7_hex(user_times, ids)]
    stamp = datetime_text(user_times)
    writer.insert(
        User.__table__,
        {
            "id": user_ids,
            "email": [s[0] for s in staff],
            "name": [s[1] for s in staff],
            "role": [s[2] for s in staff],
            "team_id": [team_ids[s[3]] if s[3] is not None else None for s in staff],
            "password_hash": [future.result() for future in hashes],
            "is_active": [True] * len(staff),
            "created_at": stamp,
            "updated_at": stamp,
            "version": [1] * len(staff),
        },
    )
    users = [
        DemoUser(
            email=s[0],
            name=s[1],
            role=s[2],
            team=TEAMS[s[3]][0] if s[3] is not None else None,
            password=password,
        )
        for s, password in zip(staff, passwords, strict=True)
    ]

    stages = {
        name: (stage_id.hex, probability)
        for name, stage_id, probability in session.execute(
            select(PipelineStage.name, PipelineStage.id, PipelineStage.probability)
        )
    }
    all_stage_ids = uuid7_hex(setup_us + np.arange(len(PIPELINE_STAGES)) * US_PER_MINUTE, ids)
    wanted = [i for i, row in enumerate(PIPELINE_STAGES) if row[0] not in stages]
    missing = [PIPELINE_STAGES[i] for i in wanted]
    stage_ids = all_stage_ids[wanted]
    stamp = datetime_text(np.full(len(missing), setup_us))
    writer.insert(
        PipelineStage.__table__,
        {
            "id": stage_ids,
            "name": [m[0] for m in missing],
            "position": [m[1] for m in missing],
            "probability": [m[2] for m in missing],
            "is_won": [m[3] for m in missing],
            "is_lost": [m[4] for m in missing],
            "created_at": stamp,
            "updated_at": stamp,
            "version": [1] * len(missing),
        },
    )
    stages.update({m[0]: (str(i), m[2]) for m, i in zip(missing, stage_ids, strict=True)})

    product_times = setup_us + 2 * US_PER_DAY + np.arange(catalogue.size) * US_PER_MINUTE
    product_ids = uuid7_hex(product_times, ids)
    stamp = datetime_text(product_times)
    writer.insert(
        Product.__table__,
        {
            "id": product_ids,
            "sku": catalogue.skus,
            "name": catalogue.names,
            "category": [CATEGORY_NAMES[c] for c in catalogue.category],
            "description": [DESCRIPTIONS[CATEGORY_NAMES[c]] for c in catalogue.category],
            "price_minor": catalogue.price_minor,
            "currency": ["USD"] * catalogue.size,
            "is_active": [True] * catalogue.size,
            "created_at": stamp,
            "updated_at": stamp,
            "version": [1] * catalogue.size,
        },
    )
    return _Setup(team_ids, user_ids, stages, product_ids, users)


def _load_rows(
    session: Session,
    writer: BulkWriter,
    n_customers: int,
    seed: int,
    timeline: Timeline,
    catalogue: Catalogue,
    report: Callable[[str, float], None],
) -> list[DemoUser]:
    def stream(name: str) -> np.random.Generator:
        return np.random.default_rng([seed, STREAMS[name]])

    ids = stream("ids")
    staff = _staff()
    reps_by_team = [
        [u for u, s in enumerate(staff) if s[3] == t and s[2] == "sales"] for t in range(len(TEAMS))
    ]
    support_by_team = [
        [u for u, s in enumerate(staff) if s[3] == t and s[2] == "support"]
        for t in range(len(TEAMS))
    ]

    # Argon2 is slow on purpose: hash on other cores while the customers are planned.
    passwords = [generate_password() for _ in staff]
    with ThreadPoolExecutor(max_workers=max(1, min(4, (os.cpu_count() or 2)))) as pool:
        hashes = [pool.submit(hash_password, password) for password in passwords]
        report("Planning customers and orders", 0.01)
        plan, order_customer, order_times = customer_module.draw_customers(
            n_customers, timeline, stream("customers")
        )
        book = book_orders(plan, order_customer, order_times, timeline, stream("orders"))
        first_order = np.full(plan.size, np.iinfo(np.int64).max)
        last_order = np.zeros(plan.size, dtype=np.int64)
        np.minimum.at(first_order, book.customer, book.time_us)
        np.maximum.at(last_order, book.customer, book.time_us)
        rows = customer_module.customer_rows(
            plan,
            first_orders=first_order,
            last_orders=last_order,
            reps_by_team=reps_by_team,
            timeline=timeline,
            rng=stream("rows"),
        )
        report("Writing staff and products", 0.06)
        setup = _write_setup(
            session, writer, catalogue, hashes, passwords, timeline.start_us - 60 * US_PER_DAY, ids
        )
    user_ids, team_ids = setup.user_ids, setup.team_ids

    customer_ids = uuid7_hex(plan.created_us, ids)
    columns: dict[str, Any] = dict(rows.columns)
    columns.update(
        {
            "id": customer_ids,
            "company_id": [customer_ids[c] if c >= 0 else None for c in rows.company],
            "owner_id": [user_ids[o] for o in rows.owner],
            "team_id": [team_ids[t] for t in plan.team],
            "created_at": datetime_text(plan.created_us),
            "updated_at": datetime_text(rows.updated_us),
            "version": np.ones(plan.size, dtype=np.int64),
        }
    )
    report("Writing customers", 0.08)
    writer.insert(Customer.__table__, columns)
    del columns

    first_month = int(timeline.month_number(np.array([timeline.start_us]))[0])
    months = int(timeline.month_number(np.array([timeline.end_us - 1]))[0]) - first_month + 1
    revenue = np.zeros((len(staff), months), dtype=np.int64)
    baskets = BasketMaker(catalogue, timeline)
    written = 0
    chunks = order_chunks(
        book,
        plan,
        customer_ids,
        rows.owner,
        baskets,
        timeline,
        seed,
        STREAMS["lines"],
        setup.product_ids,
    )
    for chunk in prefetch(chunks):
        writer.insert(Order.__table__, chunk.orders)
        writer.insert(OrderLine.__table__, chunk.lines)
        np.add.at(
            revenue, (chunk.revenue_owner, chunk.revenue_month - first_month), chunk.revenue_minor
        )
        written += len(chunk.orders["id"])
        report("Writing orders", 0.12 + 0.6 * written / max(book.size, 1))

    report("Writing tickets", 0.72)
    tickets = engagement.make_tickets(
        plan,
        book,
        customer_ids=customer_ids,
        user_ids=user_ids,
        support_by_team=support_by_team,
        product_names=catalogue.names,
        devices=catalogue.device,
        country_names=[COUNTRY_NAMES[COUNTRIES[c].code] for c in plan.country],
        timeline=timeline,
        rng=stream("tickets"),
    )
    ticket_ids = uuid7_hex(tickets.opened_us, ids)
    writer.insert(Ticket.__table__, {"id": ticket_ids, **tickets.columns})
    report("Writing deals", 0.8)
    deals = engagement.make_deals(
        plan,
        customer_ids=customer_ids,
        owner=rows.owner,
        industries=rows.industry,
        user_ids=user_ids,
        stages=setup.stages,
        timeline=timeline,
        rng=stream("deals"),
    )
    deal_ids = uuid7_hex(deals.created_us, ids)
    writer.insert(Deal.__table__, {"id": deal_ids, **deals.columns})
    report("Writing activities", 0.84)
    activities = engagement.make_activities(
        plan,
        tickets,
        deals,
        customer_ids=customer_ids,
        ticket_ids=ticket_ids,
        deal_ids=deal_ids,
        owner=rows.owner,
        user_ids=user_ids,
        timeline=timeline,
        rng=stream("activities"),
    )
    activity_ids = uuid7_hex(_times_of(activities["occurred_at"]), ids)
    writer.insert(Activity.__table__, {"id": activity_ids, **activities})

    report("Writing sales targets", 0.93)
    reps = sorted(u for team in reps_by_team for u in team)
    writer.insert(
        SalesTarget.__table__,
        marketing_module.sales_targets(
            revenue,
            first_month,
            reps=reps,
            reps_by_team=reps_by_team,
            user_ids=user_ids,
            team_ids=team_ids,
            timeline=timeline,
            rng=stream("targets"),
        ),
    )

    report("Writing segments and campaigns", 0.96)
    coffee = CATEGORY_NAMES.index("Coffee & Espresso")
    audience = marketing_module.Audience(
        vip=rows.vip,
        newsletter=rows.newsletter,
        company=plan.is_company,
        coffee=(plan.interest == coffee) & (plan.order_counts > 0),
        lapsed=(plan.order_counts >= 3) & (last_order < timeline.end_us - 270 * US_PER_DAY),
        created_us=plan.created_us,
    )
    result = marketing_module.marketing(
        audience, customer_ids=customer_ids, timeline=timeline, rng=stream("marketing")
    )
    writer.insert(Segment.__table__, result.segments)
    writer.insert(SegmentMember.__table__, result.segment_members)
    writer.insert(Campaign.__table__, result.campaigns)
    writer.insert(CampaignMember.__table__, result.campaign_members)
    return setup.users


def _times_of(text: Any) -> np.ndarray:
    stamps = np.asarray(text).astype("datetime64[us]")
    return stamps.astype(np.int64)
