"""``patron audit verify``: walk the audit chain and name the first broken entry."""

from __future__ import annotations

from typing import Annotated

import typer

from patron.cli.common import EXIT_FAILURE, command, print_json, settings, stderr, stdout

app = typer.Typer(help="The audit trail.", no_args_is_help=True)


@app.command("verify")
@command
def verify(
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=100_000, help="Entries read at a time.")
    ] = 2_000,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check every entry's hash and link in order; exit 1 naming the first broken entry."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from patron.db.engine import Database
    from patron.security import audit

    database = Database(settings().resolved_database_url)
    try:
        database.check()
        with database.unit_of_work(write=False) as session:
            total = audit.entry_count(session)
            columns = (TextColumn("Verifying the audit chain"), BarColumn(),
                       MofNCompleteColumn(), TimeElapsedColumn())  # fmt: skip
            with Progress(*columns, console=stderr, transient=True) as bar:
                task = bar.add_task("verify", total=total)
                result = audit.verify(
                    session,
                    batch_size=batch_size,
                    progress=lambda done: bar.advance(task, done),
                )
    finally:
        database.dispose()
    broken = result.broken
    if json_output:
        print_json({
            "intact": result.intact, "entries": result.entries,
            "head_id": result.head_id, "head_hash": result.head_hash,
            "broken": None if broken is None else
            {"id": broken.id, "reason": broken.reason, "detail": broken.detail},
        })  # fmt: skip
    if broken is not None:
        stderr.print(
            f"[bold red]Audit chain broken[/] at entry {broken.id}: {broken.reason} — "
            f"{broken.detail}. {result.entries:,} entries before it are intact.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FAILURE)
    if not json_output:
        head = f", head {result.head_id} {result.head_hash}" if result.head_id else ""
        stdout.print(f"Audit chain intact: {result.entries:,} entries{head}.", highlight=False)
