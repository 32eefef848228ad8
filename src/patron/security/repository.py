"""Every statement about users, teams, sessions and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from patron.security.models import ApiKey, Team, User, UserSession


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(
        select(User).where(func.lower(User.email) == email.lower())
    ).one_or_none()


def team_by_name(session: Session, name: str) -> Team | None:
    return session.scalars(select(Team).where(Team.name == name)).one_or_none()


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def api_key_by_hash(session: Session, key_hash: str) -> tuple[ApiKey, User] | None:
    row = session.execute(
        select(ApiKey, User)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.key_hash == key_hash)
    ).one_or_none()
    return (row[0], row[1]) if row else None


def session_by_hash(session: Session, token_hash: str) -> tuple[UserSession, User] | None:
    row = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == token_hash)
    ).one_or_none()
    return (row[0], row[1]) if row else None


def touch_session(session: Session, session_id: uuid.UUID, when: datetime) -> None:
    session.execute(
        update(UserSession).where(UserSession.id == session_id).values(last_seen_at=when)
    )


def touch_api_key(session: Session, key_id: uuid.UUID, when: datetime) -> None:
    # A plain UPDATE: the key's version is for edits by people, not for its use.
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .values(last_used_at=when)
        .execution_options(synchronize_session=False)
    )


def delete_session(session: Session, session_id: uuid.UUID) -> None:
    session.execute(delete(UserSession).where(UserSession.id == session_id))


def delete_user_sessions(session: Session, user_id: uuid.UUID) -> int:
    result = session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def api_keys_of(session: Session, user_id: uuid.UUID | None) -> list[ApiKey]:
    statement = select(ApiKey).order_by(ApiKey.created_at)
    if user_id is not None:
        statement = statement.where(ApiKey.user_id == user_id)
    return list(session.scalars(statement))


def api_keys_with_prefix(session: Session, prefix: str) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.prefix == prefix).limit(2)))
