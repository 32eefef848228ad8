"""Random tokens for API keys and sessions; only their SHA-256 is stored.

The tokens carry 256 bits of randomness, so a fast hash is the right tool (a slow password hash
adds nothing against guessing and costs every request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_KEY_PREFIX = "ptn_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
