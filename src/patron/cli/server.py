"""``patron init`` and ``patron serve``."""

from __future__ import annotations

from typing import Annotated

import typer

from patron.cli.common import command, print_json, settings, stderr

SHUTDOWN_GRACE_SECONDS = 5


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("serve")(serve)
    app.command("worker")(worker)


@command
def init(
    admin_email: Annotated[
        str, typer.Option("--admin-email", help="Email of the first admin.")
    ] = "admin@example.com",
    admin_password: Annotated[
        str | None,
        typer.Option(
            "--admin-password", help="Password of the first admin; generated if left out."
        ),
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load demo data when the database is new.")
    ] = False,
    demo_customers: Annotated[int, typer.Option("--demo-customers", min=1)] = 2000,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print what was done as JSON.")
    ] = False,
) -> None:
    """Create the data directory, the encryption keyring and the database, apply migrations,
    create the first admin.

    Safe to run again: an existing database is migrated and kept, and no second admin is made.
    """
    from patron.db import migrate
    from patron.db.engine import Database
    from patron.security import service as security
    from patron.security.crypto import ensure_keyring
    from patron.security.passwords import generate_password
    from patron.security.permissions import Principal, Role
    from patron.security.schemas import UserCreate

    config = settings()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.resolved_secret_key()
    if ensure_keyring(config):
        stderr.print(
            "Created the encryption keyring (keyring.json in the data directory, mode 0600): "
            "back it up apart from the database; without it the personal data cannot be read."
        )
    db = Database(config.resolved_database_url)
    db.check()
    migrate.upgrade(db.engine)
    result: dict[str, object] = {"database": db.engine.url.render_as_string(), "admin": None}
    with db.unit_of_work() as session:
        new_database = not security.has_users(session)
        if new_database:
            password = admin_password or generate_password()
            security.create_user(
                session,
                Principal.system(),
                UserCreate(
                    email=admin_email, name="Administrator", role=Role.ADMIN, password=password
                ),
            )
            result["admin"] = {"email": admin_email, "password": password}
    if new_database:
        stderr.print(
            f"[bold green]Created the first admin[/]: {admin_email}\n"
            f"  password: [bold]{result['admin']['password']}[/]  "  # type: ignore[index]
            "(shown once; keep it safe)",
            highlight=False,
        )
    else:
        stderr.print("Database ready; it already has users, so no admin was created.")
    if demo and new_database:
        from patron.cli.demo import load_demo, print_summary

        summary = load_demo(config, demo_customers, 42, stderr)
        print_summary(summary, stderr)
        result["demo"] = summary.counts
    db.dispose()
    if json_output:
        print_json(result)


@command
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64)] = 1,
    reload: Annotated[bool, typer.Option("--reload", help="Restart on code changes.")] = False,
) -> None:
    """Serve the web app and the API."""
    import uvicorn

    from patron.db import migrate
    from patron.db.engine import Database

    config = settings()
    db = Database(config.resolved_database_url)
    db.check()
    if migrate.current_revision(db.engine) != migrate.head_revision(db.engine):
        from patron.cli.common import fail

        fail("The database is not up to date; run 'patron db upgrade' (or 'patron init') first.")
    db.dispose()
    stderr.print(f"Patron is serving on [bold]http://{host}:{port}[/]", highlight=False)
    uvicorn.run(
        "patron.web.asgi:app",
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        proxy_headers=True,
        log_level=config.log_level.lower(),
        # Live streams never finish on their own: give them a moment, then end them, so a stop
        # does not wait for every client to hang up (browsers reconnect with Last-Event-ID).
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


@command
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Run the jobs that are ready, then stop.")
    ] = False,
) -> None:
    """Run background jobs (analysis runs, webhook deliveries, scheduled backups, …). Run several
    beside the API."""
    from patron.db.engine import Database
    from patron.worker.runner import Worker

    config = settings()
    db = Database(config.resolved_database_url)
    db.check()
    runner = Worker(db, settings=config)
    if once:
        done = runner.run_until_idle()
        stderr.print(f"Ran {done} job(s).")
        return
    stderr.print(f"Worker {runner.worker_id} is waiting for jobs (Ctrl-C stops it).")
    try:
        runner.run_forever()
    except KeyboardInterrupt:
        runner.stop()
