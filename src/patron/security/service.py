"""Authentication (passwords, sessions, API keys) and the users, teams and keys themselves."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from patron.crud.repository import Resource
from patron.crud.service import CrudService
from patron.errors import NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from patron.events import service as events
from patron.kit.clock import as_utc, utcnow
from patron.security import audit, passwords, repository, throttle, tokens
from patron.security.models import ApiKey, Team, User, UserSession
from patron.security.permissions import Action, Principal, Role
from patron.security.schemas import (
    ApiKeyCreate,
    ApiKeyRead,
    TeamRead,
    UserCreate,
    UserRead,
)

TOUCH_EVERY = timedelta(seconds=60)


def principal_for(
    user: User, api_key: ApiKey | None = None, *, address: str | None = None
) -> Principal:
    return Principal(
        user_id=user.id,
        role=Role(user.role),
        team_id=user.team_id,
        email=user.email,
        api_key_id=api_key.id if api_key else None,
        address=address,
    )


# ----- authentication --------------------------------------------------------------------------
@dataclass(frozen=True)
class Authenticated:
    principal: Principal
    session_id: uuid.UUID | None = None
    csrf_token: str | None = None
    touch_needed: bool = False


def authenticate_api_key(
    session: Session, key: str, *, address: str | None = None
) -> Authenticated:
    found = repository.api_key_by_hash(session, tokens.digest(key))
    now = utcnow()
    if found is None:
        raise NotAuthenticated("The API key is not valid.", code="invalid_api_key")
    api_key, user = found
    if api_key.revoked_at is not None:
        raise NotAuthenticated("The API key was revoked.", code="invalid_api_key")
    if api_key.expires_at is not None and as_utc(api_key.expires_at) <= now:
        raise NotAuthenticated("The API key has expired.", code="invalid_api_key")
    if not user.is_active:
        raise NotAuthenticated("The API key's user is disabled.", code="invalid_api_key")
    stale = api_key.last_used_at is None or now - as_utc(api_key.last_used_at) > TOUCH_EVERY
    return Authenticated(principal_for(user, api_key, address=address), touch_needed=stale)


def authenticate_session(
    session: Session,
    token: str,
    *,
    idle: timedelta,
    absolute: timedelta,
    address: str | None = None,
) -> Authenticated:
    found = repository.session_by_hash(session, tokens.digest(token))
    if found is None:
        raise NotAuthenticated("Please log in.", code="session_expired")
    user_session, user = found
    now = utcnow()
    expired = (
        as_utc(user_session.expires_at) <= now
        or as_utc(user_session.created_at) + absolute <= now
        or as_utc(user_session.last_seen_at) + idle <= now
    )
    if expired or not user.is_active:
        raise NotAuthenticated(
            "Your session has ended; please log in again.", code="session_expired"
        )
    stale = now - as_utc(user_session.last_seen_at) > TOUCH_EVERY
    return Authenticated(
        principal_for(user, address=address),
        session_id=user_session.id,
        csrf_token=user_session.csrf_token,
        touch_needed=stale,
    )


def touch(session: Session, authenticated: Authenticated, *, request: str | None = None) -> None:
    """Bump the session's or key's last use; a key's use goes to the audit trail (hourly)."""
    now = utcnow()
    if authenticated.session_id is not None:
        repository.touch_session(session, authenticated.session_id, now)
    elif authenticated.principal.api_key_id is not None:
        repository.touch_api_key(session, authenticated.principal.api_key_id, now)
        audit.record_api_key_use(session, authenticated.principal, request=request)


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    user: User


def login(
    session: Session,
    *,
    email: str,
    password: str,
    absolute: timedelta,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> NewSession:
    """Check the password and open a new session (always a new id: no session fixation).

    Failed attempts are counted per account and per address (``throttle``); while either is
    locked the answer is ``TooManyAttempts``, the same for known and unknown accounts.
    """
    throttle.check(session, email, ip_address)
    user = repository.user_by_email(session, email.strip())
    if user is None:
        passwords.burn_verify_time()
        _login_failed(session, email, ip_address, None, "unknown_account")
    elif not passwords.verify_password(user.password_hash, password):
        _login_failed(session, email, ip_address, user, "wrong_password")
    elif not user.is_active:
        _login_failed(session, email, ip_address, user, "user_disabled")
    throttle.succeeded(session, email)
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    now = utcnow()
    user.last_login_at = now
    token = tokens.new_session_token()
    csrf = tokens.new_csrf_token()
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=tokens.digest(token),
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + absolute,
            ip_address=(ip_address or "")[:64] or None,
            user_agent=(user_agent or "")[:400] or None,
        )
    )
    session.flush()
    audit.record(
        session, principal_for(user, address=ip_address), action=audit.AuditAction.LOGIN,
        entity="user", entity_id=user.id,
    )  # fmt: skip
    return NewSession(token=token, csrf_token=csrf, user=user)


def _login_failed(
    session: Session, email: str, address: str | None, user: User | None, reason: str
) -> NoReturn:
    """Count the failure, record it (the account if known, never the typed email) and refuse."""
    throttle.failed(session, email, address)
    audit.record(
        session, None, action=audit.AuditAction.LOGIN_FAILED, entity="user",
        entity_id=user.id if user else None, detail={"reason": reason}, address=address,
    )  # fmt: skip
    raise NotAuthenticated("Wrong email or password.", code="invalid_credentials")


def logout(session: Session, token: str) -> None:
    found = repository.session_by_hash(session, tokens.digest(token))
    if found is not None:
        repository.delete_session(session, found[0].id)


def logout_everywhere(session: Session, principal: Principal) -> int:
    """End every web session of the caller's account (API keys are revoked one by one)."""
    if principal.user_id is None:
        return 0
    return repository.delete_user_sessions(session, principal.user_id)


# ----- teams -----------------------------------------------------------------------------------
def _team_filters(statement: Select[Any], filters: Any) -> Select[Any]:
    if getattr(filters, "q", None):
        statement = statement.where(func.lower(Team.name).contains(filters.q.lower()))
    return statement


class TeamService(CrudService[Team]):
    resource = Resource(
        entity="teams",
        event_name="team",
        model=Team,
        sort_fields={"name": Team.name, "created_at": Team.created_at},
        default_sort="name",
        apply_filters=_team_filters,
    )
    read_schema = TeamRead
    not_found_message = "No such team."

    def before_delete(self, session: Session, principal: Principal, record: Team) -> None:
        members = session.scalar(select(func.count()).where(User.team_id == record.id))
        if members:
            raise ValidationFailed.field(
                "id", f"The team still has {members} member(s); move them first.", "team_not_empty"
            )


teams = TeamService()


def team_exists(session: Session, team_id: uuid.UUID) -> bool:
    return session.get(Team, team_id) is not None


# ----- users -----------------------------------------------------------------------------------
def _user_filters(statement: Select[Any], filters: Any) -> Select[Any]:
    if filters.q:
        needle = filters.q.lower()
        statement = statement.where(
            or_(func.lower(User.name).contains(needle), func.lower(User.email).contains(needle))
        )
    if filters.role:
        statement = statement.where(User.role == filters.role.value)
    if filters.team_id:
        statement = statement.where(User.team_id == filters.team_id)
    if filters.is_active is not None:
        statement = statement.where(User.is_active == filters.is_active)
    return statement


class UserService(CrudService[User]):
    resource = Resource(
        entity="users",
        event_name="user",
        model=User,
        sort_fields={"email": User.email, "name": User.name, "created_at": User.created_at},
        default_sort="email",
        apply_filters=_user_filters,
    )
    read_schema = UserRead
    not_found_message = "No such user."

    def _check(self, session: Session, values: dict[str, Any]) -> dict[str, Any]:
        if values.get("team_id") is not None and not team_exists(session, values["team_id"]):
            raise ValidationFailed.field("team_id", "No such team.", "not_found")
        if "email" in values and values["email"] is not None:
            values["email"] = str(values["email"]).strip().lower()
        if "role" in values and values["role"] is not None:
            values["role"] = Role(values["role"]).value
        password = values.pop("password", None)
        if password is not None:
            passwords.validate_password(password)
            values["password_hash"] = passwords.hash_password(password)
        return values

    def prepare_create(
        self, session: Session, principal: Principal, values: dict[str, Any]
    ) -> dict[str, Any]:
        values = self._check(session, values)
        email = values["email"]
        if repository.user_by_email(session, email) is not None:
            raise ValidationFailed.field("email", "A user with this email exists.", "duplicate")
        values["name"] = values.get("name") or email.split("@")[0]
        return values

    def prepare_update(
        self, session: Session, principal: Principal, record: User, values: dict[str, Any]
    ) -> dict[str, Any]:
        values = self._check(session, values)
        email = values.get("email")
        if email and email != record.email:
            other = repository.user_by_email(session, email)
            if other is not None and other.id != record.id:
                raise ValidationFailed.field("email", "A user with this email exists.", "duplicate")
        if values.get("is_active") is False or "password_hash" in values:
            # Disabling a user, or setting a new password, ends every session they have.
            repository.delete_user_sessions(session, record.id)
        return values

    def audit_action(self, changed: list[str]) -> audit.AuditAction:
        if "role" in changed:
            return audit.AuditAction.ROLE_CHANGE
        return audit.AuditAction.UPDATE

    def event_data(self, record: User) -> dict[str, Any]:
        data = super().event_data(record)
        return {key: data[key] for key in ("id", "email", "role", "team_id", "is_active")}


users = UserService()


def create_user(session: Session, principal: Principal, data: UserCreate) -> User:
    return users.create(session, principal, data)


# ----- API keys --------------------------------------------------------------------------------
def _key_scope(principal: Principal) -> ColumnElement[bool] | None:
    return None if principal.is_admin else ApiKey.user_id == principal.user_id


def _key_filters(statement: Select[Any], filters: Any) -> Select[Any]:
    if filters.user_id:
        statement = statement.where(ApiKey.user_id == filters.user_id)
    return statement


class ApiKeyService(CrudService[ApiKey]):
    resource = Resource(
        entity="api_keys",
        event_name="api_key",
        model=ApiKey,
        sort_fields={"created_at": ApiKey.created_at, "name": ApiKey.name},
        scope=_key_scope,
        apply_filters=_key_filters,
    )
    read_schema = ApiKeyRead
    not_found_message = "No such API key."

    def issue(
        self, session: Session, principal: Principal, data: ApiKeyCreate
    ) -> tuple[ApiKey, str]:
        """Create a key and return it with its secret, which is never stored or shown again."""
        principal.require("api_keys", Action.CREATE)
        user_id = data.user_id or principal.user_id
        if user_id is None:
            raise ValidationFailed.field("user_id", "Name the user the key acts for.", "required")
        if user_id != principal.user_id and not principal.is_admin:
            raise PermissionDenied("Only admins create API keys for other users.")
        user = session.get(User, user_id)
        if user is None:
            raise ValidationFailed.field("user_id", "No such user.", "not_found")
        if not user.is_active:
            raise ValidationFailed.field("user_id", "The user is disabled.", "user_disabled")
        if data.expires_at is not None and data.expires_at <= utcnow():
            raise ValidationFailed.field("expires_at", "The expiry lies in the past.", "in_past")
        secret = tokens.new_api_key()
        api_key = ApiKey(
            user_id=user.id,
            name=data.name,
            prefix=secret[: len(tokens.API_KEY_PREFIX) + 6],
            key_hash=tokens.digest(secret),
            expires_at=data.expires_at,
        )
        session.add(api_key)
        session.flush()
        events.record(
            session,
            principal,
            type="api_key.created",
            entity="api_key",
            entity_id=api_key.id,
            changed=["name", "user_id", "expires_at"],
            data=self.event_data(api_key),
        )
        audit.record_change(
            session, principal, action=audit.AuditAction.CREATE, entity="api_key",
            entity_id=api_key.id, before=None, after=audit.snapshot(api_key),
        )  # fmt: skip
        return api_key, secret

    def revoke(self, session: Session, principal: Principal, key_id: uuid.UUID) -> ApiKey:
        principal.require("api_keys", Action.DELETE)
        api_key = self.get(session, principal, key_id)
        if api_key.revoked_at is None:
            before = audit.snapshot(api_key)
            api_key.revoked_at = utcnow()
            session.flush()
            events.record(
                session,
                principal,
                type="api_key.revoked",
                entity="api_key",
                entity_id=api_key.id,
                changed=["revoked_at"],
                data=self.event_data(api_key),
            )
            audit.record_change(
                session, principal, action=audit.AuditAction.UPDATE, entity="api_key",
                entity_id=api_key.id, before=before, after=audit.snapshot(api_key),
                fields=["revoked_at"],
            )  # fmt: skip
        return api_key


api_keys = ApiKeyService()


def find_user(session: Session, email: str) -> User:
    user = repository.user_by_email(session, email)
    if user is None:
        raise NotFound(f"No user with the email {email}.", code="user_not_found")
    return user


def revoke_by_prefix_or_id(session: Session, principal: Principal, key: str) -> ApiKey:
    """The CLI revokes by id or by the prefix printed beside each key."""
    try:
        return api_keys.revoke(session, principal, uuid.UUID(key))
    except ValueError:
        pass
    matches = repository.api_keys_with_prefix(session, key)
    if len(matches) != 1:
        raise NotFound(f"No single API key matches {key!r}.", code="api_key_not_found")
    return api_keys.revoke(session, principal, matches[0].id)


def has_users(session: Session) -> bool:
    return repository.count_users(session) > 0
