"""The analysis pages over HTTP, on both backends: runs started from a form and watched, segments
with their chart data, members within the caller's scope, a campaign from a segment, the rules
table, and the segment and recommendations on the customer pages.
"""

from __future__ import annotations

import json
import re
import uuid
from html.parser import HTMLParser
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from patron.db.engine import Database
from patron.insights import pages as insight_pages
from patron.security import passwords
from patron.worker.runner import Worker
from tests.conftest import Caller, Callers
from tests.factories import make_customer, make_product

PASSWORD = "insight-pages-passphrase"

# Coffee gear sells together, and so does camera gear.
BASKETS = {
    "coffee": [["machine", "beans", "descaler"], ["machine", "beans"], ["beans", "descaler"]],
    "camera": [["camera", "card", "bag"], ["camera", "card"], ["card", "bag"]],
}


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters: these tests are about the pages, not the hash's cost."""
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


# ----- helpers -----------------------------------------------------------------------------------
class _Tables(HTMLParser):
    """The text of each cell of each ``<table data-testid=...>``, row by row (header rows too)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("data-testid") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table(html: str, testid: str) -> list[list[str]]:
    """The body rows of a table (its first row is the header)."""
    parser = _Tables()
    parser.feed(html)
    assert testid in parser.tables, f"no table {testid!r} in the page"
    return parser.tables[testid][1:]


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden {name} field in the page"
    return match.group(1)


def json_script(html: str, element_id: str) -> Any:
    match = re.search(
        rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S
    )
    assert match, f"no JSON script {element_id!r}"
    return json.loads(match.group(1))


def browser(app: FastAPI, caller: Caller) -> TestClient:
    """A client logged in as the caller through the login form, like a browser."""
    client = TestClient(app, raise_server_exceptions=False)
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"email": caller.email, "password": PASSWORD,
              "csrf_token": hidden(form.text, "csrf_token")},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303, response.text
    return client


def csrf(client: TestClient, url: str = "/analyses") -> str:
    return hidden(client.get(url).text, "csrf_token")


def world(admin: Caller, *, owner: Caller | None = None, n: int = 16) -> dict[str, Any]:
    """Shoppers of coffee or camera gear; every fourth one is the owner's (when given)."""
    products = {
        sku: make_product(admin, sku=sku, name=sku.title(), price_minor=price, currency="USD")
        for sku, price in [("machine", 30000), ("beans", 1500), ("descaler", 900),
                           ("camera", 50000), ("card", 2500), ("bag", 4000)]
    }  # fmt: skip
    shoppers = []
    for i in range(n):
        mine = owner is not None and i % 4 == 0
        extra = (
            {"owner_id": str(owner.user_id), "team_id": str(owner.team_id)}
            if mine and owner
            else {}
        )
        customer = make_customer(admin, name=f"Shopper {i:02d}", **extra)
        shoppers.append(customer)
        group = BASKETS["coffee" if i % 2 else "camera"]
        for visit in range(1 + (i % 4) * 2):  # 1, 3, 5 or 7 orders
            day = 1 + (i * 7 + visit * 11) % 250
            order(admin, customer, products, group[visit % len(group)], day)
    # Bought the machine alone: the rules suggest beans (and descaler) to go with it.
    newcomer = make_customer(admin, name="Newcomer")
    order(admin, newcomer, products, ["machine"], 200)
    return {"products": products, "shoppers": shoppers, "newcomer": newcomer}


def order(
    admin: Caller, customer: dict[str, Any], products: dict[str, Any], skus: list[str], day: int
) -> None:
    response = admin.post("/api/v1/orders", json={
        "customer_id": customer["id"], "currency": "USD", "status": "completed",
        "ordered_at": f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}T12:00:00Z",
        "lines": [{"product_id": products[sku]["id"]} for sku in skus],
    })  # fmt: skip
    assert response.status_code == 201, response.text


def run(admin: Caller, db: Database, kind: str, parameters: dict[str, Any]) -> dict[str, Any]:
    started = admin.post("/api/v1/analytics/runs", json={"kind": kind, "parameters": parameters})
    assert started.status_code == 202, started.text
    assert Worker(db).run_until_idle() >= 1
    body = admin.get(started.headers["Location"]).json()
    assert body["status"] == "succeeded", body["error"]
    return body


RULES = {"min_support": 0.05, "min_confidence": 0.3, "min_lift": 1.0}


def run_ids(admin: Caller) -> list[str]:
    return [r["id"] for r in admin.get("/api/v1/analytics/runs?limit=100").json()["data"]]


# ----- tests -------------------------------------------------------------------------------------
def test_pages_need_a_login_and_plotly_is_served_from_the_package(client: TestClient) -> None:
    for url in ("/analyses", "/segments", "/rules", f"/segments/{uuid.uuid4()}"):
        response = client.get(url, follow_redirects=False)
        assert response.status_code == 303, url
        assert response.headers["location"].startswith("/login?next=")

    script = client.get("/static/vendor/plotly.min.js")

    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == "public, max-age=604800"
    assert script.text.lstrip().startswith("/**\n* plotly.js v")
    assert script.content == insight_pages.PLOTLY_JS.read_bytes()


def test_a_marketer_starts_runs_from_the_page_and_watches_them(
    app: FastAPI, db: Database, admin: Caller, callers: Callers
) -> None:
    world(admin)
    marketer = callers.make("marketing", password=PASSWORD)
    web = browser(app, marketer)
    page = web.get("/analyses")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert 'data-testid="start-segmentation"' in page.text
    assert 'data-testid="start-rules"' in page.text
    assert table(page.text, "run-table") == [["No analysis has run yet."]]
    token = hidden(page.text, "csrf_token")

    # Refused: no CSRF token; parameters out of range. Nothing starts.
    forged = web.post("/analyses", data={"kind": "segmentation", "k": "3"})
    assert forged.status_code == 403
    bad_k = web.post("/analyses", data={"csrf_token": token, "kind": "segmentation", "k": "25"})
    assert bad_k.status_code == 422
    assert "The segmentation run was not started." in bad_k.text
    assert "less than or equal to 20" in bad_k.text
    bad_rules = web.post(
        "/analyses",
        data={"csrf_token": token, "kind": "rules", "min_confidence": "2", "max_len": "3"},
    )
    assert bad_rules.status_code == 422
    assert ">Minimum confidence</a>: Input should be less than or equal to 1" in bad_rules.text
    assert 'value="3"' in bad_rules.text  # what was typed comes back
    assert run_ids(admin) == []

    started = web.post(
        "/analyses",
        data={"csrf_token": token, "kind": "segmentation", "k": "3"},
        follow_redirects=False,
    )
    assert started.status_code == 303
    run_id = started.headers["location"].removeprefix("/analyses?started=")
    assert run_ids(admin) == [run_id]
    listed = web.get(started.headers["location"])
    assert "Segmentation run started; it runs in the background." in listed.text
    rows = table(listed.text, "run-table")
    assert [row[:2] for row in rows] == [["Segmentation", "Queued 0 %"]]
    assert rows[0][2] == marketer.email.split("@")[0]  # who started it
    assert '<script src="/static/refresh.js"></script>' in listed.text  # the list follows the run
    pending = web.get(f"/analyses/{run_id}")
    assert '<meta http-equiv="refresh" content="2">' in pending.text
    assert "This page refreshes itself until the run ends." in pending.text

    assert Worker(db).run_until_idle() == 1

    done = web.get(f"/analyses/{run_id}")
    assert done.status_code == 200
    assert 'http-equiv="refresh"' not in done.text
    assert 'data-testid="run-status">Succeeded</span>' in done.text
    stored = admin.get(f"/api/v1/analytics/runs/{run_id}").json()
    assert stored["data_fingerprint"][:16] in done.text
    segments = table(done.text, "run-segments")
    assert [row[0] for row in segments] == [s["name"] for s in stored["results"]["segments"]]
    assert sum(int(row[1]) for row in segments) == 17
    listed = web.get("/analyses")
    assert "/static/refresh.js" not in listed.text
    assert table(listed.text, "run-table")[0][6] == (
        f"3 segments of 17 customers · silhouette {stored['metrics']['silhouette']:.2f}"
    )

    rules = web.post(
        "/analyses",
        data={"csrf_token": token, "kind": "rules", "min_support": "0.05",
              "min_confidence": "0.3", "min_lift": "", "max_len": ""},
        follow_redirects=False,
    )  # fmt: skip
    assert rules.status_code == 303
    rules_id = rules.headers["location"].removeprefix("/analyses?started=")
    assert admin.get(f"/api/v1/analytics/runs/{rules_id}").json()["parameters"] == {
        "min_support": 0.05, "min_confidence": 0.3, "min_lift": 1.0, "max_len": 4,
    }  # fmt: skip
    assert Worker(db).run_until_idle() == 1
    assert table(web.get(f"/analyses/{rules_id}").text, "run-rules")


def test_segments_page_shows_sizes_shares_and_the_rfm_chart(
    app: FastAPI, db: Database, admin: Caller, callers: Callers
) -> None:
    world(admin)
    web = browser(app, callers.make("marketing", password=PASSWORD))
    assert "No segmentation has run yet." in web.get("/segments").text
    manual = admin.post("/api/v1/segments", json={"name": "Newsletter", "description": "Opt-ins"})
    assert manual.status_code == 201
    result = run(admin, db, "segmentation", {"k": 3, "random_state": 7})["results"]

    page = web.get("/segments")

    assert page.status_code == 200
    rows = table(page.text, "segment-table")
    expected = result["segments"]
    assert [row[0] for row in rows] == [s["name"] for s in expected]
    assert [int(row[1]) for row in rows] == [s["size"] for s in expected]
    assert [row[3] for row in rows] == [f"{s['share_of_revenue'] * 100:.1f} %" for s in expected]
    assert [row[4] for row in rows] == [f"{s['mean_recency']:,.0f}" for s in expected]
    for segment in expected:
        assert f'href="/segments/{segment["segment_id"]}"' in page.text
    assert table(page.text, "manual-segments") == [["Newsletter", "Manual", "Opt-ins"]]
    # The chart: plotly.js from this server, its data in the page.
    assert f'<script src="{insight_pages.PLOTLY_URL}"></script>' in page.text
    assert re.findall(r'<script src="([^"]+)"', page.text) == [
        insight_pages.PLOTLY_URL,
        "/static/charts.js",
    ]
    profile = json_script(page.text, "rfm-chart-data")
    assert [trace["name"] for trace in profile["data"]] == [
        "Days since last purchase", "Purchases", "Spend",
    ]  # fmt: skip
    assert all(trace["x"] == [s["name"] for s in expected] for trace in profile["data"])
    population = sum(s["mean_frequency"] * s["size"] for s in expected) / 17
    assert profile["data"][1]["y"] == [
        pytest.approx(s["mean_frequency"] / population, abs=1e-4) for s in expected
    ]
    assert profile["layout"]["shapes"][0]["y0"] == 1  # the average customer
    shares = json_script(page.text, "share-chart-data")
    assert shares["data"][0]["y"] == [
        pytest.approx(s["share_of_customers"] * 100, abs=0.01) for s in expected
    ]


def test_a_segment_page_lists_members_and_makes_a_campaign(
    app: FastAPI, db: Database, admin: Caller, callers: Callers
) -> None:
    world(admin)
    result = run(admin, db, "segmentation", {"k": 3, "random_state": 7})["results"]
    segment = max(result["segments"], key=lambda s: s["size"])
    url = f"/segments/{segment['segment_id']}"
    marketer = browser(app, callers.make("marketing", password=PASSWORD))

    page = marketer.get(url)

    assert page.status_code == 200
    assert f'<h1 data-testid="segment-name">RFM: {segment["name"]}</h1>' in page.text
    members = table(page.text, "member-table")
    expected = admin.get(f"/api/v1/segments/{segment['segment_id']}/members?limit=100").json()
    assert len(members) == len(expected["data"]) == segment["size"]
    assert [row[0] for row in members] == sorted(row[0] for row in members)
    assert all(row[6] and row[3] != "—" for row in members)  # each with its RFM profile
    assert marketer.get(f"/segments/{uuid.uuid4()}").status_code == 404

    token = hidden(page.text, "csrf_token")
    created = marketer.post(
        url + "/campaign",
        data={"csrf_token": token, "name": "Win them back", "channel": "email"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    campaigns = admin.get("/api/v1/campaigns?q=Win them back").json()["data"]
    assert [(c["segment_id"], c["status"]) for c in campaigns] == [(segment["segment_id"], "draft")]
    assert created.headers["location"] == f"{url}?campaign={campaigns[0]['id']}#campaign"
    shown = marketer.get(created.headers["location"])
    assert "Campaign “Win them back” created as a draft email campaign" in shown.text

    again = marketer.post(
        url + "/campaign", data={"csrf_token": token, "name": "Win them back", "channel": "sms"}
    )
    assert again.status_code == 422
    assert "A campaign with this name exists; choose another name." in again.text
    blank = marketer.post(url + "/campaign", data={"csrf_token": token, "name": " "})
    assert blank.status_code == 422
    assert "Enter a value." in blank.text
    assert len(admin.get("/api/v1/campaigns").json()["data"]) == 1

    viewer = browser(app, callers.make("readonly", password=PASSWORD))
    seen = viewer.get(url)
    assert seen.status_code == 200
    assert 'data-testid="campaign-form"' not in seen.text
    refused = viewer.post(
        url + "/campaign", data={"csrf_token": hidden(seen.text, "csrf_token"), "name": "Mine"}
    )
    assert refused.status_code == 403
    assert len(admin.get("/api/v1/campaigns").json()["data"]) == 1


def test_a_sales_rep_sees_only_the_members_in_their_scope(
    app: FastAPI, db: Database, admin: Caller, callers: Callers
) -> None:
    rep = callers.make("sales", team="North", password=PASSWORD)
    data = world(admin, owner=rep)
    result = run(admin, db, "segmentation", {"k": 3, "random_state": 7})["results"]
    mine = {c["name"] for c in data["shoppers"] if c["owner_id"] == str(rep.user_id)}
    web = browser(app, rep)

    seen: set[str] = set()
    for segment in result["segments"]:
        page = web.get(f"/segments/{segment['segment_id']}")
        assert page.status_code == 200
        assert "You see the members among your own and your team's customers." in page.text
        names = {row[0] for row in table(page.text, "member-table") if len(row) > 1}
        assert names <= mine
        seen |= names
        listed = web.get(f"/customers?segment_id={segment['segment_id']}")
        assert {row[0] for row in table(listed.text, "customer-table") if len(row) > 1} == names
    assert seen == mine
    assert 'data-testid="campaign-form"' not in page.text  # sales may not create campaigns


def test_rules_page_filters_sorts_and_pages(
    app: FastAPI, db: Database, admin: Caller, callers: Callers, monkeypatch: pytest.MonkeyPatch
) -> None:
    world(admin)
    web = browser(app, callers.make("analyst", password=PASSWORD))
    assert 'data-testid="no-rules"' in web.get("/rules").text
    stored = run(admin, db, "rules", RULES)
    total = stored["metrics"]["n_rules"]
    assert total > 10

    page = web.get("/rules")
    rows = table(page.text, "rule-table")
    assert len(rows) == min(total, 25)
    lifts = [float(row[4]) for row in rows]
    assert lifts == sorted(lifts, reverse=True)
    assert f"Rules 1\N{EN DASH}{len(rows)} of {total}." in page.text

    by_confidence = table(web.get("/rules?sort=confidence").text, "rule-table")
    confidences = [float(row[3].removesuffix(" %")) for row in by_confidence]
    assert confidences == sorted(confidences)

    beans = table(web.get("/rules?q=BEAN").text, "rule-table")
    assert beans
    assert all("Beans" in row[0] + row[1] for row in beans)
    assert len(beans) < len(rows)
    strong = table(web.get("/rules?min_confidence=0.9&min_lift=2").text, "rule-table")
    assert all(float(r[3].removesuffix(" %")) >= 90 and float(r[4]) >= 2 for r in strong)
    nothing = web.get("/rules?q=kettle")
    assert table(nothing.text, "rule-table") == [["No rules match."]]

    invalid = web.get("/rules?min_confidence=lots&sort=name")
    assert invalid.status_code == 200
    assert "Some filters are not valid; showing all rules." in invalid.text
    assert len(table(invalid.text, "rule-table")) == len(rows)

    monkeypatch.setattr(insight_pages, "PAGE_SIZE", 4)
    first = web.get("/rules?sort=-support&q=a")
    second = web.get("/rules?sort=-support&q=a&page=2")
    assert 'href="/rules?q=a&amp;sort=-support&amp;page=2"' in first.text
    one, two = table(first.text, "rule-table"), table(second.text, "rule-table")
    assert len(one) == 4
    assert two
    assert not {tuple(r) for r in one} & {tuple(r) for r in two}
    assert 'href="/rules?q=a&amp;sort=-support&amp;page=1"' in second.text


def test_customer_pages_show_the_segment_and_recommendations(
    app: FastAPI, db: Database, admin: Caller, callers: Callers
) -> None:
    data = world(admin)
    web = browser(app, callers.make("marketing", password=PASSWORD))
    newcomer = data["newcomer"]["id"]
    before = web.get(f"/customers/{newcomer}")
    assert "No product rules yet." in before.text
    assert 'data-testid="rfm-profile"' not in before.text

    segmentation = run(admin, db, "segmentation", {"k": 3, "random_state": 7})
    run(admin, db, "rules", RULES)

    page = web.get(f"/customers/{newcomer}")
    assert page.status_code == 200
    insight = admin.get("/api/v1/segments?limit=100").json()["data"]
    segment_of = {s["id"]: s["name"] for s in insight}
    badge = re.search(
        r'<a class="segment-badge" href="/segments/([0-9a-f-]+)" title="Segment" '
        r'data-testid="segment-badge"><span class="visually-hidden">Segment: </span>([^<]+)</a>',
        page.text,
    )
    assert badge
    assert segment_of[badge.group(1)] == "RFM: " + badge.group(2)
    as_of = segmentation["results"]["as_of"]
    assert re.search(rf"<dt>Last purchase</dt><dd>(on|\d+ days? before) {as_of}</dd>", page.text)
    recommended = re.findall(
        r'<span class="strong">([^<]+)</span> <span class="muted small">[^<]+</span>\s*'
        r'<span class="because">because they bought ([^<]+)</span>',
        page.text,
    )
    assert recommended[0] == ("Beans", "Machine")
    assert {name for name, _ in recommended} <= {"Beans", "Descaler"}
    assert re.search(r"confidence \d+ % · lift \d+\.\d\d", page.text)

    # The list shows each customer's segment and filters by it; so does the API.
    listed = web.get("/customers?limit=100")
    assert '<th scope="col">Segment</th>' in listed.text
    assert 'data-testid="segment-filter"' in listed.text
    segments = segmentation["results"]["segments"]
    for segment in segments:
        filtered = web.get(f"/customers?segment_id={segment['segment_id']}")
        rows = table(filtered.text, "customer-table")
        assert {row[5] for row in rows} == {segment["name"]}
        api = admin.get(f"/api/v1/customers?segment_id={segment['segment_id']}&limit=100")
        assert sorted(c["name"] for c in api.json()["data"]) == sorted(row[0] for row in rows)
        assert len(rows) == min(segment["size"], 25)
    broken = web.get("/customers?segment_id=not-a-segment")
    assert "Some filters are not valid; showing all customers." in broken.text


def test_roles_see_what_they_may(
    app: FastAPI, db: Database, admin: Caller, callers: Callers
) -> None:
    world(admin, n=8)
    stored = run(admin, db, "segmentation", {"k": 2})

    support = browser(app, callers.make("support", password=PASSWORD))
    for url in ("/analyses", f"/analyses/{stored['id']}", "/rules"):
        refused = support.get(url, headers={"accept": "text/html"})
        assert refused.status_code == 403, url
        assert 'data-testid="error-page"' in refused.text
    segments = support.get("/segments")
    assert segments.status_code == 200
    assert "rfm-chart" not in segments.text
    assert {row[0] for row in table(segments.text, "manual-segments")} == {
        "RFM: " + s["name"] for s in stored["results"]["segments"]
    }
    assert 'href="/analyses"' not in segments.text
    assert 'href="/segments"' in segments.text

    viewer = browser(app, callers.make("readonly", password=PASSWORD))
    page = viewer.get("/analyses")
    assert page.status_code == 200
    assert 'data-testid="start-segmentation"' not in page.text
    assert 'data-testid="start-rules"' not in page.text
    assert len(table(page.text, "run-table")) == 1
    refused = viewer.post(
        "/analyses",
        data={"csrf_token": hidden(page.text, "csrf_token"), "kind": "rules"},
        headers={"accept": "text/html"},
    )
    assert refused.status_code == 403
    assert run_ids(admin) == [stored["id"]]
    assert 'href="/rules"' in page.text
    assert 'href="/analyses"' in page.text
