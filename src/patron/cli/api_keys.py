"""``patron api-keys``: create, list and revoke API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from patron.cli.common import command, print_json, settings, stdout

app = typer.Typer(help="API keys for integrations.", no_args_is_help=True)


@app.command("create")
@command
def create(
    user: Annotated[str, typer.Option("--user", help="Email of the user the key acts for.")],
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", min=1, help="Expire after N days.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help='Print {"key": ...} only.')] = False,
) -> None:
    """Create an API key and print it once; only its hash is kept."""
    from datetime import timedelta

    from patron.db.engine import Database
    from patron.kit.clock import utcnow
    from patron.security import service
    from patron.security.permissions import Principal
    from patron.security.schemas import ApiKeyCreate

    db = Database(settings().resolved_database_url)
    db.check()
    with db.unit_of_work() as session:
        owner = service.find_user(session, user)
        expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
        api_key, secret = service.api_keys.issue(
            session,
            Principal.system(),
            ApiKeyCreate(name=name, user_id=owner.id, expires_at=expires),
        )
        key_id = str(api_key.id)
    if json_output:
        print_json({"key": secret, "id": key_id})
    else:
        stdout.print(f"API key for {user} ({name}), shown once:\n{secret}", highlight=False)


@app.command("revoke")
@command
def revoke(key: Annotated[str, typer.Argument(help="The key's id or its prefix (ptn_…).")]) -> None:
    """Revoke an API key."""
    from patron.db.engine import Database
    from patron.security import service
    from patron.security.permissions import Principal

    db = Database(settings().resolved_database_url)
    db.check()
    with db.unit_of_work() as session:
        api_key = service.revoke_by_prefix_or_id(session, Principal.system(), key)
        stdout.print(f"Revoked {api_key.prefix}… ({api_key.name}).")


@app.command("list")
@command
def list_keys(json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List API keys (never the keys themselves)."""
    from rich.table import Table

    from patron.db.engine import Database
    from patron.security import repository

    db = Database(settings().resolved_database_url)
    db.check()
    with db.unit_of_work(write=False) as session:
        rows = [
            {
                "id": str(k.id),
                "prefix": k.prefix,
                "name": k.name,
                "revoked": k.revoked_at is not None,
                "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
            }
            for k in repository.api_keys_of(session, None)
        ]
    if json_output:
        print_json(rows)
        return
    table = Table("id", "prefix", "name", "revoked", "last used")
    for row in rows:
        table.add_row(
            row["id"],
            row["prefix"],
            row["name"],
            "yes" if row["revoked"] else "",
            row["last_used_at"] or "",
        )
    stdout.print(table)
