"""Demo data: a realistic, deterministic business to explore (``patron demo``)."""

from patron.demo.generator import (
    DEFAULT_AS_OF,
    DEFAULT_CUSTOMERS,
    DEFAULT_SEED,
    DEMO_EVENT,
    DemoAlreadyLoaded,
    DemoSummary,
    DemoUser,
    generate,
    is_loaded,
)

__all__ = [
    "DEFAULT_AS_OF",
    "DEFAULT_CUSTOMERS",
    "DEFAULT_SEED",
    "DEMO_EVENT",
    "DemoAlreadyLoaded",
    "DemoSummary",
    "DemoUser",
    "generate",
    "is_loaded",
]
