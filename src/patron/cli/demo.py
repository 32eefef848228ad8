"""``patron demo``: load the demo business into the configured database."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from patron.cli.common import handled_errors, print_json, stderr, stdout

if TYPE_CHECKING:
    from patron.config import Settings
    from patron.demo import DemoSummary


def load_demo(
    settings: Settings,
    customers: int,
    seed: int,
    console: Console,
    *,
    as_of: date | None = None,
) -> DemoSummary:
    """Migrate the database, then load the demo with a progress bar on ``console``.

    ``patron init --demo`` calls this too. Raises ``DemoAlreadyLoaded`` when the database has
    demo data already, ``DatabaseUnavailable`` when it cannot be reached.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from patron.db import migrate
    from patron.db.engine import Database
    from patron.demo import DEFAULT_AS_OF, generate

    database = Database(settings.resolved_database_url)
    try:
        database.check()
        migrate.upgrade(database.engine)
        columns = (
            TextColumn("{task.description:<32}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("Loading demo data", total=1.0)

            def progress(step: str, done: float) -> None:
                bar.update(task, description=step, completed=done)

            return generate(
                database,
                customers=customers,
                seed=seed,
                as_of=as_of or DEFAULT_AS_OF,
                progress=progress,
            )
    finally:
        database.dispose()


def print_summary(summary: DemoSummary, console: Console) -> None:
    """The counts, then the staff logins: their passwords are shown this once only."""
    from rich.table import Table

    counts = Table(title="Demo data loaded", title_justify="left")
    counts.add_column("table")
    counts.add_column("rows", justify="right")
    for name, count in summary.counts.items():
        counts.add_row(name, f"{count:,}")
    console.print(counts)
    console.print(
        f"{summary.customers:,} customers, seed {summary.seed}, data up to "
        f"{summary.as_of.isoformat()}, in {summary.seconds:.1f} s."
    )
    # Plain lines, never a table: a narrow terminal must not cut a password short.
    console.print("\nStaff accounts (the passwords are shown only now; note them down):")
    width = max(len(user.email) for user in summary.users)
    for user in summary.users:
        where = f", {user.team}" if user.team else ""
        console.print(
            f"  {user.email.ljust(width)}  {user.password}  {user.role}{where}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as exc:
        raise typer.BadParameter("use the form YYYY-MM-DD, e.g. 2026-10-31") from exc


def register(app: typer.Typer) -> None:
    """Add ``patron demo`` to the root app."""

    @app.command("demo")
    def demo(
        customers: Annotated[
            int, typer.Option("--customers", "-n", min=1, help="How many customers to create.")
        ] = 2000,
        seed: Annotated[int, typer.Option("--seed", help="Same seed, same data.")] = 42,
        as_of: Annotated[
            str | None,
            typer.Option("--as-of", help="Last day of the data (YYYY-MM-DD); default 2026-10-31."),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
        ] = False,
    ) -> None:
        """Load a realistic demo business: customers, orders, tickets, deals and more."""
        from patron.config import Settings

        last_day = _parse_date(as_of)
        with handled_errors():
            summary = load_demo(Settings(), customers, seed, stderr, as_of=last_day)
        if as_json:
            print_json(summary.to_dict())
        else:
            print_summary(summary, stdout)
