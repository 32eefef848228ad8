"""Every statement about campaigns, segments and their members."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, delete, func, select

from patron.customers.repository import visible_customer_ids
from patron.marketing.models import Campaign, CampaignMember, Segment, SegmentMember
from patron.security.permissions import Principal


def segment_filters(statement: Select[Any], filters: Any) -> Select[Any]:
    if filters.q:
        statement = statement.where(
            func.lower(Segment.name).contains(filters.q.lower(), autoescape=True)
        )
    return statement


def campaign_filters(statement: Select[Any], filters: Any) -> Select[Any]:
    if filters.q:
        statement = statement.where(
            func.lower(Campaign.name).contains(filters.q.lower(), autoescape=True)
        )
    if filters.status:
        statement = statement.where(Campaign.status == filters.status)
    if filters.channel:
        statement = statement.where(Campaign.channel == filters.channel)
    return statement


def _parent_column(model: type[CampaignMember] | type[SegmentMember]) -> Any:
    """The column that names a membership's campaign or segment."""
    return model.campaign_id if model is CampaignMember else model.segment_id  # type: ignore[union-attr]


def members_select(
    model: type[CampaignMember] | type[SegmentMember], parent_id: uuid.UUID, principal: Principal
) -> Select[Any]:
    parent = _parent_column(model)
    statement = select(model).where(parent == parent_id)
    ids = visible_customer_ids(principal)
    if ids is not None:
        statement = statement.where(model.customer_id.in_(ids))
    return statement


def existing_members(
    model: type[CampaignMember] | type[SegmentMember],
    parent_id: uuid.UUID,
    customer_ids: list[uuid.UUID],
) -> Select[Any]:
    parent = _parent_column(model)
    return select(model.customer_id).where(parent == parent_id, model.customer_id.in_(customer_ids))


def remove_member(
    model: type[CampaignMember] | type[SegmentMember], parent_id: uuid.UUID, customer_id: uuid.UUID
) -> Any:
    parent = _parent_column(model)
    return delete(model).where(parent == parent_id, model.customer_id == customer_id)
