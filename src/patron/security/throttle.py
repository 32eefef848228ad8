"""Login throttling (OWASP ASVS V6.3): failed logins are counted per account and per address.

After ``ACCOUNT_LIMIT`` failures for one account, or ``ADDRESS_LIMIT`` from one address, within
``WINDOW``, further attempts are refused with 429 until the lock passes; each further failure
doubles the lock, up to ``MAX_LOCK``. The answer is the same whether or not the account exists,
and the account key is a hash of the email, so the table names nobody.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from patron.errors import PatronError
from patron.kit.clock import as_utc, utcnow
from patron.security.models import LoginThrottle

WINDOW = timedelta(minutes=15)
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 30
BASE_LOCK = timedelta(minutes=1)
MAX_LOCK = timedelta(hours=1)


class TooManyAttempts(PatronError):
    code = "too_many_attempts"
    title = "Too many attempts"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many failed logins; wait a little and try again.",
            extra={"retry_after": retry_after},
        )
        self.retry_after = retry_after


def _keys(email: str, address: str | None) -> list[tuple[str, int]]:
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    keys = [(f"account:{account}", ACCOUNT_LIMIT)]
    if address:
        keys.append((f"ip:{address[:64]}", ADDRESS_LIMIT))
    return keys


def check(session: Session, email: str, address: str | None, now: datetime | None = None) -> None:
    """Raise ``TooManyAttempts`` while the account or the address is locked."""
    now = now or utcnow()
    keys = [key for key, _ in _keys(email, address)]
    for row in session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))):
        if row.locked_until is not None and as_utc(row.locked_until) > now:
            raise TooManyAttempts(int((as_utc(row.locked_until) - now).total_seconds()) + 1)


def failed(session: Session, email: str, address: str | None, now: datetime | None = None) -> None:
    now = now or utcnow()
    for key, limit in _keys(email, address):
        row = session.scalars(select(LoginThrottle).where(LoginThrottle.key == key)).first()
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_started_at=now)
            session.add(row)
        elif as_utc(row.window_started_at) + WINDOW < now and (
            row.locked_until is None or as_utc(row.locked_until) <= now
        ):
            row.failures = 0
            row.window_started_at = now
            row.locked_until = None
        row.failures += 1
        if row.failures >= limit:
            lock = min(MAX_LOCK, BASE_LOCK * 2 ** (row.failures - limit))
            row.locked_until = now + lock
    session.flush()


def succeeded(session: Session, email: str) -> None:
    key, _ = _keys(email, None)[0]
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
