"""The root ``patron`` command; each group lives in its own module."""

from __future__ import annotations

import typer

from patron.cli import (
    analyze,
    api_keys,
    audit,
    backup,
    customers,
    db,
    dedupe,
    demo,
    etl,
    export,
    import_,
    keys,
    server,
    users,
)

app = typer.Typer(
    name="patron",
    help="Patron: a self-hosted CRM with analytics built in.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

server.register(app)
demo.register(app)
export.register(app)
import_.register(app)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(api_keys.app, name="api-keys")
app.add_typer(customers.app, name="customers")
app.add_typer(keys.app, name="keys")
app.add_typer(analyze.app, name="analyze")
app.add_typer(backup.app, name="backup")
app.add_typer(audit.app, name="audit")
app.add_typer(etl.app, name="etl")
dedupe.register(app)


def main() -> None:
    app()
