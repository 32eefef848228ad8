"""The pages over HTTP, without a browser: login, logout, CSRF, redirects and the edit form.

Runs on both backends through the ``client`` fixture; the browser suite covers the same ground in
Chromium, these tests pin the status codes and headers.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from patron.security import passwords
from patron.security.deps import SESSION_COOKIE
from patron.web.pages import LOGIN_CSRF_COOKIE
from tests.conftest import Caller, Callers
from tests.factories import make_customer

PASSWORD = "pages-test-passphrase"
FORM_FIELDS = (
    "name",
    "kind",
    "lifecycle_stage",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "region",
    "country",
    "source",
    "external_id",
    "notes",
)


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters: these tests are about the pages, not the hash's cost."""
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden {name} field in the page"
    return match.group(1)


def login(client: TestClient, email: str, password: str, next: str | None = None) -> httpx.Response:
    form = client.get("/login" + (f"?next={next}" if next else ""))
    assert form.status_code == 200
    data = {"email": email, "password": password, "csrf_token": hidden(form.text, "csrf_token")}
    if next is not None:
        data["next"] = next
    return client.post("/login", data=data, follow_redirects=False)


def logged_in(client: TestClient, caller: Caller) -> str:
    """Log the caller in on the client; return the session's CSRF token."""
    response = login(client, caller.email, PASSWORD)
    assert response.status_code == 303, response.text
    page = client.get("/customers")
    assert page.status_code == 200
    return hidden(page.text, "csrf_token")


def edit_form(customer: dict[str, Any], csrf_token: str, **changes: str) -> dict[str, str]:
    form = {field: customer.get(field) or "" for field in FORM_FIELDS}
    form.update(tags=", ".join(customer["tags"]), version=str(customer["version"]))
    return {**form, "csrf_token": csrf_token, **changes}


def test_pages_redirect_to_login_without_a_session(client: TestClient, admin: Caller) -> None:
    response = client.get("/customers?q=ada&country=GB", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fcustomers%3Fq%3Dada%26country%3DGB"

    customer = make_customer(admin, name="Hidden Person")
    detail = client.get(f"/customers/{customer['id']}", follow_redirects=False)
    assert detail.status_code == 303
    assert detail.headers["location"] == f"/login?next=%2Fcustomers%2F{customer['id']}"
    assert "Hidden Person" not in detail.text


def test_login_form_sets_a_session_cookie(client: TestClient, callers: Callers) -> None:
    user = callers.make("sales", team="North", password=PASSWORD)
    form = client.get("/login")
    assert form.status_code == 200
    assert LOGIN_CSRF_COOKIE in form.cookies

    response = login(client, user.email, PASSWORD)

    assert response.status_code == 303
    assert response.headers["location"] == "/customers"
    assert response.cookies.get(SESSION_COOKIE)
    set_cookie = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in set_cookie if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session_cookie
    assert "samesite=lax" in session_cookie.lower()
    page = client.get("/customers")
    assert page.status_code == 200
    assert user.email in page.text


def test_wrong_password_shows_an_error_and_sets_no_session(
    client: TestClient, callers: Callers
) -> None:
    user = callers.make("sales", password=PASSWORD)

    response = login(client, user.email, PASSWORD + "-wrong")

    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert SESSION_COOKIE not in response.cookies
    assert client.get("/customers", follow_redirects=False).status_code == 303


def test_login_without_the_form_token_is_refused(client: TestClient, callers: Callers) -> None:
    user = callers.make("admin", password=PASSWORD)
    client.get("/login")
    response = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert SESSION_COOKIE not in response.cookies


def test_logout_needs_the_csrf_token_and_ends_the_session(
    client: TestClient, callers: Callers
) -> None:
    user = callers.make("support", password=PASSWORD)
    token = logged_in(client, user)

    refused = client.post("/logout", follow_redirects=False)
    assert refused.status_code == 403
    wrong = client.post("/logout", data={"csrf_token": token + "x"}, follow_redirects=False)
    assert wrong.status_code == 403
    assert client.get("/customers", follow_redirects=False).status_code == 200

    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert client.get("/customers", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "target", ["https://evil.example", "//evil.example/customers", "/\\evil.example", "customers"]
)
def test_login_never_redirects_off_site(client: TestClient, callers: Callers, target: str) -> None:
    user = callers.make("analyst", password=PASSWORD)
    form = client.get("/login", params={"next": target})
    assert hidden(form.text, "next") == "/customers"

    response = login(client, user.email, PASSWORD, next=target)

    assert response.status_code == 303
    assert response.headers["location"] == "/customers"


def test_login_returns_to_a_local_page(client: TestClient, callers: Callers, admin: Caller) -> None:
    user = callers.make("readonly", password=PASSWORD)
    customer = make_customer(admin, name="Return Target")
    response = login(client, user.email, PASSWORD, next=f"/customers/{customer['id']}")
    assert response.headers["location"] == f"/customers/{customer['id']}"


# ----- the edit form -----------------------------------------------------------------------------
def test_owner_edits_a_customer(client: TestClient, callers: Callers) -> None:
    rep = callers.make("sales", team="North", password=PASSWORD)
    customer = make_customer(rep, name="Edit Me", email="old@example.com", tags=["vip"])
    token = logged_in(client, rep)

    response = client.post(
        f"/customers/{customer['id']}/edit",
        data=edit_form(customer, token, city="Lyon", country="fr", tags="vip, b2b", email=""),
        follow_redirects=False,
    )

    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/customers/{customer['id']}?saved=true"
    stored = rep.get(f"/api/v1/customers/{customer['id']}").json()
    assert (stored["city"], stored["country"], stored["tags"]) == ("Lyon", "FR", ["vip", "b2b"])
    assert stored["email"] is None
    assert stored["version"] == customer["version"] + 1
    page = client.get(response.headers["location"])
    assert "Your changes were saved." in page.text
    assert "Lyon" in page.text


def test_a_stale_edit_answers_409_and_keeps_the_other_change(
    client: TestClient, callers: Callers
) -> None:
    rep = callers.make("sales", team="North", password=PASSWORD)
    customer = make_customer(rep, name="Contested")
    token = logged_in(client, rep)
    other = rep.patch(f"/api/v1/customers/{customer['id']}", json={"city": "Oslo", "version": 1})
    assert other.status_code == 200

    response = client.post(
        f"/customers/{customer['id']}/edit", data=edit_form(customer, token, city="Bergen")
    )

    assert response.status_code == 409
    assert "Someone else changed this customer while you were editing." in response.text
    assert 'value="Bergen"' in response.text  # what the user typed is kept
    assert hidden(response.text, "version") == "2"
    stored = rep.get(f"/api/v1/customers/{customer['id']}").json()
    assert (stored["city"], stored["version"]) == ("Oslo", 2)


def test_invalid_input_is_shown_beside_the_field(client: TestClient, callers: Callers) -> None:
    rep = callers.make("sales", team="North", password=PASSWORD)
    customer = make_customer(rep, name="Valid Name")
    token = logged_in(client, rep)

    response = client.post(
        f"/customers/{customer['id']}/edit",
        data=edit_form(customer, token, name="  ", country="D1", email="not-an-email"),
    )

    assert response.status_code == 422
    assert 'id="edit-name-error">Enter a value.' in response.text
    assert "Use a two-letter country code, such as DE or US." in response.text
    assert "Enter a valid email address" in response.text
    assert 'aria-invalid="true"' in response.text
    stored = rep.get(f"/api/v1/customers/{customer['id']}").json()
    assert (stored["name"], stored["version"]) == ("Valid Name", 1)


@pytest.mark.parametrize(
    ("role", "team", "with_token", "status"),
    [
        ("readonly", None, True, 403),
        ("marketing", None, True, 403),
        ("sales", "South", True, 404),  # another team's customer is not there for them
        ("sales", "North", False, 403),  # no CSRF token
    ],
)
def test_edit_is_refused_and_changes_nothing(
    client: TestClient, callers: Callers, role: str, team: str | None, with_token: bool, status: int
) -> None:
    owner = callers.make("sales", team="North")
    customer = make_customer(owner, name="Guarded", city="Turin")
    caller = callers.make(role, team=team, password=PASSWORD)
    token = logged_in(client, caller)

    data = edit_form(customer, token if with_token else "", name="Taken Over", city="Rome")
    response = client.post(f"/customers/{customer['id']}/edit", data=data)

    assert response.status_code == status
    assert "Taken Over" not in response.text
    stored = owner.get(f"/api/v1/customers/{customer['id']}").json()
    assert (stored["name"], stored["city"], stored["version"]) == ("Guarded", "Turin", 1)


def test_readonly_page_has_no_edit_controls(
    client: TestClient, callers: Callers, admin: Caller
) -> None:
    customer = make_customer(admin, name="Look Only")
    viewer = callers.make("readonly", password=PASSWORD)
    logged_in(client, viewer)

    page = client.get(f"/customers/{customer['id']}")
    assert page.status_code == 200
    assert "Look Only" in page.text
    assert "edit-controls" not in page.text
    assert "/edit" not in page.text
