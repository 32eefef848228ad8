"""Database mode of ``patron analyze``: the analysis runs as an analysis run, in this process.

The run is stored (started by the system), applied like a run from the API (segments, rules,
scores on the customers) and its outcome handed back so the command can still write its file.
Heavy imports happen inside the function, so ``--help`` stays fast.
"""

from __future__ import annotations

import uuid
from typing import Any

from patron.cli import common


def run_in_database(kind: str, parameters: dict[str, Any]) -> tuple[uuid.UUID, Any]:
    """Start and execute a ``kind`` run on the configured database, with a progress bar on
    stderr; returns the run's id and its outcome. A refused or failed run exits non-zero."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from patron.db.engine import Database
    from patron.insights.schemas import RunCreate
    from patron.insights.service import run_in_process
    from patron.security.permissions import Principal

    with common.handled_errors():
        database = Database(common.settings().resolved_database_url)
        try:
            database.check()
            with Progress(
                TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                console=common.stderr, transient=True,
                disable=not common.stderr.is_terminal,
            ) as progress:  # fmt: skip
                task = progress.add_task(f"{kind} run", total=1.0)

                def report(value: float, message: str | None) -> None:
                    progress.update(task, completed=value, description=message or kind)

                request = RunCreate(kind=kind, parameters=parameters)  # type: ignore[arg-type]
                try:
                    return run_in_process(database, Principal.system(), request, report)
                except (ValueError, TypeError) as exc:
                    common.fail(f"The {kind} run failed: {exc}", common.EXIT_FAILURE)
        finally:
            database.dispose()
