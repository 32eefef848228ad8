"""``patron keys``: the field-encryption keyring (never shows key material)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from patron.cli.common import command, fail, print_json, settings, stderr, stdout

if TYPE_CHECKING:
    from patron.security.crypto import Keyring

app = typer.Typer(help="Field-encryption keys: list them, rotate them.", no_args_is_help=True)


def _describe(keyring: Keyring) -> list[dict[str, Any]]:
    return [
        {
            "id": key.id,
            "purpose": key.purpose,
            "created_at": key.created_at or None,
            "current": keyring.current[key.purpose] == key.id,
        }
        for key in sorted(keyring.keys.values(), key=lambda k: (k.purpose, k.created_at))
    ]


@app.command("list")
@command
def list_keys(json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the key ids, their purpose and which is current (never the keys themselves)."""
    from rich.table import Table

    from patron.security.crypto import load_keyring

    keyring = load_keyring(settings())
    keys = _describe(keyring)
    source = "environment" if keyring.from_environment else "keyring.json"
    if json_output:
        print_json({"source": source, "rotation_pending": bool(keyring.rotation), "keys": keys})
        return
    table = Table("id", "purpose", "created", "current", title=f"Keys (from {source})")
    for key in keys:
        table.add_row(key["id"], key["purpose"], key["created_at"] or "", "yes" * key["current"])
    stdout.print(table)
    if keyring.rotation:
        stderr.print("A rotation was interrupted; run 'patron keys rotate' to finish it.")


@app.command("rotate")
@command
def rotate(
    blind_index: Annotated[
        bool,
        typer.Option("--blind-index", help="Also replace the blind-index key and recompute."),
    ] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=100_000)] = 500,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add a new data key (current for writes) and re-encrypt every value under it.

    Runs in batches, each its own transaction, while the app keeps serving; reads accept the old
    keys throughout. If it is interrupted, run it again: it resumes instead of adding a key.
    """
    from patron.db.engine import Database
    from patron.security import crypto

    config = settings()
    database = Database(config.resolved_database_url)
    database.check()
    keyring = _target_keyring(config, blind_index)
    try:
        result = _run(database, keyring, batch_size)
    finally:
        database.dispose()
    if result.remaining:
        fail(
            f"{result.remaining} row(s) still hold values under older keys (they kept changing "
            "meanwhile); run 'patron keys rotate' again."
        )
    if keyring.rotation is not None:
        keyring.rotation = None
        crypto.save_keyring(config, keyring)
    report = {
        "data_key": keyring.current[crypto.DATA],
        "index_key": keyring.current[crypto.INDEX],
        "rewritten": result.rewritten,
        "passes": result.passes,
        "keys": _describe(keyring),
    }
    if json_output:
        print_json(report)
        return
    total = sum(result.rewritten.values())
    stderr.print(
        f"[bold green]Rotated[/]: {total} row(s) now under data key {report['data_key']} "
        f"(blind index key {report['index_key']}). Older keys stay in the keyring to read "
        "backups taken before today; see docs/security.md before removing one.",
        highlight=False,
    )


def _target_keyring(config: Any, blind_index: bool) -> Keyring:
    """The keyring to rotate to: a new key saved first, or the one an interrupted run left."""
    from patron.security import crypto

    keyring = crypto.load_keyring(config)
    if keyring.from_environment:
        stderr.print(
            "Keys come from PATRON_ENCRYPTION_KEYS: re-encrypting under its current data key "
            f"{keyring.current[crypto.DATA]} (put a new key first in the variable to rotate).",
            highlight=False,
        )
        return keyring
    if keyring.rotation:
        stderr.print(f"Resuming the rotation to data key {keyring.current[crypto.DATA]}.")
        return keyring
    purposes = (crypto.DATA, crypto.INDEX) if blind_index else (crypto.DATA,)
    keyring = keyring.with_new_keys(purposes)
    keyring.rotation = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": keyring.current[crypto.DATA],
        "index": keyring.current[crypto.INDEX] if blind_index else None,
    }
    crypto.save_keyring(config, keyring)  # first, so a crash leaves no value under a lost key
    return keyring


def _run(database: Any, keyring: Keyring, batch_size: int) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from patron.security import crypto
    from patron.security.crypto_rotation import pending_counts, reencrypt

    with database.engine.connect() as connection:
        total = sum(pending_counts(connection, keyring.current[crypto.DATA]).values())
    columns = (TextColumn("Re-encrypting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task("rotate", total=total)
        result = reencrypt(
            database,
            keyring,
            batch_size=batch_size,
            progress=lambda _table, rows: bar.advance(task, rows),
        )
        # Other processes pick up a changed keyring within RELOAD_SECONDS; a write they made
        # with the old key just before is caught by one more pass.
        time.sleep(crypto.RELOAD_SECONDS + 0.5)
        if not result.remaining:
            again = reencrypt(database, keyring, batch_size=batch_size)
            for table, count in again.rewritten.items():
                result.rewritten[table] = result.rewritten.get(table, 0) + count
            result.remaining = again.remaining
    return result
