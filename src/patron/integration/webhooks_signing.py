"""Standard Webhooks 1.0 signing: ``whsec_`` secrets and the ``webhook-*`` headers.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the signature is the base64 of
its HMAC-SHA256 keyed with the base64-decoded part of the secret after ``whsec_``, sent as
``v1,<signature>``. During a rotation's grace period one header carries both signatures,
space-separated, so a receiver holding either secret can verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret
SECRET_BYTES = 32
_MESSAGE_NAMESPACE = uuid.UUID("5d1f4a52-7b1e-4f0e-9a57-3c0f8f6b2e10")


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def message_id(subscription_id: uuid.UUID, event_id: uuid.UUID) -> str:
    """The ``webhook-id``: the same for every attempt of one event to one subscription."""
    return "msg_" + uuid.uuid5(_MESSAGE_NAMESPACE, f"{subscription_id}:{event_id}").hex


def signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    content = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(
    secrets_in_use: Iterable[str], msg_id: str, timestamp: int, body: str
) -> dict[str, str]:
    signatures = " ".join(signature(secret, msg_id, timestamp, body) for secret in secrets_in_use)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }
