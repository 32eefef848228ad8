"""The root ``patron`` command; each group lives in its own module, imported when it runs."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

COMMANDS = {
    "init": "patron.cli.server",
    "serve": "patron.cli.server",
    "worker": "patron.cli.server",
    "demo": "patron.cli.demo",
    "export": "patron.cli.export",
    "import": "patron.cli.import_",
    "db": "patron.cli.db",
    "users": "patron.cli.users",
    "api-keys": "patron.cli.api_keys",
    "customers": "patron.cli.customers",
    "keys": "patron.cli.keys",
    "analyze": "patron.cli.analyze",
    "backup": "patron.cli.backup",
    "audit": "patron.cli.audit",
    "etl": "patron.cli.etl",
    "dedupe": "patron.cli.dedupe",
}
"""Each command or group of ``patron``, in the order ``--help`` lists them, and its module."""

_app: typer.Typer | None = None


def _build() -> typer.Typer:
    import typer

    from patron.cli.lazy import lazy_group

    app = typer.Typer(
        name="patron",
        cls=lazy_group(COMMANDS),
        help="Patron: a self-hosted CRM with analytics built in.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root() -> None:
        """Nothing to do before a command: having a callback makes Typer build a group even
        though no command is registered up front."""

    return app


def __getattr__(name: str) -> Any:
    """``app``, the Typer application, built when first asked for: the fast path of
    ``patron analyze rules`` runs without Typer."""
    global _app
    if name == "app":
        if _app is None:
            _app = _build()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    args = sys.argv[1:]
    if len(args) > 2 and args[0] == "analyze" and args[1] in ("rules", "itemsets"):
        from patron.cli.quick_rules import run

        code = run(args[1], args[2:])
        if code is not None:
            raise SystemExit(code)
    __getattr__("app")()
