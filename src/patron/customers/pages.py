"""Customer pages: the list (search, filters, paging), the customer (profile, timeline) and its
edit form.

The edit form posts the fields as typed plus the version the page showed; the service checks the
version, so a stale form answers 409 with the conflict explained instead of overwriting.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.customers.models import Customer
from patron.customers.schemas import CustomerFilter, CustomerUpdate
from patron.customers.service import customers
from patron.customers.timeline import timeline
from patron.errors import ValidationFailed, VersionConflict
from patron.events import service as events
from patron.insights import recommend
from patron.insights import service as insights
from patron.insights.models import AnalysisRun, CustomerInsight
from patron.insights.service import runs
from patron.marketing.service import segments
from patron.security import audit
from patron.security import service as security
from patron.security.deps import DbSession
from patron.security.permissions import Action, Principal
from patron.web.pages import PagePrincipal, render, verify_form_csrf

router = APIRouter(include_in_schema=False)

LIFECYCLE = ("lead", "prospect", "customer", "churned", "other")
KINDS = ("person", "company")
TIMELINE_TYPES = ("order", "ticket", "activity", "deal")
TimelineType = Literal["order", "ticket", "activity", "deal"]


class CustomerEditForm(BaseModel):
    """The form as posted: strings only, so every value comes back to the user as typed."""

    model_config = ConfigDict(extra="ignore")

    csrf_token: str = Field(default="", max_length=200)
    version: str = Field(default="", max_length=20)
    name: str = Field(default="", max_length=1000)
    kind: str = Field(default="", max_length=20)
    lifecycle_stage: str = Field(default="", max_length=20)
    email: str = Field(default="", max_length=1000)
    phone: str = Field(default="", max_length=1000)
    address_line1: str = Field(default="", max_length=1000)
    address_line2: str = Field(default="", max_length=1000)
    postal_code: str = Field(default="", max_length=1000)
    city: str = Field(default="", max_length=1000)
    region: str = Field(default="", max_length=1000)
    country: str = Field(default="", max_length=100)
    tags: str = Field(default="", max_length=5000)
    source: str = Field(default="", max_length=1000)
    external_id: str = Field(default="", max_length=1000)
    notes: str = Field(default="", max_length=60_000)


# The customer's fields on the form (the rest is the form's own bookkeeping).
EDIT_FIELDS = tuple(f for f in CustomerEditForm.model_fields if f not in ("csrf_token", "version"))
REQUIRED_FIELDS = ("name", "kind", "lifecycle_stage")


ScoreQuery = Annotated[str | None, Query(max_length=30)]
# The score filters on the list page: (parameter, label), lower bound then upper bound.
SCORE_FILTERS = (
    ("churn_risk_min", "Churn risk from"), ("churn_risk_max", "Churn risk to"),
    ("clv_min", "CLV from"), ("clv_max", "CLV to"),
    ("p_alive_min", "P(alive) from"), ("p_alive_max", "P(alive) to"),
)  # fmt: skip


@router.get("/customers", response_class=HTMLResponse)
def customer_list(
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    q: Annotated[str | None, Query(max_length=200)] = None,
    lifecycle_stage: Annotated[str | None, Query(max_length=20)] = None,
    country: Annotated[str | None, Query(max_length=2)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    segment_id: Annotated[str | None, Query(max_length=40)] = None,
    churn_risk_min: ScoreQuery = None,
    churn_risk_max: ScoreQuery = None,
    clv_min: ScoreQuery = None,
    clv_max: ScoreQuery = None,
    p_alive_min: ScoreQuery = None,
    p_alive_max: ScoreQuery = None,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    sort: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    scores = {
        "churn_risk_min": churn_risk_min, "churn_risk_max": churn_risk_max,
        "clv_min": clv_min, "clv_max": clv_max,
        "p_alive_min": p_alive_min, "p_alive_max": p_alive_max,
    }  # fmt: skip
    raw = {
        "q": q or None,
        "lifecycle_stage": lifecycle_stage or None,
        "country": country or None,
        "tag": tag or None,
        "segment_id": segment_id or None,
        **{name: (value or "").strip() or None for name, value in scores.items()},
        "cursor": cursor or None,
        "sort": sort or "name",
        "limit": 25,
    }
    error = None
    try:
        filters = CustomerFilter.model_validate({k: v for k, v in raw.items() if v is not None})
        page = customers.list(
            session,
            principal,
            filters=filters,
            sort=filters.sort,
            limit=filters.limit,
            cursor=filters.cursor,
        )
    except (ValidationError, ValidationFailed):
        error = "Some filters are not valid; showing all customers."
        filters = CustomerFilter(sort="name")
        page = customers.list(session, principal, filters=filters, sort="name", limit=25)
    params = {k: v for k, v in raw.items() if v and k not in ("cursor", "limit")}
    return render(
        request,
        "customers/list.html",
        {
            "page": page,
            "filters": filters,
            "params": params,
            "error": error,
            "lifecycle_stages": LIFECYCLE,
            "first_page": not cursor,
            "filtered": any(
                raw[k] for k in ("q", "lifecycle_stage", "country", "tag", "segment_id", *scores)
            ),
            "score_filters": SCORE_FILTERS,
            "insights": insights.insights_for(session, principal, [c.id for c in page.items]),
            "segment_choices": _segment_choices(session, principal),
            "live_after": events.last_position(session),
        },
    )


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_detail(
    customer_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    type: Annotated[TimelineType | None, Query()] = None,
    saved: bool = False,
) -> Response:
    context = _detail_context(session, principal, customer_id, cursor=cursor, type=type)
    return render(request, "customers/detail.html", {**context, "saved": saved})


@router.get("/customers/{customer_id}/edit", response_class=HTMLResponse)
def customer_edit_form(
    customer_id: uuid.UUID, request: Request, session: DbSession, principal: PagePrincipal
) -> Response:
    """The customer page with its edit form open (also where a login for an edit returns to)."""
    context = _detail_context(session, principal, customer_id)
    return render(request, "customers/detail.html", {**context, "edit_open": True})


@router.post("/customers/{customer_id}/edit", response_class=HTMLResponse)
def customer_edit(
    customer_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: PagePrincipal,
    form: Annotated[CustomerEditForm, Form()],
) -> Response:
    verify_form_csrf(request, form.csrf_token)
    principal.require("customers", Action.UPDATE)
    errors: dict[str, str] = {}
    conflict = False
    try:
        customers.update(session, principal, customer_id, _to_update(form))
    except ValidationError as exc:
        errors = _schema_errors(exc)
    except ValidationFailed as exc:
        errors = {str(e.get("field") or "form"): str(e["message"]) for e in exc.extra["errors"]}
        errors = errors or {"form": exc.detail}
    except VersionConflict:
        conflict = True
    except IntegrityError:
        errors = {"form": "Another customer already has this external id."}
    else:
        return RedirectResponse(f"/customers/{customer_id}?saved=true", status_code=303)
    # Nothing of a refused change may be committed at the end of the request.
    session.rollback()
    context = _detail_context(session, principal, customer_id)
    values = form.model_dump(exclude={"csrf_token"})
    if conflict:
        # Keep what the user typed, against the version now stored: saving again is a choice
        # made after seeing the other change.
        values["version"] = str(context["customer"].version)
    return render(
        request,
        "customers/detail.html",
        {
            **context,
            "edit_open": True,
            "form": values,
            "errors": errors,
            "conflict": conflict,
            "general_errors": [m for field, m in errors.items() if field not in EDIT_FIELDS],
        },
        status=409 if conflict else 422,
    )


# ----- helpers -------------------------------------------------------------------------------
def _detail_context(
    session: Session,
    principal: Principal,
    customer_id: uuid.UUID,
    *,
    cursor: str | None = None,
    type: str | None = None,
) -> dict[str, Any]:
    customer = customers.get(session, principal, customer_id)
    types = {type} if type else None
    feed = timeline(session, principal, customer_id, limit=50, cursor=cursor, types=types)
    company = owner = team = None
    if customer.company_id:
        company = customers.get_or_none(session, principal, customer.company_id)
    if customer.owner_id and principal.can("users", Action.READ):
        owner = security.users.get_or_none(session, principal, customer.owner_id)
    if customer.team_id and principal.can("teams", Action.READ):
        team = security.teams.get_or_none(session, principal, customer.team_id)
    insight = insights.insight_for(session, principal, customer_id)
    return {
        "customer": customer,
        "insight": insight,
        "insight_run": _insight_run(session, principal, insight),
        "recommendations": _recommendations(session, principal, customer_id),
        "history": _history(session, principal, customer_id),
        "company": company,
        "owner": owner,
        "team": team,
        "timeline": feed,
        "timeline_type": type,
        "timeline_types": TIMELINE_TYPES,
        "can_edit": principal.can("customers", Action.UPDATE),
        "form": _form_values(customer),
        "errors": {},
        "general_errors": [],
        "kinds": KINDS,
        "lifecycle_stages": LIFECYCLE,
    }


def _segment_choices(session: Session, principal: Principal) -> dict[str, list[Any]]:
    """The segments to filter by: the analysis's first, then the rest, by name."""
    if not principal.can("segments", Action.READ):
        return {}
    listed = segments.list(session, principal, sort="name", limit=100).items
    groups = {
        "From the latest segmentation": [s for s in listed if s.source == "analysis"],
        "Other segments": [s for s in listed if s.source != "analysis"],
    }
    return {label: choices for label, choices in groups.items() if choices}


def _insight_run(
    session: Session, principal: Principal, insight: CustomerInsight | None
) -> AnalysisRun | None:
    """The segmentation behind a customer's insight, for its date, where the caller may read it."""
    if insight is None or insight.segmentation_run_id is None:
        return None
    if not principal.can("analysis_runs", Action.READ):
        return None
    return runs.get_or_none(session, principal, insight.segmentation_run_id)


def _recommendations(
    session: Session, principal: Principal, customer_id: uuid.UUID
) -> dict[str, Any] | None:
    """Products to offer, each with the rule behind it; None for a role that may not see orders."""
    if not (principal.can("orders", Action.READ) and principal.can("products", Action.READ)):
        return None
    return recommend.for_customer(session, principal, customer_id, limit=5)


def _history(
    session: Session, principal: Principal, customer_id: uuid.UUID
) -> dict[str, Any] | None:
    """The customer's own audit entries, newest first; None for a role that may not read them."""
    if not audit.can_read(principal):
        return None
    page = audit.history(session, principal, entity="customer", entity_id=customer_id)
    return {"page": page, "actors": audit.actor_names(session, page.items)}


def _form_values(customer: Customer) -> dict[str, str]:
    values = {field: getattr(customer, field) or "" for field in EDIT_FIELDS if field != "tags"}
    return {**values, "tags": ", ".join(customer.tags or []), "version": str(customer.version)}


def _to_update(form: CustomerEditForm) -> CustomerUpdate:
    """Blank optional fields clear the value; required ones stay blank so validation names them."""
    values: dict[str, Any] = {}
    for field in EDIT_FIELDS:
        raw: str = getattr(form, field).replace("\r\n", "\n")
        text = raw if field == "notes" and raw.strip() else raw.strip()
        values[field] = text if text or field in REQUIRED_FIELDS else None
    values["tags"] = [tag.strip() for tag in form.tags.split(",") if tag.strip()]
    values["version"] = form.version.strip()
    return CustomerUpdate.model_validate(values)


_PATTERN_HINTS = {
    "country": "Use a two-letter country code, such as DE or US.",
    "phone": "Use digits, spaces and + ( ) - . / x only.",
}


def _schema_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic's errors as one readable sentence per form field."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "form"
        kind, context = error["type"], error.get("ctx") or {}
        if field == "version":
            message = "The form lost the customer's version; reload the page and try again."
        elif field == "email":
            message = "Enter a valid email address, such as name@example.com."
        elif kind == "string_too_short":
            message = "Enter a value."
        elif kind in ("string_too_long", "too_long") and field == "tags":
            message = "Use at most 50 tags of at most 50 characters each."
        elif kind == "string_too_long":
            message = f"Use at most {context.get('max_length')} characters."
        elif kind == "string_pattern_mismatch":
            message = _PATTERN_HINTS.get(field, "This value has the wrong format.")
        elif kind == "literal_error":
            message = "Choose one of the listed options."
        else:
            message = str(error["msg"])
        errors.setdefault(field, message)
    return errors
