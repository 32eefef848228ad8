"""Orders and their lines, generated in time order, a chunk at a time.

A basket is either a *mission* (a bundle: the anchor and, at their own rates, its companions,
sometimes only the companions as replenishment) or a browse (one to six products, half from the
customer's favourite category, the rest by popularity and season), plus a few extras. Prices in
the past are today's price deflated by 2.5 % a year; Black Friday week and occasional promotions
take 10-15 % off. An order's total is always the sum of quantity x unit price over its lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from patron.demo.catalog import MAX_COMPANIONS, Catalogue
from patron.demo.customers import CHURNED_TYPES, CustomerPlan
from patron.demo.timeline import Timeline, black_friday
from patron.demo.vectors import (
    US_PER_DAY,
    US_PER_HOUR,
    cumulative,
    datetime_text,
    grouped_choice,
    rank_within_groups,
    uuid7_hex,
)

CHUNK_ORDERS = 20_000
MAX_LINES = 6
BUNDLE_SHARE = 0.42
ANCHOR_SHARE = 0.8  # otherwise a replenishment order: companions only
INTEREST_SHARE = 0.55
BROWSE_LINES = (0.45, 0.27, 0.15, 0.08, 0.035, 0.015)  # 1..6 products
BUNDLE_EXTRAS = (0.55, 0.3, 0.15)  # 0..2 more products
CONSUMABLE_QUANTITY = ((1, 2, 3, 4, 6), (0.5, 0.28, 0.12, 0.06, 0.04))
ORDER_STATUS = ("pending", "paid", "shipped", "completed", "cancelled", "refunded")
PENDING, PAID, SHIPPED, COMPLETED, CANCELLED, REFUNDED = range(len(ORDER_STATUS))
REVENUE_STATUSES = (PAID, SHIPPED, COMPLETED)
CURRENCY = "USD"


@dataclass
class OrderBook:
    """Every order, sorted by time; lines are made chunk by chunk from these."""

    customer: np.ndarray
    time_us: np.ndarray
    status: np.ndarray
    total_minor: np.ndarray  # filled in as chunks are generated
    main_product: np.ndarray  # the priciest line's product, filled in chunk by chunk
    line_count: np.ndarray

    @property
    def size(self) -> int:
        return len(self.customer)

    def number(self, index: np.ndarray) -> list[str]:
        return [f"SO-{100_001 + i}" for i in np.asarray(index).tolist()]


def book_orders(
    plan: CustomerPlan,
    order_customer: np.ndarray,
    order_times: np.ndarray,
    timeline: Timeline,
    rng: np.random.Generator,
) -> OrderBook:
    by_time = np.lexsort((order_customer, order_times))
    customer = order_customer[by_time]
    times = order_times[by_time]
    n = len(times)
    age = timeline.end_us - times
    churner = np.isin(plan.kind_type[customer], CHURNED_TYPES)
    u = rng.random(n)
    status = np.full(n, COMPLETED, dtype=np.int64)
    status[u < np.where(churner, 0.05, 0.03)] = CANCELLED
    refunded = (u >= 0.9) & (u < 0.9 + np.where(churner, 0.06, 0.025))
    status[refunded] = REFUNDED
    fresh = age < 7 * US_PER_DAY
    status[fresh & (u < 0.97)] = np.where(
        rng.random(int((fresh & (u < 0.97)).sum())) < 0.8, SHIPPED, PAID
    )
    newest = age < 2 * US_PER_DAY
    status[newest & (u < 0.97)] = np.where(
        rng.random(int((newest & (u < 0.97)).sum())) < 0.4, PENDING, PAID
    )
    return OrderBook(
        customer=customer,
        time_us=times,
        status=status,
        total_minor=np.zeros(n, dtype=np.int64),
        main_product=np.zeros(n, dtype=np.int64),
        line_count=np.zeros(n, dtype=np.int64),
    )


class BasketMaker:
    """Draws the products, quantities and prices of many orders at once."""

    def __init__(self, catalogue: Catalogue, timeline: Timeline) -> None:
        self.catalogue = catalogue
        self.timeline = timeline
        n_categories = catalogue.season.shape[1]
        anchor_category = catalogue.category[catalogue.anchors]
        anchor_weight = catalogue.popularity[catalogue.anchors]
        self.bundle_by_month = cumulative(
            anchor_weight[None, :] * catalogue.season[:, anchor_category]
        )
        self.bundle_by_interest = cumulative(
            np.where(
                anchor_category[None, :] == np.arange(n_categories)[:, None],
                anchor_weight[None, :],
                0.0,
            )
        )
        self.product_by_month = cumulative(
            catalogue.popularity[None, :] * catalogue.season[:, catalogue.category]
        )
        self.product_by_interest = cumulative(
            np.where(
                catalogue.category[None, :] == np.arange(n_categories)[:, None],
                catalogue.popularity[None, :],
                0.0,
            )
        )
        self.sale_days = [
            (black_friday(year) - timeline.start_date).days
            for year in range(timeline.start_date.year, timeline.as_of.year + 1)
        ]

    def _products(
        self, month: np.ndarray, interest: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        from_interest = rng.random(len(month)) < INTEREST_SHARE
        by_month = grouped_choice(self.product_by_month, month, rng)
        by_interest = grouped_choice(self.product_by_interest, interest, rng)
        return np.where(from_interest, by_interest, by_month)

    def baskets(
        self,
        times: np.ndarray,
        interest: np.ndarray,
        spend: np.ndarray,
        is_company: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(order position, product, quantity, unit price) for every line, grouped by order."""
        cat = self.catalogue
        n = len(times)
        month = self.timeline.month_of_year(times)
        is_bundle = rng.random(n) < BUNDLE_SHARE
        bundle = np.where(
            rng.random(n) < 0.5,
            grouped_choice(self.bundle_by_interest, interest, rng),
            grouped_choice(self.bundle_by_month, month, rng),
        )
        companions = cat.companions[bundle]
        replenish = rng.random(n) >= ANCHOR_SHARE
        rates = cat.companion_rates[bundle] * np.where(replenish, 0.9, 1.0)[:, None]
        chosen = (rng.random((n, MAX_COMPANIONS)) < rates) & (companions >= 0)
        nothing = replenish & ~chosen.any(axis=1)
        chosen[nothing, 0] = True
        anchor = np.where(replenish, -1, cat.anchors[bundle])
        mission = np.concatenate([anchor[:, None], np.where(chosen, companions, -1)], axis=1)
        mission[~is_bundle] = -1

        browse = grouped_choice(cumulative(BROWSE_LINES), np.zeros(n, dtype=np.int64), rng) + 1
        browse += rng.random(n) < np.clip(spend - 1.0, 0.0, 0.6)
        extras_count = np.where(
            is_bundle,
            grouped_choice(cumulative(BUNDLE_EXTRAS), np.zeros(n, dtype=np.int64), rng),
            np.minimum(browse, MAX_LINES),
        )
        slots = np.arange(MAX_LINES)[None, :] < extras_count[:, None]
        picks = self._products(
            np.repeat(month, MAX_LINES), np.repeat(interest, MAX_LINES), rng
        ).reshape(n, MAX_LINES)
        candidates = np.concatenate([mission, np.where(slots, picks, -1)], axis=1)

        width = candidates.shape[1]
        flat = candidates.ravel()
        position = np.repeat(np.arange(n), width)
        keep = flat >= 0
        product, position = flat[keep], position[keep]
        _, first = np.unique(position * cat.size + product, return_index=True)
        first.sort()
        product, position = product[first], position[first]
        capped = rank_within_groups(position) < MAX_LINES
        product, position = product[capped], position[capped]

        lines = len(product)
        consumable = cat.consumable[product]
        values, weights = CONSUMABLE_QUANTITY
        quantity = np.where(
            consumable,
            np.asarray(values)[grouped_choice(cumulative(weights), np.zeros(lines, int), rng)],
            1 + (rng.random(lines) < 0.06) + (rng.random(lines) < 0.01),
        )
        business = is_company[position]
        quantity = quantity + business * rng.poisson(1.5 * spend[position])

        years_ago = (self.timeline.end_us - times[position]) / (365.25 * US_PER_DAY)
        price = cat.price_minor[product] * 1.025 ** (-years_ago)
        day = self.timeline.day_of(times[position])
        on_sale = np.zeros(lines, dtype=bool)
        for sale_day in self.sale_days:
            on_sale |= (day >= sale_day) & (day < sale_day + 4)
        discount = np.where(
            on_sale & (rng.random(lines) < 0.7),
            0.85,
            np.where(rng.random(lines) < 0.08, 0.9, 1.0),
        )
        unit = np.maximum(np.round(price * discount / 100.0) * 100 - 1, 99).astype(np.int64)
        return position, product, quantity.astype(np.int64), unit


def _as_list(values: object) -> list[object]:
    """Python values, made here so a prefetching thread does the work."""
    return values.tolist() if isinstance(values, np.ndarray) else list(values)  # type: ignore[call-overload]


@dataclass
class OrderChunk:
    orders: dict[str, object]
    lines: dict[str, object]
    revenue_owner: np.ndarray  # per order of the chunk
    revenue_month: np.ndarray
    revenue_minor: np.ndarray


def order_chunks(
    book: OrderBook,
    plan: CustomerPlan,
    customer_ids: np.ndarray,
    owner: np.ndarray,
    baskets: BasketMaker,
    timeline: Timeline,
    seed: int,
    stream: int,
    product_ids: np.ndarray,
) -> Iterator[OrderChunk]:
    """Rows for the orders and lines, ``CHUNK_ORDERS`` orders at a time, oldest first."""
    for chunk, start in enumerate(range(0, book.size, CHUNK_ORDERS)):
        rng = np.random.default_rng([seed, stream, chunk])
        stop = min(start + CHUNK_ORDERS, book.size)
        index = np.arange(start, stop)
        customer = book.customer[index]
        times = book.time_us[index]
        position, product, quantity, unit = baskets.baskets(
            times, plan.interest[customer], plan.spend[customer], plan.is_company[customer], rng
        )
        amount = quantity * unit
        total = np.bincount(position, weights=amount, minlength=len(index))
        total = np.round(total).astype(np.int64)
        book.total_minor[index] = total
        book.line_count[index] = np.bincount(position, minlength=len(index))
        priciest = np.lexsort((-unit, position))
        first = np.r_[True, position[priciest][1:] != position[priciest][:-1]]
        book.main_product[index[position[priciest][first]]] = product[priciest][first]

        status = book.status[index]
        delay = np.select(
            [status == COMPLETED, status == CANCELLED, status == REFUNDED, status == SHIPPED],
            [
                rng.integers(2, 7, len(index)) * US_PER_DAY,
                rng.integers(1, 24, len(index)) * US_PER_HOUR,
                rng.integers(10, 31, len(index)) * US_PER_DAY,
                rng.integers(6, 30, len(index)) * US_PER_HOUR,
            ],
            0,
        )
        updated = np.minimum(times + delay, timeline.end_us - 1)
        updated = np.maximum(updated, times)
        order_ids = uuid7_hex(times, rng)
        created_text = datetime_text(times)
        orders = {
            "id": order_ids,
            "customer_id": customer_ids[customer],
            "number": book.number(index),
            "status": np.asarray(ORDER_STATUS)[status],
            "ordered_at": created_text,
            "currency": [CURRENCY] * len(index),
            "total_minor": total,
            "created_at": created_text,
            "updated_at": datetime_text(updated),
            "version": np.ones(len(index), dtype=np.int64),
        }
        lines = {
            "id": uuid7_hex(times[position], rng),
            "order_id": order_ids[position],
            "product_id": product_ids[product],
            "quantity": quantity,
            "unit_price_minor": unit,
            "created_at": created_text[position],
            "updated_at": created_text[position],
            "version": np.ones(len(position), dtype=np.int64),
        }
        counted = np.isin(status, REVENUE_STATUSES)
        yield OrderChunk(
            orders={name: _as_list(values) for name, values in orders.items()},
            lines={name: _as_list(values) for name, values in lines.items()},
            revenue_owner=owner[customer][counted],
            revenue_month=timeline.month_number(times)[counted],
            revenue_minor=total[counted],
        )
