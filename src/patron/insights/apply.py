"""Store an analysis's results and put them to work.

Segmentation: one segment per cluster (``source = "analysis"``) with its members, and each
customer's segment and RFM profile in ``customer_insight``. Rules: the rules, in product terms,
for recommendations. Everything is written in bulk, in the run's one transaction.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.insights import repository
from patron.insights.models import AnalysisRun, AssociationRule, CustomerInsight
from patron.kit.clock import utcnow
from patron.kit.ids import new_id
from patron.marketing.models import Segment, SegmentMember

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


def _upsert_insights(session: Session, rows: list[dict[str, Any]], columns: list[str]) -> None:
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    table = CustomerInsight.__table__
    for start in range(0, len(rows), BATCH):
        statement = module.insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.customer_id],
            set_={
                **{name: getattr(statement.excluded, name) for name in columns},
                "updated_at": statement.excluded.updated_at,
                "version": table.c.version + 1,
            },
        )
        session.execute(statement, rows[start : start + BATCH])


@dataclass
class SegmentationOutcome:
    fingerprint: str
    table: pd.DataFrame  # the RFM table, indexed by customer id
    labels: np.ndarray
    segments: pd.DataFrame
    silhouette: float
    silhouette_scores: dict[int, float]
    as_of: str

    def store(self, session: Session, run: AnalysisRun) -> None:
        now = utcnow()
        summary = self.segments.to_dict(orient="records")
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
        session.execute(
            delete(SegmentMember).where(SegmentMember.segment_id.in_(segment_ids.values()))
        )
        customers = [uuid.UUID(str(c)) for c in self.table.index]
        labels = [int(label) for label in self.labels]
        _insert_many(session, SegmentMember.__table__, [
            {"id": new_id(), "segment_id": segment_ids[label], "customer_id": customer,
             "added_at": now, "created_at": now, "updated_at": now, "version": 1}
            for customer, label in zip(customers, labels, strict=True)
        ])  # fmt: skip
        names = {int(row["segment"]): str(row["name"]) for row in summary}
        table = self.table
        rows = [
            {"id": new_id(), "customer_id": customer, "segment_id": segment_ids[label],
             "segment_name": names[label], "recency_days": float(recency),
             "frequency": int(frequency), "monetary": float(monetary), "rfm_score": str(score),
             "segmentation_run_id": run.id, "created_at": now, "updated_at": now, "version": 1}
            for customer, label, recency, frequency, monetary, score in zip(
                customers, labels, table["recency"], table["frequency"],
                table["monetary_total"], table["rfm_score"], strict=True,
            )
        ]  # fmt: skip
        _upsert_insights(session, rows, [
            "segment_id", "segment_name", "recency_days", "frequency", "monetary", "rfm_score",
            "segmentation_run_id",
        ])  # fmt: skip
        run.data_fingerprint = self.fingerprint
        run.metrics = {
            "k": len(summary), "silhouette": self.silhouette, "n_customers": len(customers),
            "silhouette_by_k": {str(k): v for k, v in self.silhouette_scores.items()},
        }  # fmt: skip
        run.results = {
            "as_of": self.as_of,
            "segments": [
                {**_plain(row), "segment_id": str(segment_ids[int(row["segment"])])}
                for row in summary
            ],
        }


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
