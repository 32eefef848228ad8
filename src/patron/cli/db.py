"""``patron db``: schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from patron.cli.common import command, print_json, settings, stderr

app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command("upgrade")
@command
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (the newest by default)."""
    from patron.db import migrate
    from patron.db.engine import Database

    config = settings()
    db = Database(config.resolved_database_url)
    db.check()
    migrate.upgrade(db.engine, revision)
    stderr.print(f"Database at revision {migrate.current_revision(db.engine)}.")


@app.command("current")
@command
def current(json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the database's revision and the newest one."""
    from patron.db import migrate
    from patron.db.engine import Database

    db = Database(settings().resolved_database_url)
    db.check()
    data = {
        "current": migrate.current_revision(db.engine),
        "head": migrate.head_revision(db.engine),
    }
    if json_output:
        print_json(data)
    else:
        stderr.print(f"current: {data['current']}\nhead:    {data['head']}")
