"""Routes for analysis runs and recommendations."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from patron.crud.api import PageOut, page_response
from patron.insights import recommend
from patron.insights.schemas import RecommendationList, RunCreate, RunFilter, RunRead
from patron.insights.service import runs
from patron.security.deps import CurrentPrincipal, DbSession

router = APIRouter()


@router.post(
    "/analytics/runs", response_model=RunRead, status_code=202, tags=["analytics"],
    summary="Start an analysis run in the background", operation_id="create_analysis_run",
)  # fmt: skip
def start_run(
    body: RunCreate, request: Request, response: Response, session: DbSession,
    principal: CurrentPrincipal,
) -> Any:  # fmt: skip
    run = runs.start(session, principal, body)
    response.headers["Location"] = f"{request.url.path}/{run.id}"
    return RunRead.model_validate(run)


@router.get(
    "/analytics/runs", response_model=PageOut[RunRead], tags=["analytics"],
    summary="List analysis runs, newest first", operation_id="list_analysis_runs",
)  # fmt: skip
def list_runs(
    request: Request, response: Response, session: DbSession, principal: CurrentPrincipal,
    params: Annotated[RunFilter, Query()],
) -> Any:  # fmt: skip
    page = runs.list(
        session, principal, filters=params, sort=params.sort, limit=params.limit,
        cursor=params.cursor,
    )  # fmt: skip
    return page_response(request, response, page, RunRead)


@router.get(
    "/analytics/runs/{run_id}", response_model=RunRead, tags=["analytics"],
    summary="Read an analysis run", operation_id="get_analysis_run",
)  # fmt: skip
def get_run(run_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Any:
    return RunRead.model_validate(runs.get(session, principal, run_id))


@router.get(
    "/products/{product_id}/frequently-bought-together", response_model=RecommendationList,
    tags=["products"], summary="Products bought with this one (from the latest rules run)",
    operation_id="frequently_bought_together",
)  # fmt: skip
def bought_together(
    product_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Any:  # fmt: skip
    return recommend.frequently_bought_together(session, principal, product_id, limit=limit)


@router.get(
    "/customers/{customer_id}/recommendations", response_model=RecommendationList,
    tags=["customers"], summary="Products to offer this customer, each with the rule behind it",
    operation_id="customer_recommendations",
)  # fmt: skip
def customer_recommendations(
    customer_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Any:  # fmt: skip
    return recommend.for_customer(session, principal, customer_id, limit=limit)
