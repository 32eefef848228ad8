"""``patron users``: create and list users."""

from __future__ import annotations

from typing import Annotated

import typer

from patron.cli.common import command, print_json, settings, stdout

app = typer.Typer(help="Users and their roles.", no_args_is_help=True)


@app.command("create")
@command
def create(
    email: Annotated[str, typer.Option("--email", help="The user's email (their login).")],
    role: Annotated[
        str,
        typer.Option(
            "--role", help="admin, manager, sales, support, marketing, analyst or readonly."
        ),
    ],
    team: Annotated[str | None, typer.Option("--team", help="Team name; created if new.")] = None,
    password: Annotated[
        str | None, typer.Option("--password", help="Generated and printed if left out.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a user."""
    from pydantic import ValidationError

    from patron.cli.common import EXIT_USAGE, fail
    from patron.db.engine import Database
    from patron.security import repository, service
    from patron.security.passwords import generate_password
    from patron.security.permissions import Principal, Role
    from patron.security.schemas import TeamCreate, UserCreate

    if role not in {r.value for r in Role}:
        fail(f"Unknown role {role!r}; use one of {', '.join(r.value for r in Role)}.", EXIT_USAGE)
    generated = password is None
    password = password or generate_password()
    db = Database(settings().resolved_database_url)
    db.check()
    with db.unit_of_work() as session:
        system = Principal.system()
        team_id = None
        if team:
            existing = repository.team_by_name(session, team)
            team_id = (
                existing.id
                if existing
                else service.teams.create(session, system, TeamCreate(name=team)).id
            )
        try:
            data = UserCreate(
                email=email, name=name, role=Role(role), team_id=team_id, password=password
            )
        except ValidationError as exc:
            fail(
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()),
                EXIT_USAGE,
            )
        user = service.create_user(session, system, data)
        result = {
            "id": str(user.id),
            "email": user.email,
            "role": user.role,
            "team": team,
            "password": password if generated else None,
        }
    if json_output:
        print_json(result)
    else:
        stdout.print(f"Created {result['email']} ({role}{', team ' + team if team else ''}).")
        if generated:
            stdout.print(f"Password: {password}  (shown once)")


@app.command("list")
@command
def list_users(json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List users."""
    from rich.table import Table

    from patron.db.engine import Database
    from patron.security import service
    from patron.security.permissions import Principal

    db = Database(settings().resolved_database_url)
    db.check()
    with db.unit_of_work(write=False) as session:
        page = service.users.list(session, Principal.system(), limit=100)
        rows = [{"email": u.email, "role": u.role, "active": u.is_active} for u in page.items]
    if json_output:
        print_json(rows)
        return
    table = Table("email", "role", "active")
    for row in rows:
        table.add_row(row["email"], row["role"], "yes" if row["active"] else "no")
    stdout.print(table)
