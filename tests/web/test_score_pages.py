"""Scores on the pages, over HTTP on both backends: clv and churn runs started from the analyses
page with their metrics beside the results, score columns and filters on the customer list, and
the scores on the customer page."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from patron.db.engine import Database
from patron.security import passwords
from patron.worker.runner import Worker
from tests.api.test_scores import _all_customers, _world
from tests.conftest import Caller, Callers
from tests.web.test_insight_pages import PASSWORD, browser, hidden, table


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


def _latest(admin: Caller, kind: str) -> dict[str, Any]:
    runs = admin.get(f"/api/v1/analytics/runs?kind={kind}&limit=1").json()["data"]
    assert runs, f"no {kind} run"
    return runs[0]  # type: ignore[no-any-return]


def test_scoring_runs_from_the_page_show_their_metrics(
    app: FastAPI, db: Database, admin: Caller, callers: Callers
) -> None:
    _world(db, n=150)
    analyst = callers.make("analyst", password=PASSWORD)
    web = browser(app, analyst)
    page = web.get("/analyses")
    assert 'data-testid="start-clv"' in page.text
    assert 'data-testid="start-churn"' in page.text
    token = hidden(page.text, "csrf_token")

    refused = web.post("/analyses", data={"csrf_token": token, "kind": "churn", "threshold": "2"})
    assert refused.status_code == 422
    assert 'id="churn-threshold-error"' in refused.text

    for form in ({"kind": "clv", "horizon": "6", "discount_rate": "0.02", "holdout_days": "90"},
                 {"kind": "churn", "horizon_days": "60", "threshold": "0.4"}):  # fmt: skip
        started = web.post("/analyses", data={"csrf_token": token, **form},
                           follow_redirects=False)  # fmt: skip
        assert started.status_code == 303, started.text
    assert Worker(db).run_until_idle() == 2

    clv = _latest(admin, "clv")
    assert clv["status"] == "succeeded", clv["error"]
    assert (clv["parameters"]["horizon"], clv["parameters"]["discount_rate"]) == (6, 0.02)
    html = web.get(f"/analyses/{clv['id']}").text
    parameters = {(row[0], row[1]): row[2] for row in table(html, "clv-parameters")}
    assert parameters[("BG/NBD", "r")] == f"{clv['metrics']['r']:,.4f}"
    assert parameters[("Gamma-Gamma", "gamma")] == f"{clv['metrics']['gamma']:,.4f}"
    assert parameters[("BG/NBD", "log-likelihood")] == f"{clv['metrics']['log_likelihood']:,.2f}"
    assert 'data-testid="clv-holdout"' in html
    assert "Fitted to 2026-08-02" in html
    top = table(html, "top-customers")
    assert len(top) == 10
    assert top[0][-1] == f"{clv['results']['top_customers'][0]['clv']:,.3f}"

    churn = _latest(admin, "churn")
    assert churn["status"] == "succeeded", churn["error"]
    html = web.get(f"/analyses/{churn['id']}").text
    rows = {row[0]: row[1:] for row in table(html, "churn-metrics")}
    model, baseline = churn["metrics"]["model"], churn["metrics"]["baseline"]
    assert rows["ROC AUC"] == [f"{model['roc_auc']:,.3f}", f"{baseline['roc_auc']:,.3f}"]
    assert rows["Precision at 0.4"] == [f"{model['precision']:,.3f}",
                                        f"{baseline['precision']:,.3f}"]  # fmt: skip
    assert rows["Recall at 0.4"][0] == f"{model['recall']:,.3f}"
    assert len(table(html, "churn-calibration")) == len(model["calibration"])

    listing = web.get("/analyses").text
    assert f"ROC AUC {model['roc_auc']:,.3f}" in listing


def test_customer_list_and_page_show_and_filter_by_scores(
    app: FastAPI, db: Database, admin: Caller, callers: Callers
) -> None:
    _world(db, n=150)
    for kind, parameters in (("clv", {"holdout_days": 0}), ("churn", {"horizon_days": 60})):
        started = admin.post("/api/v1/analytics/runs", json={"kind": kind,
                                                             "parameters": parameters})  # fmt: skip
        assert started.status_code == 202
    assert Worker(db).run_until_idle() == 2
    everyone = _all_customers(admin)
    marketer = callers.make("marketing", password=PASSWORD)
    web = browser(app, marketer)

    values = sorted(c["clv"] for c in everyone)
    low = values[-12]
    response = web.get(f"/customers?clv_min={low}&p_alive_min=0")
    assert response.status_code == 200
    rows = table(response.text, "customer-table")
    expected = sorted((c for c in everyone if c["clv"] >= low), key=lambda c: c["name"])
    assert [row[0] for row in rows] == [c["name"] for c in expected]
    for row, customer in zip(rows, expected, strict=True):
        assert row[6:9] == [f"{customer['churn_risk']:.0%}", f"{customer['clv']:,.2f}",
                            f"{customer['p_alive']:.0%}"]  # fmt: skip
    assert f'value="{low}"' in response.text  # the filter stays filled in

    risky = sorted(c["churn_risk"] for c in everyone)[-5]
    rows = table(web.get(f"/customers?churn_risk_min={risky}").text, "customer-table")
    assert sorted(row[0] for row in rows) == sorted(
        c["name"] for c in everyone if c["churn_risk"] >= risky
    )
    bad = web.get("/customers?churn_risk_max=lots")
    assert bad.status_code == 200
    assert "Some filters are not valid" in bad.text

    customer = expected[0]
    html = web.get(f"/customers/{customer['id']}").text
    assert 'data-testid="scores"' in html
    assert f"{customer['clv']:,.2f}" in html
    assert f"{customer['churn_risk']:.1%}" in html
    assert f"{customer['p_alive']:.1%}" in html
