"""The root ``patron`` command; each group lives in its own module, imported when it runs."""

from __future__ import annotations

import typer

from patron.cli.lazy import lazy_group

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
    """Nothing to do before a command: having a callback makes Typer build a group even though no
    command is registered up front."""


def main() -> None:
    app()
