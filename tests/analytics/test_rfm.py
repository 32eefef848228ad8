"""RFM: hand-checked values, then pandas' own quintiles as the reference for the scores."""

from __future__ import annotations

import datetime as dt
import importlib
import uuid

import numpy as np
import pandas as pd
import pytest

from patron.analytics.rfm import RFM_COLUMNS, quintile_scores, rfm

rfm_module = importlib.import_module("patron.analytics.rfm")


def _transactions():
    return pd.DataFrame(
        {
            "customer_id": ["ann", "ann", "ann", "bob", "cid", "cid"],
            "order_id": [1, 1, 2, 3, 4, 5],
            "ordered_at": [
                "2024-03-01T09:00:00",
                "2024-03-01T09:00:00",
                "2024-03-10T18:30:00",
                "2024-01-31T23:59:00",
                "2024-03-05T08:00:00",
                "2024-03-05T20:00:00",
            ],
            "amount": [10.0, 5.0, 30.0, 100.0, 7.0, 3.0],
        }
    )


def test_recency_frequency_monetary_by_hand():
    table = rfm(_transactions(), as_of="2024-03-11")
    assert list(table.columns) == list(RFM_COLUMNS)
    assert table.index.name == "customer_id"
    assert table.index.tolist() == ["ann", "bob", "cid"]
    assert table["recency"].tolist() == [1, 40, 6]
    assert table["frequency"].tolist() == [2, 1, 2]  # two lines of order 1 are one purchase
    assert table["monetary_total"].tolist() == [45.0, 100.0, 10.0]
    assert table["monetary_mean"].tolist() == [22.5, 100.0, 5.0]
    assert table["recency"].dtype == np.int64
    assert table["frequency"].dtype == np.int64
    scores = table[["r_score", "f_score", "m_score"]].astype(str).sum(axis=1)
    pd.testing.assert_series_equal(table["rfm_score"], scores, check_names=False)
    assert table["rfm_score"].dtype == pd.Series([1]).astype(str).dtype  # text, as astype gives


def test_without_order_column_frequency_counts_purchase_days():
    table = rfm(_transactions(), as_of="2024-03-11", order_col=None)
    assert table["frequency"].tolist() == [2, 1, 1]  # cid's two orders were on one day
    assert table["monetary_mean"].tolist() == [22.5, 100.0, 10.0]


def test_as_of_defaults_to_the_latest_purchase_day_and_cuts_later_purchases():
    assert rfm(_transactions())["recency"].tolist() == [0, 39, 5]
    early = rfm(_transactions(), as_of=dt.date(2024, 3, 5))
    assert early.index.tolist() == ["ann", "bob", "cid"]
    assert early["recency"].tolist() == [4, 34, 0]  # cid's purchases on the day itself count
    assert early["frequency"].tolist() == [1, 1, 2]  # ann's order of 10 March is left out
    assert early["monetary_total"].tolist() == [15.0, 100.0, 10.0]
    only_bob = rfm(_transactions(), as_of="2024-02-15")
    assert only_bob.index.tolist() == ["bob"]


def test_timezones_are_compared_in_utc():
    naive = _transactions()
    aware = naive.assign(
        ordered_at=pd.to_datetime(naive["ordered_at"])
        .dt.tz_localize("UTC")
        .dt.tz_convert("America/New_York")
    )
    pd.testing.assert_frame_equal(
        rfm(naive, as_of="2024-03-11"),
        rfm(aware, as_of=pd.Timestamp("2024-03-11T05:00", tz="Europe/Paris")),
    )


def test_custom_column_names_and_anonymous_rows():
    frame = _transactions().rename(
        columns={"customer_id": "who", "order_id": "ref", "ordered_at": "when", "amount": "paid"}
    )
    frame.loc[len(frame)] = [None, 99, "2024-03-10", 1000.0]  # a sale without a customer
    table = rfm(
        frame, "2024-03-11", customer_col="who", order_col="ref", date_col="when", amount_col="paid"
    )
    assert table.index.name == "who"
    assert table["monetary_total"].tolist() == [45.0, 100.0, 10.0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="amount"), "amount"),
        (lambda f: f.assign(amount=[1.0, None, 1.0, 1.0, 1.0, 1.0]), "amount"),
        (lambda f: f.assign(ordered_at=["x"] * 6), "ordered_at"),
        (lambda f: f.assign(order_id=[1, None, 2, 3, 4, 5]), "order_id"),
    ],
)
@pytest.mark.filterwarnings("ignore:Could not infer format")  # pandas, on the "x" dates
def test_bad_transactions_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        rfm(change(_transactions()), as_of="2024-03-11")


def test_scores_by_hand():
    values = pd.Series([5, 1, 3, 3, 9, 0, 7, 2, 8, 4], index=list("abcdefghij"))
    # Ranks f1 b2 h3 c4 d5 j6 a7 g8 i9 e10; score ceil(5 * rank / 10). The tie c = d = 3 goes
    # in row order: c ranks below d.
    assert quintile_scores(values).tolist() == [4, 1, 2, 3, 5, 1, 4, 2, 5, 3]
    # Lower is better (recency): the smallest values score 5; again c ranks below d.
    assert quintile_scores(values, higher_is_better=False).tolist() == [
        2,
        5,
        3,
        4,
        1,
        5,
        2,
        4,
        1,
        3,
    ]
    assert quintile_scores(pd.Series([42.0])).tolist() == [5]
    assert quintile_scores(pd.Series([1, 1, 1, 1, 1, 1, 1, 1, 1, 1])).tolist() == [
        1, 1, 2, 2, 3, 3, 4, 4, 5, 5,
    ]  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_order_is_the_stable_sort(seed):
    rng = np.random.default_rng(seed)
    samples = {
        "few ints": rng.integers(0, 7, 5000),
        "unsigned": rng.integers(0, 2**40, 3000).astype(np.uint64),
        "floats with ties and signed zeros": rng.choice([-1.5, -0.0, 0.0, 2.25, 1e300], 4000),
        "distinct floats": rng.normal(size=3000),
        "one": np.array([3.0]),
    }
    for name, numbers in samples.items():
        ascending = np.argsort(numbers, kind="stable")
        descending = (len(numbers) - 1 - np.argsort(numbers[::-1], kind="stable"))[::-1]
        found = rfm_module._first_order(numbers, descending=False)
        assert found.tolist() == ascending.tolist(), name
        found = rfm_module._first_order(numbers, descending=True)
        assert found.tolist() == descending.tolist(), name
        ranks = pd.Series(numbers).rank(method="first", ascending=False).to_numpy()
        assert (ranks[found] == np.arange(1, len(numbers) + 1)).all(), name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_equal_pandas_qcut_of_first_ranks(seed):
    rng = np.random.default_rng(seed)
    n = 4000
    frame = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 500, n),
            "order_id": np.arange(n),
            "ordered_at": pd.Timestamp("2023-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
            "amount": rng.gamma(2.0, 40.0, n).round(2),
        }
    )
    table = rfm(frame, as_of="2024-12-31")
    # pd.qcut of the ranks and ceil(5 i / n) make the same bins when five divides n.
    table = table.iloc[: len(table) - len(table) % 5]
    assert len(table) >= 490

    def qcut(series, ascending=True):
        ranks = series.rank(method="first", ascending=ascending)
        return pd.qcut(ranks, 5, labels=False).astype(np.int64) + 1

    rescored = pd.DataFrame(
        {
            "r": quintile_scores(table["recency"], higher_is_better=False),
            "f": quintile_scores(table["frequency"]),
            "m": quintile_scores(table["monetary_total"]),
        }
    )
    assert rescored["r"].tolist() == qcut(table["recency"], ascending=False).tolist()
    assert rescored["f"].tolist() == qcut(table["frequency"]).tolist()
    assert rescored["m"].tolist() == qcut(table["monetary_total"]).tolist()

    grouped = frame.groupby("customer_id")
    full = rfm(frame, as_of="2024-12-31")
    last = grouped["ordered_at"].max()
    assert full["recency"].tolist() == (
        (pd.Timestamp("2024-12-31", tz="UTC") - last.dt.floor("D")).dt.days.tolist()
    )
    assert full["frequency"].tolist() == grouped["order_id"].nunique().tolist()
    np.testing.assert_allclose(full["monetary_total"], grouped["amount"].sum(), rtol=1e-12)
    assert (
        full["rfm_score"] == full[["r_score", "f_score", "m_score"]].astype(str).sum(axis=1)
    ).all()
    # Quintiles hold a fifth of the customers each (give or take one).
    for column in ("r_score", "f_score", "m_score"):
        sizes = full[column].value_counts().sort_index()
        assert sizes.index.tolist() == [1, 2, 3, 4, 5]
        assert sizes.max() - sizes.min() <= 1
    # The most recent customers score 5.
    assert full.loc[full["recency"].idxmin(), "r_score"] == 5
    assert full.loc[full["recency"].idxmax(), "r_score"] == 1


def _uuid_orders(seed, n=3000, customers=400):
    """Orders with UUID text ids; some orders have several lines, one order id is shared by two
    customers, and one customer id is not ASCII (same length in bytes)."""
    rng = np.random.default_rng(seed)
    names = np.array([str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(customers)])
    names[0] = "é" + names[0][2:]  # 36 bytes in UTF-8, sorts after every hex digit
    orders = np.array([str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)])
    orders[1::7] = orders[0::7][: len(orders[1::7])]  # order lines: an order on two rows
    who = rng.integers(0, customers, n)
    who[1::7] = who[0::7][: len(who[1::7])]
    orders[-1] = orders[-3]  # the same order id for two customers (if they differ)
    return pd.DataFrame(
        {
            "customer_id": names[who],
            "order_id": orders,
            "ordered_at": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 400 * 86_400, n), unit="s"),
            "amount": rng.gamma(2.0, 40.0, n).round(2),
        }
    )


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("dtype", [object, str, "string[pyarrow]", "string[python]"])
def test_text_ids_of_one_length_give_the_table_of_the_general_path(monkeypatch, seed, dtype):
    frame = _uuid_orders(seed)
    typed = frame.astype({"customer_id": dtype, "order_id": dtype})
    fast = rfm(typed, as_of="2025-03-01")
    by_days = rfm(typed, as_of="2025-03-01", order_col=None)
    monkeypatch.setattr(rfm_module, "_text_bytes", lambda values: None)  # the general path
    pd.testing.assert_frame_equal(fast, rfm(frame, as_of="2025-03-01"), check_exact=True)
    pd.testing.assert_frame_equal(
        by_days, rfm(frame, as_of="2025-03-01", order_col=None), check_exact=True
    )
    assert fast.index.tolist() == sorted(frame["customer_id"].unique())
    grouped = frame.groupby("customer_id")
    assert fast["frequency"].tolist() == grouped["order_id"].nunique().tolist()


def test_unique_order_ids_and_hash_collisions_count_the_same(monkeypatch):
    frame = _uuid_orders(2).drop_duplicates("order_id").astype({"order_id": str})
    expected = rfm(frame, as_of="2025-03-01")
    grouped = frame.groupby("customer_id")
    assert expected["frequency"].tolist() == grouped.size().tolist()
    # Every value hashing alike: the byte comparison catches it and the values are factorised
    # (the numpy path; the kernel's own comparison is tested below).
    monkeypatch.setattr(rfm_module, "_group", None)
    monkeypatch.setattr(rfm_module, "_hash_rows", lambda rows: np.zeros(len(rows), dtype=np.uint64))
    pd.testing.assert_frame_equal(rfm(frame, as_of="2025-03-01"), expected, check_exact=True)


def test_text_ids_of_several_lengths_and_mixed_values():
    frame = _transactions().assign(customer_id=["al", "al", "al", "bob", "c", "c"])
    assert rfm(frame, as_of="2024-03-11").index.tolist() == ["al", "bob", "c"]
    mixed = _transactions().assign(order_id=["1", "1", 2, 3, b"4", "5"])
    assert rfm(mixed, as_of="2024-03-11")["frequency"].tolist() == [2, 1, 2]


@pytest.mark.parametrize("width", [4, 8, 12, 36])
def test_distinct_byte_rows_sort_bytewise(width):
    rng = np.random.default_rng(width)
    rows = rng.integers(0, 256, (5000, width)).astype(np.uint8)
    rows[:, : min(width, 7)] = rng.integers(0, 2, (5000, min(width, 7)))  # prefixes shared
    rows = np.unique(rows, axis=0)[rng.permutation(len(np.unique(rows, axis=0)))]
    order = rfm_module._bytes_order(rows)
    found = [bytes(row) for row in rows[order]]
    assert found == sorted(bytes(row) for row in rows)


KERNEL = pytest.mark.skipif(rfm_module._group is None, reason="the C kernel is not built here")


@KERNEL
@pytest.mark.parametrize("width", [1, 4, 8, 13, 40])
def test_kernel_codes_rows_as_pandas_factorizes_them(width):
    rng = np.random.default_rng(width)
    distinct = rng.integers(0, 256, (300, width)).astype(np.uint8)
    rows = np.ascontiguousarray(distinct[rng.integers(0, len(distinct), 5000)])
    codes, first = (np.frombuffer(part, dtype=np.int64) for part in
                    rfm_module._group.factorize_rows(rows, width))  # fmt: skip
    expected, _ = pd.factorize(np.array([bytes(row) for row in rows], dtype=object))
    assert codes.tolist() == expected.tolist()
    assert first.tolist() == [int(np.flatnonzero(expected == c)[0]) for c in range(len(first))]
    # Every hash masked to 0: the rows collide and the byte comparison refuses the codes.
    assert rfm_module._group.factorize_rows(rows, width, 0) is None
    same = np.ascontiguousarray(rows[:1].repeat(9, axis=0))
    assert rfm_module._group.factorize_rows(same, width, 0) is not None  # one value: no clash
    with pytest.raises(ValueError, match="whole rows"):
        rfm_module._group.factorize_rows(rows, 0)
    if width > 1:
        with pytest.raises(ValueError, match="whole rows"):
            rfm_module._group.factorize_rows(np.append(rows.ravel(), np.uint8(0)), width)


@KERNEL
def test_kernel_sums_as_pandas_does_to_the_bit():
    rng = np.random.default_rng(3)
    n, groups = 20_000, 700
    codes = rng.integers(0, groups, n)
    amounts = rng.choice([1e16, -1e16, 0.1, 1e-3, 3.0, 7e-17], n) * rng.random(n)
    amounts[:3] = [np.inf, np.nan, -np.inf]
    amounts[3:5] = [np.inf, 5.0]
    codes[:5] = [1, 1, 2, 4, 4]
    found = rfm_module._group_sums(codes, amounts, groups)
    expected = pd.Series(amounts).groupby(codes).sum().reindex(range(groups), fill_value=0.0)
    assert found.view(np.int64).tolist() == expected.to_numpy().view(np.int64).tolist()
    with pytest.raises(ValueError, match="outside"):
        rfm_module._group_sums(np.array([0, groups]), np.array([1.0, 2.0]), groups)


@KERNEL
@pytest.mark.parametrize("ids", ["str", "object", "int", "int32"])
def test_kernel_and_pandas_paths_give_the_same_table(monkeypatch, ids):
    frame = _uuid_orders(4)
    repeat = frame.assign(order_id=frame["order_id"].str.slice(0, 2))  # orders shared
    if ids.startswith("int"):
        dtype = np.int64 if ids == "int" else np.int32
        frame = frame.assign(customer_id=pd.factorize(frame["customer_id"])[0].astype(dtype) * 3,
                             order_id=pd.factorize(frame["order_id"])[0].astype(dtype))  # fmt: skip
        repeat = frame.assign(order_id=frame["order_id"] % 50)
    else:
        frame = frame.astype({"customer_id": ids, "order_id": ids})
        repeat = repeat.astype({"customer_id": ids, "order_id": ids})
    compiled = [rfm(table, as_of="2025-03-01") for table in (frame, repeat)]
    monkeypatch.setattr(rfm_module, "_group", None)
    for table, got in zip((frame, repeat), compiled, strict=True):
        pd.testing.assert_frame_equal(got, rfm(table, as_of="2025-03-01"), check_exact=True)
