"""Store an analysis's results and put them to work.

Segmentation: one segment per cluster (``source = "analysis"``) with its members, and each
customer's segment and RFM profile in ``customer_insight``. Rules: the rules, in product terms,
for recommendations. Everything is written in bulk, in the run's one transaction.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, Uuid, insert, select, update
from sqlalchemy.orm import Session

from patron.insights import repository
from patron.insights.models import AnalysisRun, AssociationRule
from patron.kit.clock import utcnow
from patron.kit.ids import new_id
from patron.marketing.models import Segment

SEGMENT_PREFIX = "RFM: "
BATCH = 5_000


class Outcome(Protocol):
    fingerprint: str

    def store(self, session: Session, run: AnalysisRun) -> None: ...


def set_run_progress(session: Session, run_id: uuid.UUID, value: float) -> None:
    session.execute(
        update(AnalysisRun)
        .where(AnalysisRun.id == run_id)
        .values(progress=max(0.0, min(1.0, value)))
        .execution_options(synchronize_session=False)
    )


def _insert_many(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        session.execute(insert(table), rows[start : start + BATCH])


@dataclass
class SegmentationOutcome:
    fingerprint: str
    table: pd.DataFrame  # the RFM table, indexed by customer id (32 hex digits, or any UUID form)
    labels: np.ndarray
    segments: pd.DataFrame
    silhouette: float
    silhouette_scores: dict[int, float]
    as_of: str

    def store(self, session: Session, run: AnalysisRun) -> None:
        """The segments, their members and each customer's insight, in the session's transaction.

        One row per customer (a million for a million customers) goes in bulk into a temporary
        table — the driver's ``executemany`` on SQLite, ``COPY`` on PostgreSQL — and from there
        into the tables, a statement each: memberships that no longer hold are deleted, new ones
        inserted (one that holds stays as it is, with the time the customer joined), and every
        customer's insight is inserted or updated. If anything fails, the rollback leaves the
        previous segments as they were.
        """
        now = utcnow()
        summary = self.segments.to_dict(orient="records")
        segment_ids = _analysis_segments(session, run, summary)
        columns = self._rows(segment_ids, {int(r["segment"]): str(r["name"]) for r in summary})
        connection = session.connection()
        dialect = connection.dialect.name
        rows_table = repository.segmentation_rows
        rows_table.create(connection)
        _load(connection, rows_table, columns)
        connection.execute(repository.members_not_in_rows(list(segment_ids.values())))
        connection.execute(repository.members_from_rows(now))
        connection.execute(repository.insights_from_rows(dialect, run.id, now))
        rows_table.drop(connection)
        run.data_fingerprint = self.fingerprint
        run.metrics = {
            "k": len(summary), "silhouette": self.silhouette, "n_customers": len(self.table),
            "silhouette_by_k": {str(k): v for k, v in self.silhouette_scores.items()},
        }  # fmt: skip
        run.results = {
            "as_of": self.as_of,
            "segments": [
                {**_plain(row), "segment_id": str(segment_ids[int(row["segment"])])}
                for row in summary
            ],
        }

    def _rows(
        self, segment_ids: dict[int, uuid.UUID], names: dict[int, str]
    ) -> dict[str, np.ndarray]:
        """One row per customer, column by column, in the forms SQLite stores (hex ids)."""
        labels = np.asarray(self.labels, dtype=np.int64)
        numbers = range(len(segment_ids))  # segments are numbered 0…k-1
        segment_hex = np.array([segment_ids[i].hex for i in numbers], dtype=object)
        segment_name = np.array([names[i] for i in numbers], dtype=object)
        n = len(self.table)
        ids = _uuid7_hex(2 * n)
        return {
            "customer_id": _hex_ids(self.table.index),
            "segment_id": segment_hex[labels],
            "segment_name": segment_name[labels],
            "recency_days": self.table["recency"].to_numpy(dtype=np.float64),
            "frequency": self.table["frequency"].to_numpy(dtype=np.int64),
            "monetary": self.table["monetary_total"].to_numpy(dtype=np.float64),
            "rfm_score": self.table["rfm_score"].to_numpy(dtype=object),
            "member_id": ids[:n],
            "insight_id": ids[n:],
        }


def _analysis_segments(
    session: Session, run: AnalysisRun, summary: list[dict[str, Any]]
) -> dict[int, uuid.UUID]:
    """One ``analysis`` segment per cluster, reusing those of the same name; the others go, with
    their members. Returns the segment id of each segment number."""
    existing = {
        s.name: s for s in session.scalars(select(Segment).where(Segment.source == "analysis"))
    }
    segment_ids: dict[int, uuid.UUID] = {}
    for row in summary:
        name = SEGMENT_PREFIX + str(row["name"])
        segment = existing.pop(name, None)
        description = (
            f"{row['size']} customers, {row['share_of_revenue']:.1%} of revenue; "
            f"from analysis run {run.id}."
        )
        rules = {"run_id": str(run.id), "segment": int(row["segment"])}
        if segment is None:
            segment = Segment(name=name, source="analysis", description=description,
                              rules=rules)  # fmt: skip
            session.add(segment)
        else:
            segment.description = description
            segment.rules = rules
        session.flush()
        segment_ids[int(row["segment"])] = segment.id
    for stale in existing.values():
        session.delete(stale)  # its members go with it (ON DELETE CASCADE)
    session.flush()
    return segment_ids


_HEX = np.zeros(256, dtype=bool)
_HEX[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = True


def _hex_ids(index: pd.Index) -> np.ndarray:
    """Customer ids as 32 lowercase hex digits, however the table gives them."""
    values = index.to_numpy(dtype=object)
    strings = values.tolist()
    try:
        lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
        text = "".join(strings).encode("ascii")
    except (TypeError, UnicodeEncodeError):
        text = None
    if text is not None and (lengths == 32).all() and _HEX[np.frombuffer(text, np.uint8)].all():
        return values  # as the database gave them
    return np.array([uuid.UUID(str(value)).hex for value in strings], dtype=object)


def _uuid7_hex(count: int) -> np.ndarray:
    """``count`` new UUIDv7s (RFC 9562) as 32 hex digits, in increasing order.

    All carry this millisecond; below it, a 32-bit sequence number (12 bits of ``rand_a`` and
    the top 20 of ``rand_b``) orders them, and the remaining 42 bits are random.
    """
    if count >= 1 << 32:
        raise ValueError("at most 2**32 ids at a time")
    millis = np.uint64(time.time_ns() // 1_000_000)
    sequence = np.arange(count, dtype=np.uint64)
    random = np.frombuffer(os.urandom(8 * count), dtype=np.uint64) & np.uint64((1 << 42) - 1)
    words = np.empty((count, 2), dtype=">u8")
    words[:, 0] = (millis << np.uint64(16)) | np.uint64(0x7000) | (sequence >> np.uint64(20))
    words[:, 1] = (
        np.uint64(0x8000_0000_0000_0000)
        | ((sequence & np.uint64(0xFFFFF)) << np.uint64(42))
        | random
    )
    text = words.tobytes().hex()
    return np.array([text[start : start + 32] for start in range(0, 32 * count, 32)], dtype=object)


LOAD_BATCH = 50_000


def _bulk_method(connection: Connection) -> str:
    """How rows go into a table here: ``copy``, ``executemany`` or ``core``."""
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        return "copy"
    return "executemany" if connection.dialect.name == "sqlite" else "core"


def _load(connection: Connection, table: Table, columns: dict[str, np.ndarray]) -> None:
    """Fill ``table`` with ``columns``: ``COPY`` on PostgreSQL (psycopg), the driver's
    ``executemany`` on SQLite with values as SQLAlchemy stores them there (ids as hex text),
    SQLAlchemy Core elsewhere."""
    names = list(columns)
    n = len(next(iter(columns.values())))
    method = _bulk_method(connection)
    if method == "copy":
        preparer = connection.dialect.identifier_preparer
        column_list = ", ".join(preparer.quote(name) for name in names)
        statement = f"COPY {preparer.format_table(table)} ({column_list}) FROM STDIN"
        driver_connection: Any = connection.connection.driver_connection
        with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for start in range(0, n, LOAD_BATCH):
                texts = [_copy_texts(columns[name][start : start + LOAD_BATCH]) for name in names]
                lines = map("\t".join, zip(*texts, strict=True))
                copy.write("".join(line + "\n" for line in lines))
        return
    compiled = insert(table).compile(dialect=connection.dialect)
    if method == "executemany":
        names = list(compiled.positiontup or names)  # in the order of the ``?``
    uuids = {name for name in names if isinstance(table.c[name].type, Uuid)}
    for start in range(0, n, LOAD_BATCH):
        batch = [columns[name][start : start + LOAD_BATCH].tolist() for name in names]
        if method == "executemany":
            connection.exec_driver_sql(str(compiled), list(zip(*batch, strict=True)))
        else:
            rows = [
                {name: uuid.UUID(hex=value) if name in uuids else value
                 for name, value in zip(names, row, strict=True)}
                for row in zip(*batch, strict=True)
            ]  # fmt: skip
            connection.execute(insert(table), rows)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_texts(values: np.ndarray) -> list[str]:
    """One column in ``COPY``'s text format (there are no NULLs here).

    Floats are written as ``repr`` writes them, the shortest text that reads back as the same
    double, so PostgreSQL stores exactly the value computed here."""
    if values.dtype.kind == "f":
        return [repr(value) for value in values.tolist()]
    if values.dtype.kind in "iu":
        return [str(value) for value in values.tolist()]
    return [str(value).translate(_COPY_ESCAPES) for value in values.tolist()]


@dataclass
class RulesOutcome:
    fingerprint: str
    rules: pd.DataFrame
    n_baskets: int
    n_items: int
    n_itemsets: int

    def store(self, session: Session, run: AnalysisRun) -> None:
        skus = sorted({sku for side in ("antecedents", "consequents")
                       for items in self.rules[side] for sku in items})  # fmt: skip
        products: dict[str, tuple[uuid.UUID, str]] = {}
        for start in range(0, len(skus), BATCH):
            for sku, product_id, name in session.execute(
                repository.products_by_sku(skus[start : start + BATCH])
            ):
                products[str(sku)] = (product_id, str(name))  # type: ignore[assignment]
        rows = []
        top = []
        for rule in self.rules.itertuples(index=False):
            antecedents = sorted(str(products[s][0]) for s in rule.antecedents)
            consequents = sorted(str(products[s][0]) for s in rule.consequents)
            text = (
                " + ".join(sorted(products[s][1] for s in rule.antecedents))
                + " → "
                + " + ".join(sorted(products[s][1] for s in rule.consequents))
            )
            conviction = None if math.isinf(rule.conviction) else float(rule.conviction)
            row = {
                "id": new_id(), "run_id": run.id, "antecedents": antecedents,
                "consequents": consequents, "antecedent_size": len(antecedents),
                "consequent_size": len(consequents),
                "antecedent_support": float(rule.antecedent_support),
                "consequent_support": float(rule.consequent_support),
                "support": float(rule.support), "confidence": float(rule.confidence),
                "lift": float(rule.lift), "leverage": float(rule.leverage),
                "conviction": conviction, "description": text,
            }  # fmt: skip
            rows.append(row)
            if len(top) < 20:
                top.append({k: row[k] for k in ("description", "support", "confidence", "lift")})
        _insert_many(session, AssociationRule.__table__, rows)
        run.data_fingerprint = self.fingerprint
        run.metrics = {
            "n_baskets": self.n_baskets, "n_items": self.n_items,
            "n_itemsets": self.n_itemsets, "n_rules": len(rows),
        }  # fmt: skip
        run.results = {"top_rules": top}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, np.integer):
            plain[key] = int(value)
        elif isinstance(value, np.floating):
            plain[key] = float(value)
        else:
            plain[key] = value
    return plain
