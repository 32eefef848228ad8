"""``patron etl``: run an ETL job (another system's database or a file into Patron)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from patron.cli import common

app = typer.Typer(help="Bring records from other systems, incrementally.", no_args_is_help=True)


@app.command("run")
@common.command
def run(
    config: Annotated[Path, typer.Argument(help="The job, a YAML file (see docs/integration.md).")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Extract what is new since the last run, clean and load it like an import, record the run.

    Exits 65 when rows were rejected (they are in the import's error file), 0 when none were.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from patron.db.engine import Database
    from patron.integration import etl

    settings = common.settings()
    job = etl.load_config(config)
    database = Database(settings.resolved_database_url)
    database.check()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=common.stderr, transient=True) as bar:
        task = bar.add_task("Reading", total=None)

        def progress(step: str, done: int, total: int | None) -> None:
            bar.update(task, description=step, completed=done, total=total)

        record = etl.run(database, settings, job, progress=progress)
    report = etl.report(record)
    if json_output:
        common.print_json(report)
    else:
        common.stderr.print(
            f"{job.name}: read {report['rows_read']:,}, created {report['created']:,}, "
            f"updated {report['updated']:,}, unchanged {report['unchanged']:,}, "
            f"rejected {report['rejected']:,}; watermark {report['watermark_to']}.",
            highlight=False,
        )
    if report["rejected"]:
        raise typer.Exit(common.EXIT_DATA)


@app.command("runs")
@common.command
def runs(
    name: Annotated[str | None, typer.Option("--name", help="Only this job's runs.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The latest ETL runs, newest first."""
    from patron.db.engine import Database
    from patron.integration import etl

    database = Database(common.settings().resolved_database_url)
    database.check()
    found = [etl.report(record) for record in etl.history(database, name)]
    if json_output:
        common.print_json(found)
        return
    for item in found:
        common.stdout.print(
            f"{item['etl_run_id']}  {item['name']}  {item['status']}  read {item['rows_read']}  "
            f"written {item['written']}  rejected {item['rejected']}  to {item['watermark_to']}",
            highlight=False,
        )
