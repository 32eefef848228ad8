"""Errors as RFC 9457 problem details (API) or an error page (browser)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from patron.errors import NotAuthenticated, PatronError

logger = logging.getLogger("patron.web")

PROBLEM = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Unavailable",
}


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path == "/health":
        return False
    return "text/html" in request.headers.get("accept", "")


def problem(
    request: Request,
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    request_id = getattr(request.state, "request_id", None)
    if wants_html(request):
        if status == 401:
            from patron.web.pages import login_url

            return RedirectResponse(login_url(request), status_code=303)
        templates = request.app.state.templates
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "status": status,
                "title": title or TITLES.get(status, "Error"),
                "detail": detail,
                "request_id": request_id,
            },
            status_code=status,
            headers=headers,
        )
    body: dict[str, Any] = {
        "type": f"https://patron.dev/problems/{code.replace('_', '-')}",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
    }
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "request")


def install(app: FastAPI) -> None:
    @app.exception_handler(PatronError)
    async def _patron_error(request: Request, exc: PatronError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
        return problem(
            request,
            exc.status,
            exc.code,
            exc.detail,
            title=exc.title,
            extra=exc.extra,
            headers=headers,
        )

    @app.exception_handler(StatementError)
    async def _statement(request: Request, exc: StatementError) -> Response:
        # A Patron error raised while binding a value (a missing encryption key) arrives
        # wrapped by SQLAlchemy; anything else stays an unexpected error.
        if not isinstance(exc.orig, PatronError):
            return await _unexpected(request, exc)
        return await _patron_error(request, exc.orig)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = []
        for error in exc.errors()[:50]:
            message = str(error.get("msg", "invalid"))
            errors.append(
                {
                    "field": _location(tuple(error.get("loc", ()))),
                    "message": message,
                    "code": str(error.get("type", "invalid")),
                }
            )
        return problem(
            request,
            422,
            "validation_failed",
            "The request has invalid fields.",
            extra={"errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        if exc.status_code == 404:
            detail = "There is nothing at this address."
        return problem(request, exc.status_code, code, detail, headers=exc.headers)

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError) -> Response:
        return problem(
            request,
            409,
            "version_conflict",
            "The record was changed by someone else meanwhile; reload it and try again.",
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        logger.info("integrity error: %s", type(exc.orig).__name__)
        return problem(
            request,
            409,
            "conflict",
            "The change conflicts with existing data (a duplicate or a missing reference).",
        )

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> Response:
        # The driver's message ("database is locked", "disk I/O error", "connection refused")
        # names the condition, never row data; the statement and its parameters stay out.
        logger.error("database error: %s: %s", type(exc.orig).__name__, str(exc.orig)[:200])
        return problem(request, 503, "database_unavailable", "The database cannot be used now.")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, 500, "internal_error", "Something went wrong on our side.")
