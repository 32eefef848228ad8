"""Analysis runs: start them (a row and a job), run them, read them.

A run is created ``pending`` in the caller's transaction together with its job, so it starts only
if the request committed. The worker marks it ``running``, computes with ``patron.analytics`` on
tables read by ``patron.insights.data``, stores and applies the results (``apply.py``) in one
transaction, and marks it ``succeeded`` — or ``failed`` with the error.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from patron.crud.repository import Resource
from patron.crud.service import CrudService
from patron.db.engine import Database
from patron.errors import ValidationFailed
from patron.events import service as events
from patron.insights import apply, data, forecast, repository, scores
from patron.insights.models import AnalysisRun, AssociationRule, CustomerInsight
from patron.insights.schemas import (
    ChurnParameters,
    ClvParameters,
    RulesParameters,
    RunCreate,
    RunRead,
    SegmentationParameters,
)
from patron.kit.clock import utcnow
from patron.marketing import rules as segment_rules
from patron.security.permissions import Action, Principal
from patron.worker import queue

JOB_KIND = "analysis_run"
PARAMETERS: dict[str, type[BaseModel]] = {
    "segmentation": SegmentationParameters,
    "rules": RulesParameters,
    "forecast": forecast.ForecastParameters,
    "clv": ClvParameters,
    "churn": ChurnParameters,
}


def _filters(statement: Any, filters: Any) -> Any:
    if filters.kind:
        statement = statement.where(AnalysisRun.kind == filters.kind)
    if filters.status:
        statement = statement.where(AnalysisRun.status == filters.status)
    return statement


class AnalysisRunService(CrudService[AnalysisRun]):
    resource = Resource(
        entity="analysis_runs",
        event_name="analysis_run",
        model=AnalysisRun,
        sort_fields={"created_at": AnalysisRun.created_at},
        apply_filters=_filters,
    )
    read_schema = RunRead
    not_found_message = "No such analysis run."

    def start(
        self, session: Session, principal: Principal, data: RunCreate, *, background: bool = True
    ) -> AnalysisRun:
        """A ``pending`` run; with ``background`` a job too, for a worker to run it."""
        principal.require("analysis_runs", Action.CREATE)
        try:
            parameters = PARAMETERS[data.kind].model_validate(data.parameters)
        except ValidationError as exc:
            raise ValidationFailed(
                "The parameters are not valid for this kind of run.",
                errors=[
                    {"field": "parameters." + ".".join(str(p) for p in e["loc"]),
                     "message": e["msg"], "code": e["type"]}
                    for e in exc.errors()
                ],
            ) from exc  # fmt: skip
        run = AnalysisRun(
            kind=data.kind,
            parameters=parameters.model_dump(mode="json"),
            status="pending",
            created_by=principal.user_id,
        )
        session.add(run)
        session.flush()
        if background:
            job = queue.enqueue(session, JOB_KIND, {"run_id": str(run.id)}, max_attempts=1)
            run.job_id = job.id
            session.flush()
        events.record(
            session, principal, type="analysis_run.created", entity="analysis_run",
            entity_id=run.id, changed=["kind", "parameters"],
            data={"kind": run.kind, "parameters": run.parameters},
        )  # fmt: skip
        return run

    def latest_succeeded(self, session: Session, kind: str) -> AnalysisRun | None:
        return session.scalars(repository.latest_succeeded_run(kind)).first()


runs = AnalysisRunService()


def fingerprint(frame: pd.DataFrame, parameters: dict[str, Any]) -> str:
    """Same data and parameters, same fingerprint (row order included: reads are ordered)."""
    digest = hashlib.sha256()
    digest.update(repr(sorted(parameters.items())).encode())
    digest.update(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


Report = Callable[[float, str | None], None]


def run_in_process(
    database: Database, principal: Principal, data: RunCreate, report: Report
) -> tuple[uuid.UUID, apply.Outcome]:
    """Start a run and execute it here and now (the command line does): stored and applied
    like a run from the API, in its own transactions. Raises if it fails (recorded on it)."""
    with database.unit_of_work() as session:
        run_id = runs.start(session, principal, data, background=False).id
    outcome = execute(database, run_id, report)
    assert outcome is not None
    return run_id, outcome


def execute(database: Database, run_id: uuid.UUID, report: Report) -> apply.Outcome | None:
    """Run one analysis to the end and return what it found (None if it had already ended).
    Raises after recording the failure on the run."""
    system = Principal.system()
    with database.unit_of_work() as session:
        run = session.get(AnalysisRun, run_id)
        if run is None or run.status in ("succeeded", "failed"):
            return None  # already done: jobs may be delivered twice
        run.status = "running"
        run.started_at = utcnow()
        kind, parameters = run.kind, dict(run.parameters)
    started = time.perf_counter()

    def progress(value: float, message: str | None) -> None:
        report(value, message)
        with database.unit_of_work() as progress_session:
            apply.set_run_progress(progress_session, run_id, value)

    try:
        if kind == "segmentation":
            outcome = _segmentation(database, system, parameters, progress)
        elif kind == "rules":
            outcome = _rules(database, system, parameters, progress)
        elif kind == "forecast":
            outcome = forecast.run(database, system, parameters, progress)
        elif kind in scores.KINDS:
            outcome = scores.compute(database, system, kind, parameters, progress)
        else:
            raise ValueError(f"Unknown analysis kind {kind!r}.")
        progress(0.8, "storing results")
        with database.unit_of_work() as session:
            run = session.get(AnalysisRun, run_id)
            assert run is not None
            outcome.store(session, run)
            if kind == "segmentation":  # rules on the segment name follow the new segments
                segment_rules.refresh_all(session)
            run.status = "succeeded"
            run.progress = 1.0
            run.finished_at = utcnow()
            run.duration_ms = int((time.perf_counter() - started) * 1000)
            events.record(
                session, system, type="analysis_run.succeeded", entity="analysis_run",
                entity_id=run.id, changed=["status", "metrics", "results"],
                data={"kind": kind, "metrics": run.metrics},
            )  # fmt: skip
    except Exception as exc:
        with database.unit_of_work() as session:
            run = session.get(AnalysisRun, run_id)
            if run is not None:
                run.status = "failed"
                run.error = f"{type(exc).__name__}: {exc}"[:4000]
                run.finished_at = utcnow()
                run.duration_ms = int((time.perf_counter() - started) * 1000)
                events.record(
                    session, system, type="analysis_run.failed", entity="analysis_run",
                    entity_id=run.id, changed=["status", "error"], data={"error": run.error},
                )  # fmt: skip
        raise
    return outcome


def _segmentation(
    database: Database, principal: Principal, parameters: dict[str, Any], progress: Report
) -> apply.Outcome:
    """RFM segments of every customer who bought, from totals the database adds up.

    The same table as :func:`patron.analytics.rfm.rfm` makes from every order (the test suite
    checks it), but the database does the counting, so millions of orders never travel to
    Python one by one.
    """
    from datetime import UTC, date, datetime, timedelta

    from patron.analytics.rfm import rfm_from_totals
    from patron.analytics.segmentation import RFMSegmenter

    params = SegmentationParameters.model_validate(parameters)
    progress(0.05, "reading purchases")
    before = None
    if params.as_of is not None:  # purchases up to the end of that day count
        before = datetime.combine(params.as_of + timedelta(days=1), datetime.min.time(), UTC)
    totals = data.purchase_totals(database, principal, before=before)
    if not len(totals):
        raise ValueError("There are no purchases to segment.")
    print_ = _totals_fingerprint(totals, parameters)
    epoch = date(1970, 1, 1)
    as_of = params.as_of or epoch + timedelta(days=int(totals.last_day.max()))
    progress(0.3, "computing RFM")
    table = rfm_from_totals(
        pd.Index(totals.customer_ids, dtype=object, name="customer_id"),
        recency=(as_of - epoch).days - totals.last_day,
        frequency=totals.purchases,
        monetary_total=totals.amount,
    )
    progress(0.45, "clustering")
    segmenter = RFMSegmenter(
        k=None if params.k == "auto" else params.k,
        k_range=(params.k_min, params.k_max),
        random_state=params.random_state,
    ).fit(table)
    return apply.SegmentationOutcome(
        fingerprint=print_, table=table, labels=segmenter.labels_,
        segments=segmenter.segments_, silhouette=float(segmenter.silhouette_),
        silhouette_scores={int(k): float(v) for k, v in segmenter.silhouette_scores_.items()},
        as_of=as_of.isoformat(),
    )  # fmt: skip


def _totals_fingerprint(totals: data.PurchaseTotals, parameters: dict[str, Any]) -> str:
    """Same purchase totals and parameters, same fingerprint."""
    import numpy as np

    digest = hashlib.sha256()
    digest.update(repr(sorted(parameters.items())).encode())
    digest.update("".join(totals.customer_ids.tolist()).encode())
    for column in (totals.last_day, totals.purchases, totals.amount):
        digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()


def _rules(
    database: Database, principal: Principal, parameters: dict[str, Any], progress: Report
) -> apply.Outcome:
    from patron.analytics.rules import AssociationRuleMiner

    params = RulesParameters.model_validate(parameters)
    progress(0.05, "reading baskets")
    baskets = data.baskets_frame(database, principal)
    if baskets.empty:
        raise ValueError("There are no order lines to mine.")
    print_ = fingerprint(baskets, parameters)
    support: float | int = params.min_support
    if support >= 1:
        support = int(support)
    progress(0.3, "mining itemsets and rules")
    miner = AssociationRuleMiner(
        min_support=support, min_confidence=params.min_confidence,
        min_lift=params.min_lift, max_len=params.max_len,
    ).fit(baskets, order_col="order_id", item_col="item")  # fmt: skip
    return apply.RulesOutcome(
        fingerprint=print_, rules=miner.rules_, n_baskets=int(miner.n_baskets_),
        n_items=int(miner.n_items_), n_itemsets=len(miner.itemsets_),
    )  # fmt: skip


def run_job(context: queue.JobContext, payload: dict[str, Any]) -> None:
    execute(context.database, uuid.UUID(payload["run_id"]), context.report)


# ----- reads for the pages --------------------------------------------------------------------
def latest_segmentation(session: Session, principal: Principal) -> AnalysisRun | None:
    principal.require("analysis_runs", Action.READ)
    return runs.latest_succeeded(session, "segmentation")


def insights_for(
    session: Session, principal: Principal, customer_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, CustomerInsight]:
    """Each customer's segment and RFM profile, for those of them the caller may see.

    Segments are readable by every role that reads customers; a role that may not read segments
    gets nothing rather than an error, so the customer pages still render for it.
    """
    wanted = list(dict.fromkeys(customer_ids))
    if not wanted or not principal.can("segments", Action.READ):
        return {}
    statement = repository.insights_for(wanted, principal)
    return {insight.customer_id: insight for insight in session.scalars(statement)}


def insight_for(
    session: Session, principal: Principal, customer_id: uuid.UUID
) -> CustomerInsight | None:
    return insights_for(session, principal, [customer_id]).get(customer_id)


@dataclass(frozen=True)
class RulesPage:
    run: AnalysisRun | None
    items: list[AssociationRule]
    total: int
    offset: int
    limit: int


RULE_SORTS = tuple(direction + name for name in repository.RULE_SORTS for direction in ("-", ""))


def list_rules(
    session: Session,
    principal: Principal,
    *,
    text: str | None = None,
    min_confidence: float | None = None,
    min_lift: float | None = None,
    sort: str = "-lift",
    limit: int = 25,
    offset: int = 0,
) -> RulesPage:
    """The latest rules run's rules, filtered, sorted and sliced."""
    principal.require("analysis_runs", Action.READ)
    if sort not in RULE_SORTS:
        raise ValidationFailed.field(
            "sort", f"Sort by one of {', '.join(RULE_SORTS)}.", "unknown_sort"
        )
    run = runs.latest_succeeded(session, "rules")
    if run is None:
        return RulesPage(run=None, items=[], total=0, offset=0, limit=limit)
    statement = repository.rules_of_run(
        run.id, text=text, min_confidence=min_confidence, min_lift=min_lift
    )
    total = int(session.scalar(repository.count_of(statement)) or 0)
    rows = session.scalars(repository.sorted_slice(statement, sort, limit=limit, offset=offset))
    return RulesPage(run=run, items=list(rows), total=total, offset=offset, limit=limit)
