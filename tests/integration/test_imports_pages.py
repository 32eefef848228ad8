"""The import page over HTTP: upload, suggested mapping, dry-run report, commit, revert."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from patron.db.engine import Database
from patron.security.permissions import Role
from patron.worker.runner import Worker
from tests.conftest import Callers
from tests.web.test_pages_http import PASSWORD, fast_password_hashing, hidden, logged_in

__all__ = ["fast_password_hashing"]

BODY = "Customer ID,Full Name,E-mail,Shoe size\n1,Ann,ann@example.com,38\n2,Ben,broken,44\n"


def test_upload_dry_run_then_commit_and_revert(
    client: TestClient, callers: Callers, db: Database
) -> None:
    admin = callers.make(Role.ADMIN, password=PASSWORD)
    token = logged_in(client, admin)
    uploaded = client.post(
        "/imports",
        data={"entity": "customers", "csrf_token": token, "on_duplicate": "update"},
        files={"file": ("crm.csv", BODY.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert uploaded.status_code == 303, uploaded.text
    page_url = uploaded.headers["location"]
    Worker(db).run_until_idle()
    page = client.get(page_url)
    assert page.status_code == 200
    assert 'data-testid="import-status">succeeded' in page.text
    assert "Would be created</th><td>1" in page.text
    # the mapping suggested from the headers
    selected = dict(re.findall(r'<label for="(column_\d)">([^<]+)</label>', page.text))
    assert selected == {"column_0": "Customer ID", "column_1": "Full Name", "column_2": "E-mail",
                        "column_3": "Shoe size"}  # fmt: skip
    for column, field in (("column_0", "external_id"), ("column_1", "name"), ("column_2", "email")):
        chosen = re.search(rf'name="{column}">(.*?)</select>', page.text, re.S)
        assert chosen is not None, column
        assert f'value="{field}" selected' in chosen.group(1), column
    assert admin.get("/api/v1/customers").json()["data"] == []

    committed = client.post(
        page_url + "/commit",
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "action": "commit",
            "column_0": "external_id",
            "column_1": "name",
            "column_2": "email",
            "column_3": "",
        },
        follow_redirects=False,
    )
    assert committed.status_code == 303, committed.text
    Worker(db).run_until_idle()
    result = client.get(committed.headers["location"])
    assert "Created</th><td>1" in result.text
    assert "Rejected</th><td>1" in result.text
    assert [c["name"] for c in admin.get("/api/v1/customers").json()["data"]] == ["Ann"]

    reverted = client.post(
        committed.headers["location"] + "/revert",
        data={"csrf_token": hidden(result.text, "csrf_token")},
        follow_redirects=False,
    )
    assert reverted.status_code == 303
    assert admin.get("/api/v1/customers").json()["data"] == []
    assert "crm.csv" in client.get("/imports").text


def test_page_needs_permission(client: TestClient, callers: Callers) -> None:
    reader = callers.make(Role.READONLY, password=PASSWORD)
    logged_in(client, reader)
    assert client.get("/imports").status_code == 403
