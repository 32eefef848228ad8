"""The application factory: ``create_app(settings)``."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from patron import __version__
from patron.config import Settings
from patron.db.engine import Database
from patron.events.stream import Hub
from patron.kit.money import format_money
from patron.security import crypto
from patron.security.deps import get_principal
from patron.web import problems
from patron.web.idempotency import IdempotencyMiddleware

HERE = Path(__file__).parent
API_PREFIX = "/api/v1"

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)


# Pages and answers with personal data are never kept by browsers or proxies.
NO_STORE_PREFIXES = (API_PREFIX, "/customers", "/tickets", "/live")


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        request.state.request_id = request.headers.get("x-request-id", "")[:64] or (
            secrets.token_hex(8)
        )
        response = await call_next(request)
        headers = response.headers
        headers.setdefault("X-Request-ID", request.state.request_id)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        if request.url.scheme == "https":
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.url.path.startswith(NO_STORE_PREFIXES):
            headers.setdefault("Cache-Control", "no-store")
        return response


def templates() -> Jinja2Templates:
    engine = Jinja2Templates(directory=str(HERE / "templates"))
    engine.env.filters["money"] = lambda minor, currency: format_money(int(minor or 0), currency)
    engine.env.globals["version"] = __version__
    return engine


def api_router() -> APIRouter:
    from patron.activities.api import router as activities
    from patron.customers.api import router as customers
    from patron.events.api import router as events
    from patron.insights.api import router as insights
    from patron.integration.api import router as integration
    from patron.integration.duplicates_api import router as duplicates
    from patron.integration.imports_api import router as imports
    from patron.integration.webhooks_api import router as webhooks
    from patron.marketing.api import router as marketing
    from patron.privacy.api import router as privacy
    from patron.sales.api import router as sales
    from patron.security.api import router as security
    from patron.security.audit_api import router as audit
    from patron.service.api import router as service

    router = APIRouter(prefix=API_PREFIX)
    for part in (
        customers,
        privacy,
        sales,
        service,
        activities,
        marketing,
        security,
        audit,
        events,
        insights,
    ):
        router.include_router(part)
    router.include_router(integration)
    router.include_router(duplicates)
    router.include_router(webhooks)
    router.include_router(imports)
    return router


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    logging.getLogger("patron").setLevel(settings.log_level.upper())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if settings.runs_worker_in_process:
            from patron.worker.runner import Worker

            worker = Worker(app.state.db, settings=settings)
            worker.start_thread()
        try:
            yield
        finally:
            app.state.event_hub.close()
            if worker is not None:
                worker.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Patron",
        version=__version__,
        summary="A self-hosted CRM with analytics built in.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served below, behind authentication
    )
    app.state.settings = settings
    crypto.configure(settings)
    app.state.db = database or Database(settings.resolved_database_url)
    app.state.secret_key = settings.resolved_secret_key()
    app.state.templates = templates()
    app.state.event_hub = Hub(app.state.db.url)
    app.add_middleware(IdempotencyMiddleware, database=app.state.db)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(SecurityHeaders)
    problems.install(app)

    app.include_router(api_router())

    from patron.customers import pages as customer_pages
    from patron.events import pages as live_pages
    from patron.insights import forecast_pages
    from patron.insights import pages as insights_pages
    from patron.integration import imports_pages, webhooks_pages
    from patron.integration import pages as integration_pages
    from patron.security import audit_pages
    from patron.service import pages as ticket_pages
    from patron.web import pages

    pages.install(app)
    app.include_router(pages.router)
    app.include_router(customer_pages.router)
    app.include_router(insights_pages.router)
    app.include_router(integration_pages.router)
    app.include_router(audit_pages.router)
    app.include_router(forecast_pages.router)
    app.include_router(ticket_pages.router)
    app.include_router(live_pages.router)
    app.include_router(webhooks_pages.router)
    app.include_router(imports_pages.router)

    # The more specific mount first: "/static" would otherwise answer (404) for "/static/docs".
    docs_assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/static/docs", StaticFiles(directory=str(docs_assets)), name="docs-static")
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def openapi_document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            app.openapi_schema["components"].setdefault("securitySchemes", {})["bearer"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key: ptn_…",
            }
            app.openapi_schema["security"] = [{"bearer": []}]
        return app.openapi_schema

    @app.get("/health", include_in_schema=False)
    def health() -> JSONResponse:
        try:
            app.state.db.check()
        except Exception:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    @app.get(
        API_PREFIX + "/openapi.json", include_in_schema=False, dependencies=[Depends(get_principal)]
    )
    def openapi_json() -> JSONResponse:
        return JSONResponse(openapi_document())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(pages.page_principal)])
    def docs(request: Request) -> Response:
        # Swagger UI from the fastapi-offline package, started by a static script: no CDN, and
        # no inline script for the CSP to allow.
        return pages.render(request, "api_docs.html", {"openapi_url": API_PREFIX + "/openapi.json"})

    app.openapi = openapi_document  # type: ignore[method-assign]
    return app
