"""What can go wrong with a backup. The CLI prints the detail and exits 1."""

from __future__ import annotations

from patron.errors import Conflict, PatronError


class BackupError(PatronError):
    code = "backup_failed"
    title = "Backup failed"
    status = 500


class BackupKeyMissing(BackupError):
    code = "backup_key_missing"
    title = "No backup key"


class BackupKeyInvalid(BackupError):
    code = "backup_key_invalid"
    title = "The backup key is not valid"


class BackupWrongKey(BackupError):
    code = "backup_wrong_key"
    title = "The backup was made with another key"


class BackupCorrupt(BackupError):
    code = "backup_corrupt"
    title = "The backup file is damaged or was changed"


class BackupToolMissing(BackupError):
    code = "backup_tool_missing"
    title = "A PostgreSQL client tool is missing"


class BackupBackendMismatch(BackupError):
    code = "backup_backend_mismatch"
    title = "The backup is for another kind of database"


class DatabaseNotEmpty(Conflict):
    code = "database_not_empty"
    title = "The database is not empty"
