from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints

from patron.security.permissions import Role
from patron.types import ListParams, Name, RecordRead, Schema, UTCDatetime, Version

Password = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class TeamCreate(Schema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    description: Annotated[str, StringConstraints(max_length=500)] | None = None


class TeamUpdate(Schema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)] = (
        None  # type: ignore[assignment]
    )
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    version: Version | None = None


class TeamRead(RecordRead):
    name: str
    description: str | None


class TeamFilter(ListParams):
    q: str | None = Field(default=None, max_length=200)


class UserCreate(Schema):
    email: EmailStr
    name: Name | None = None
    role: Role
    team_id: uuid.UUID | None = None
    password: Password | None = Field(
        default=None, description="Leave out to create a user who cannot log in yet."
    )
    is_active: bool = True


class UserUpdate(Schema):
    email: EmailStr = None  # type: ignore[assignment]
    name: Name = None  # type: ignore[assignment]
    role: Role = None  # type: ignore[assignment]
    team_id: uuid.UUID | None = None
    password: Password = None  # type: ignore[assignment]
    is_active: bool = None  # type: ignore[assignment]
    version: Version | None = None


class UserRead(RecordRead):
    email: str
    name: str
    role: Role
    team_id: uuid.UUID | None
    is_active: bool
    last_login_at: datetime | None


class UserFilter(ListParams):
    q: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    team_id: uuid.UUID | None = None
    is_active: bool | None = None


class ApiKeyCreate(Schema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    user_id: uuid.UUID | None = Field(
        default=None, description="Admins may create keys for others; default: yourself."
    )
    expires_at: UTCDatetime | None = None


class ApiKeyRead(RecordRead):
    user_id: uuid.UUID
    name: str
    prefix: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself. Shown this once; Patron keeps only its hash.")


class ApiKeyFilter(ListParams):
    user_id: uuid.UUID | None = None
