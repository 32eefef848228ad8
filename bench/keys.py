"""A throwaway keyring for benchmarks: personal fields are encrypted at rest, so a benchmark's
database and its child processes need keys; they share them through the environment."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path


def throwaway_keys() -> None:
    """Set ``PATRON_ENCRYPTION_KEYS`` to fresh keys, unless keys are configured already."""
    if os.environ.get("PATRON_ENCRYPTION_KEYS"):
        return

    def key(purpose: str) -> str:
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        return f"{purpose}:bench{secrets.token_hex(2)}:{secret}"

    os.environ["PATRON_ENCRYPTION_KEYS"] = f"{key('data')},{key('index')}"


def kept_keys(folder: Path) -> None:
    """As :func:`throwaway_keys`, the keys kept in ``folder`` (beside a database kept between
    runs, which later runs must read) and taken from there when they are."""
    if os.environ.get("PATRON_ENCRYPTION_KEYS"):
        return
    path = folder / "encryption-keys.txt"
    if path.exists():
        os.environ["PATRON_ENCRYPTION_KEYS"] = path.read_text(encoding="utf-8").strip()
        return
    throwaway_keys()
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(os.environ["PATRON_ENCRYPTION_KEYS"], encoding="utf-8")
    path.chmod(0o600)
