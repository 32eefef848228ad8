"""Recommendations from the latest rules run.

*Frequently bought together* for a product: the rules whose antecedent is that product alone.
*For a customer*: the rules whose antecedents the customer has all bought, recommending products
they have not bought yet; each product is ranked by the best rule that fires for it
(confidence, then lift), and that rule is returned to explain it.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from patron.customers.service import customers
from patron.insights import repository
from patron.insights.service import runs
from patron.sales import repository as sales_repository
from patron.sales.service import products
from patron.security.permissions import Action, Principal


@dataclass(frozen=True, slots=True)
class Rule:
    """A stored rule, detached from the session: a run's rules never change once it succeeded."""

    antecedents: tuple[str, ...]
    consequents: tuple[str, ...]
    confidence: float
    lift: float
    support: float
    description: str | None


@dataclass(frozen=True)
class RuleIndex:
    """A run's rules, indexed for the two questions asked of them.

    ``by_antecedent`` answers "frequently bought together" with one lookup; ``by_first_item``
    lists the rules whose (sorted) antecedents start with an item, so a customer's candidate
    rules are found from the items they bought instead of by scanning every rule.
    """

    by_antecedent: dict[tuple[str, ...], list[Rule]]
    by_first_item: dict[str, list[Rule]]

    @classmethod
    def of(cls, rules: list[Rule]) -> RuleIndex:
        by_antecedent: dict[tuple[str, ...], list[Rule]] = defaultdict(list)
        by_first_item: dict[str, list[Rule]] = defaultdict(list)
        for rule in rules:
            by_antecedent[rule.antecedents].append(rule)
            by_first_item[min(rule.antecedents)].append(rule)
        return cls(dict(by_antecedent), dict(by_first_item))


_CACHE: OrderedDict[uuid.UUID, RuleIndex] = OrderedDict()
_CACHE_RUNS = 4
_CACHE_LOCK = threading.Lock()


def _index(session: Session, run_id: uuid.UUID) -> RuleIndex:
    with _CACHE_LOCK:
        if run_id in _CACHE:
            _CACHE.move_to_end(run_id)
            return _CACHE[run_id]
    rules = [
        Rule(
            tuple(sorted(rule.antecedents)),
            tuple(rule.consequents),
            rule.confidence,
            rule.lift,
            rule.support,
            rule.description,
        )
        for rule in session.scalars(repository.rules_of_run(run_id))
    ]
    index = RuleIndex.of(rules)
    with _CACHE_LOCK:
        _CACHE[run_id] = index
        while len(_CACHE) > _CACHE_RUNS:
            _CACHE.popitem(last=False)
    return index


def _latest_rules(session: Session) -> tuple[uuid.UUID | None, RuleIndex]:
    run = runs.latest_succeeded(session, "rules")
    if run is None:
        return None, RuleIndex({}, {})
    return run.id, _index(session, run.id)


def _answer(session: Session, ranked: list[tuple[str, Rule]], limit: int) -> list[dict[str, Any]]:
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


def _rank(candidates: dict[str, Rule]) -> list[tuple[str, Rule]]:
    return sorted(
        candidates.items(), key=lambda item: (-item[1].confidence, -item[1].lift, item[0])
    )


def frequently_bought_together(
    session: Session, principal: Principal, product_id: uuid.UUID, *, limit: int = 10
) -> dict[str, Any]:
    products.get(session, principal, product_id)
    run_id, index = _latest_rules(session)
    best: dict[str, Rule] = {}
    for rule in index.by_antecedent.get((str(product_id),), []):
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
    run_id, index = _latest_rules(session)
    candidates = (rule for item in bought for rule in index.by_first_item.get(item, ()))
    best: dict[str, Rule] = {}
    for rule in candidates:
        if not bought.issuperset(rule.antecedents):
            continue
        for consequent in rule.consequents:
            if consequent in bought:
                continue
            current = best.get(consequent)
            if current is None or (rule.confidence, rule.lift) > (current.confidence, current.lift):
                best[consequent] = rule
    return {"data": _answer(session, _rank(best), limit), "run_id": run_id}
