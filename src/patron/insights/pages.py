"""Analysis pages: the runs (start one, watch it), the segments (sizes, revenue, an RFM profile
chart, members, a campaign from a segment) and the rules (filter, sort, page).

Charts are drawn in the browser by plotly.js, served from the installed ``plotly`` package (never a
CDN); each page embeds its chart data as JSON.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import importlib.metadata
import importlib.util
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.customers.schemas import CustomerFilter
from patron.customers.service import customers
from patron.errors import NotFound, ValidationFailed
from patron.insights import charts
from patron.insights import service as insights
from patron.insights.schemas import RunCreate
from patron.insights.service import runs
from patron.marketing.models import CAMPAIGN_CHANNELS
from patron.marketing.schemas import CampaignCreate
from patron.marketing.service import campaigns, segments
from patron.security import service as security
from patron.security.deps import DbSession
from patron.security.permissions import Action, Principal
from patron.web.pages import PagePrincipal, render, verify_form_csrf

router = APIRouter(include_in_schema=False)


def _plotly_js() -> tuple[Path | None, str]:
    """Where the ``plotly`` package keeps plotly.js, found without importing the package."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None, ""
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return (path if path.is_file() else None), importlib.metadata.version("plotly")


PLOTLY_JS, PLOTLY_VERSION = _plotly_js()
PLOTLY_URL = f"/static/vendor/plotly.min.js?v={PLOTLY_VERSION}"
ACTIVE = ("pending", "running")
PAGE_SIZE = 25
RULE_SORT_LABELS = {"lift": "Lift", "confidence": "Confidence", "support": "Support"}
FIELD_LABELS = {
    "k": "Number of segments",
    "min_support": "Minimum support",
    "min_confidence": "Minimum confidence",
    "min_lift": "Minimum lift",
    "max_len": "Largest itemset",
    "horizon": "Horizon (months)",
    "discount_rate": "Discount rate per month",
    "holdout_days": "Days held out to check",
    "horizon_days": "Churned after (days)",
    "threshold": "Risk threshold",
    "name": "Campaign name",
    "channel": "Channel",
    "kind": "Kind",
}


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """Render, never cached: these pages show customers and figures the caller may lose."""
    response = render(request, template, {**context, "plotly_url": PLOTLY_URL}, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/static/vendor/plotly.min.js")
def plotly_js() -> Response:
    """plotly.js as the installed ``plotly`` package ships it; public, like every static file.

    The pages ask for it with the package's version in the query, so a week's caching is safe.
    """
    if PLOTLY_JS is None:
        raise NotFound("plotly.js is not installed (the Python package plotly ships it).")
    return FileResponse(
        PLOTLY_JS,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=604800"},
    )


# ----- analysis runs -----------------------------------------------------------------------
class RunForm(BaseModel):
    """Either start form as posted: strings, so each value goes back to the user as typed."""

    model_config = ConfigDict(extra="ignore")

    csrf_token: str = Field(default="", max_length=200)
    kind: str = Field(default="", max_length=20)
    k: str = Field(default="auto", max_length=10)
    min_support: str = Field(default="", max_length=30)
    min_confidence: str = Field(default="", max_length=30)
    min_lift: str = Field(default="", max_length=30)
    max_len: str = Field(default="", max_length=10)
    horizon: str = Field(default="", max_length=10)
    discount_rate: str = Field(default="", max_length=30)
    holdout_days: str = Field(default="", max_length=10)
    horizon_days: str = Field(default="", max_length=10)
    threshold: str = Field(default="", max_length=30)


@router.get("/analyses", response_class=HTMLResponse)
def analysis_list(
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    started: uuid.UUID | None = None,
) -> Response:
    context = _analyses_context(session, principal, cursor=cursor)
    if started is not None:
        context["started"] = runs.get_or_none(session, principal, started)
    return _page(request, "insights/analyses.html", context)


@router.post("/analyses", response_class=HTMLResponse)
def analysis_start(
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    form: Annotated[RunForm, Form()],
) -> Response:
    verify_form_csrf(request, form.csrf_token)
    principal.require("analysis_runs", Action.CREATE)
    try:
        run = runs.start(session, principal, _run_create(form))
    except ValidationError as exc:
        errors = {str(e["loc"][0]) if e["loc"] else "form": str(e["msg"]) for e in exc.errors()}
    except ValidationFailed as exc:
        errors = {}
        for error in exc.extra["errors"]:
            field = str(error.get("field") or "form").removeprefix("parameters.").split(".")[0]
            errors.setdefault(field, str(error["message"]))
        errors = errors or {"form": exc.detail}
    else:
        return RedirectResponse(f"/analyses?started={run.id}", status_code=303)
    session.rollback()
    context = _analyses_context(session, principal)
    values = form.model_dump(exclude={"csrf_token"})
    context.update(form_kind=form.kind, values=values, errors=errors, labels=FIELD_LABELS)
    return _page(request, "insights/analyses.html", context, status=422)


@router.get("/analyses/{run_id}", response_class=HTMLResponse)
def analysis_detail(
    run_id: uuid.UUID, request: Request, session: DbSession, principal: PagePrincipal
) -> Response:
    run = runs.get(session, principal, run_id)
    people = _people(session, principal, [run.created_by])
    return _page(
        request,
        "insights/run.html",
        {"run": run, "people": people, "active": run.status in ACTIVE},
    )


# ----- segments --------------------------------------------------------------------------------
class CampaignForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    csrf_token: str = Field(default="", max_length=200)
    name: str = Field(default="", max_length=1000)
    channel: str = Field(default="email", max_length=20)
    description: str = Field(default="", max_length=10_000)


@router.get("/segments", response_class=HTMLResponse)
def segment_list(request: Request, session: DbSession, principal: PagePrincipal) -> Response:
    listed = segments.list(session, principal, sort="name", limit=100)
    can_read_runs = principal.can("analysis_runs", Action.READ)
    run = insights.latest_segmentation(session, principal) if can_read_runs else None
    rows = charts.segment_rows(run)
    # The analysis segments are in the run's table; without it, list them with the rest.
    shown = {row.get("segment_id") for row in rows}
    return _page(
        request,
        "insights/segments.html",
        {
            "run": run,
            "rows": rows,
            "charts": charts.segment_charts(rows) if rows else None,
            "others": [s for s in listed.items if str(s.id) not in shown],
            "more_segments": listed.has_more,
            "can_start": principal.can("analysis_runs", Action.CREATE),
            "can_read_runs": can_read_runs,
        },
    )


@router.get("/segments/{segment_id}", response_class=HTMLResponse)
def segment_detail(
    segment_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    campaign: uuid.UUID | None = None,
) -> Response:
    context = _segment_context(session, principal, segment_id, cursor=cursor)
    if campaign is not None:
        context["created_campaign"] = campaigns.get_or_none(session, principal, campaign)
    return _page(request, "insights/segment.html", context)


@router.post("/segments/{segment_id}/campaign", response_class=HTMLResponse)
def segment_campaign(
    segment_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    form: Annotated[CampaignForm, Form()],
) -> Response:
    """A draft campaign whose audience is this segment."""
    verify_form_csrf(request, form.csrf_token)
    principal.require("campaigns", Action.CREATE)
    segments.get(session, principal, segment_id)
    errors: dict[str, str] = {}
    try:
        data = CampaignCreate(
            name=form.name,
            channel=form.channel,  # type: ignore[arg-type]
            description=form.description.strip() or None,
            segment_id=segment_id,
        )
        created = campaigns.create(session, principal, data)
    except ValidationError as exc:
        errors = {str(e["loc"][0]) if e["loc"] else "form": _message(e) for e in exc.errors()}
    except ValidationFailed as exc:
        errors = {str(e.get("field") or "form"): str(e["message"]) for e in exc.extra["errors"]}
        errors = errors or {"form": exc.detail}
    except IntegrityError:
        errors = {"name": "A campaign with this name exists; choose another name."}
    else:
        return RedirectResponse(
            f"/segments/{segment_id}?campaign={created.id}#campaign", status_code=303
        )
    session.rollback()
    context = _segment_context(session, principal, segment_id)
    context.update(
        campaign_form=form.model_dump(exclude={"csrf_token"}), errors=errors, labels=FIELD_LABELS
    )
    return _page(request, "insights/segment.html", context, status=422)


# ----- rules -----------------------------------------------------------------------------------
class RuleQuery(BaseModel):
    q: str | None = Field(default=None, max_length=100)
    min_confidence: float | None = Field(default=None, ge=0, le=1)
    min_lift: float | None = Field(default=None, ge=0, le=1_000_000)
    sort: str = "-lift"
    page: int = Field(default=1, ge=1, le=100_000)


@router.get("/rules", response_class=HTMLResponse)
def rule_list(
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    q: Annotated[str | None, Query(max_length=100)] = None,
    min_confidence: Annotated[str | None, Query(max_length=30)] = None,
    min_lift: Annotated[str | None, Query(max_length=30)] = None,
    sort: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    raw = {"q": q, "min_confidence": min_confidence, "min_lift": min_lift, "sort": sort,
           "page": page}  # fmt: skip
    raw = {key: value.strip() for key, value in raw.items() if value and value.strip()}
    error = None
    try:
        query = RuleQuery.model_validate(raw)
        found = _rules(session, principal, query)
    except (ValidationError, ValidationFailed):
        error = "Some filters are not valid; showing all rules."
        query = RuleQuery()
        raw = {}
        found = _rules(session, principal, query)
    params = {k: v for k, v in raw.items() if k != "page"}
    return _page(
        request,
        "insights/rules.html",
        {
            "found": found,
            "rows": [_rule_row(rule) for rule in found.items],
            "query": query,
            "values": raw,
            "params": params,
            "error": error,
            "sort_labels": RULE_SORT_LABELS,
            "filtered": any(k in raw for k in ("q", "min_confidence", "min_lift")),
        },
    )


# ----- helpers ---------------------------------------------------------------------------------
# The parameters each start form sends (segmentation's k is handled on its own).
FORM_PARAMETERS = {
    "rules": ("min_support", "min_confidence", "min_lift", "max_len"),
    "clv": ("horizon", "discount_rate", "holdout_days"),
    "churn": ("horizon_days", "threshold"),
}


def _run_create(form: RunForm) -> RunCreate:
    if form.kind == "segmentation":
        k = form.k.strip() or "auto"
        parameters: dict[str, Any] = {"k": k}
    else:
        names = FORM_PARAMETERS.get(form.kind, ())
        parameters = {
            name: getattr(form, name).strip() for name in names if getattr(form, name).strip()
        }
    return RunCreate.model_validate({"kind": form.kind, "parameters": parameters})


def _analyses_context(
    session: Session, principal: Principal, *, cursor: str | None = None
) -> dict[str, Any]:
    page = runs.list(session, principal, sort="-created_at", limit=PAGE_SIZE, cursor=cursor)
    return {
        "page": page,
        "people": _people(session, principal, [run.created_by for run in page.items]),
        "active": any(run.status in ACTIVE for run in page.items),
        "can_start": principal.can("analysis_runs", Action.CREATE),
        "first_page": not cursor,
        "form_kind": None,
        "values": {},
        "errors": {},
        "labels": FIELD_LABELS,
        "k_choices": ["auto", *range(2, 13)],
    }


def _people(
    session: Session, principal: Principal, user_ids: list[uuid.UUID | None]
) -> dict[uuid.UUID, str]:
    """Who started the runs, by name, where the caller may read users."""
    if not principal.can("users", Action.READ):
        return {}
    people = {}
    for user_id in {user_id for user_id in user_ids if user_id is not None}:
        user = security.users.get_or_none(session, principal, user_id)
        if user is not None:
            people[user_id] = user.name or user.email
    return people


def _segment_context(
    session: Session, principal: Principal, segment_id: uuid.UUID, *, cursor: str | None = None
) -> dict[str, Any]:
    segment = segments.get(session, principal, segment_id)
    profile = None
    run = None
    if segment.source == "analysis" and principal.can("analysis_runs", Action.READ):
        run = insights.latest_segmentation(session, principal)
        profile = next(
            (row for row in charts.segment_rows(run) if row.get("segment_id") == str(segment.id)),
            None,
        )
    members = customers.list(
        session,
        principal,
        filters=CustomerFilter(segment_id=segment.id),
        sort="name",
        limit=PAGE_SIZE,
        cursor=cursor,
    )
    return {
        "segment": segment,
        "run": run if profile else None,
        "profile": profile,
        "members": members,
        "member_insights": insights.insights_for(session, principal, [c.id for c in members.items]),
        "first_page": not cursor,
        "scoped": principal.team_scoped,
        "can_create_campaign": principal.can("campaigns", Action.CREATE),
        "channels": CAMPAIGN_CHANNELS,
        "campaign_form": {"name": "", "channel": "email", "description": ""},
        "errors": {},
        "labels": FIELD_LABELS,
    }


def _rules(session: Session, principal: Principal, query: RuleQuery) -> insights.RulesPage:
    return insights.list_rules(
        session,
        principal,
        text=query.q,
        min_confidence=query.min_confidence,
        min_lift=query.min_lift,
        sort=query.sort,
        limit=PAGE_SIZE,
        offset=(query.page - 1) * PAGE_SIZE,
    )


def _rule_row(rule: Any) -> dict[str, Any]:
    bought, _, then = (rule.description or "").partition(" → ")
    return {
        "if": bought,
        "then": then,
        "support": rule.support,
        "confidence": rule.confidence,
        "lift": rule.lift,
        "leverage": rule.leverage,
        "conviction": rule.conviction,
    }


def _message(error: Any) -> str:
    if error["type"] == "string_too_short":
        return "Enter a value."
    if error["type"] == "literal_error":
        return "Choose one of the listed options."
    if error["type"] == "string_too_long":
        return f"Use at most {error.get('ctx', {}).get('max_length')} characters."
    return str(error["msg"])
