"""Service tickets, sales deals and the activities around them.

Tickets follow orders (a few days after one of the customer's purchases) and churners file more
of them, about worse problems, and wait longer for a fix, so satisfaction (1-5, from about half
of the customers asked) falls with resolution time and is lower for those who later leave.
Tickets still in progress at ``as_of`` are open or pending. Deals run from lead to won or lost
over weeks; the ones not closed by ``as_of`` sit in the open stages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patron.demo.customers import CHAMPION, CHURNED_TYPES, LEAD, LOYAL, PROSPECT, CustomerPlan
from patron.demo.orders import OrderBook
from patron.demo.texts import (
    DEAL_OFFERS,
    DEAL_TOUCHES,
    LEAD_TOUCHES,
    LOST_REASONS,
    PRODUCT_QUESTIONS,
    TECHNICAL,
    TICKET_REPLIES,
    TICKET_REPLY_BODIES,
    TICKET_TOPICS,
    TOUCHES,
    WON_REASONS,
)
from patron.demo.timeline import Timeline
from patron.demo.vectors import (
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_MINUTE,
    choice,
    date_text,
    datetime_text,
    offsets,
)

PRIORITIES = ("low", "normal", "high", "urgent")
FIRST_RESPONSE_MINUTES = (480.0, 180.0, 60.0, 20.0)  # median by priority
CHANNELS = ("email", "chat", "phone", "web", "social", "in_person")
CHANNEL_WEIGHTS = (45, 25, 15, 10, 4, 1)
OPEN_STAGES = ("Lead", "Qualified", "Proposal", "Negotiation")


@dataclass
class Tickets:
    columns: dict[str, object]
    customer: np.ndarray
    opened_us: np.ndarray
    end_us: np.ndarray  # resolution, or as_of for open tickets
    assignee: np.ndarray  # user index, -1 when unassigned
    subjects: list[str]


def make_tickets(
    plan: CustomerPlan,
    book: OrderBook,
    *,
    customer_ids: np.ndarray,
    user_ids: list[str],
    support_by_team: list[list[int]],
    product_names: tuple[str, ...],
    devices: np.ndarray,
    country_names: list[str],
    timeline: Timeline,
    rng: np.random.Generator,
) -> Tickets:
    churner = np.isin(plan.kind_type, CHURNED_TYPES)
    counts = plan.order_counts
    rate = 0.05 + 0.06 * counts**0.8
    rate = np.where(churner, rate * 2.5, rate)
    rate = np.where(counts == 0, 0.08, rate)
    per_customer = rng.poisson(rate)
    customer = np.repeat(np.arange(plan.size), per_customer)
    n = len(customer)
    bad = churner[customer]

    # The order behind the ticket: churners complain about their last few orders.
    by_customer = np.argsort(book.customer, kind="stable")
    start = offsets(np.bincount(book.customer, minlength=plan.size))
    k = counts[customer]
    has_order = (k > 0) & (rng.random(n) < 0.9)
    back = np.floor(rng.random(n) * np.where(bad, np.minimum(k, 3), k)).astype(np.int64)
    pick = np.where(bad, k - 1 - back, back).clip(0)
    order = np.where(has_order, by_customer[np.minimum(start[customer] + pick, book.size - 1)], -1)
    after_order = rng.lognormal(np.log(3 * US_PER_DAY), 0.9, n).astype(np.int64)
    created = plan.created_us[customer]
    anytime = timeline.sample_times(
        timeline.day_of(created).clip(0), np.full(n, timeline.days), rng
    )
    opened = np.where(has_order, book.time_us[np.maximum(order, 0)] + after_order, anytime)
    latest = timeline.end_us - rng.integers(US_PER_HOUR, 72 * US_PER_HOUR, n)
    opened = np.maximum(np.minimum(opened, latest), created + US_PER_MINUTE)
    opened = np.maximum(np.minimum(opened, timeline.end_us - US_PER_MINUTE), created)

    weights = np.array([[t[1] for t in TICKET_TOPICS], [t[2] for t in TICKET_TOPICS]])
    topic = np.where(bad, choice(weights[1], n, rng), choice(weights[0], n, rng))
    topic = np.where(has_order, topic, len(TICKET_TOPICS) - 1)  # presale questions
    priority = np.where(bad, choice((10, 40, 35, 15), n, rng), choice((25, 50, 20, 5), n, rng))
    channel = choice(CHANNEL_WEIGHTS, n, rng)
    slow = np.where(bad, 2.0, 1.0)
    first_minutes = rng.lognormal(np.log(np.asarray(FIRST_RESPONSE_MINUTES)[priority]), 0.9)
    first = opened + (first_minutes * slow * US_PER_MINUTE).astype(np.int64) + US_PER_MINUTE
    fix_hours = np.asarray([t[3] for t in TICKET_TOPICS])[topic]
    # Some wait on parts, an escalation or the customer: the queue always has a backlog.
    recent = opened > timeline.end_us - 21 * US_PER_DAY
    stuck = np.where(rng.random(n) < np.where(recent, 0.3, 0.04), 8.0, 1.0)
    fix = rng.lognormal(np.log(fix_hours), 1.0) * slow * stuck * US_PER_HOUR
    resolve = first + fix.astype(np.int64)
    end = timeline.end_us
    answered = first < end
    resolved = resolve < end
    hours = (resolve - opened) / US_PER_HOUR
    score = 5.1 - 0.35 * np.log2(np.maximum(hours, 1.0) / 8.0) - 0.9 * bad
    score = np.clip(np.round(score + rng.normal(0, 0.7, n)), 1, 5).astype(np.int64)
    rated = resolved & (rng.random(n) < 0.55)
    status = np.where(
        resolved,
        np.where(resolve < end - 7 * US_PER_DAY, "closed", "resolved"),
        np.where(answered & (rng.random(n) < 0.6), "pending", "open"),
    )

    team = plan.team[customer]
    agents = [support_by_team[t] for t in range(len(support_by_team))]
    assignee = np.array(
        [
            agents[t][j % len(agents[t])]
            for t, j in zip(team, rng.integers(0, 1 << 30, n), strict=True)
        ],
        dtype=np.int64,
    )
    assignee[~answered & (rng.random(n) < 0.3)] = -1

    # What the ticket is about: the priciest product of the order, or any product for presales.
    product = np.where(order >= 0, book.main_product[np.maximum(order, 0)],
                       rng.integers(0, len(product_names), n))  # fmt: skip
    numbers = book.number(np.maximum(order, 0))
    subjects: list[str] = []
    descriptions: list[str] = []
    picks = rng.integers(0, 1 << 30, size=n)
    for i in range(n):
        pairs = TICKET_TOPICS[topic[i]][4]
        if topic[i] == TECHNICAL and not devices[product[i]]:
            pairs = PRODUCT_QUESTIONS
        subject, description = pairs[picks[i] % len(pairs)]
        fields = {
            "order": numbers[i],
            "product": product_names[product[i]],
            "country": country_names[customer[i]],
        }
        subjects.append(subject.format(**fields))
        descriptions.append(description.format(**fields))

    by_time = np.argsort(opened, kind="stable")
    last_change = np.where(resolved, resolve, np.where(answered, first, opened))
    columns = {
        "customer_id": customer_ids[customer],
        "subject": subjects,
        "description": descriptions,
        "status": status,
        "priority": np.asarray(PRIORITIES)[priority],
        "channel": np.asarray(CHANNELS)[channel],
        "assignee_id": [user_ids[a] if a >= 0 else None for a in assignee],
        "opened_at": datetime_text(opened),
        "first_response_at": _nullable(datetime_text(first), answered),
        "resolved_at": _nullable(datetime_text(resolve), resolved),
        "satisfaction_score": [int(s) if r else None for s, r in zip(score, rated, strict=True)],
        "created_at": datetime_text(opened),
        "updated_at": datetime_text(last_change),
        "version": np.ones(n, dtype=np.int64),
    }
    columns = {name: _take(values, by_time) for name, values in columns.items()}
    return Tickets(
        columns=columns,
        customer=customer[by_time],
        opened_us=opened[by_time],
        end_us=np.where(resolved, resolve, end - 1)[by_time],
        assignee=assignee[by_time],
        subjects=[subjects[i] for i in by_time],
    )


def _nullable(text: np.ndarray, present: np.ndarray) -> list[str | None]:
    return [t if p else None for t, p in zip(text.tolist(), present.tolist(), strict=True)]


def _take(values: object, index: np.ndarray) -> object:
    if isinstance(values, np.ndarray):
        return values[index]
    return [values[i] for i in index]  # type: ignore[index]


@dataclass
class Deals:
    columns: dict[str, object]
    customer: np.ndarray
    created_us: np.ndarray
    end_us: np.ndarray
    owner: np.ndarray


def make_deals(
    plan: CustomerPlan,
    *,
    customer_ids: np.ndarray,
    owner: np.ndarray,
    industries: list[str | None],
    user_ids: list[str],
    stages: dict[str, tuple[str, int]],
    timeline: Timeline,
    rng: np.random.Generator,
) -> Deals:
    """``stages`` maps the six stage names to (id, probability).

    Past deals (closed, won or lost) are spread over each account's history; the current
    pipeline is one open deal for about a third of the active accounts, opened in the last
    five months, placed in the funnel by how far along it is.
    """
    kind = plan.kind_type
    early = (kind == LEAD) | (kind == PROSPECT)
    active = ~np.isin(kind, CHURNED_TYPES)
    person = ~plan.is_company
    past_rate = np.where(plan.is_company, np.where(early, 0.6, 1.4), 0.0)
    past_rate = np.where(person & (kind == CHAMPION), 0.04, past_rate)
    current_rate = np.where(plan.is_company & active, 0.35, 0.0)
    current_rate = np.where(person & ((kind == CHAMPION) | early), 0.03, current_rate)
    past = np.repeat(np.arange(plan.size), rng.poisson(past_rate))
    current = np.flatnonzero(rng.random(plan.size) < current_rate)
    customer = np.concatenate([past, current])
    n, n_past = len(customer), len(past)
    is_current = np.arange(n) >= n_past
    end = timeline.end_us
    earliest = timeline.day_of(plan.created_us[customer]).clip(0, timeline.days - 1)
    latest = np.where(is_current, timeline.days, timeline.days - 45)
    earliest = np.where(is_current, np.maximum(earliest, timeline.days - 150), earliest)
    days = timeline.sample_days(earliest, np.maximum(latest, earliest + 1), rng)
    created = timeline.day_us(days) + timeline.time_of_day(n, rng, office_hours=True)
    created = np.minimum(np.maximum(created, plan.created_us[customer] + US_PER_HOUR), end - 1)
    cycle = (np.maximum(rng.lognormal(np.log(40), 0.6, n), 7) * US_PER_DAY).astype(np.int64)
    close = np.where(is_current, np.maximum(created + cycle, end + US_PER_DAY), created + cycle)
    close = np.where(~is_current, np.minimum(close, end - US_PER_HOUR), close)
    closed = ~is_current
    good = np.isin(kind[customer], (CHAMPION, LOYAL))
    win_rate = np.where(good, 0.45, np.where(early[customer], 0.1, 0.25))
    won = closed & (rng.random(n) < win_rate)
    lost = closed & ~won
    # The funnel: more deals early on than late, each stage holding some.
    progress = (end - created) / np.maximum(close - created, 1)
    rank = np.argsort(np.argsort(progress[is_current], kind="stable"), kind="stable")
    share = (rank + 0.5) / max(int(is_current.sum()), 1)
    open_stage = np.zeros(n, dtype=np.int64)
    open_stage[is_current] = np.searchsorted([0.35, 0.62, 0.83], share, side="right")
    stage_names = np.where(won, "Won", np.where(lost, "Lost", np.asarray(OPEN_STAGES)[open_stage]))
    slip = rng.integers(-10, 15, n) * US_PER_DAY
    expected = np.where(closed, close - slip, np.maximum(close + slip, end))
    median = np.where(plan.is_company[customer], 12_000.0, 2_500.0) * plan.spend[customer]
    amount = np.round(rng.lognormal(np.log(median), 0.7) / 50) * 5000

    titles: list[str] = []
    seats = rng.integers(3, 40, n)
    picks = rng.integers(0, 1 << 30, size=(n, 2))
    for i in range(n):
        offers = DEAL_OFFERS[industries[customer[i]] or "person"]
        titles.append(offers[picks[i, 0] % len(offers)].format(k=seats[i]))
    stage_id = [stages[s][0] for s in stage_names]
    probability = [stages[s][1] for s in stage_names]
    won_reason = [
        WON_REASONS[p % len(WON_REASONS)] if w else None
        for p, w in zip(picks[:, 1], won, strict=True)
    ]
    lost_reason = [
        LOST_REASONS[p % len(LOST_REASONS)] if lo else None
        for p, lo in zip(picks[:, 1], lost, strict=True)
    ]
    updated = np.where(closed, close, np.minimum(created + cycle // 3, end - 1))
    updated = np.maximum(updated, created)
    deal_owner = owner[customer]
    by_time = np.argsort(created, kind="stable")
    columns = {
        "customer_id": customer_ids[customer],
        "title": titles,
        "amount_minor": amount.astype(np.int64),
        "currency": ["USD"] * n,
        "stage_id": stage_id,
        "probability": probability,
        "expected_close_on": date_text(expected),
        "closed_at": _nullable(datetime_text(close), closed),
        "owner_id": [user_ids[o] for o in deal_owner],
        "won_reason": won_reason,
        "lost_reason": lost_reason,
        "created_at": datetime_text(created),
        "updated_at": datetime_text(updated),
        "version": np.ones(n, dtype=np.int64),
    }
    columns = {name: _take(values, by_time) for name, values in columns.items()}
    return Deals(
        columns=columns,
        customer=customer[by_time],
        created_us=created[by_time],
        end_us=np.where(closed, close, end - 1)[by_time],
        owner=deal_owner[by_time],
    )


def make_activities(
    plan: CustomerPlan,
    tickets: Tickets,
    deals: Deals,
    *,
    customer_ids: np.ndarray,
    ticket_ids: np.ndarray,
    deal_ids: np.ndarray,
    owner: np.ndarray,
    user_ids: list[str],
    timeline: Timeline,
    rng: np.random.Generator,
) -> dict[str, object]:
    """Calls, emails, meetings, notes and texts: about tickets, about deals, and in general."""
    parts: list[dict[str, object]] = []

    # Replies on about half the answered tickets, by the agent, while the ticket was open.
    with_reply = (tickets.assignee >= 0) & (rng.random(len(tickets.customer)) < 0.5)
    t = np.repeat(np.flatnonzero(with_reply), rng.integers(1, 3, int(with_reply.sum())))
    kinds = rng.integers(0, len(TICKET_REPLIES), len(t))
    span = np.maximum(tickets.end_us[t] - tickets.opened_us[t], US_PER_MINUTE)
    parts.append(
        {
            "customer": tickets.customer[t],
            "when": tickets.opened_us[t] + (rng.random(len(t)) * span).astype(np.int64),
            "user": tickets.assignee[t],
            "type": [TICKET_REPLIES[k][0] for k in kinds],
            "direction": [TICKET_REPLIES[k][1] for k in kinds],
            "subject": [
                TICKET_REPLIES[k][2].format(subject=tickets.subjects[i])[:300]
                for k, i in zip(kinds, t, strict=True)
            ],
            "body": [
                TICKET_REPLY_BODIES[k] for k in rng.integers(0, len(TICKET_REPLY_BODIES), len(t))
            ],
            "deal": np.full(len(t), -1),
            "ticket": t,
        }
    )

    # Two to six touches per deal, by its owner, between opening and closing.
    d = np.repeat(np.arange(len(deals.customer)), rng.integers(2, 7, len(deals.customer)))
    span = np.maximum(deals.end_us[d] - deals.created_us[d], US_PER_HOUR)
    parts.append(
        _touches(
            DEAL_TOUCHES,
            deals.customer[d],
            deals.created_us[d] + (rng.random(len(d)) * span).astype(np.int64),
            deals.owner[d],
            rng,
            deal=d,
        )
    )

    # Relationship touches by the owner: companies and good customers get most attention,
    # and lapsed customers get win-back attempts after they stopped buying.
    kind = plan.kind_type
    rate = np.where(plan.is_company, 4.0, np.where(np.isin(kind, (CHAMPION, LOYAL)), 1.2, 0.4))
    early = (kind == LEAD) | (kind == PROSPECT)
    rate = np.where(early, 1.5, rate)
    c = np.repeat(np.arange(plan.size), rng.poisson(rate))
    first_day = timeline.day_of(plan.created_us[c]).clip(0, timeline.days - 1)
    days = timeline.sample_days(first_day, np.full(len(c), timeline.days), rng)
    when = timeline.day_us(days) + timeline.time_of_day(len(c), rng, office_hours=True)
    when = np.maximum(when, plan.created_us[c] + US_PER_MINUTE)
    lead_rows = early[c]
    general = _touches(TOUCHES, c[~lead_rows], when[~lead_rows], owner[c[~lead_rows]], rng)
    leads = _touches(LEAD_TOUCHES, c[lead_rows], when[lead_rows], owner[c[lead_rows]], rng)
    parts.extend([general, leads])

    merged = {key: _concat([part[key] for part in parts]) for key in parts[0]}
    when_all = np.minimum(np.asarray(merged["when"], dtype=np.int64), timeline.end_us - 1)
    by_time = np.argsort(when_all, kind="stable")
    merged = {key: _take(values, by_time) for key, values in merged.items()}
    when_all = when_all[by_time]
    users = np.asarray(merged["user"], dtype=np.int64)
    deal_index = np.asarray(merged["deal"], dtype=np.int64)
    ticket_index = np.asarray(merged["ticket"], dtype=np.int64)
    text = datetime_text(when_all)
    n = len(when_all)
    return {
        "customer_id": customer_ids[np.asarray(merged["customer"], dtype=np.int64)],
        "type": merged["type"],
        "direction": merged["direction"],
        "subject": merged["subject"],
        "body": merged["body"],
        "occurred_at": text,
        "user_id": [user_ids[u] if u >= 0 else None for u in users],
        "deal_id": [deal_ids[k] if k >= 0 else None for k in deal_index],
        "ticket_id": [ticket_ids[k] if k >= 0 else None for k in ticket_index],
        "created_at": text,
        "updated_at": text,
        "version": np.ones(n, dtype=np.int64),
    }


def _touches(
    options: tuple[tuple[str, str, str, str], ...],
    customer: np.ndarray,
    when: np.ndarray,
    user: np.ndarray,
    rng: np.random.Generator,
    *,
    deal: np.ndarray | None = None,
) -> dict[str, object]:
    n = len(customer)
    k = rng.integers(0, len(options), n)
    return {
        "customer": customer,
        "when": when,
        "user": user,
        "type": [options[i][0] for i in k],
        "direction": [options[i][1] for i in k],
        "subject": [options[i][2] for i in k],
        "body": [options[i][3] for i in k],
        "deal": deal if deal is not None else np.full(n, -1),
        "ticket": np.full(n, -1),
    }


def _concat(pieces: list[object]) -> object:
    if all(isinstance(p, np.ndarray) for p in pieces):
        return np.concatenate(pieces)  # type: ignore[arg-type]
    out: list[object] = []
    for p in pieces:
        out.extend(p.tolist() if isinstance(p, np.ndarray) else p)  # type: ignore[attr-defined]
    return out
