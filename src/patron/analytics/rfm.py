"""Recency, frequency and monetary value per customer (RFM).

RFM summarises each customer's purchase history in three numbers (Hughes, *Strategic Database
Marketing*, 1994; Fader, Hardie & Lee, "RFM and CLV", Journal of Marketing Research 42(4), 2005):

* **recency** — whole days from the customer's last purchase to ``as_of`` (0: bought that day);
* **frequency** — how many purchases: distinct orders, or distinct purchase days when there is
  no order column (several lines on one day then count as one purchase);
* **monetary** — ``monetary_total``, the sum of the amounts, and ``monetary_mean``, the average
  per purchase (``monetary_total / frequency``).

Each is also scored 1-5 by quintile of the customers: a higher score is better, so the most recent
fifth gets ``r_score`` 5 while the most frequent and the biggest spenders get ``f_score`` and
``m_score`` 5. Customers are ranked in customer-id order first, so ties (say, the many one-order
customers) are split deterministically; ``rfm_score`` joins the three digits, e.g. ``"535"``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable

import numpy as np
import pandas as pd
import pyarrow as pa

try:
    from patron.analytics import _group
except ImportError:  # built without a C compiler: pandas and numpy group the rows
    _group = None

RFM_COLUMNS = (
    "recency",
    "frequency",
    "monetary_total",
    "monetary_mean",
    "r_score",
    "f_score",
    "m_score",
    "rfm_score",
)


def quintile_scores(values: pd.Series, *, higher_is_better: bool = True) -> pd.Series:
    """Scores 1-5 by equal-count bins of the ranks (``rank(method="first")``).

    With ``n`` values ranked ``1…n`` from worst to best, rank ``i`` scores ``ceil(5 · i / n)``:
    the same bins as ``pd.qcut(ranks, 5)`` when ``n`` is a multiple of five, and defined for any
    ``n >= 1``. Ties take the order in which they appear.
    """
    n = len(values)
    if n == 0:
        return pd.Series(dtype=np.int64, index=values.index)
    numbers = values.to_numpy()
    if numbers.dtype.kind in "iuf" and not np.isnan(numbers).any():
        order = _first_order(numbers, descending=not higher_is_better)
        ranks = np.empty(n, dtype=np.float64)
        ranks[order] = np.arange(1, n + 1, dtype=np.float64)
    else:
        ranks = values.rank(method="first", ascending=higher_is_better).to_numpy()
    scores = np.ceil(5.0 * ranks / n).astype(np.int64)
    return pd.Series(np.clip(scores, 1, 5), index=values.index)


def _first_order(numbers: np.ndarray, *, descending: bool) -> np.ndarray:
    """The order ``rank(method="first")`` ranks ``numbers`` in: by value (ascending, or
    descending), equal values in the order they appear.

    A stable ``argsort`` gives it, but slowly; instead an unstable one (fast) finds the runs of
    equal values, and one ``sort`` of ``(run, position)`` packed into 64-bit keys puts each run
    in position order: the same order, several times faster on a million values.
    """
    n = len(numbers)
    bits = max(int(n - 1).bit_length(), 1)
    if bits > 32:  # the run and the position no longer fit in 64 bits together
        if not descending:
            return np.argsort(numbers, kind="stable")
        return (n - 1 - np.argsort(numbers[::-1], kind="stable"))[::-1]
    unstable = np.argsort(numbers)
    ordered = numbers[unstable]
    run = np.empty(n, dtype=np.uint64)
    run[0] = 0
    np.cumsum(ordered[1:] != ordered[:-1], out=run[1:])
    if descending:
        run = run[-1] - run
    keys = (run << np.uint64(bits)) | unstable.astype(np.uint64)
    keys.sort()
    return (keys & np.uint64((1 << bits) - 1)).astype(np.intp)


def _utc_day(value: object) -> pd.Timestamp:
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    if pd.isna(stamp):
        raise ValueError(f"as_of must be a date or a timestamp, got {value!r}")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.floor("D")


def _days(values: pd.Series, name: Hashable) -> pd.Series:
    """UTC calendar days; ISO 8601 text is parsed strictly, other text by pandas' inference."""
    try:
        if pd.api.types.is_datetime64_any_dtype(values):
            stamps = pd.to_datetime(values, utc=True)
        else:
            try:
                stamps = pd.to_datetime(values, utc=True, format="ISO8601")
            except ValueError:
                stamps = pd.to_datetime(values, utc=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"column {name!r} does not hold dates: {exc}") from exc
    return stamps.dt.floor("D")


def rfm(
    transactions: pd.DataFrame,
    as_of: dt.date | dt.datetime | pd.Timestamp | str | None = None,
    *,
    customer_col: Hashable = "customer_id",
    order_col: Hashable | None = "order_id",
    date_col: Hashable = "ordered_at",
    amount_col: Hashable = "amount",
) -> pd.DataFrame:
    """The RFM table: one row per customer, indexed by customer id (sorted).

    Parameters
    ----------
    transactions : DataFrame
        One row per purchase or purchase line: customer, date/time, amount and, optionally, order.
    as_of : date, timestamp, ISO string or None
        The day recency is counted to. Purchases dated after that day are left out. ``None``
        takes the day of the latest purchase in ``transactions``.
    customer_col, order_col, date_col, amount_col : column names
        ``order_col=None`` counts distinct purchase days as the frequency.

    Returns
    -------
    DataFrame with columns ``recency`` (days, int), ``frequency`` (int), ``monetary_total``,
    ``monetary_mean`` (floats), ``r_score``, ``f_score``, ``m_score`` (1-5) and ``rfm_score``.

    Dates are read as UTC (naive ones are taken to be UTC already) and compared by calendar day.
    Rows without a customer (anonymous sales) are left out; a missing date, amount or order id is
    an error.
    """
    wanted = [customer_col, date_col, amount_col] + ([order_col] if order_col is not None else [])
    missing = [column for column in wanted if column not in transactions.columns]
    if missing:
        raise ValueError(f"the transactions have no column(s) {missing}")
    known = transactions[customer_col].notna()
    frame = transactions[wanted] if known.all() else transactions.loc[known, wanted]
    for column in wanted[1:]:
        if frame[column].isna().any():
            raise ValueError(f"column {column!r} has missing values")
    days = _days(frame[date_col], date_col)
    amounts = pd.to_numeric(frame[amount_col], errors="raise").astype(float)
    cutoff = days.max() if as_of is None else _utc_day(as_of)
    inside = (days <= cutoff).to_numpy()
    if not inside.all():
        frame, days, amounts = frame[inside], days[inside], amounts[inside]
    # Group on integer codes (customers factorised in sorted order, as ``groupby(sort=True)``
    # numbers them): the same groups in the same order, without hashing the keys per aggregate.
    codes, customers = _factorize(frame[customer_col], sort=True)
    day_numbers = _day_numbers(days)
    last_day = np.full(len(customers), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last_day, codes, day_numbers)
    amount_sums = _group_sums(codes, amounts.to_numpy(dtype=np.float64), len(customers))
    purchases = frame[order_col] if order_col is not None else pd.Series(day_numbers)
    cutoff_day = int(_day_numbers(pd.Series([cutoff]))[0]) if len(frame) else 0
    recency = cutoff_day - last_day
    frequency = _distinct_per_group(codes, purchases, len(customers))
    if customer_col is None or not (customers.dtype == _TEXT or customers.dtype.kind in "iuf"):
        return rfm_from_totals(
            customers.rename(customer_col),
            recency=recency,
            frequency=frequency,
            monetary_total=amount_sums,
        )
    # Text and numbers come sorted and distinct from _factorize: skip rfm_from_totals' checks.
    table = pd.DataFrame(
        {
            "recency": recency.astype(np.int64),
            "frequency": frequency.astype(np.int64),
            "monetary_total": amount_sums.astype(np.float64),
        },
        index=customers.rename(customer_col),
    )
    return _scored(table)


_TEXT = pd.Index(np.array([""], dtype=object)).dtype  # what pandas makes of Python strings


def _factorize(values: pd.Series, *, sort: bool = False) -> tuple[np.ndarray, pd.Index]:
    """Codes 0…n-1 and the distinct values, as ``groupby`` numbers them (sorted with ``sort``).

    Text of one length in bytes (UUIDs, hex digests, fixed-width codes) and integers are coded
    from their bytes (:func:`_code_bytes`); other text is factorised as it is stored (pyarrow
    strings hash without making a Python object per row), anything else as a NumPy array, as
    ``groupby`` would.
    """
    text = _text_bytes(values)
    coded = _code_bytes(text[0], sort=sort) if text is not None else None
    if text is not None and coded is not None:
        codes, first = coded
        uniques = pd.Index(pd.array(text[1].take(first), dtype=_TEXT))
        return codes, uniques
    if isinstance(values.dtype, pd.StringDtype) and len(values):
        codes, uniques = values.factorize(sort=sort)
        if uniques.dtype != _TEXT:
            uniques = uniques.astype(_TEXT)
        return np.asarray(codes), pd.Index(uniques)
    numbers = values.to_numpy()
    if _group is not None and numbers.dtype.kind in "iu" and len(numbers):
        # Integers are their own bytes: coded by the kernel, exactly (floats are not: 0.0
        # and -0.0 are one value in two spellings).
        rows = np.ascontiguousarray(numbers).view(np.uint8).reshape(len(numbers), -1)
        coded = _code_bytes(rows, sort=False)
        if coded is not None:
            codes, first = coded
            uniques = numbers[first]
            if sort:
                order = np.argsort(uniques)
                rank = np.empty(len(order), dtype=np.int64)
                rank[order] = np.arange(len(order))
                codes, uniques = rank[codes], uniques[order]
            return codes, pd.Index(uniques)
    codes, uniques = pd.factorize(numbers, sort=sort)
    return codes, pd.Index(uniques)


def _text_bytes(values: pd.Series) -> tuple[np.ndarray, pa.Array] | None:
    """When every value is text of the same length in bytes: each value's UTF-8 bytes as a row
    of a ``uint8`` matrix (padded with zero bytes to a multiple of 4 columns), and the values as
    an Arrow array. Else ``None``."""
    if not len(values):
        return None
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        array = pa.array(values.array)
    elif values.dtype == object or isinstance(values.dtype, pd.StringDtype):
        objects = values.to_numpy(dtype=object)
        if pd.api.types.infer_dtype(objects, skipna=False) != "string":
            return None  # not only str (bytes, numbers, missing values, a mixture)
        try:
            array = pa.array(objects, type=pa.large_string())
        except (pa.ArrowException, UnicodeError):  # lone surrogates, say
            return None
    else:
        return None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count or array.type not in (pa.string(), pa.large_string()):
        return None
    _, offsets_buffer, data_buffer = array.buffers()
    offset_type = np.int64 if array.type == pa.large_string() else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)
    offsets = offsets[array.offset : array.offset + len(array) + 1].astype(np.int64)
    width = int(offsets[1] - offsets[0])
    if width == 0 or data_buffer is None or not (np.diff(offsets) == width).all():
        return None
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    rows = data.reshape(len(array), width)
    if width % 4:
        padded = np.zeros((len(array), width + 4 - width % 4), dtype=np.uint8)
        padded[:, :width] = rows
        rows = padded
    return rows, array


def _hash_rows(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of bytes (a multiple of 4 of them): multiply-xorshift, eight
    bytes at a time. Equal rows hash alike; different rows almost never do."""
    width = rows.shape[1]
    words = [rows[:, at : at + 8].view(np.uint64)[:, 0] for at in range(0, width - 7, 8)]
    if width % 8:
        words.append(rows[:, width - 4 :].view(np.uint32)[:, 0])
    hashes = np.full(len(rows), 0x9E3779B97F4A7C15, dtype=np.uint64)
    for word in words:
        hashes ^= word
        hashes *= np.uint64(0xFF51AFD7ED558CCD)
        hashes ^= hashes >> np.uint64(32)
    return hashes


def _code_rows(
    rows: np.ndarray, hashes: np.ndarray, *, sort: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """Codes of the rows of bytes, and the first row of each code, from the rows' hashes.

    The hashes are factorised (integers hash far faster than strings); then every row is
    compared byte for byte with the first row of its code, so the codes are exact: two different
    rows hashing alike give ``None`` (factorise the values instead). Codes number the rows in
    order of first appearance, or in sorted order with ``sort`` (UTF-8 bytes sort as the code
    points do, that is as Python sorts strings).
    """
    codes, _ = pd.factorize(hashes.view(np.int64))
    # Codes are numbered in order of first appearance: a row is first when its code is new.
    seen = np.maximum.accumulate(codes)
    new = np.concatenate(([True], codes[1:] > seen[:-1]))
    first = np.flatnonzero(new)
    again = np.flatnonzero(~new)  # rows whose value came before: compare them with the first
    earlier = first[codes[again]]
    later, before = np.take(rows, again, axis=0), np.take(rows, earlier, axis=0)
    if not np.array_equal(later.view(np.uint32), before.view(np.uint32)):
        return None  # two values hash alike
    return _sorted_codes(rows, codes, first) if sort else (codes, first)


def _code_bytes(rows: np.ndarray, *, sort: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_code_rows` of the rows of bytes, by the compiled kernel when it is built (the same
    codes: it hashes, looks up and compares in one pass over the rows, without sorting)."""
    if _group is None:
        return _code_rows(rows, _hash_rows(rows), sort=sort)
    rows = np.ascontiguousarray(rows)
    found = _group.factorize_rows(rows, rows.shape[1])
    if found is None:
        return None  # two values hash alike
    codes, first = (np.frombuffer(part, dtype=np.int64) for part in found)
    return _sorted_codes(rows, codes, first) if sort else (codes, first)


def _sorted_codes(
    rows: np.ndarray, codes: np.ndarray, first: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Codes renumbered in the sorted order of their rows (UTF-8 bytes sort as the code points
    do, that is as Python sorts strings), with the first row of each."""
    order = _bytes_order(np.ascontiguousarray(rows[first]))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank[codes], first[order]


def _bytes_order(rows: np.ndarray) -> np.ndarray:
    """The order that sorts distinct rows of bytes (of one width, a multiple of 4) bytewise.

    Sorting them as fixed-width byte strings compares whole strings, slowly. Their first eight
    bytes read as a big-endian number sort the same way and almost always differ, so those
    numbers are sorted, and only the rows that share them (runs of ties) are sorted again as
    whole strings, inside their run.
    """
    width = rows.shape[1]
    head = np.zeros((len(rows), 8), dtype=np.uint8)
    head[:, : min(width, 8)] = rows[:, :8]
    prefixes = head.view(">u8")[:, 0]
    order = np.argsort(prefixes)
    ordered = prefixes[order]
    tie = ordered[1:] == ordered[:-1]
    if width > 8 and tie.any():
        tied = np.zeros(len(rows), dtype=bool)
        tied[1:] |= tie
        tied[:-1] |= tie
        at = np.flatnonzero(tied)  # positions, in sorted order, inside a run of ties
        members = order[at]
        whole = rows[members].view(f"S{width}")[:, 0]
        within = np.lexsort((whole, ordered[at]))  # by run (its prefix), then the whole row
        order[at] = members[within]
    return order


def _group_sums(codes: np.ndarray, amounts: np.ndarray, groups: int) -> np.ndarray:
    """Each group's total, as pandas' ``groupby(...).sum()`` adds it (compensated, to the bit):
    by the compiled kernel when it is built, else by pandas on the codes as categories (so the
    keys are not hashed again)."""
    if _group is not None:
        codes = np.ascontiguousarray(codes, dtype=np.int64)
        amounts = np.ascontiguousarray(amounts, dtype=np.float64)
        return np.frombuffer(_group.group_sums(codes, amounts, groups), dtype=np.float64)
    categories = pd.Categorical.from_codes(codes, categories=pd.RangeIndex(groups))
    sums = pd.Series(amounts).groupby(categories, observed=True, sort=True).sum()
    return sums.to_numpy()


def _day_numbers(days: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of UTC midnights (as :func:`_days` gives them)."""
    naive = days.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    return naive.astype("datetime64[D]").astype(np.int64)


def _distinct_per_group(codes: np.ndarray, values: pd.Series, groups: int) -> np.ndarray:
    """How many distinct ``values`` each group (``codes`` 0…groups-1) has."""
    coded = None
    text = _text_bytes(values)
    if text is not None:
        keys = _hash_rows(text[0])
    else:  # integers are their own keys; other values (text of several lengths) are factorised
        keys = values.to_numpy() if values.dtype.kind in "iu" else None
    if keys is not None and keys.dtype.kind in "iu":
        ordered = np.sort(keys)
        if not (ordered[1:] == ordered[:-1]).any():  # no two rows alike (one row per order)
            return np.bincount(codes, minlength=groups).astype(np.int64)
    if text is not None:
        coded = _code_bytes(text[0], sort=False)
    if coded is not None:
        value_codes, count = coded[0], len(coded[1])
    else:
        value_codes, uniques = _factorize(values) if text is None else pd.factorize(values)
        count = len(uniques)
    # Usually each value (an order) belongs to one group (a customer): count the values by group.
    group_of = np.zeros(count, dtype=np.int64)
    group_of[value_codes] = codes
    if np.array_equal(group_of[value_codes], codes):
        return np.bincount(group_of, minlength=groups).astype(np.int64)
    pairs = pd.unique(codes.astype(np.int64) * max(count, 1) + value_codes)
    return np.bincount(pairs // max(count, 1), minlength=groups).astype(np.int64)


def rfm_from_totals(
    customers: pd.Index | np.ndarray | list[Hashable],
    *,
    recency: np.ndarray | pd.Series | list[int],
    frequency: np.ndarray | pd.Series | list[int],
    monetary_total: np.ndarray | pd.Series | list[float],
) -> pd.DataFrame:
    """The RFM table from each customer's totals, already counted (by a database, say).

    ``recency`` in whole days, ``frequency`` in purchases, ``monetary_total`` summed; one entry
    per customer, in the order of ``customers``. The table is sorted by customer, then scored
    exactly as :func:`rfm` scores it, so the same totals give the same table.
    """
    index = customers if isinstance(customers, pd.Index) else pd.Index(customers)
    if index.name is None:
        index = index.rename("customer_id")
    table = pd.DataFrame(
        {
            "recency": np.asarray(recency, dtype=np.int64),
            "frequency": np.asarray(frequency, dtype=np.int64),
            "monetary_total": np.asarray(monetary_total, dtype=np.float64),
        },
        index=index,
    )
    if not table.index.is_monotonic_increasing:
        table = table.sort_index(kind="stable")
    if len(table) > 1 and (table.index[1:] == table.index[:-1]).any():  # sorted: side by side
        raise ValueError("each customer must appear once in the totals")
    return _scored(table)


def _scored(table: pd.DataFrame) -> pd.DataFrame:
    """The RFM table from ``recency``, ``frequency`` and ``monetary_total``, one row per
    customer, sorted by customer."""
    table["monetary_mean"] = table["monetary_total"] / table["frequency"]
    table["r_score"] = quintile_scores(table["recency"], higher_is_better=False)
    table["f_score"] = quintile_scores(table["frequency"])
    table["m_score"] = quintile_scores(table["monetary_total"])
    table["rfm_score"] = _score_text(table["r_score"], table["f_score"], table["m_score"])
    return table[list(RFM_COLUMNS)]


def _score_text(r: pd.Series, f: pd.Series, m: pd.Series) -> pd.Series:
    """``"535"`` from the three 1-5 scores: three ASCII digits each, looked up among 216 and
    laid out as one Arrow string buffer (no Python string per customer)."""
    digits = np.array(
        [f"{a}{b}{c}".encode() for a in range(6) for b in range(6) for c in range(6)], dtype="S3"
    )
    codes = r.to_numpy() * 36 + f.to_numpy() * 6 + m.to_numpy()
    n = len(codes)
    offsets = np.arange(0, 3 * (n + 1), 3, dtype=np.int64)
    texts = pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(digits[codes].tobytes())
    )
    text_dtype = r.iloc[:0].astype(str).dtype  # the dtype ``astype(str)`` gives here
    return pd.Series(texts, index=r.index, dtype=text_dtype)
