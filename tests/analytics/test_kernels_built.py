"""The optional C extensions: built wherever CI runs (gcc and Python's headers are there), so the
compiled paths are the ones the tests exercise; elsewhere their absence is allowed."""

from __future__ import annotations

import importlib
import os

import pytest

# Each kernel, the module that uses it (and holds it, or None), and a function it must offer.
KERNELS = [
    ("patron.analytics._rule_tables", "_fim", "mine_rules"),
    ("patron.analytics.rfm", "_group", "factorize_rows"),
]


@pytest.mark.parametrize(("user", "name", "function"), KERNELS, ids=[k[1] for k in KERNELS])
def test_the_compiled_kernel_is_built_where_ci_runs(user, name, function):
    kernel = getattr(importlib.import_module(user), name)
    if kernel is None:
        assert os.environ.get("CI") != "true", f"the C kernel patron.analytics.{name} was not built"
        pytest.skip(f"the C kernel {name} is not built here (no C compiler at install)")
    assert kernel is importlib.import_module(f"patron.analytics.{name}")
    assert callable(getattr(kernel, function))
