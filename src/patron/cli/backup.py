"""``patron backup``: create, verify and restore encrypted backups (docs/operations.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from patron.cli.common import EXIT_FAILURE, command, print_json, settings, stderr

if TYPE_CHECKING:
    from patron.backup.service import Reporter, Verified

app = typer.Typer(help="Backups: create, verify and restore.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


@contextmanager
def progress_bars() -> Iterator[Reporter]:
    """A reporter that shows one Rich bar per step on stderr."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskID,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def report(step: str, done: int, total: int | None) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        yield report


@app.command("create")
@command
def create(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Folder to write to; default the backup folder."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Back up the database while the app keeps serving: compressed, encrypted, checksummed."""
    from patron.backup import service

    config = settings()
    with progress_bars() as report:
        created = service.create(config, output_dir=output, report=report)
    tables = created.manifest["tables"]
    rows = sum(table["rows"] for table in tables.values())
    if json_output:
        print_json(
            {"path": str(created.path), "sha256": created.sha256, "manifest": created.manifest}
        )
        return
    stderr.print(
        f"Backup written to {created.path} ({created.path.stat().st_size:,} bytes): "
        f"{len(tables)} tables, {rows:,} rows, revision {created.manifest['schema_revision']}.\n"
        f"SHA-256 {created.sha256}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("verify")
@command
def verify(
    file: Annotated[Path, typer.Argument(help="The backup file.")],
    json_output: JsonOption = False,
) -> None:
    """Restore FILE into a scratch database and compare every table with its manifest."""
    from patron.backup import service

    with progress_bars() as report:
        verified = service.verify(settings(), file, report=report)
    if json_output:
        print_json(_verified_json(verified))
    manifest = verified.manifest
    if verified.ok:
        if not json_output:
            stderr.print(
                f"{file.name} is good: all {len(manifest['tables'])} tables match the manifest "
                f"(made {manifest['created_at']}, {manifest['backend']}, revision "
                f"{manifest['schema_revision']}).",
                highlight=False,
                soft_wrap=True,
            )
        return
    names = ", ".join(difference.table for difference in verified.differences)
    stderr.print(
        f"[bold red]Error:[/] {file.name} differs from its manifest in: {names}",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(EXIT_FAILURE)


def _verified_json(verified: Verified) -> dict[str, object]:
    return {
        "path": str(verified.path),
        "ok": verified.ok,
        "manifest": verified.manifest,
        "differences": [
            {"table": item.table, "expected": item.expected, "actual": item.actual}
            for item in verified.differences
        ],
    }


@app.command("restore")
@command
def restore(
    file: Annotated[Path, typer.Argument(help="The backup file.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace the content of a database that is not empty.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Restore FILE into the configured database (which must be empty), then migrate it."""
    from patron.backup import service

    with progress_bars() as report:
        restored = service.restore(settings(), file, force=force, report=report)
    if json_output:
        print_json(
            {
                "manifest": restored.manifest,
                "revision": restored.revision,
                "erased_again": restored.erased_again,
            }
        )
        return
    stderr.print(
        f"Restored {file.name} (made {restored.manifest['created_at']}): every table matches "
        f"the manifest; the schema is at revision {restored.revision}; "
        f"{restored.erased_again} customer(s) erased since the backup were erased again.",
        highlight=False,
        soft_wrap=True,
    )
