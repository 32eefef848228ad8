"""GDPR routes: a customer's data export and erasure, and marketing consent."""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import uuid
from typing import Any

from fastapi import APIRouter, Request

from patron.customers.schemas import ConsentUpdate, CustomerRead
from patron.privacy import service
from patron.privacy.schemas import ErasureRead, PersonalDataExport
from patron.security.deps import CurrentPrincipal, DbSession

router = APIRouter(tags=["personal data"])


def ledger_path(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.settings.data_dir / service.LEDGER_NAME


@router.get(
    "/customers/{customer_id}/export",
    response_model=PersonalDataExport,
    summary="Everything held about a customer (GDPR right of access), as JSON",
    operation_id="export_customer_data",
)
def export_customer_data(
    customer_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> Any:
    return service.export(session, principal, customer_id)


@router.post(
    "/customers/{customer_id}/erase",
    response_model=ErasureRead,
    summary="Erase a customer's personal data everywhere Patron holds it (GDPR art. 17)",
    operation_id="erase_customer",
)
def erase_customer(
    customer_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentPrincipal
) -> Any:
    return service.erase(session, principal, customer_id, ledger=ledger_path(request))


@router.put(
    "/customers/{customer_id}/consent",
    response_model=CustomerRead,
    summary="Record a customer's marketing opt-in or opt-out, with its source",
    operation_id="set_customer_consent",
)
def set_customer_consent(
    customer_id: uuid.UUID, body: ConsentUpdate, session: DbSession, principal: CurrentPrincipal
) -> Any:
    return service.set_consent(session, principal, customer_id, body.marketing_consent, body.source)
