"""``patron import ENTITY FILE``: bring a file of records into Patron; ``resume`` and ``revert``.

The command acts as the system principal. It shows a progress bar on stderr, prints the report
(``--json``: one object on stdout) and exits 65 when rows were rejected. Run again on the same
file after a crash or kill, it resumes the interrupted import instead of starting over.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from patron.cli import common

app = typer.Typer(
    help="Import customers, products, orders, tickets, activities or deals from a file.",
    no_args_is_help=True,
)
ENTITIES = ("customers", "products", "orders", "tickets", "activities", "deals")

FileArg = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, help="CSV, XLSX, JSON, JSON Lines, Parquet.")
]
MappingOpt = Annotated[
    Path | None,
    typer.Option("--mapping", exists=True, dir_okay=False, help="A YAML mapping file."),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Clean and match every row, write nothing.")
]
DuplicateOpt = Annotated[
    str, typer.Option("--on-duplicate", help="update, skip or error when a record exists.")
]
CreateMissingOpt = Annotated[
    bool,
    typer.Option("--create-missing", help="Create customers and products rows name but lack."),
]
FormatOpt = Annotated[
    str | None, typer.Option("--format", help="csv, xlsx, json, jsonl or parquet (from the name).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")]


def _database() -> Any:
    from patron.db.engine import Database

    database = Database(common.settings().resolved_database_url)
    database.check()
    return database


def _run(database: Any, import_id: uuid.UUID, json_output: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from patron.integration import imports

    settings = common.settings()
    columns = (TextColumn("Importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=common.stderr, transient=True) as bar:
        task = bar.add_task("import", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        imports.run_import(
            database,
            import_id,
            limits=settings.import_limits,
            data_dir=settings.data_dir,
            default_region=settings.import_default_region,
            progress=progress,
        )
    with database.unit_of_work(write=False) as session:
        run = imports.get_import(session, _system(), import_id)
        _finish(imports.report(run), json_output)


def _system() -> Any:
    from patron.security.permissions import Principal

    return Principal.system()


def _finish(report: dict[str, Any], json_output: bool) -> None:
    if json_output:
        common.print_json(
            {
                key: report[key]
                for key in (
                    "import_id",
                    "created",
                    "updated",
                    "unchanged",
                    "rejected",
                    "error_file",
                    "status",
                    "dry_run",
                )
            }
        )
    else:
        verb = "Checked (dry run)" if report["dry_run"] else "Imported"
        common.stderr.print(
            f"{verb} {report['entity']}: {report['created']:,} created, {report['updated']:,} "
            f"updated, {report['unchanged']:,} unchanged, {report['rejected']:,} rejected. "
            f"Import {report['import_id']}.",
            highlight=False,
        )
        if report["error_file"]:
            common.stderr.print(f"Rejected rows: {report['error_file']}", highlight=False)
    if report["rejected"]:
        raise typer.Exit(common.EXIT_DATA)


def import_file(
    entity: str,
    file: Path,
    mapping: Path | None,
    dry_run: bool,
    on_duplicate: str,
    create_missing: bool,
    format: str | None,
    json_output: bool,
) -> None:
    from patron.integration import imports
    from patron.integration.imports_entities import spec_for

    settings = common.settings()
    if on_duplicate not in imports.ON_DUPLICATE:
        common.fail("--on-duplicate takes update, skip or error.", common.EXIT_USAGE)
    spec = spec_for(entity)
    mapping_data = imports.load_mapping(mapping, spec).as_dict() if mapping else None
    database = _database()
    try:
        with database.unit_of_work() as session:
            run = imports.create_import(
                session,
                _system(),
                entity=entity,
                path=file.resolve(),
                format=format,
                mapping=mapping_data,
                on_duplicate=on_duplicate,
                create_missing=create_missing,
                dry_run=dry_run,
                limits=settings.import_limits,
            )
            earlier = None if dry_run else imports.find_resumable(session, run)
            if earlier is not None:
                session.delete(run)
                run = earlier
                common.stderr.print(
                    f"Resuming import {run.id} from row {run.rows_done + 1:,}.", highlight=False
                )
            import_id = run.id
        _run(database, import_id, json_output)
    finally:
        database.dispose()


def _entity_command(entity: str) -> None:
    @app.command(entity, help=f"Import {entity} from FILE.")
    @common.command
    def command(
        file: FileArg,
        mapping: MappingOpt = None,
        dry_run: DryRunOpt = False,
        on_duplicate: DuplicateOpt = "update",
        create_missing: CreateMissingOpt = False,
        format: FormatOpt = None,
        json_output: JsonOpt = False,
    ) -> None:
        import_file(entity, file, mapping, dry_run, on_duplicate, create_missing, format,
                    json_output)  # fmt: skip


for _entity in ENTITIES:
    _entity_command(_entity)


@app.command("resume")
@common.command
def resume(
    import_id: Annotated[uuid.UUID, typer.Argument(help="The import to finish.")],
    json_output: JsonOpt = False,
) -> None:
    """Finish an interrupted import from where its last committed batch ended."""
    database = _database()
    try:
        _run(database, import_id, json_output)
    finally:
        database.dispose()


@app.command("revert")
@common.command
def revert(
    import_id: Annotated[uuid.UUID, typer.Argument(help="The import to undo.")],
    json_output: JsonOpt = False,
) -> None:
    """Undo an import: delete what it created and restore what it changed."""
    from patron.integration import imports

    database = _database()
    try:
        with database.unit_of_work() as session:
            counts = imports.revert(session, _system(), import_id)
        if json_output:
            common.print_json({"import_id": str(import_id), **counts})
        else:
            common.stderr.print(
                f"Reverted import {import_id}: {counts['deleted']:,} records deleted, "
                f"{counts['restored']:,} restored.",
                highlight=False,
            )
    finally:
        database.dispose()


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="import")
