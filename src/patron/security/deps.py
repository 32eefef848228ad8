"""FastAPI dependencies: the unit of work and the caller.

One session per request, committed when the route function returns (before the response is
sent) and rolled back if it raised. The caller is a ``Principal``, found from a Bearer API key or
the session cookie; cookie-authenticated writes must carry the CSRF token.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from patron.db.engine import Database
from patron.errors import NotAuthenticated, PatronError
from patron.security import service
from patron.security.permissions import Principal
from patron.security.tokens import same

SESSION_COOKIE = "patron_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfFailed(PatronError):
    code = "csrf_failed"
    title = "Missing or wrong CSRF token"
    status = 403


def get_session(request: Request) -> Iterator[Session]:
    db: Database = request.app.state.db
    write = request.method not in SAFE_METHODS
    session = db.session(write=write)
    try:
        yield session
        if write:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(get_session, scope="function")]


def authenticate(request: Request, session: Session) -> service.Authenticated:
    """Find the caller or raise ``NotAuthenticated``. Caches the answer on the request."""
    cached = getattr(request.state, "authenticated", None)
    if cached is not None:
        return cached
    settings = request.app.state.settings
    address = client_address(request)
    header = request.headers.get("authorization")
    if header:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise NotAuthenticated("Send the API key as 'Authorization: Bearer <key>'.")
        authenticated = service.authenticate_api_key(session, credentials.strip(), address=address)
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise NotAuthenticated("Log in, or send an API key as 'Authorization: Bearer <key>'.")
        authenticated = service.authenticate_session(
            session,
            token,
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_absolute_hours),
            address=address,
        )
    if authenticated.touch_needed:
        line = f"{request.method} {request.url.path}"
        if request.method in SAFE_METHODS:
            # A read request's transaction is rolled back; record the use in a short one.
            db: Database = request.app.state.db
            with db.unit_of_work() as own:
                service.touch(own, authenticated, request=line)
        else:
            service.touch(session, authenticated, request=line)
    request.state.authenticated = authenticated
    return authenticated


def client_address(request: Request) -> str | None:
    """The caller's IP address (behind a proxy, the one the server was told to trust)."""
    return request.client.host if request.client else None


def check_csrf(
    request: Request, authenticated: service.Authenticated, submitted: str | None
) -> None:
    if request.method in SAFE_METHODS or authenticated.session_id is None:
        return
    expected = authenticated.csrf_token or ""
    if not submitted or not same(submitted, expected):
        raise CsrfFailed("Send the page's CSRF token with every change made from a web session.")


def get_principal(request: Request, session: DbSession) -> Principal:
    authenticated = authenticate(request, session)
    check_csrf(request, authenticated, request.headers.get(CSRF_HEADER))
    return authenticated.principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
