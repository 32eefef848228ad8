"""Campaigns and segments, and who is in them."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from patron.crud import repository as crud_repository
from patron.crud.repository import Page, Resource
from patron.crud.service import CrudService
from patron.customers import service as customers_service
from patron.customers.schemas import CustomerFilter
from patron.errors import Conflict, NotFound, ValidationFailed
from patron.events import service as events
from patron.marketing import repository
from patron.marketing import rules as segment_rules
from patron.marketing.models import Campaign, CampaignMember, Segment, SegmentMember
from patron.marketing.schemas import CampaignRead, SegmentRead
from patron.security import audit
from patron.security.permissions import Action, Principal


class SegmentService(CrudService[Segment]):
    resource = Resource(
        entity="segments",
        event_name="segment",
        model=Segment,
        sort_fields={"name": Segment.name, "created_at": Segment.created_at},
        default_sort="name",
        apply_filters=repository.segment_filters,
    )
    read_schema = SegmentRead
    not_found_message = "No such segment."
    member_model = SegmentMember

    def prepare_create(
        self, session: Session, principal: Principal, values: dict[str, Any]
    ) -> dict[str, Any]:
        """A segment with a condition group in ``rules`` is a rules segment (members computed)."""
        if segment_rules.is_rule(values.get("rules")):
            segment_rules.validate(values["rules"])
            values["source"] = "rules"
        return values

    def prepare_update(
        self, session: Session, principal: Principal, record: Segment, values: dict[str, Any]
    ) -> dict[str, Any]:
        if "rules" in values and record.source != "analysis":
            if segment_rules.is_rule(values["rules"]):
                segment_rules.validate(values["rules"])
                values["source"] = "rules"
            elif record.source == "rules":
                values["source"] = "manual"  # the rule is gone; the members stay, by hand now
        return values

    def after_write(self, session: Session, principal: Principal, record: Segment) -> None:
        if record.source == "rules":
            segment_rules.materialise(session, record, principal)

    def update(
        self,
        session: Session,
        principal: Principal,
        record_id: uuid.UUID,
        data: BaseModel,
        *,
        expected_version: int | None = None,
    ) -> Segment:
        record = super().update(
            session, principal, record_id, data, expected_version=expected_version
        )
        self.after_write(session, principal, record)
        return record


class CampaignService(CrudService[Campaign]):
    resource = Resource(
        entity="campaigns",
        event_name="campaign",
        model=Campaign,
        sort_fields={"name": Campaign.name, "created_at": Campaign.created_at},
        apply_filters=repository.campaign_filters,
    )
    read_schema = CampaignRead
    not_found_message = "No such campaign."
    member_model = CampaignMember

    def _check(self, session: Session, values: dict[str, Any], record: Campaign | None) -> None:
        segment_id = values.get("segment_id")
        if segment_id is not None and session.get(Segment, segment_id) is None:
            raise ValidationFailed.field("segment_id", "No such segment.", "not_found")
        starts = values.get("starts_on", record.starts_on if record else None)
        ends = values.get("ends_on", record.ends_on if record else None)
        if starts and ends and ends < starts:
            raise ValidationFailed.field("ends_on", "The campaign ends before it starts.")

    def prepare_create(
        self, session: Session, principal: Principal, values: dict[str, Any]
    ) -> dict[str, Any]:
        self._check(session, values, None)
        return values

    def prepare_update(
        self, session: Session, principal: Principal, record: Campaign, values: dict[str, Any]
    ) -> dict[str, Any]:
        self._check(session, values, record)
        return values


segments = SegmentService()
campaigns = CampaignService()

MemberModel = type[CampaignMember] | type[SegmentMember]


def _parent(service: SegmentService | CampaignService) -> tuple[str, MemberModel]:
    return service.resource.event_name, service.member_model


def _refuse_rules_segment(parent: Any) -> None:
    if isinstance(parent, Segment) and parent.source == "rules":
        raise Conflict(
            "The members of a rules segment follow its rule; change the rule instead.",
            code="rules_segment_members",
        )


def list_members(
    session: Session,
    principal: Principal,
    service: SegmentService | CampaignService,
    parent_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> Page[Any]:
    service.get(session, principal, parent_id)
    _, model = _parent(service)
    member_resource = Resource(
        entity=service.resource.entity,
        event_name="member",
        model=model,  # type: ignore[arg-type]
        sort_fields={"created_at": model.created_at},
        default_sort="created_at",
    )
    statement = repository.members_select(model, parent_id, principal)
    return crud_repository.page(
        session, statement, member_resource, sort=None, limit=limit, cursor=cursor
    )


def audience(
    session: Session,
    principal: Principal,
    campaign_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> Page[Any]:
    """The customers a campaign reaches, within the caller's scope (consent honoured)."""
    campaigns.get(session, principal, campaign_id)
    filters = CustomerFilter(audience_of=campaign_id)
    return customers_service.customers.list(
        session, principal, filters=filters, limit=limit, cursor=cursor
    )


def add_members(
    session: Session,
    principal: Principal,
    service: SegmentService | CampaignService,
    parent_id: uuid.UUID,
    customer_ids: list[uuid.UUID],
) -> tuple[int, int, int]:
    """Add customers; a campaign leaves out those who opted out of marketing (or were erased).
    Returns (added, already members, left out for consent)."""
    principal.require(service.resource.entity, Action.UPDATE)
    _refuse_rules_segment(service.get(session, principal, parent_id))
    name, model = _parent(service)
    wanted = list(dict.fromkeys(customer_ids))
    visible = customers_service.visible_among(session, principal, wanted)
    missing = [str(cid) for cid in wanted if cid not in visible]
    if missing:
        raise ValidationFailed(
            "Some customers do not exist.",
            errors=[
                {
                    "field": "customer_ids",
                    "message": f"No such customer: {cid}",
                    "code": "not_found",
                }
                for cid in missing[:20]
            ],
        )
    excluded: set[uuid.UUID] = set()
    if model is CampaignMember:
        excluded = customers_service.unreachable_among(session, wanted)
        wanted = [cid for cid in wanted if cid not in excluded]
    present = set(session.scalars(repository.existing_members(model, parent_id, wanted)))
    added = [cid for cid in wanted if cid not in present]
    parent_field = "campaign_id" if model is CampaignMember else "segment_id"
    for customer_id in added:
        session.add(model(**{parent_field: parent_id, "customer_id": customer_id}))
    session.flush()
    if added:
        events.record(
            session,
            principal,
            type=f"{name}.members_added",
            entity=name,
            entity_id=parent_id,
            changed=["members"],
            data={"customer_ids": [str(cid) for cid in added]},
        )
        audit.record(
            session, principal, action=audit.AuditAction.UPDATE, entity=name,
            entity_id=parent_id, detail={"members_added": [str(cid) for cid in added]},
        )  # fmt: skip
    return len(added), len(present), len(excluded)


def remove_member(
    session: Session,
    principal: Principal,
    service: SegmentService | CampaignService,
    parent_id: uuid.UUID,
    customer_id: uuid.UUID,
) -> None:
    principal.require(service.resource.entity, Action.UPDATE)
    _refuse_rules_segment(service.get(session, principal, parent_id))
    name, model = _parent(service)
    result = session.execute(repository.remove_member(model, parent_id, customer_id))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound("The customer is not a member.", code="member_not_found")
    events.record(
        session,
        principal,
        type=f"{name}.members_removed",
        entity=name,
        entity_id=parent_id,
        changed=["members"],
        data={"customer_ids": [str(customer_id)]},
    )
    audit.record(
        session, principal, action=audit.AuditAction.UPDATE, entity=name,
        entity_id=parent_id, detail={"members_removed": [str(customer_id)]},
    )  # fmt: skip
