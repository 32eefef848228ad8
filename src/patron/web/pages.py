"""Server-rendered pages: login and logout here; each domain adds its own pages module.

Pages follow the API's rule: parse, call one service, render. The caller comes from the session
cookie; every form carries the session's CSRF token.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import secrets
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode, urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from patron.errors import NotAuthenticated, PatronError
from patron.security import service as security
from patron.security.deps import (
    SESSION_COOKIE,
    DbSession,
    authenticate,
    check_csrf,
    client_address,
)
from patron.security.permissions import Principal
from patron.security.throttle import TooManyAttempts
from patron.security.tokens import same

LOGIN_CSRF_COOKIE = "patron_login_csrf"

router = APIRouter(include_in_schema=False)


class LoginRequired(PatronError):
    code = "login_required"
    title = "Please log in"
    status = 401


def _secure(request: Request) -> bool:
    configured = request.app.state.settings.cookie_secure
    return configured if configured is not None else request.url.scheme == "https"


def _safe_next(target: str | None) -> str:
    """Only local paths: never redirect a fresh login to another site."""
    if not target:
        return "/customers"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/customers"
    if "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return "/customers"  # browsers read "/\evil.example" as "//evil.example"
    return target


def page_principal(request: Request, session: DbSession) -> Principal:
    try:
        authenticated = authenticate(request, session)
    except NotAuthenticated as exc:
        raise LoginRequired(exc.detail) from exc
    request.state.csrf_token = authenticated.csrf_token
    return authenticated.principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    principal = getattr(getattr(request.state, "authenticated", None), "principal", None)
    base = {"principal": principal, "csrf_token": getattr(request.state, "csrf_token", None)}
    return request.app.state.templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status
    )


def verify_form_csrf(request: Request, submitted: str | None) -> None:
    authenticated = getattr(request.state, "authenticated", None)
    if authenticated is not None:
        check_csrf(request, authenticated, submitted)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, principal: PagePrincipal) -> Response:
    return RedirectResponse("/customers", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"login_csrf": token, "next": _safe_next(next)})
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request),
        max_age=3600, path="/login",
    )  # fmt: skip
    return response


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: DbSession,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form(max_length=200)],
    next: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    target = _safe_next(next)
    if not cookie or not same(cookie, csrf_token):
        return render(request, "login.html",
                      {"error": "The form expired; please try again.", "next": target,
                       "login_csrf": cookie or secrets.token_urlsafe(24), "email": email},
                      status=400)  # fmt: skip
    settings = request.app.state.settings
    try:
        new = security.login(
            session, email=email, password=password,
            absolute=timedelta(hours=settings.session_absolute_hours),
            ip_address=client_address(request),
            user_agent=request.headers.get("user-agent"),
        )  # fmt: skip
    except NotAuthenticated as exc:
        return render(request, "login.html",
                      {"error": exc.detail, "next": target, "login_csrf": cookie,
                       "email": email}, status=401)  # fmt: skip
    except TooManyAttempts as exc:
        response = render(request, "login.html",
                          {"error": exc.detail, "next": target, "login_csrf": cookie,
                           "email": email}, status=429)  # fmt: skip
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, new.token, httponly=True, samesite="lax", secure=_secure(request),
        path="/",
    )  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    csrf_token: Annotated[str | None, Form(max_length=200)] = None,
    everywhere: Annotated[bool, Form()] = False,
) -> Response:
    verify_form_csrf(request, csrf_token)
    token = request.cookies.get(SESSION_COOKIE)
    if everywhere:
        security.logout_everywhere(session, principal)
    elif token:
        security.logout(session, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def login_url(request: Request) -> str:
    """The login page, asked to come back to this page (path and query) afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?" + urlencode({"next": target})


def install(app: Any) -> None:
    """Redirect pages that need a login to the login form."""

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_url(request), status_code=303)
