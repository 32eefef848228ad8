"""Who the customers are: the behaviour behind each one, and the record the CRM keeps.

Every customer gets a hidden *type* that drives how often and how much they buy and when they
stop: champions buy often and a lot up to today; loyal customers regularly; occasional ones a
couple of times a year; new ones only recently; at-risk and lapsed ones bought well and then
stopped (they churned); one-time buyers once; leads and prospects never. The type is never
stored: RFM segmentation and churn models are meant to find these groups in the orders.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np

from patron.demo.catalog import CATEGORY_NAMES
from patron.demo.reference import (
    COMPANY_KINDS,
    COMPANY_WORDS,
    COUNTRIES,
    EMAIL_DOMAINS,
    SOURCES,
)
from patron.demo.timeline import Timeline
from patron.demo.vectors import (
    US_PER_DAY,
    US_PER_MINUTE,
    choice,
    cumulative,
    fill_pattern,
    grouped_choice,
)

TYPES = (
    "champion", "loyal", "occasional", "new", "at_risk", "lapsed", "one_time", "lead", "prospect"
)  # fmt: skip
CHAMPION, LOYAL, OCCASIONAL, NEW, AT_RISK, LAPSED, ONE_TIME, LEAD, PROSPECT = range(len(TYPES))
CHURNED_TYPES = (AT_RISK, LAPSED)

PERSON_SHARE = (6, 14, 22, 8, 9, 11, 20, 6, 4)
COMPANY_SHARE = (15, 30, 20, 5, 10, 10, 5, 3, 2)
ORDERS_PER_YEAR = (7.0, 2.8, 0.9, 3.6, 3.9, 2.0, 0.0, 0.0, 0.0)
MIN_ORDERS = (8, 3, 2, 1, 3, 2, 1, 0, 0)
MAX_ORDERS = 90
COMPANY_SHARE_OF_CUSTOMERS = 0.07
EMPLOYEE_SHARE = 0.15  # people who work at one of the companies

LANGUAGES = {
    "US": "en", "CA": "en", "MX": "es", "GB": "en", "DE": "de", "FR": "fr", "ES": "es",
    "IT": "it", "NL": "nl", "SE": "sv", "AU": "en", "NZ": "en", "JP": "ja", "SG": "en", "IN": "en",
}  # fmt: skip
INTEREST_TAGS = (
    "photography", "coffee-lover", "home-chef", "audiophile", "tech", "home-office", "gamer",
    "smart-home", "fitness", "outdoors",
)  # fmt: skip
PERSON_NOTES = (
    "Prefers delivery after 5 pm.",
    "Asked to be contacted by email only.",
    "Gift-wraps most holiday orders.",
    "Left a glowing product review; candidate for the referral programme.",
    "Moved recently; double-check the shipping address.",
    "Interested in trade-in offers.",
)


@dataclass
class CustomerPlan:
    """Per-customer arrays, in the order the customers are inserted (by creation time)."""

    is_company: np.ndarray
    kind_type: np.ndarray
    country: np.ndarray
    team: np.ndarray
    interest: np.ndarray  # preferred category
    spend: np.ndarray  # basket-size factor
    created_us: np.ndarray
    order_counts: np.ndarray

    @property
    def size(self) -> int:
        return len(self.kind_type)


def draw_customers(
    n: int, timeline: Timeline, rng: np.random.Generator
) -> tuple[CustomerPlan, np.ndarray, np.ndarray]:
    """The customers, and their orders' (customer, time): ``created_us`` precedes every order."""
    days = timeline.days
    is_company = rng.random(n) < COMPANY_SHARE_OF_CUSTOMERS
    kind_type = np.where(
        is_company, choice(COMPANY_SHARE, n, rng), choice(PERSON_SHARE, n, rng)
    ).astype(np.int64)
    country = choice([c.weight for c in COUNTRIES], n, rng)
    team = np.array([c.team for c in COUNTRIES])[country]
    interest = rng.integers(0, len(CATEGORY_NAMES), size=n)
    spend = rng.gamma(4.0, 0.25, size=n) * np.where(kind_type == CHAMPION, 1.3, 1.0)

    u = rng.random(n)
    start = np.zeros(n)
    end = np.full(n, float(days))
    # Where each kind starts buying, as a share of the history; below zero means they were
    # customers before the records begin (the shop is established, not newly opened).
    for kind, (low, high) in {
        CHAMPION: (-0.5, 0.3),
        LOYAL: (-0.4, 0.55),
        OCCASIONAL: (-0.3, 0.75),
        AT_RISK: (-0.4, 0.4),
        LAPSED: (-0.4, 0.3),
        ONE_TIME: (0.0, 1.0),
    }.items():
        chosen = kind_type == kind
        start[chosen] = days * (low + (high - low) * u[chosen])
    joined = timeline.start_us + (np.minimum(start, 0) * US_PER_DAY).astype(np.int64)
    existing = start < 0
    start = np.maximum(start, 0)
    recent = kind_type == NEW
    start[recent] = days - rng.uniform(20, 120, size=int(recent.sum()))
    at_risk = kind_type == AT_RISK
    end[at_risk] = days - rng.uniform(90, 240, size=int(at_risk.sum()))
    lapsed = kind_type == LAPSED
    end[lapsed] = days - rng.uniform(270, 700, size=int(lapsed.sum()))
    end = np.maximum(end, np.minimum(start + 90, days))
    once = kind_type == ONE_TIME
    end[once] = np.minimum(start[once] + 1, days)
    start_day = np.floor(start).astype(np.int64)
    end_day = np.maximum(np.ceil(end).astype(np.int64), start_day + 1).clip(max=days)

    years = (end_day - start_day) / 365.25
    rate = np.asarray(ORDERS_PER_YEAR)[kind_type] * rng.gamma(4.0, 0.25, size=n)
    counts = rng.poisson(rate * years)
    counts = np.clip(counts, np.asarray(MIN_ORDERS)[kind_type], MAX_ORDERS)
    counts[once] = 1
    counts[(kind_type == LEAD) | (kind_type == PROSPECT)] = 0

    order_customer = np.repeat(np.arange(n), counts)
    order_times = timeline.sample_times(start_day[order_customer], end_day[order_customer], rng)
    first_order = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_order, order_customer, order_times)

    at_checkout = rng.random(n) < 0.6
    lead_time = np.where(
        at_checkout,
        rng.integers(2 * US_PER_MINUTE, 30 * US_PER_MINUTE, size=n),
        rng.integers(US_PER_DAY, 60 * US_PER_DAY, size=n),
    )
    created = np.where(
        existing, np.minimum(first_order - lead_time, joined), first_order - lead_time
    )
    never = counts == 0
    lead_window = np.where(kind_type == LEAD, 200, 730)
    lead_days = timeline.sample_days(
        np.maximum(days - lead_window[never], 0), np.full(int(never.sum()), days), rng
    )
    created[never] = timeline.day_us(lead_days) + timeline.time_of_day(len(lead_days), rng)
    created = np.maximum(created, timeline.start_us - 2 * 365 * US_PER_DAY)

    order_of = np.argsort(created, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order_of] = np.arange(n)
    plan = CustomerPlan(
        is_company=is_company[order_of],
        kind_type=kind_type[order_of],
        country=country[order_of],
        team=team[order_of],
        interest=interest[order_of],
        spend=spend[order_of],
        created_us=created[order_of],
        order_counts=counts[order_of],
    )
    return plan, rank[order_customer], order_times


@dataclass
class CustomerRows:
    columns: dict[str, list[object]]
    owner: np.ndarray  # user index of the owning sales rep
    company: np.ndarray  # customer index of the employer, -1 for none
    updated_us: np.ndarray
    industry: list[str | None]
    vip: np.ndarray
    newsletter: np.ndarray


def _json_strings(values: list[str]) -> str:
    """JSON for a list of plain words (what ``json.dumps`` gives, without its cost per call)."""
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


@cache
def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def customer_rows(
    plan: CustomerPlan,
    *,
    first_orders: np.ndarray,
    last_orders: np.ndarray,
    reps_by_team: list[list[int]],
    timeline: Timeline,
    rng: np.random.Generator,
) -> CustomerRows:
    """Column values without ids or references, and the arrays the rest of the load needs."""
    n = plan.size
    countries = plan.country
    max_cities = max(len(c.cities) for c in COUNTRIES)
    city_weights = np.zeros((len(COUNTRIES), max_cities))
    for i, c in enumerate(COUNTRIES):
        city_weights[i, : len(c.cities)] = 1.0 / np.sqrt(np.arange(1, len(c.cities) + 1))
    city = grouped_choice(cumulative(city_weights), countries, rng)
    phones = np.empty(n, dtype=object)
    postals = np.empty(n, dtype=object)
    place = countries * max_cities + city
    for key in np.unique(place):
        members = np.flatnonzero(place == key)
        record = COUNTRIES[key // max_cities].cities[key % max_cities]
        phones[members] = fill_pattern(record.phone, len(members), rng)
        postals[members] = fill_pattern(record.postal, len(members), rng)

    rep_table = np.zeros((len(reps_by_team), max(len(r) for r in reps_by_team)), dtype=np.int64)
    rep_count = np.array([len(r) for r in reps_by_team])
    for t, reps in enumerate(reps_by_team):
        rep_table[t, : len(reps)] = reps
    owner = rep_table[plan.team, rng.integers(0, 1 << 30, size=n) % rep_count[plan.team]]

    # People who work at a company: one of their team's companies created before them.
    company_id = np.full(n, -1, dtype=np.int64)
    companies = np.flatnonzero(plan.is_company)
    employees = np.flatnonzero(~plan.is_company & (rng.random(n) < EMPLOYEE_SHARE))
    for team in range(len(reps_by_team)):
        pool = companies[plan.team[companies] == team]
        staff = employees[plan.team[employees] == team]
        earlier = np.searchsorted(pool, staff)  # indices follow creation order
        picks = (rng.random(len(staff)) * earlier).astype(np.int64)
        has = earlier > 0
        company_id[staff[has]] = pool[picks[has]]

    names: list[str] = [""] * n
    slugs: dict[int, str] = {}
    industries: dict[int, str] = {}
    taken: set[str] = set()
    for i in companies.tolist():
        c = COUNTRIES[countries[i]]
        word = COMPANY_WORDS[rng.integers(len(COMPANY_WORDS))]
        noun, industry = COMPANY_KINDS[rng.integers(len(COMPANY_KINDS))]
        others = [COMPANY_WORDS[k] for k in rng.integers(len(COMPANY_WORDS), size=3)]
        place_name = c.cities[city[i]].name
        candidates = [f"{word} {noun}", f"{word} {noun} {place_name}"]
        candidates += [f"{word} {other} {noun}" for other in others if other != word]
        candidates += [f"{word} {other} {noun} {place_name}" for other in others if other != word]
        name = next((candidate for candidate in candidates if candidate not in taken), "")
        number = 2
        while not name or name in taken:
            name = f"{word} {noun} {number}"
            number += 1
        taken.add(name)
        names[i] = f"{name} {c.company_suffixes[rng.integers(len(c.company_suffixes))]}"
        slugs[i] = _ascii(name)
        industries[i] = industry

    is_buyer = plan.order_counts > 0
    churned = (plan.kind_type == LAPSED) & (rng.random(n) < 0.7)
    stage = np.where(is_buyer, "customer", np.where(plan.kind_type == LEAD, "lead", "prospect"))
    stage = np.where(churned, "churned", stage)
    stage = np.where(~is_buyer & (rng.random(n) < 0.03), "other", stage)
    created = plan.created_us
    updated = np.where(is_buyer, np.maximum(first_orders, created), created)
    marked = np.minimum(last_orders + 180 * US_PER_DAY, timeline.end_us - 1)
    updated = np.maximum(np.where(churned, marked, updated), created)

    first_index = rng.integers(0, 1 << 30, size=n)
    last_index = rng.integers(0, 1 << 30, size=n)
    source = choice([weight for _, weight in SOURCES], n, rng)
    draws = rng.random((n, 8))
    numbers = rng.integers(1, 240, size=(n, 3))
    emails: list[str | None] = []
    line1: list[str] = []
    line2: list[str | None] = []
    tags_out: list[str] = []
    notes: list[str | None] = []
    custom: list[str] = []
    used: set[str] = set()
    for i in range(n):
        c = COUNTRIES[countries[i]]
        r = draws[i]
        street = c.streets[int(r[0] * len(c.streets))]
        a, b, d = numbers[i]
        number = f"{a % 5 + 1}-{b % 30 + 1}-{d % 20 + 1}" if c.code == "JP" else str(a)
        tags: list[str] = []
        if plan.is_company[i]:
            local = ("info", "hello", "sales", "office", "orders")[int(r[1] * 5)]
            email = f"{local}@{slugs[i]}.example.com"
            tags.append("b2b")
            if r[2] < 0.25:
                tags.append("wholesale")
            staff = int(np.exp(3.3 + 2.0 * (r[4] - 0.5))) + 2 + int(r[5] * 40)
            fields = f'{{"industry": "{industries[i]}", "employees": {staff}}}'
            note: str | None = f"{industries[i].capitalize()} business, about {staff} staff."
            address2 = f"Suite {int(r[3] * 900) + 100}" if r[3] < 0.4 else None
        else:
            first = c.first_names[first_index[i] % len(c.first_names)]
            last = c.last_names[last_index[i] % len(c.last_names)]
            names[i] = f"{first} {last}"
            given, family = _ascii(first), _ascii(last)
            local = (
                f"{given}.{family}",
                f"{given}{family}",
                f"{given[:1]}{family}",
                f"{given}_{family}",
                f"{family}.{given}",
            )[int(r[1] * 5)]
            employer = int(company_id[i])
            if employer >= 0:
                domain = f"{slugs[employer]}.example.com"
            else:
                domain = EMAIL_DOMAINS[int(r[2] * 3)]
                if r[2] < 0.6:
                    local = f"{local}{int(r[3] * 98) + 1}"
            email = f"{local}@{domain}"
            suffix = 1
            while email in used:
                suffix += 1
                email = f"{local}{suffix}@{domain}"
            fields = f'{{"language": "{LANGUAGES[c.code]}"}}'
            note = PERSON_NOTES[int(r[4] * 60)] if r[4] < 0.1 else None
            in_flat = c.code in ("US", "CA") and r[5] < 0.3
            address2 = f"Apt {int(r[3] * 40) + 1}" if in_flat else None
        used.add(email)
        if plan.kind_type[i] == CHAMPION and r[6] < 0.6:
            tags.append("vip")
        if r[7] < (0.55 if plan.kind_type[i] in (CHAMPION, LOYAL) else 0.3):
            tags.append("newsletter")
        if r[5] < 0.25 and is_buyer[i]:
            tags.append(INTEREST_TAGS[plan.interest[i]])
        emails.append(None if r[0] > 0.97 and not plan.is_company[i] else email)
        line1.append(c.street_format.format(n=number, street=street))
        line2.append(address2)
        tags_out.append(_json_strings(tags))
        notes.append(note)
        custom.append(fields)

    no_phone = draws[:, 6] > 0.8
    phones[no_phone] = None
    columns: dict[str, list[object]] = {
        "kind": np.where(plan.is_company, "company", "person").tolist(),
        "name": names,
        "email": emails,
        "phone": phones.tolist(),
        "address_line1": line1,
        "address_line2": line2,
        "city": [COUNTRIES[k].cities[j].name for k, j in zip(countries, city, strict=True)],
        "region": [COUNTRIES[k].cities[j].region for k, j in zip(countries, city, strict=True)],
        "postal_code": postals.tolist(),
        "country": [COUNTRIES[k].code for k in countries],
        "tags": tags_out,
        "lifecycle_stage": stage.tolist(),
        "source": [SOURCES[k][0] for k in source],
        "external_id": [
            f"SHOP-{1_000_000 + i}" if SOURCES[k][0] == "import" else None
            for i, k in enumerate(source)
        ],
        "notes": notes,
        "custom_fields": custom,
    }
    return CustomerRows(
        columns=columns,
        owner=owner,
        company=company_id,
        updated_us=updated,
        industry=[industries.get(i) for i in range(n)],
        vip=np.array(['"vip"' in t for t in tags_out]),
        newsletter=np.array(['"newsletter"' in t for t in tags_out]),
    )
