"""Roles, the permission table and record scope.

``docs/security.md`` prints this table; a test keeps the two in step. The check lives here and in
the service layer, so the API, the pages and the CLI cannot differ.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from patron.errors import PermissionDenied


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    SALES = "sales"
    SUPPORT = "support"
    MARKETING = "marketing"
    ANALYST = "analyst"
    READONLY = "readonly"


class Action(StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


ENTITIES = (
    "customers",
    "products",
    "orders",
    "tickets",
    "activities",
    "deals",
    "pipeline_stages",
    "sales_targets",
    "campaigns",
    "segments",
    "users",
    "teams",
    "api_keys",
    "events",
    "analysis_runs",
    "personal_data",
    "audit",
    "webhooks",
    "imports",
)

R, C, U, D = Action.READ, Action.CREATE, Action.UPDATE, Action.DELETE
ALL = frozenset({R, C, U, D})
RO = frozenset({R})
RCU = frozenset({R, C, U})
NONE: frozenset[Action] = frozenset()
RC_ONLY = frozenset({R, C})

# What every role but the three below may read; they add what they may change.
READ_RECORDS: dict[str, frozenset[Action]] = dict.fromkeys(
    (
        "customers", "products", "orders", "tickets", "activities", "deals",
        "pipeline_stages", "campaigns", "segments", "users", "teams",
    ),
    RO,
)  # fmt: skip


def _table(
    base: dict[str, frozenset[Action]] | None = None, /, **entries: frozenset[Action]
) -> dict[str, frozenset[Action]]:
    """A role's row: ``base`` overridden by ``entries``; anything unnamed is not allowed."""
    merged = {**(base or {}), **entries}
    unknown = set(merged) - set(ENTITIES)
    assert not unknown, unknown
    return {entity: merged.get(entity, NONE) for entity in ENTITIES}


PERMISSIONS: dict[Role, dict[str, frozenset[Action]]] = {
    # The audit trail is append-only: even admins only read it.
    Role.ADMIN: {**dict.fromkeys(ENTITIES, ALL), "audit": RO},
    Role.MANAGER: _table(
        customers=ALL,
        products=RCU,
        orders=ALL,
        tickets=ALL,
        activities=ALL,
        deals=ALL,
        pipeline_stages=RO,
        sales_targets=ALL,
        campaigns=RO,
        segments=RO,
        users=RO,
        teams=RO,
        api_keys=ALL,
        analysis_runs=RO,
        personal_data=RO,
        imports=RCU,
    ),
    Role.SALES: _table(
        customers=RCU,
        products=RO,
        orders=RCU,
        tickets=frozenset({R, C}),
        activities=ALL,
        deals=RCU,
        pipeline_stages=RO,
        sales_targets=RO,
        campaigns=RO,
        segments=RO,
        users=RO,
        teams=RO,
        api_keys=ALL,
        analysis_runs=RO,
    ),
    Role.SUPPORT: _table(
        customers=frozenset({R, U}),
        products=RO,
        orders=RO,
        tickets=RCU,
        activities=ALL,
        deals=RO,
        pipeline_stages=RO,
        campaigns=RO,
        segments=RO,
        users=RO,
        teams=RO,
        api_keys=ALL,
    ),
    Role.MARKETING: _table(
        READ_RECORDS, campaigns=ALL, segments=ALL, api_keys=ALL, analysis_runs=RC_ONLY
    ),
    Role.ANALYST: _table(READ_RECORDS, sales_targets=RO, api_keys=ALL, analysis_runs=RC_ONLY),
    Role.READONLY: _table(READ_RECORDS, sales_targets=RO, analysis_runs=RO),
}

# Roles that see only their own and their team's customers (and those customers' records).
TEAM_SCOPED_ROLES = frozenset({Role.SALES, Role.MANAGER})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user, through a web session or one of their API keys, or the system."""

    user_id: uuid.UUID | None
    role: Role
    team_id: uuid.UUID | None = None
    email: str | None = None
    api_key_id: uuid.UUID | None = None
    address: str | None = None  # the client's IP address, for the audit trail

    @classmethod
    def system(cls) -> Principal:
        return cls(user_id=None, role=Role.ADMIN, email="system")

    @property
    def actor_type(self) -> str:
        if self.user_id is None:
            return "system"
        return "api_key" if self.api_key_id else "user"

    @property
    def actor_id(self) -> uuid.UUID | None:
        return self.api_key_id or self.user_id

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def team_scoped(self) -> bool:
        return self.role in TEAM_SCOPED_ROLES

    def can(self, entity: str, action: Action) -> bool:
        return action in PERMISSIONS[self.role].get(entity, NONE)

    def require(self, entity: str, action: Action) -> None:
        if not self.can(entity, action):
            raise PermissionDenied(
                f"The {self.role.value} role may not {action.value} {entity.replace('_', ' ')}."
            )


def permission_table() -> str:
    """The permission table as Markdown, as ``docs/security.md`` prints it."""
    roles = list(Role)
    lines = ["| entity | " + " | ".join(role.value for role in roles) + " |"]
    lines.append("|---" * (len(roles) + 1) + "|")
    letters = {Action.READ: "r", Action.CREATE: "c", Action.UPDATE: "u", Action.DELETE: "d"}
    for entity in ENTITIES:
        cells = []
        for role in roles:
            actions = PERMISSIONS[role][entity]
            cells.append("".join(letters[a] for a in Action if a in actions) or "-")
        lines.append(f"| {entity} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
