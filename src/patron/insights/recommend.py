"""Recommendations from the latest rules run.

*Frequently bought together* for a product: the rules whose antecedent is that product alone.
*For a customer*: the rules whose antecedents the customer has all bought, recommending products
they have not bought yet; each product is ranked by the best rule that fires for it
(confidence, then lift), and that rule is returned to explain it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from patron.customers.service import customers
from patron.insights import repository
from patron.insights.models import AssociationRule
from patron.insights.service import runs
from patron.sales import repository as sales_repository
from patron.sales.service import products
from patron.security.permissions import Action, Principal


def _latest_rules(session: Session) -> tuple[uuid.UUID | None, list[AssociationRule]]:
    run = runs.latest_succeeded(session, "rules")
    if run is None:
        return None, []
    rules = session.scalars(repository.rules_of_run(run.id))
    return run.id, list(rules)


def _answer(
    session: Session, ranked: list[tuple[str, AssociationRule]], limit: int
) -> list[dict[str, Any]]:
    wanted = [uuid.UUID(product_id) for product_id, _ in ranked[:limit]]
    mentioned = {uuid.UUID(p) for _, rule in ranked[:limit] for p in rule.antecedents} | set(wanted)
    found = sales_repository.products_by_id(session, mentioned)
    answer = []
    for product_id, rule in ranked[:limit]:
        product = found.get(uuid.UUID(product_id))
        if product is None or not product.is_active:
            continue
        because = [found[uuid.UUID(p)].name for p in rule.antecedents if uuid.UUID(p) in found]
        answer.append({
            "product_id": product.id, "sku": product.sku, "name": product.name,
            "score": rule.confidence, "confidence": rule.confidence, "lift": rule.lift,
            "support": rule.support, "because_of": because, "rule": rule.description or "",
        })  # fmt: skip
    return answer


def _rank(candidates: dict[str, AssociationRule]) -> list[tuple[str, AssociationRule]]:
    return sorted(
        candidates.items(), key=lambda item: (-item[1].confidence, -item[1].lift, item[0])
    )


def frequently_bought_together(
    session: Session, principal: Principal, product_id: uuid.UUID, *, limit: int = 10
) -> dict[str, Any]:
    products.get(session, principal, product_id)
    run_id, rules = _latest_rules(session)
    key = [str(product_id)]
    best: dict[str, AssociationRule] = {}
    for rule in rules:
        if rule.antecedents != key:
            continue
        for consequent in rule.consequents:
            current = best.get(consequent)
            if current is None or (rule.confidence, rule.lift) > (current.confidence, current.lift):
                best[consequent] = rule
    return {"data": _answer(session, _rank(best), limit), "run_id": run_id}


def for_customer(
    session: Session, principal: Principal, customer_id: uuid.UUID, *, limit: int = 10
) -> dict[str, Any]:
    customers.get(session, principal, customer_id)  # 404 outside the caller's scope
    principal.require("orders", Action.READ)
    bought = {
        str(product_id)
        for product_id in session.scalars(repository.products_bought_by(customer_id))
    }
    run_id, rules = _latest_rules(session)
    best: dict[str, AssociationRule] = {}
    for rule in rules:
        if not bought.issuperset(rule.antecedents):
            continue
        for consequent in rule.consequents:
            if consequent in bought:
                continue
            current = best.get(consequent)
            if current is None or (rule.confidence, rule.lift) > (current.confidence, current.lift):
                best[consequent] = rule
    return {"data": _answer(session, _rank(best), limit), "run_id": run_id}
