"""``patron export ENTITY``: every record of one kind to a file or to stdout.

The command acts as the system principal (it has the database, so it sees every record). Rows
stream in batches, so memory stays flat; with ``--output`` the file is written beside its final
name and renamed at the end, so a failed export never leaves a half file behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from patron.cli.common import EXIT_FAILURE, EXIT_USAGE, fail, handled_errors, settings, stderr

FILTER_HELP = "A filter as NAME=VALUE (repeat for more), e.g. --filter country=DE --filter tag=vip."


def parse_filter_options(options: list[str]) -> dict[str, str]:
    filters: dict[str, str] = {}
    for option in options:
        name, sep, value = option.partition("=")
        name = name.strip()
        if not sep or not name:
            fail(f"--filter takes NAME=VALUE, not {option!r}.", EXIT_USAGE)
        if name in filters:
            fail(f"--filter {name} is given twice.", EXIT_USAGE)
        filters[name] = value
    return filters


def export_command(
    entity: Annotated[str, typer.Argument(help="customers, products, orders, tickets, ...")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="csv, jsonl, parquet or xlsx.")
    ] = "csv",
    filter: Annotated[list[str] | None, typer.Option("--filter", help=FILTER_HELP)] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The file to write; stdout without it.")
    ] = None,
) -> None:
    """Export every record of ENTITY as CSV, JSON Lines, Parquet or XLSX."""
    from patron.db.engine import Database
    from patron.integration import exports
    from patron.security.permissions import Principal

    with handled_errors():
        try:
            spec = exports.exportable(entity)
        except exports.UnknownExport as exc:
            fail(exc.detail, EXIT_USAGE)
        chosen = exports.check_format(format.lower())  # a ValidationFailed exits with 2
        filters = parse_filter_options(filter or [])
        exports.parse_filters(spec, filters)
        database = Database(settings().resolved_database_url)
        try:
            database.check()
            with database.unit_of_work(write=False) as session:
                principal = Principal.system()
                total = exports.count_rows(session, principal, spec.name, filters) if output else 0
                export = exports.open_export(session, principal, spec.name, filters)
                with database.unit_of_work() as audit_session:
                    exports.record_export(audit_session, principal, export, chosen, filters)
                if output is None:
                    _to_stdout(chosen, export)
                else:
                    _to_file(chosen, export, output, total)
        finally:
            database.dispose()


def _to_stdout(format: str, export: Any) -> None:
    from patron.integration import exports

    stream: IO[bytes] = sys.stdout.buffer
    try:
        if format in ("csv", "jsonl"):
            exports.write(format, export.rows, stream, export.columns)
        else:
            # Parquet and XLSX need a seekable file; stdout may be a pipe.
            with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
                exports.write(format, export.rows, spool, export.columns)  # type: ignore[arg-type]
                spool.seek(0)
                shutil.copyfileobj(spool, stream)  # type: ignore[misc]
        stream.flush()
    except BrokenPipeError:
        # The reader stopped early (``| head``): end quietly, as other Unix tools do.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_FAILURE) from None


def _to_file(format: str, export: Any, output: Path, total: int) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from patron.integration import exports

    partial = output.with_name(output.name + ".partial")
    written = [0]
    columns = (
        TextColumn(f"Exporting {export.entity}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=stderr, transient=True) as bar, partial.open("wb") as file:
            task = bar.add_task("export", total=total)

            def counted() -> Any:
                for row in export.rows:
                    written[0] += 1
                    if written[0] % 1000 == 0:
                        bar.update(task, completed=written[0])
                    yield row

            exports.write(format, counted(), file, export.columns)
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    noun = export.entity.replace("_", " ")
    stderr.print(f"Exported {written[0]:,} {noun} to {output}.", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
