"""The permission table in docs/security.md is the one the code enforces."""

from __future__ import annotations

from pathlib import Path

from patron.security.permissions import permission_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_security_doc_prints_the_enforced_table() -> None:
    assert permission_table() in DOC.read_text(encoding="utf-8")
