"""Settings: every ``PATRON_*`` variable, read once and passed where it is needed.

Nothing reads the environment at import time; ``Settings()`` is built by the CLI, the app factory
or a test, and handed down.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PATRON_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(default=Path("patron-data"), description="Where Patron keeps its files.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to a SQLite file under the data directory.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs sessions and CSRF tokens; defaults to a key kept in the data directory.",
    )
    encryption_keys: SecretStr | None = Field(
        default=None,
        description=(
            "Field-encryption keys as comma-separated purpose:id:base64key entries (purpose "
            "'data' or 'index'; the first of each purpose is current); by default the keys "
            "come from keyring.json in the data directory."
        ),
    )
    session_idle_minutes: int = Field(default=60, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    cookie_secure: bool | None = Field(
        default=None, description="Force the Secure cookie flag; by default set on HTTPS requests."
    )
    worker_in_process: bool | None = Field(
        default=None,
        description="Run background jobs inside the web process; by default on with SQLite.",
    )
    base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'patron.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def runs_worker_in_process(self) -> bool:
        return self.worker_in_process if self.worker_in_process is not None else self.is_sqlite

    def resolved_secret_key(self) -> str:
        """The configured key, else one generated once and kept (mode 0600) in the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key, encoding="utf-8")
        return key
