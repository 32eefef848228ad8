"""A throwaway keyring for benchmarks: personal fields are encrypted at rest, so a benchmark's
database and its child processes need keys; they share them through the environment."""

from __future__ import annotations

import base64
import os
import secrets


def throwaway_keys() -> None:
    """Set ``PATRON_ENCRYPTION_KEYS`` to fresh keys, unless keys are configured already."""
    if os.environ.get("PATRON_ENCRYPTION_KEYS"):
        return

    def key(purpose: str) -> str:
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        return f"{purpose}:bench{secrets.token_hex(2)}:{secret}"

    os.environ["PATRON_ENCRYPTION_KEYS"] = f"{key('data')},{key('index')}"
