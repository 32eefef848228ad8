"""Imports through the API: upload, background job, status and report, errors, revert, roles."""

from __future__ import annotations

import csv
import io

from patron.db.engine import Database
from patron.security.permissions import Role
from patron.worker.runner import Worker
from tests.conftest import Caller, Callers

BODY = "id,name,email\n1,Ann,ann@example.com\n2,Ben,broken\n3,Cid,cid@example.com\n"


def upload(caller: Caller, body: str = BODY, **form: str):  # type: ignore[no-untyped-def]
    return caller.post(
        "/api/v1/imports",
        files={"file": ("people.csv", body.encode(), "text/csv")},
        data={"entity": "customers", **form},
    )


def test_upload_runs_in_the_worker_and_reports(admin: Caller, db: Database) -> None:
    dry = upload(admin, dry_run="true")
    assert dry.status_code == 202, dry.text
    assert dry.json()["status"] == "queued"
    assert Worker(db).run_until_idle() == 1
    report = admin.get(f"/api/v1/imports/{dry.json()['import_id']}").json()
    assert report["status"] == "succeeded"
    assert report["dry_run"] is True
    assert (report["created"], report["rejected"], report["progress"]) == (2, 1, 1.0)
    assert admin.get("/api/v1/customers").json()["data"] == []

    started = upload(admin)
    Worker(db).run_until_idle()
    import_id = started.json()["import_id"]
    report = admin.get(f"/api/v1/imports/{import_id}").json()
    assert (report["created"], report["rejected"]) == (2, 1)
    assert len(admin.get("/api/v1/customers").json()["data"]) == 2
    errors = admin.get(f"/api/v1/imports/{import_id}/errors")
    assert errors.status_code == 200
    rows = list(csv.DictReader(io.StringIO(errors.text)))
    assert [(r["row"], r["column"], r["email"]) for r in rows] == [("2", "email", "broken")]
    listed = admin.get("/api/v1/imports").json()
    assert [item["import_id"] for item in listed["data"]][:2] == [
        import_id,
        dry.json()["import_id"],
    ]

    reverted = admin.post(f"/api/v1/imports/{import_id}/revert")
    assert reverted.status_code == 200, reverted.text
    assert reverted.json()["deleted"] == 2
    assert admin.get("/api/v1/customers").json()["data"] == []
    again = admin.post(f"/api/v1/imports/{import_id}/revert")
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


def test_bad_uploads_are_problems(admin: Caller) -> None:
    unknown = upload(admin, entity="planets")
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "import_file_invalid"
    bad_mapping = upload(admin, mapping="fields: {shoe_size: size}")
    assert bad_mapping.status_code == 422
    assert "shoe_size" in bad_mapping.json()["detail"]
    missing = admin.get("/api/v1/imports/0195f2d2-6b8a-7c3e-9d4f-123456789abc")
    assert missing.status_code == 404


def test_only_allowed_roles_import(callers: Callers, admin: Caller) -> None:
    for role, expected in ((Role.SALES, 403), (Role.READONLY, 403), (Role.MANAGER, 202)):
        caller = callers.make(role, team="A")
        assert upload(caller).status_code == expected, role
        assert caller.get("/api/v1/imports").status_code == (200 if expected == 202 else 403)
