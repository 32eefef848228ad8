"""The plan and the marketing: sales targets, segments with members, campaigns with responses.

Targets follow what each rep's book of customers actually bought (a three-month average, raised
by 0 to 20 %), so some months are hit and some missed; team targets are per quarter. Segments are
lists a marketer built by hand (``source = "manual"``) from visible facts: tags, kind, interests,
buying history. Campaigns are placed relative to ``as_of``: finished ones in the past, one
running, one scheduled, one still a draft.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from patron.demo.timeline import Timeline, black_friday
from patron.demo.vectors import US_PER_DAY, US_PER_HOUR, choice, datetime_text, to_us, uuid7_hex


def _month_start(month_number: int) -> date:
    return date(1970 + month_number // 12, month_number % 12 + 1, 1)


def _month_end(month_number: int) -> date:
    return _month_start(month_number + 1) - timedelta(days=1)


def _created_before(period_start: date, timeline: Timeline) -> int:
    planned = to_us(period_start) - 20 * US_PER_DAY + 9 * US_PER_HOUR
    return min(planned, timeline.end_us - US_PER_DAY)


def sales_targets(
    revenue: np.ndarray,
    first_month: int,
    *,
    reps: list[int],
    reps_by_team: list[list[int]],
    user_ids: list[str],
    team_ids: list[str],
    timeline: Timeline,
    rng: np.random.Generator,
) -> dict[str, object]:
    """``revenue[user, month - first_month]`` is what each user's customers bought that month."""
    as_of_month = int(timeline.month_number(np.array([timeline.end_us - 1]))[0])
    last_month = as_of_month + 3
    months = np.arange(first_month, last_month + 1)
    rows: list[tuple[str | None, str | None, date, date, int, int]] = []
    monthly: dict[int, dict[int, int]] = {}
    for user in reps:
        history = revenue[user, : as_of_month - first_month + 1].astype(np.float64)
        smooth = np.convolve(np.r_[history[:1], history, history[-1:]], np.ones(3) / 3, "valid")
        for m in months:
            offset = m - first_month
            base = smooth[offset] if m <= as_of_month else smooth[max(offset - 12, 0)] * 1.15
            amount = max(round(base * rng.uniform(1.0, 1.2) / 100_000) * 100_000, 100_000)
            monthly.setdefault(user, {})[int(m)] = amount
            start = _month_start(int(m))
            created = _created_before(start, timeline)
            rows.append((user_ids[user], None, start, _month_end(int(m)), amount, created))
    for team, members in enumerate(reps_by_team):
        for q in range(first_month - first_month % 3, last_month + 1, 3):
            amount = sum(monthly[u].get(m, 0) for u in members for m in range(q, q + 3))
            amount = max(round(amount * 1.05 / 500_000) * 500_000, 500_000)
            start = _month_start(q)
            created = _created_before(start, timeline)
            rows.append((None, team_ids[team], start, _month_end(q + 2), amount, created))
    rows.sort(key=lambda row: (row[5], row[0] or "", row[1] or ""))
    created_us = np.array([row[5] for row in rows], dtype=np.int64)
    created_text = datetime_text(created_us)
    return {
        "id": uuid7_hex(created_us, rng),
        "user_id": [row[0] for row in rows],
        "team_id": [row[1] for row in rows],
        "period_start": [row[2].isoformat() for row in rows],
        "period_end": [row[3].isoformat() for row in rows],
        "amount_minor": [row[4] for row in rows],
        "currency": ["USD"] * len(rows),
        "created_at": created_text,
        "updated_at": created_text,
        "version": [1] * len(rows),
    }


@dataclass
class Audience:
    """Facts a marketer can see about each customer, as boolean arrays."""

    vip: np.ndarray
    newsletter: np.ndarray
    company: np.ndarray
    coffee: np.ndarray
    lapsed: np.ndarray
    created_us: np.ndarray


SEGMENTS: tuple[tuple[str, str, str], ...] = (
    ("VIP customers", "vip", "Customers tagged VIP by their account managers."),
    ("Newsletter subscribers", "newsletter", "Everyone who opted in to the newsletter."),
    ("B2B accounts", "company", "Company accounts."),
    ("Coffee enthusiasts", "coffee", "Customers who mostly buy coffee and espresso gear."),
    (
        "Lapsed customers",
        "lapsed",
        "Three or more orders, but none in the last nine months: the win-back list.",
    ),
)


@dataclass
class Marketing:
    segments: dict[str, object]
    segment_members: dict[str, object]
    campaigns: dict[str, object]
    campaign_members: dict[str, object]


def _campaign_plan(as_of: date) -> list[tuple[str, str, str, str | None, date, date, int, float]]:
    """(name, channel, status, segment, starts, ends, budget in whole units, response rate)."""
    year = as_of.year
    bf_year = year if as_of >= black_friday(year) + timedelta(days=4) else year - 1
    friday = black_friday(bf_year)
    spring = year if as_of >= date(year, 3, 31) else year - 1
    summer = year if as_of >= date(year, 6, 30) else year - 1
    return [
        (f"Black Friday {bf_year}", "email", "completed", "Newsletter subscribers",
         friday - timedelta(days=7), friday + timedelta(days=3), 15_000, 0.45),
        (f"Spring Coffee Week {spring}", "email", "completed", "Coffee enthusiasts",
         date(spring, 3, 16), date(spring, 3, 22), 4_000, 0.4),
        (f"Summer Outdoor Sale {summer}", "social", "completed", None,
         date(summer, 6, 1), date(summer, 6, 30), 8_000, 0.3),
        ("B2B Office Coffee Roadshow", "event", "completed", "B2B accounts",
         as_of - timedelta(days=160), as_of - timedelta(days=150), 12_000, 0.25),
        ("Win-back: we miss you", "email", "running", "Lapsed customers",
         as_of - timedelta(days=30), as_of + timedelta(days=30), 5_000, 0.2),
        (f"VIP Early Access {year}", "email", "scheduled", "VIP customers",
         as_of + timedelta(days=15), as_of + timedelta(days=30), 3_000, 0.0),
        (f"Holiday Gift Guide {year}", "email", "draft", None,
         as_of + timedelta(days=20), as_of + timedelta(days=55), 6_000, 0.0),
    ]  # fmt: skip


RESPONSES = ("opened", "clicked", "converted", "unsubscribed")
RESPONSE_SHARES = (60, 25, 10, 5)


def marketing(
    audience: Audience,
    *,
    customer_ids: np.ndarray,
    timeline: Timeline,
    rng: np.random.Generator,
) -> Marketing:
    plan = _campaign_plan(timeline.as_of)
    first_campaign = min(to_us(row[4]) for row in plan)
    segment_created = max(first_campaign - 30 * US_PER_DAY, timeline.start_us)
    segment_ids = uuid7_hex(np.full(len(SEGMENTS), segment_created) + np.arange(len(SEGMENTS)), rng)
    segment_index = {name: i for i, (name, _, _) in enumerate(SEGMENTS)}
    seg_text = datetime_text(np.full(len(SEGMENTS), segment_created))
    segments = {
        "id": segment_ids,
        "name": [name for name, _, _ in SEGMENTS],
        "description": [description for _, _, description in SEGMENTS],
        "rules": ["{}"] * len(SEGMENTS),
        "source": ["manual"] * len(SEGMENTS),
        "created_at": seg_text,
        "updated_at": seg_text,
        "version": [1] * len(SEGMENTS),
    }
    member_segment: list[np.ndarray] = []
    member_customer: list[np.ndarray] = []
    member_added: list[np.ndarray] = []
    for i, (_, attribute, _) in enumerate(SEGMENTS):
        chosen = np.flatnonzero(getattr(audience, attribute))
        added = np.maximum(audience.created_us[chosen], segment_created) + rng.integers(
            US_PER_HOUR, 30 * US_PER_DAY, len(chosen)
        )
        member_segment.append(np.full(len(chosen), i))
        member_customer.append(chosen)
        member_added.append(np.minimum(added, timeline.end_us - 1))
    seg_of = np.concatenate(member_segment)
    customer_of = np.concatenate(member_customer)
    added = np.concatenate(member_added)
    order = np.lexsort((customer_of, added))
    seg_of, customer_of, added = seg_of[order], customer_of[order], added[order]
    added_text = datetime_text(added)
    segment_members = {
        "id": uuid7_hex(added, rng),
        "segment_id": segment_ids[seg_of],
        "customer_id": customer_ids[customer_of],
        "added_at": added_text,
        "created_at": added_text,
        "updated_at": added_text,
        "version": np.ones(len(added), dtype=np.int64),
    }

    campaign_created = np.array(
        [min(to_us(row[4]) - 21 * US_PER_DAY, timeline.end_us - US_PER_DAY) for row in plan]
    ) + np.arange(len(plan))
    campaign_ids = uuid7_hex(campaign_created, rng)
    campaign_text = datetime_text(campaign_created)
    campaigns = {
        "id": campaign_ids,
        "name": [row[0] for row in plan],
        "description": [_describe(row[0], row[3]) for row in plan],
        "channel": [row[1] for row in plan],
        "status": [row[2] for row in plan],
        "segment_id": [segment_ids[segment_index[row[3]]] if row[3] else None for row in plan],
        "starts_on": [row[4].isoformat() for row in plan],
        "ends_on": [row[5].isoformat() for row in plan],
        "budget_minor": [row[6] * 100 for row in plan],
        "currency": ["USD"] * len(plan),
        "created_at": campaign_text,
        "updated_at": campaign_text,
        "version": [1] * len(plan),
    }

    pieces: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for c, (_, _, status, segment, starts, _ends, _, response) in enumerate(plan):
        if status == "draft":
            continue
        start_us = to_us(starts)
        chosen_by = campaign_created[c]  # the audience is picked when the campaign is set up
        if segment is None:
            pool = np.flatnonzero(audience.created_us < chosen_by)
            pool = pool[rng.random(len(pool)) < 0.04]
        else:
            in_segment = customer_of[seg_of == segment_index[segment]]
            pool = np.sort(in_segment[audience.created_us[in_segment] < chosen_by])
        n = len(pool)
        u = rng.random(n)
        responded = u < response
        kind = choice(RESPONSE_SHARES, n, rng)
        bounced = ~responded & (rng.random(n) < 0.03)
        state = np.where(
            responded, np.asarray(RESPONSES)[kind], np.where(bounced, "bounced", "sent")
        )
        if status == "scheduled":
            state = np.full(n, "targeted")
            responded = np.zeros(n, dtype=bool)
        at = start_us + rng.lognormal(np.log(20 * US_PER_HOUR), 1.0, n).astype(np.int64)
        responded &= at < timeline.end_us
        state = np.where(~responded & np.isin(state, RESPONSES), "sent", state)
        pieces.append((c, pool, state, responded, at))

    rows_campaign = np.concatenate([np.full(len(p[1]), p[0]) for p in pieces])
    rows_customer = np.concatenate([p[1] for p in pieces])
    rows_state = np.concatenate([p[2] for p in pieces])
    rows_responded = np.concatenate([p[3] for p in pieces])
    rows_at = np.concatenate([p[4] for p in pieces])
    created = campaign_created[rows_campaign] + rng.integers(0, US_PER_HOUR, len(rows_campaign))
    order = np.lexsort((rows_customer, created))
    rows_campaign, rows_customer, rows_state = (
        rows_campaign[order],
        rows_customer[order],
        rows_state[order],
    )
    rows_responded, rows_at, created = rows_responded[order], rows_at[order], created[order]
    created_text = datetime_text(created)
    at_text = datetime_text(np.minimum(rows_at, timeline.end_us - 1))
    campaign_members = {
        "id": uuid7_hex(created, rng),
        "campaign_id": campaign_ids[rows_campaign],
        "customer_id": customer_ids[rows_customer],
        "status": rows_state,
        "responded_at": [
            t if r else None for t, r in zip(at_text.tolist(), rows_responded, strict=True)
        ],
        "created_at": created_text,
        "updated_at": [
            t if r else c
            for t, r, c in zip(at_text.tolist(), rows_responded, created_text.tolist(), strict=True)
        ],
        "version": np.ones(len(created), dtype=np.int64),
    }
    return Marketing(segments, segment_members, campaigns, campaign_members)


def _describe(name: str, segment: str | None) -> str:
    audience = f"the {segment} segment" if segment else "a sample of our customers"
    return f"{name}: sent to {audience}."
