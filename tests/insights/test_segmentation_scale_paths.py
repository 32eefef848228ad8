"""The fast paths of segmentation give what the plain DataFrame path gives, on both databases.

The database adds up each customer's purchases (``data.purchase_totals``) where ``rfm`` adds up
every order in a DataFrame; the results are stored in bulk (a temporary table, ``COPY`` or
``executemany``, then ``INSERT … SELECT``) where they were inserted row by row. Each test builds a
small shop with the awkward cases (cancelled and refunded orders, purchases after ``as_of``, a
second currency, orders a microsecond before midnight UTC), runs both ways, and compares.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist
from sklearn.metrics import silhouette_score
from sqlalchemy import select, update
from threadpoolctl import threadpool_limits

from patron.analytics import segmentation
from patron.analytics.rfm import rfm, rfm_from_totals
from patron.analytics.segmentation import RFMSegmenter, mean_silhouettes
from patron.customers.models import Customer
from patron.db.engine import Database
from patron.insights import apply, data, repository, service
from patron.insights.models import AnalysisRun, CustomerInsight
from patron.insights.schemas import RunCreate
from patron.marketing.models import Segment, SegmentMember
from patron.sales.models import Order
from patron.security.permissions import Principal

SYSTEM = Principal.system()
LAST_DAY = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _one_thread():
    """k-means' OpenMP threads crawl when the two cores are shared (see test_segmentation)."""
    with threadpool_limits(limits=1):
        yield


def make_shop(db: Database, *, customers: int = 160, seed: int = 0) -> list[uuid.UUID]:
    """Customers with 0-12 orders over two years; the awkward cases are planted on purpose."""
    rng = np.random.default_rng(seed)
    ids: list[uuid.UUID] = []
    with db.unit_of_work() as session:
        people = [Customer(name=f"Shopper {i:03d}", kind="person") for i in range(customers)]
        session.add_all(people)
        session.flush()
        ids = [person.id for person in people]
        orders = []
        for i, customer_id in enumerate(ids):
            for _ in range(int(rng.geometric(0.3)) - 1 if i % 17 else 0):
                stamp = LAST_DAY - dt.timedelta(seconds=int(rng.integers(0, 730 * 86400)))
                orders.append(
                    (customer_id, stamp, "completed", "USD", int(rng.integers(99, 90000)))
                )
        for i in range(0, customers, 11):  # cancelled and refunded orders never count, even last
            orders.append((ids[i], LAST_DAY, "cancelled", "USD", 500_000))
            orders.append((ids[min(i + 1, customers - 1)], LAST_DAY, "refunded", "USD", 400_000))
        for i in range(3, customers, 13):  # a second currency (yen: no minor unit)
            orders.append((ids[i], LAST_DAY - dt.timedelta(days=40), "paid", "JPY", 12_345))
        for i in range(5, customers, 19):  # a microsecond before midnight, UTC
            day_end = dt.datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=dt.UTC)
            orders.append((ids[i], day_end, "shipped", "USD", 1_001))
            orders.append((ids[i], day_end + dt.timedelta(microseconds=1), "completed", "USD", 7))
        orders.append((ids[7], LAST_DAY, "pending", "USD", 3))  # the latest purchase of all
        session.add_all(
            Order(customer_id=customer_id, number=f"T-{n:05d}", status=status, ordered_at=stamp,
                  currency=currency, total_minor=total)
            for n, (customer_id, stamp, status, currency, total) in enumerate(orders)
        )  # fmt: skip
    return ids


def hex_index(table: pd.DataFrame) -> pd.DataFrame:
    """The table indexed by 32-hex-digit ids, as the database path indexes it."""
    table = table.copy()
    table.index = pd.Index([uuid.UUID(c).hex for c in table.index], name=table.index.name)
    return table


def orm_transactions(db: Database) -> pd.DataFrame:
    """The transactions table as it was read before: ORM rows, converted by pandas."""
    with db.engine.connect() as connection:
        frame = pd.DataFrame.from_records(
            connection.execute(repository.transactions()).all(),
            columns=["customer_id", "order_id", "ordered_at", "amount_minor", "currency"],
        )
    scale = frame["currency"].map(lambda code: 1 if code == "JPY" else 100)
    frame["amount"] = frame["amount_minor"] / scale
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame["order_id"] = frame["order_id"].astype(str)
    return frame.drop(columns=["amount_minor"])


def test_transactions_frame_reads_what_the_orm_reads(db: Database) -> None:
    make_shop(db)
    frame = data.transactions_frame(db, SYSTEM)
    pd.testing.assert_frame_equal(frame, orm_transactions(db), check_exact=True)
    assert frame["ordered_at"].max() == LAST_DAY


@pytest.mark.parametrize("as_of", [None, dt.date(2026, 3, 1), dt.date(2025, 1, 15)])
def test_totals_from_the_database_give_the_rfm_of_every_order(
    db: Database, as_of: dt.date | None
) -> None:
    make_shop(db)
    transactions = data.transactions_frame(db, SYSTEM)
    expected = hex_index(rfm(transactions, as_of=as_of))

    before = None
    if as_of is not None:
        before = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), dt.UTC)
    totals = data.purchase_totals(db, SYSTEM, before=before)
    cutoff = as_of or dt.date(1970, 1, 1) + dt.timedelta(days=int(totals.last_day.max()))
    table = rfm_from_totals(
        pd.Index(totals.customer_ids, name="customer_id"),
        recency=(cutoff - dt.date(1970, 1, 1)).days - totals.last_day,
        frequency=totals.purchases,
        monetary_total=totals.amount,
    )

    assert as_of is not None or cutoff == LAST_DAY.date()
    assert table.index.tolist() == expected.index.tolist()
    for column in ("recency", "frequency", "r_score", "f_score", "m_score", "rfm_score"):
        assert table[column].tolist() == expected[column].tolist(), column
    # Totals in minor units, divided once: the same amounts to the last digit or two.
    np.testing.assert_allclose(table["monetary_total"], expected["monetary_total"], rtol=1e-13)
    np.testing.assert_allclose(table["monetary_mean"], expected["monetary_mean"], rtol=1e-13)
    assert (table["monetary_total"] > 0).all()


def test_totals_are_empty_without_purchases(db: Database) -> None:
    make_shop(db, customers=12)
    before = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    assert len(data.purchase_totals(db, SYSTEM, before=before)) == 0


def segmentation_run(db: Database, **parameters: Any) -> AnalysisRun:
    with db.unit_of_work() as session:
        run = service.runs.start(
            session, SYSTEM, RunCreate(kind="segmentation", parameters=parameters)
        )
        run_id = run.id
    with contextlib.suppress(Exception):  # a failure is recorded on the run
        service.execute(db, run_id, lambda _value, _message: None)
    with db.unit_of_work(write=False) as session:
        stored = session.get(AnalysisRun, run_id)
        assert stored is not None
        return stored


def stored_state(db: Database) -> dict[str, Any]:
    """Analysis memberships and insights, by customer (hex ids)."""
    with db.unit_of_work(write=False) as session:
        segments = {
            s.id: s.name
            for s in session.scalars(select(Segment).where(Segment.source == "analysis"))
        }
        members = {
            m.customer_id.hex: (m.id, segments[m.segment_id], m.added_at)
            for m in session.scalars(
                select(SegmentMember).where(SegmentMember.segment_id.in_(segments))
            )
        }
        insights = {
            i.customer_id.hex: {
                "segment": segments.get(i.segment_id) if i.segment_id else None,
                "segment_name": i.segment_name, "recency_days": i.recency_days,
                "frequency": i.frequency, "monetary": i.monetary, "rfm_score": i.rfm_score,
                "run": i.segmentation_run_id, "version": i.version,
            }
            for i in session.scalars(select(CustomerInsight))
        }  # fmt: skip
    return {"segments": segments, "members": members, "insights": insights}


def dataframe_segmentation(db: Database, **parameters: Any) -> tuple[pd.DataFrame, RFMSegmenter]:
    """What the plain path computes: every order as a DataFrame, ``rfm``, ``RFMSegmenter``."""
    transactions = orm_transactions(db)
    table = hex_index(rfm(transactions, as_of=transactions["ordered_at"].max()))
    segmenter = RFMSegmenter(
        k=parameters.get("k"), k_range=(3, 8), random_state=parameters.get("random_state", 0)
    ).fit(table)
    return table, segmenter


@pytest.mark.parametrize("parameters", [{}, {"k": 4, "random_state": 3}])
def test_a_run_stores_what_the_dataframe_path_computes(
    db: Database, parameters: dict[str, Any]
) -> None:
    make_shop(db, customers=240, seed=1)
    run = segmentation_run(db, **parameters)
    assert run.status == "succeeded", run.error
    table, segmenter = dataframe_segmentation(db, **parameters)

    names = np.array([apply.SEGMENT_PREFIX + n for n in segmenter.segment_names_])
    expected_segment = dict(zip(table.index, names[segmenter.labels_], strict=True))
    state = stored_state(db)
    assert sorted(state["segments"].values()) == sorted(names)
    assert {c: m[1] for c, m in state["members"].items()} == expected_segment
    assert set(state["insights"]) == set(table.index)
    for customer, row in table.iterrows():
        insight = state["insights"][customer]
        assert insight["segment"] == expected_segment[customer]
        assert apply.SEGMENT_PREFIX + insight["segment_name"] == expected_segment[customer]
        assert insight["recency_days"] == float(row["recency"])
        assert insight["frequency"] == int(row["frequency"])
        assert insight["monetary"] == pytest.approx(float(row["monetary_total"]), rel=1e-13)
        assert insight["rfm_score"] == row["rfm_score"]
        assert (insight["run"], insight["version"]) == (run.id, 1)

    assert run.metrics["k"] == segmenter.k_
    assert run.metrics["n_customers"] == len(table)
    assert run.metrics["silhouette"] == pytest.approx(segmenter.silhouette_, abs=1e-12)
    assert run.metrics["silhouette_by_k"] == pytest.approx(
        {str(k): v for k, v in segmenter.silhouette_scores_.items()}, abs=1e-12
    )
    stored = pd.DataFrame(run.results["segments"]).drop(columns="segment_id")
    pd.testing.assert_frame_equal(
        stored[list(segmenter.segments_.columns)], segmenter.segments_, rtol=1e-12
    )
    assert run.results["as_of"] == LAST_DAY.date().isoformat()


def test_running_again_keeps_memberships_that_hold_and_replaces_the_rest(db: Database) -> None:
    make_shop(db, customers=200, seed=2)
    first = segmentation_run(db, k=3)
    assert first.status == "succeeded", first.error
    before = stored_state(db)

    # One buyer stops counting (every order refunded), another becomes a big spender.
    gone, big = sorted(before["members"])[:2]
    with db.unit_of_work() as session:
        session.execute(
            update(Order).where(Order.customer_id == uuid.UUID(gone)).values(status="refunded")
        )
        session.add_all(
            Order(customer_id=uuid.UUID(big), number=f"BIG-{n}", status="completed",
                  ordered_at=LAST_DAY - dt.timedelta(days=n), currency="USD",
                  total_minor=2_000_000)
            for n in range(15)
        )  # fmt: skip
    second = segmentation_run(db, k=3)
    assert second.status == "succeeded", second.error
    after = stored_state(db)
    table, segmenter = dataframe_segmentation(db, k=3)

    names = np.array([apply.SEGMENT_PREFIX + n for n in segmenter.segment_names_])
    expected = dict(zip(table.index, names[segmenter.labels_], strict=True))
    assert {c: m[1] for c, m in after["members"].items()} == expected
    assert gone not in after["members"]
    assert after["members"][big][1] != before["members"][big][1]
    kept = [c for c in expected if c in before["members"] and
            before["members"][c][1] == expected[c]]  # fmt: skip
    assert len(kept) > len(expected) // 2
    for customer in kept:  # the same row: same id, added when the customer first came in
        assert after["members"][customer] == before["members"][customer]
    for customer in expected:
        insight = after["insights"][customer]
        assert insight["run"] == second.id
        assert insight["version"] == (2 if customer in before["insights"] else 1)
        assert insight["segment"] == expected[customer]
    # Whoever no longer buys keeps the insight of the run that last saw them.
    assert after["insights"][gone]["run"] == first.id


def test_a_failed_store_leaves_the_previous_segments(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_shop(db, customers=120, seed=3)
    assert segmentation_run(db, k=3).status == "succeeded"
    before = stored_state(db)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(repository, "insights_from_rows", broken)
    failed = segmentation_run(db, k=4)
    assert failed.status == "failed"
    assert "the disk is full" in (failed.error or "")
    assert stored_state(db) == before

    monkeypatch.undo()  # and the next run starts clean (no temporary table left behind)
    again = segmentation_run(db, k=4)
    assert again.status == "succeeded", again.error
    assert len(stored_state(db)["segments"]) == 4


def test_the_generic_bulk_load_stores_the_same(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_shop(db, customers=120, seed=4)
    assert segmentation_run(db, k=3).status == "succeeded"
    fast = stored_state(db)
    monkeypatch.setattr(apply, "_bulk_method", lambda connection: "core")
    assert segmentation_run(db, k=3).status == "succeeded"
    core = stored_state(db)
    assert {c: m[1] for c, m in core["members"].items()} == {
        c: m[1] for c, m in fast["members"].items()
    }
    for customer, insight in core["insights"].items():
        earlier = fast["insights"][customer]
        assert {**insight, "run": None, "version": 0} == {**earlier, "run": None, "version": 0}


def test_new_ids_are_uuid7_in_increasing_order() -> None:
    ids = apply._uuid7_hex(5000)
    parsed = [uuid.UUID(value) for value in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert list(ids) == sorted(ids)
    assert len(set(ids)) == 5000
    assert abs(int(ids[0][:12], 16) / 1000 - dt.datetime.now(dt.UTC).timestamp()) < 60


def test_mean_silhouettes_equal_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(700, 3))
    points[:200] += 3.0
    labelings = [rng.integers(0, k, len(points)) for k in (2, 3, 5, 9)]
    labelings.append(np.where(np.arange(len(points)) == 0, 7, 1))  # a cluster of one
    labelings.append(np.array(["b", "a"] * 350))  # any labels, not only 0…k-1
    found = mean_silhouettes(points, labelings)
    for labels, value in zip(labelings, found, strict=True):
        assert value == pytest.approx(silhouette_score(points, labels), abs=1e-12)
    with pytest.raises(ValueError, match="Number of labels"):
        mean_silhouettes(points, [np.zeros(len(points), dtype=int)])


@pytest.mark.parametrize("max_cells", [None, 2])
def test_distance_sums_are_every_distance_summed_by_cluster(
    monkeypatch: pytest.MonkeyPatch, max_cells: int | None
) -> None:
    rng = np.random.default_rng(3)
    points = rng.normal(size=(640, 3))  # blocks of 250, 250 and 140
    points[100:110] = points[5]  # duplicates: distance 0
    labelings = [rng.integers(0, k, len(points)) for k in (2, 4, 7)]
    labelings.append(np.array(["x", "y", "w", "z"] * 160))
    if max_cells is not None:  # each labelling in a pass of its own
        monkeypatch.setattr(segmentation, "_MAX_CELLS", max_cells)
    distances = cdist(points, points)
    found = segmentation._distance_sums(points, labelings)
    for labels, (codes, sums) in zip(labelings, found, strict=True):
        classes = np.unique(labels)
        np.testing.assert_array_equal(classes[codes], labels)
        expected = np.column_stack([distances[:, labels == c].sum(axis=1) for c in classes])
        np.testing.assert_allclose(sums, expected, rtol=1e-13, atol=1e-12)


def test_a_relabelled_silhouette_equals_scikit_learn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sums of one labelling, corrected for the points another puts elsewhere: the silhouette a
    full pass gives, under any renumbering of the clusters."""
    rng = np.random.default_rng(4)
    points = rng.normal(size=(600, 3))
    points[:200] += 2.5
    before = np.where(np.arange(600) < 200, 0, rng.integers(1, 4, 600))
    before[[7, 300, 301, 302, 303]] = 4  # a small cluster
    ((codes, sums),) = segmentation._distance_sums(points, [before])
    renumbered = np.array([30, 10, 40, 20, 0])[before]  # other labels, the same clusters

    moved = renumbered.copy()
    chosen = rng.choice(600, size=60, replace=False)
    moved[chosen] = rng.choice([0, 10, 20, 30, 40], size=60)
    lone = renumbered.copy()
    lone[[300, 301, 302, 303]] = [10, 20, 30, 10]  # the small cluster is left with one point
    for labels in (renumbered, moved, lone):
        found = segmentation._relabelled_silhouette(points, codes, sums, labels)
        assert found == pytest.approx(silhouette_score(points, labels), abs=1e-12)
    assert (moved != renumbered).sum() > 40
    # Corrected, the lone point's sum over its own cluster may be a rounding error, not 0: it
    # still scores 0, as a cluster of one does.
    ((lone_codes, lone_sums),) = segmentation._distance_sums(points, [lone])
    lone_sums[7, lone_codes[7]] = -1e-13
    found = segmentation._silhouette_from_sums(lone_codes, lone_sums)
    assert found == pytest.approx(silhouette_score(points, lone), abs=1e-12)

    # None (sum everything again) where too many points moved, or the clusters are not as many.
    fewer = np.where(before == 4, 0, before)
    assert segmentation._relabelled_silhouette(points, codes, sums, fewer) is None
    monkeypatch.setattr(segmentation, "_MAX_MOVED", 0.05)
    assert segmentation._relabelled_silhouette(points, codes, sums, moved) is None
    assert segmentation._relabelled_silhouette(points, codes, sums, renumbered) is not None


def reference_rfm(transactions: pd.DataFrame, as_of: Any = None) -> pd.DataFrame:
    """``rfm`` as first written: ``groupby`` on the customer column itself."""
    frame = transactions.loc[transactions["customer_id"].notna()]
    stamps = pd.to_datetime(frame["ordered_at"], utc=True).dt.floor("D")
    cutoff = stamps.max() if as_of is None else pd.Timestamp(as_of, tz="UTC").floor("D")
    inside = (stamps <= cutoff).to_numpy()
    keyed = pd.DataFrame({"customer": frame["customer_id"].to_numpy()[inside],
                          "day": stamps.to_numpy()[inside],
                          "amount": frame["amount"].to_numpy(dtype=float)[inside],
                          "order": frame["order_id"].to_numpy()[inside]})  # fmt: skip
    grouped = keyed.groupby("customer", sort=True)
    last = pd.to_datetime(grouped["day"].max(), utc=True)
    return pd.DataFrame(
        {"recency": ((cutoff - last) // pd.Timedelta(days=1)).astype(np.int64),
         "frequency": grouped["order"].nunique().astype(np.int64),
         "monetary_total": grouped["amount"].sum().astype(float)}
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["str", "object", "int"])
def test_rfm_counts_as_groupby_does(kind: str) -> None:
    rng = np.random.default_rng(5)
    n = 6000
    customers = rng.integers(0, 900, n)
    ids: Any = {"str": pd.Series([f"c{c:04d}" for c in customers], dtype=str),
                "object": pd.Series([f"c{c:04d}" for c in customers], dtype=object),
                "int": pd.Series(customers * 7)}[kind]  # fmt: skip
    transactions = pd.DataFrame({
        "customer_id": ids,
        "order_id": pd.Series([f"o{o}" for o in rng.integers(0, 4000, n)], dtype=str),
        "ordered_at": pd.Timestamp("2024-01-01", tz="UTC")
        + pd.to_timedelta(rng.integers(0, 400 * 86400, n), unit="s"),
        "amount": rng.integers(1, 50_000, n) / 100,
    })  # fmt: skip
    for as_of in (None, "2024-06-30"):
        table = rfm(transactions, as_of=as_of)
        expected = reference_rfm(transactions, as_of)
        assert table.index.tolist() == expected.index.tolist()
        for column in ("recency", "frequency", "monetary_total"):
            assert table[column].tolist() == expected[column].tolist(), column  # to the bit
