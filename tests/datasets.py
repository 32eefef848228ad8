"""The public datasets in ``../shared/datasets`` (or ``PATRON_DATASETS``), never copied here.

A test that needs one skips with a clear reason when it is absent, except under ``CI=true``, where
a missing dataset is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def datasets_dir() -> Path:
    configured = os.environ.get("PATRON_DATASETS")
    if configured:
        return Path(configured)
    return REPO.parent / "shared" / "datasets"


def dataset_path(*parts: str) -> Path:
    """The path of a dataset file; skips (or fails under CI) when it is not there."""
    path = datasets_dir().joinpath(*parts)
    if not path.exists():
        name = "/".join(parts)
        message = f"dataset {name} not found under {datasets_dir()} (set PATRON_DATASETS)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
