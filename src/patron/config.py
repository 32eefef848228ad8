"""Settings: every ``PATRON_*`` variable, read once and passed where it is needed.

Nothing reads the environment at import time; ``Settings()`` is built by the CLI, the app factory
or a test, and handed down.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from patron.integration.imports_read import Limits as ImportLimits


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
    event_retention_hours: int = Field(
        default=168,
        ge=1,
        description="Events older than this are pruned from the log by the worker (hours).",
    )
    stream_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="How often the live stream sends a comment line when there is nothing to say.",
    )
    stream_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="How often a live stream looks for new events without a wake-up (SQLite; "
        "on PostgreSQL a safety net behind LISTEN/NOTIFY).",
    )
    stream_max_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="A live stream ends after this long; clients reconnect with Last-Event-ID "
        "and are authenticated again (so a revoked key or ended session stops streaming).",
    )
    worker_poll_seconds: float = Field(
        default=1.0, gt=0, description="How long an idle worker waits before looking again."
    )
    webhook_allow_hosts: str = Field(
        default="",
        description=(
            "Comma-separated host names, addresses or CIDR ranges that webhooks may target even "
            "though they are private, loopback, link-local or reserved (e.g. '127.0.0.1/32')."
        ),
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_base_seconds: float = Field(
        default=30.0, gt=0, description="First retry delay cap; doubles per attempt (full jitter)."
    )
    webhook_retry_cap_seconds: float = Field(
        default=6 * 3600.0, gt=0, description="Largest retry delay cap."
    )
    webhook_retry_window_seconds: float = Field(
        default=3 * 24 * 3600.0, gt=0, description="How long a delivery is retried (3 days)."
    )
    webhook_disable_after_failures: int = Field(
        default=5, ge=1, description="Consecutive deliveries that ran out of retries to disable."
    )
    webhook_disable_after_failing_seconds: float = Field(
        default=3 * 24 * 3600.0,
        gt=0,
        description="Disable a subscription that has had no success for this long (3 days).",
    )
    webhook_rotation_grace_seconds: float = Field(
        default=24 * 3600.0, ge=0, description="How long the old secret still signs after rotation."
    )
    webhook_dispatch_batch: int = Field(default=500, ge=1, le=10_000)
    webhook_send_batch: int = Field(default=100, ge=1, le=10_000)
    webhook_concurrency: int = Field(default=8, ge=1, le=256)
    import_max_bytes: int = Field(
        default=1024**3, ge=1, description="The largest file an import takes, in bytes."
    )
    import_max_cell_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="The largest cell (or JSON item) an import reads."
    )
    import_default_region: str = Field(
        default="US", description="Region for phone numbers written without a country code."
    )
    base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    backup_key: SecretStr | None = Field(
        default=None,
        description="Encrypts backups: 32 bytes as URL-safe base64; defaults to backup.key in "
        "the data directory (created on the first backup). Keep a copy apart from the backups.",
    )
    backup_dir: Path | None = Field(
        default=None, description="Where backups go; defaults to <data dir>/backups."
    )
    backup_schedule: str | None = Field(
        default=None,
        description="When the worker takes backups: an interval (30m, 24h, 7d) or a daily UTC "
        "time (02:30). Unset: no scheduled backups.",
    )
    backup_keep: int = Field(default=7, ge=1, description="Scheduled backups kept (newest).")
    backup_pg_bin_dir: Path | None = Field(
        default=None, description="Folder with pg_dump/pg_restore of the server's version."
    )

    @field_validator("backup_schedule")
    @classmethod
    def _check_backup_schedule(cls, value: str | None) -> str | None:
        from patron.backup.schedule import parse_schedule

        if value is None or not value.strip():
            return None
        parse_schedule(value)
        return value.strip()

    @property
    def resolved_backup_dir(self) -> Path:
        return self.backup_dir if self.backup_dir is not None else self.data_dir / "backups"

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

    @property
    def import_limits(self) -> ImportLimits:
        from patron.integration.imports_read import Limits

        return Limits(self.import_max_bytes, self.import_max_cell_bytes)

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
