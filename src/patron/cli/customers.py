"""``patron customers``: a customer's personal data — export it, erase it, re-apply erasures."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated

import typer

from patron.cli.common import command, fail, print_json, settings, stderr, stdout

app = typer.Typer(help="A customer's personal data (GDPR).", no_args_is_help=True)


def _customer_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{value!r} is not a customer id (a UUID).", 2)


@app.command("export-data")
@command
def export_data(
    customer_id: Annotated[str, typer.Argument(help="The customer's id.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Everything Patron holds about one customer, as JSON (GDPR right of access)."""
    from patron.db.engine import Database
    from patron.privacy import service
    from patron.security.permissions import Principal

    wanted = _customer_id(customer_id)
    db = Database(settings().resolved_database_url)
    db.check()
    with db.unit_of_work() as session:
        data = service.export(session, Principal.system(), wanted)
    if output is None:
        print_json(data)
        return
    output.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    counts = sum(len(rows) for rows in data["records"].values())
    stderr.print(f"Wrote {counts} records about {wanted} to {output}", highlight=False)


@app.command("erase")
@command
def erase(
    customer_id: Annotated[str, typer.Argument(help="The customer's id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do it without asking.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the erasure as JSON.")] = False,
) -> None:
    """Erase one customer's personal data everywhere Patron holds it. Cannot be undone."""
    from patron.db.engine import Database
    from patron.privacy import service
    from patron.security.permissions import Principal

    wanted = _customer_id(customer_id)
    if not yes and not typer.confirm(f"Erase the personal data of customer {wanted}?"):
        fail("Nothing was erased.")
    current = settings()
    db = Database(current.resolved_database_url)
    db.check()
    with db.unit_of_work() as session:
        erasure = service.erase(
            session, Principal.system(), wanted, ledger=current.data_dir / service.LEDGER_NAME
        )
        result = {
            "erasure_id": str(erasure.id),
            "customer_id": str(wanted),
            "summary": erasure.summary,
        }
    if json_output:
        print_json(result)
    else:
        stdout.print(f"Erased customer {wanted}: {result['summary']}", highlight=False)


@app.command("reapply-erasures")
@command
def reapply_erasures() -> None:
    """Erase again everyone the erasure ledger names (run after restoring an older backup)."""
    from patron.db.engine import Database
    from patron.privacy import service

    current = settings()
    db = Database(current.resolved_database_url)
    db.check()
    with db.unit_of_work() as session:
        again = service.reapply(session, current.data_dir / service.LEDGER_NAME)
    stdout.print(f"Erased again: {len(again)} customer(s).", highlight=False)
