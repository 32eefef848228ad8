"""What every command shares: settings, the database, errors turned into exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

from patron.errors import DatabaseUnavailable, PatronError

if TYPE_CHECKING:  # pydantic-settings takes a fifth of a second to import: only when used
    from patron.config import Settings

# Exit codes (DESIGN.md): 0 ok, 1 failure, 2 usage, 65 rejected input rows, 69 database
# unreachable, 74 I/O error.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_DATA = 65
EXIT_UNAVAILABLE = 69
EXIT_IO = 74

stderr = Console(stderr=True)
stdout = Console()


def settings() -> Settings:
    """The settings from the environment, with the encrypted columns' keys configured from them;
    a bad ``PATRON_*`` value exits 2 with its message."""
    from pydantic import ValidationError

    from patron.config import Settings
    from patron.security import crypto

    try:
        config = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"PATRON_{'_'.join(map(str, error['loc'])).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        fail(f"Invalid setting: {problems}", EXIT_USAGE)
    crypto.configure(config)
    return config


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    stderr.print(f"[bold red]Error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str, indent=None) + "\n")
    sys.stdout.flush()


@contextmanager
def handled_errors() -> Iterator[None]:
    """Turn Patron's errors into a readable message and the exit code DESIGN.md gives."""
    from sqlalchemy.exc import OperationalError, StatementError

    try:
        yield
    except DatabaseUnavailable as exc:
        fail(exc.detail, EXIT_UNAVAILABLE)
    except PatronError as exc:
        code = EXIT_USAGE if exc.status in (400, 422) else EXIT_FAILURE
        detail = exc.detail
        for error in exc.extra.get("errors", []):
            detail += f"\n  {error.get('field')}: {error.get('message')}"
        fail(detail, code)
    except OperationalError as exc:
        fail(f"The database cannot be used: {exc.orig}", EXIT_UNAVAILABLE)
    except StatementError as exc:  # e.g. a value that cannot be encrypted: a missing key
        if not isinstance(exc.orig, PatronError):
            raise
        fail(exc.orig.detail)
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename or ''}".strip(), EXIT_IO)


def command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a command body so Patron errors become exit codes."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with handled_errors():
            return func(*args, **kwargs)

    return wrapper
