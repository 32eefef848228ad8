"""Rules segments: a condition on customer fields, RFM and scores, and the members it selects.

A segment's ``rules`` hold one condition group::

    {"all": [{"field": "churn_risk", "op": ">", "value": 0.7},
             {"field": "clv", "op": ">", "value": 1000}]}

``all`` needs every condition, ``any`` at least one; a group may stand in place of a condition
(nested up to :data:`MAX_DEPTH` levels). A customer without a value for a field (not scored,
not segmented, no country) matches no condition on that field, ``!=`` included.
:func:`validate` checks a rule and :func:`materialise` makes the segment's members exactly the
customers that match; :func:`refresh_all` does it for every rules segment (after each scoring
run). The format is documented in ``docs/analytics.md``.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.orm import Session

from patron.customers.models import LIFECYCLE_STAGES, Customer
from patron.errors import ValidationFailed
from patron.events import service as events
from patron.insights.models import CustomerInsight
from patron.kit.clock import utcnow
from patron.kit.ids import new_id
from patron.marketing.models import Segment, SegmentMember
from patron.security.permissions import Principal

MAX_DEPTH = 4
MAX_CONDITIONS = 50

#: Fields a rule may test: numbers (every operator) and text (``=`` and ``!=``).
NUMBER_FIELDS: dict[str, Any] = {
    "churn_risk": CustomerInsight.churn_risk,
    "clv": CustomerInsight.clv,
    "p_alive": CustomerInsight.p_alive,
    "expected_purchases": CustomerInsight.expected_purchases,
    "recency_days": CustomerInsight.recency_days,
    "frequency": CustomerInsight.frequency,
    "monetary": CustomerInsight.monetary,
}
TEXT_FIELDS: dict[str, Any] = {
    "segment": CustomerInsight.segment_name,
    "rfm_score": CustomerInsight.rfm_score,
    "country": Customer.country,
    "lifecycle_stage": Customer.lifecycle_stage,
    "kind": Customer.kind,
    "city": Customer.city,
    "region": Customer.region,
    "source": Customer.source,
}
FIELDS = {**NUMBER_FIELDS, **TEXT_FIELDS}
OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    "!=": operator.ne,
}
TEXT_OPERATORS = ("=", "!=")
GROUPS = ("all", "any")


def is_rule(rules: dict[str, Any] | None) -> bool:
    """Whether a segment's ``rules`` are a condition group (and not empty or an analysis's note)."""
    return bool(rules) and any(key in rules for key in GROUPS)  # type: ignore[operator]


def validate(rules: Any) -> None:
    """Raise :class:`ValidationFailed` naming every problem of a rule (field ``rules...``)."""
    problems: list[dict[str, str]] = []
    count = _check_group(rules, "rules", 1, problems)
    if count > MAX_CONDITIONS:
        problems.append(_problem("rules", f"At most {MAX_CONDITIONS} conditions.", "too_many"))
    if problems:
        raise ValidationFailed("The segment's rules are not valid.", errors=problems[:20])


def _problem(field: str, message: str, code: str = "invalid") -> dict[str, str]:
    return {"field": field, "message": message, "code": code}


def _check_group(group: Any, path: str, depth: int, problems: list[dict[str, str]]) -> int:
    if not isinstance(group, dict) or len(group) != 1 or next(iter(group)) not in GROUPS:
        problems.append(
            _problem(path, 'A group is {"all": [...]} or {"any": [...]}.', "invalid_group")
        )
        return 0
    if depth > MAX_DEPTH:
        problems.append(_problem(path, f"Groups nest at most {MAX_DEPTH} deep.", "too_deep"))
        return 0
    key, items = next(iter(group.items()))
    if not isinstance(items, list) or not items:
        problems.append(_problem(f"{path}.{key}", "A group needs a list of conditions."))
        return 0
    count = 0
    for index, item in enumerate(items):
        where = f"{path}.{key}[{index}]"
        if isinstance(item, dict) and any(name in item for name in GROUPS):
            count += _check_group(item, where, depth + 1, problems)
        else:
            _check_condition(item, where, problems)
            count += 1
    return count


def _check_condition(condition: Any, path: str, problems: list[dict[str, str]]) -> None:
    if not isinstance(condition, dict) or set(condition) != {"field", "op", "value"}:
        problems.append(_problem(path, 'A condition is {"field": …, "op": …, "value": …}.'))
        return
    field, op, value = condition["field"], condition["op"], condition["value"]
    if field not in FIELDS:
        problems.append(
            _problem(f"{path}.field", f"Unknown field; use one of {', '.join(FIELDS)}.",
                     "unknown_field")
        )  # fmt: skip
        return
    if op not in OPERATORS:
        problems.append(
            _problem(f"{path}.op", f"Unknown operator; use one of {' '.join(OPERATORS)}.",
                     "unknown_operator")
        )  # fmt: skip
        return
    if field in NUMBER_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            problems.append(_problem(f"{path}.value", f"{field} is compared with a number."))
        return
    if op not in TEXT_OPERATORS:
        problems.append(_problem(f"{path}.op", f"{field} takes only = and !=.", "unknown_operator"))
    elif not isinstance(value, str) or not 0 < len(value) <= 200:
        problems.append(_problem(f"{path}.value", f"{field} is compared with a text value."))
    elif field == "lifecycle_stage" and value not in LIFECYCLE_STAGES:
        problems.append(
            _problem(f"{path}.value", f"lifecycle_stage is one of {', '.join(LIFECYCLE_STAGES)}.")
        )
    elif field == "country" and not (len(value) == 2 and value.isalpha() and value.isupper()):
        problems.append(_problem(f"{path}.value", "country is an ISO 3166 code such as DE."))


def predicate(rules: dict[str, Any]) -> ColumnElement[bool]:
    """The SQL condition of a (valid) rule, over ``customer`` left-joined to its insight."""
    ((key, items),) = rules.items()
    parts = [
        predicate(item)
        if any(name in item for name in GROUPS)
        else OPERATORS[item["op"]](FIELDS[item["field"]], item["value"])
        for item in items
    ]
    return and_(*parts) if key == "all" else or_(*parts)


def matching_customers(rules: dict[str, Any]) -> Any:
    """The ids of the customers a rule selects (a SELECT)."""
    return (
        select(Customer.id)
        .outerjoin(CustomerInsight, CustomerInsight.customer_id == Customer.id)
        .where(predicate(rules))
    )


def materialise(
    session: Session, segment: Segment, principal: Principal | None = None
) -> tuple[int, int]:
    """Make the segment's members exactly the customers its rule selects; (added, removed).

    A change is recorded as one ``segment.members_refreshed`` event (by ``principal``, else the
    system) with the counts, not the ids: a refresh may move a million customers."""
    matching = matching_customers(segment.rules)
    removed = session.execute(
        delete(SegmentMember)
        .where(SegmentMember.segment_id == segment.id, SegmentMember.customer_id.not_in(matching))
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    present = select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment.id)
    new: list[uuid.UUID] = list(
        session.scalars(matching.where(Customer.id.not_in(present)).order_by(Customer.id))
    )
    now = utcnow()
    rows = [
        {"id": new_id(), "segment_id": segment.id, "customer_id": customer_id, "added_at": now,
         "created_at": now, "updated_at": now, "version": 1}
        for customer_id in new
    ]  # fmt: skip
    for start in range(0, len(rows), 5_000):
        session.execute(SegmentMember.__table__.insert(), rows[start : start + 5_000])
    removed = int(removed or 0)
    if rows or removed:
        events.record(
            session, principal or Principal.system(), type="segment.members_refreshed",
            entity="segment", entity_id=segment.id, changed=["members"],
            data={"added": len(rows), "removed": removed},
        )  # fmt: skip
    return len(rows), removed


def refresh_all(session: Session) -> dict[str, dict[str, int]]:
    """Materialise every rules segment again; per segment name, how many came and went."""
    changes = {}
    for segment in session.scalars(select(Segment).where(Segment.source == "rules")):
        if is_rule(segment.rules):
            added, removed = materialise(session, segment)
            changes[segment.name] = {"added": added, "removed": removed}
    return changes
