"""``patron analyze segments|rules|clv`` without files: each runs as a stored analysis run on the
configured database (started by the system), is applied like a run from the API, and still
writes its ``--output`` file. On both backends."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from typer.testing import CliRunner

from patron.cli.main import app
from patron.db.engine import Database
from patron.insights.models import AnalysisRun, AssociationRule, CustomerInsight
from patron.marketing.models import Segment, SegmentMember
from patron.sales.models import Order, OrderLine, Product
from tests.api.test_scores import START, _world

runner = CliRunner()


def _invoke(db: Database, *args: str) -> Any:
    return runner.invoke(app, ["analyze", *args], env={"PATRON_DATABASE_URL": db.url})


def _with_baskets(db: Database) -> None:
    """Order lines for the first customers' orders: coffee gear bought together."""
    with db.unit_of_work() as session:
        products = [Product(sku=sku, name=sku.title(), price_minor=1000, currency="USD")
                    for sku in ("machine", "beans", "descaler", "mug")]  # fmt: skip
        session.add_all(products)
        session.flush()
        orders = session.scalars(select(Order).order_by(Order.number).limit(120)).all()
        for i, order in enumerate(orders):
            for product in products[: 2 + i % 3]:
                session.add(OrderLine(order_id=order.id, product_id=product.id, quantity=1))


def _run(db: Database, run_id: str) -> AnalysisRun:
    with db.unit_of_work(write=False) as session:
        run = session.get(AnalysisRun, uuid.UUID(run_id))
        assert run is not None
        session.expunge(run)
        return run


def test_database_mode_records_and_applies_runs(db: Database, tmp_path: Path) -> None:
    ids = _world(db, n=80)
    _with_baskets(db)

    # clv: the scores land on the customers; the file has every buyer's row.
    out = tmp_path / "clv.csv"
    result = _invoke(db, "clv", "--calibration-end", "2026-07-31", "--observation-end",
                     "2026-10-31", "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    run = _run(db, report["run_id"])
    assert (run.kind, run.status, run.created_by) == ("clv", "succeeded", None)
    assert run.parameters["calibration_end"] == "2026-10-31"
    assert run.parameters["holdout_days"] == 92
    assert run.metrics["holdout"]["calibration_end"] == "2026-07-31"
    assert report["r"] == run.metrics["r"]
    assert report["holdout_actual"] > 0
    frame = pd.read_csv(out)
    assert len(frame) == len(ids) == report["n_customers"]
    with db.unit_of_work(write=False) as session:
        stored = dict(
            session.execute(
                select(CustomerInsight.customer_id, CustomerInsight.clv).where(
                    CustomerInsight.clv_run_id == run.id
                )
            ).all()
        )
    assert {str(k): v for k, v in stored.items()} == dict(
        zip(frame["customer_id"], frame["clv"], strict=True)
    )

    # segments: analysis segments with their members, and the file.
    out = tmp_path / "segments.csv"
    result = _invoke(db, "segments", "--k", "3", "--json", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    run = _run(db, summary["run_id"])
    assert (run.kind, run.status, run.created_by) == ("segmentation", "succeeded", None)
    frame = pd.read_csv(out)
    assert set(frame["customer"]) == set(ids)
    with db.unit_of_work(write=False) as session:
        members = session.execute(
            select(Segment.name, func.count())
            .join(SegmentMember, SegmentMember.segment_id == Segment.id)
            .where(Segment.source == "analysis")
            .group_by(Segment.name)
        ).all()
    assert {name.removeprefix("RFM: "): n for name, n in members} == (
        frame["segment_name"].value_counts().to_dict()
    )

    # rules: stored for recommendations.
    out = tmp_path / "rules.jsonl"
    result = _invoke(db, "rules", "--min-support", "0.2", "--min-confidence", "0.5",
                     "--json", "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    run = _run(db, summary["run_id"])
    assert (run.kind, run.status, run.created_by) == ("rules", "succeeded", None)
    rules = pd.read_json(out, lines=True)
    assert summary["rules"] == len(rules) > 0
    with db.unit_of_work(write=False) as session:
        stored_rules = session.scalar(select(func.count()).where(AssociationRule.run_id == run.id))
    assert stored_rules == len(rules)

    # Three runs in all, none of them left for a worker.
    with db.unit_of_work(write=False) as session:
        runs = session.scalars(select(AnalysisRun)).all()
    assert sorted(r.kind for r in runs) == ["clv", "rules", "segmentation"]
    assert all(r.job_id is None for r in runs)


def test_database_mode_failures_are_recorded_and_exit_non_zero(
    db: Database, tmp_path: Path
) -> None:
    result = _invoke(db, "clv", "-o", str(tmp_path / "x.csv"))
    assert result.exit_code == 1
    assert "no purchases" in " ".join(result.stderr.split())
    with db.unit_of_work(write=False) as session:
        run = session.scalars(select(AnalysisRun)).one()
    assert (run.kind, run.status) == ("clv", "failed")
    # Parameters the run refuses are usage errors, and nothing is recorded for them.
    with db.unit_of_work() as session:
        session.add(Order(customer_id=uuid.UUID(_world(db, n=1)[0]), number="X-1",
                          status="completed", ordered_at=START + timedelta(days=1),
                          currency="USD", total_minor=100))  # fmt: skip
    result = _invoke(db, "rules", "--min-support", "0.5", "--max-len", "1", "-o",
                     str(tmp_path / "r.csv"))  # fmt: skip
    assert result.exit_code == 2, result.stderr
    assert "max_len" in result.stderr


def _purchases_file(db: Database, path: Path) -> pd.DataFrame:
    """The database's purchases as a CSV file, in the columns a shop's export might have."""
    with db.unit_of_work(write=False) as session:
        rows = session.execute(select(Order.customer_id, Order.ordered_at, Order.total_minor)).all()
    frame = pd.DataFrame(
        {"client": [str(c) for c, _, _ in rows], "when": [t.isoformat() for _, t, _ in rows],
         "paid": [m / 100 for _, _, m in rows]}
    )  # fmt: skip
    frame.to_csv(path, index=False)
    return frame


def test_churn_on_a_file_and_on_the_database_agree(db: Database, tmp_path: Path) -> None:
    ids = _world(db, n=120)
    source = tmp_path / "purchases.csv"
    _purchases_file(db, source)
    on_file = tmp_path / "file.csv"
    result = runner.invoke(app, [
        "analyze", "churn", "--transactions", str(source), "--customer-col", "client",
        "--date-col", "when", "--amount-col", "paid", "--horizon-days", "60",
        "--threshold", "0.4", "-o", str(on_file),
    ])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    from_file = json.loads(result.stdout)
    assert "run_id" not in from_file
    assert {"model", "baseline", "train_cutoff", "test_cutoff"} <= set(from_file)
    assert from_file["threshold"] == 0.4

    on_database = tmp_path / "db.csv"
    result = _invoke(db, "churn", "--horizon-days", "60", "--threshold", "0.4",
                     "-o", str(on_database))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    from_database = json.loads(result.stdout)
    run = _run(db, from_database.pop("run_id"))
    assert (run.kind, run.status, run.created_by) == ("churn", "succeeded", None)
    # The same purchases, the same model: the same evaluation and the same risks.
    assert {k: v for k, v in from_database.items() if k != "output"} == {
        k: v for k, v in from_file.items() if k != "output"
    }
    file_rows = pd.read_csv(on_file).set_index("client")["churn_risk"]
    db_rows = pd.read_csv(on_database).set_index("customer_id")["churn_risk"]
    assert set(file_rows.index) == set(ids)
    pd.testing.assert_series_equal(
        file_rows.sort_index(), db_rows.sort_index(), check_names=False, check_index=False
    )
    with db.unit_of_work(write=False) as session:
        stored = dict(session.execute(
            select(CustomerInsight.customer_id, CustomerInsight.churn_risk)
            .where(CustomerInsight.churn_run_id == run.id)
        ).all())  # fmt: skip
    assert {str(k): v for k, v in stored.items()} == db_rows.to_dict()

    bad = runner.invoke(app, ["analyze", "churn", "--transactions", str(source), "--customer-col",
                              "client", "--date-col", "when", "--amount-col", "paid",
                              "--threshold", "1", "-o", str(on_file)])  # fmt: skip
    assert bad.exit_code == 2


def test_churn_on_a_file_with_any_customer_ids(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows = []
    for i in range(150):
        first, last, gap = (
            int(rng.integers(0, 150)),
            int(rng.integers(100, 500)),
            int(rng.integers(5, 40)),
        )
        rows += [(f"cust-{i:03d}", (START + timedelta(days=d)).date().isoformat(), 10.0 + i)
                 for d in range(first, min(last, 364), gap)]  # fmt: skip
    source = tmp_path / "p.csv"
    pd.DataFrame(rows, columns=["customer_id", "date", "amount"]).to_csv(source, index=False)
    out = tmp_path / "risk.jsonl"
    result = runner.invoke(app, ["analyze", "churn", "--transactions", str(source),
                                 "--horizon-days", "45", "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    risks = pd.read_json(out, lines=True)
    assert list(risks.columns) == ["customer_id", "churn_risk"]
    assert set(risks["customer_id"]) == {r[0] for r in rows}
    assert risks["churn_risk"].between(0, 1).all()
    last = max(pd.Timestamp(r[1]) for r in rows)
    assert json.loads(result.stdout)["test_cutoff"] == f"{last - timedelta(days=45):%Y-%m-%d}"
