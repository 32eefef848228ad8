"""The forecast page: monthly revenue with the latest forecast run's intervals, its back-test
against the seasonal-naive forecast, and the pipeline forecast."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from patron.insights import forecast
from patron.insights.pages import _page
from patron.security.deps import DbSession
from patron.security.permissions import Action
from patron.web.pages import PagePrincipal

router = APIRouter(include_in_schema=False)


@router.get("/forecast", response_class=HTMLResponse)
def forecast_page(request: Request, session: DbSession, principal: PagePrincipal) -> Response:
    run = forecast.latest_forecast(session, principal)
    return _page(
        request,
        "insights/forecast.html",
        {
            "run": run,
            "charts": forecast.forecast_charts(run) if run is not None else None,
            "can_start": principal.can("analysis_runs", Action.CREATE),
        },
    )
