"""The backup file format, the checksum definition and the schedule, without a database."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from patron.backup import checksums, container, keys, postgres
from patron.backup.errors import BackupCorrupt, BackupToolMissing, BackupWrongKey
from patron.backup.schedule import parse_schedule
from patron.config import Settings

KEY = os.urandom(32)


def write(path: Path, payload: bytes, key: bytes = KEY) -> str:
    source = path.with_suffix(".in")
    source.write_bytes(payload)
    with path.open("wb") as file:
        writer = container.BackupWriter(file, key, os.urandom(container.SALT_BYTES))
        writer.add_file("database.sqlite3", source)
        writer.add_bytes("manifest.json", b'{"a": 1}')
        return writer.close()


def read(path: Path, tmp_path: Path, key: bytes = KEY) -> dict[str, bytes]:
    out = tmp_path / f"out-{os.urandom(4).hex()}"
    out.mkdir()
    members = container.read_members(path, key, out)
    return {name: member_path.read_bytes() for name, (member_path, _) in members.items()}


def chunks(path: Path) -> list[tuple[int, int]]:
    """(offset, size) of each sealed chunk record in the file."""
    data = path.read_bytes()
    offset, found = container.HEADER.size, []
    while offset < len(data) - container.DIGEST_BYTES:
        _flag, length = container.CHUNK_HEAD.unpack_from(data, offset)
        found.append((offset, container.CHUNK_HEAD.size + length))
        offset += container.CHUNK_HEAD.size + length
    return found


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container, "CHUNK_SIZE", 4096)


def test_round_trip_over_many_chunks(tmp_path: Path, small_chunks: None) -> None:
    payload = os.urandom(100_000)  # incompressible: about 25 chunks
    path = tmp_path / "b.pbk"
    sha = write(path, payload)
    assert container.check_file_checksum(path) == sha
    assert len(chunks(path)) > 20
    assert read(path, tmp_path) == {"database.sqlite3": payload, "manifest.json": b'{"a": 1}'}
    assert payload[:64] not in path.read_bytes()


def resealed(data: bytes) -> bytes:
    """The same bytes with a correct trailer, as a forger would make them."""
    import hashlib

    body = data[: -container.DIGEST_BYTES]
    return body + hashlib.sha256(body).digest()


def test_dropped_reordered_or_cut_chunks_fail(tmp_path: Path, small_chunks: None) -> None:
    path = tmp_path / "b.pbk"
    write(path, os.urandom(50_000))
    data = path.read_bytes()
    records = chunks(path)
    header = data[: container.HEADER.size]
    parts = [data[offset : offset + size] for offset, size in records]
    trailer = data[-container.DIGEST_BYTES :]
    variants = {
        "dropped": header + b"".join(parts[:3] + parts[4:]) + trailer,
        "swapped": header + b"".join([parts[1], parts[0], *parts[2:]]) + trailer,
        "cut before the last": header + b"".join(parts[:-1]) + trailer,
    }
    for variant in variants.values():
        path.write_bytes(resealed(variant))
        with pytest.raises(BackupCorrupt):
            read(path, tmp_path)
        path.write_bytes(variant)
        with pytest.raises(BackupCorrupt, match="does not match"):
            container.check_file_checksum(path)


def test_a_changed_header_or_another_key_fails(tmp_path: Path) -> None:
    path = tmp_path / "b.pbk"
    write(path, b"hello " * 1000)
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF  # inside the salt: the header is every chunk's associated data
    path.write_bytes(resealed(bytes(data)))
    with pytest.raises(BackupCorrupt, match="cannot be decrypted"):
        read(path, tmp_path)
    write(path, b"hello")
    with pytest.raises(BackupWrongKey):
        read(path, tmp_path, key=os.urandom(32))
    path.write_bytes(b"not a backup at all, just some text that is long enough" * 3)
    with pytest.raises(BackupCorrupt, match="not a Patron backup"):
        container.check_file_checksum(path)


def test_the_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = keys.load_key(settings, create=True)
    path = tmp_path / "data" / "backup.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert keys.load_key(settings, create=False) == first
    assert len(first) == 32


def test_table_checksums_ignore_row_order_and_see_every_change() -> None:
    rows = [
        {"id": uuid.UUID(int=index), "name": f"n{index}", "at": datetime(2026, 1, 1, tzinfo=UTC)}
        for index in range(5)
    ]

    def total(items: list[dict[str, object]]) -> int:
        digests = (checksums.row_digest([row[name] for name in sorted(row)]) for row in items)
        return sum(digests) % checksums.MODULUS

    assert total(rows) == total(list(reversed(rows)))
    assert total(rows) != total([*rows, rows[0]])  # a repeated row is not cancelled out
    changed = [dict(row) for row in rows]
    changed[2]["name"] = "n2 "
    assert total(changed) != total(rows)


def test_canonical_values_agree_across_backends() -> None:
    """What SQLite hands back (naive UTC, hex text) and PostgreSQL does (aware, UUID) agree."""
    ident = uuid.uuid4()
    aware = datetime(2026, 5, 1, 12, 30, 0, 5, tzinfo=UTC)
    assert checksums.canonical(ident) == checksums.canonical(ident.hex)
    assert checksums.canonical(aware) == checksums.canonical(aware.replace(tzinfo=None))
    berlin = aware.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert checksums.canonical(berlin) == "2026-05-01T12:30:00.000005Z"
    assert checksums.row_digest([{"b": 1, "a": [1.5]}]) == checksums.row_digest(
        [{"a": [1.5], "b": 1}]
    )
    assert checksums.canonical(Decimal("1.500")) == "1.5"
    assert checksums.canonical(memoryview(b"\x00\xff")) == "00ff"


@pytest.mark.parametrize(
    ("text", "every", "daily"),
    [("24h", timedelta(hours=24), None), ("30m", timedelta(minutes=30), None),
     ("7d", timedelta(days=7), None), (" 02:30 ", None, "02:30")],
)  # fmt: skip
def test_schedules_parse(text: str, every: timedelta | None, daily: str | None) -> None:
    schedule = parse_schedule(text)
    assert schedule.every == every
    assert (schedule.daily_at.strftime("%H:%M") if schedule.daily_at else None) == daily


@pytest.mark.parametrize("text", ["daily", "0h", "24", "25:00", "2:30", "1w"])
def test_bad_schedules_are_refused_by_the_settings(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a schedule|at least 1"):
        Settings(backup_schedule=text)


def test_daily_schedule_is_due_once_per_day() -> None:
    schedule = parse_schedule("02:30")
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    assert schedule.is_due(None, now)
    assert schedule.is_due(datetime(2026, 11, 25, 2, 0, tzinfo=UTC), now)
    assert not schedule.is_due(datetime(2026, 11, 25, 2, 31, tzinfo=UTC), now)
    early = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # before today's slot: yesterday's counts
    assert not schedule.is_due(datetime(2026, 11, 24, 2, 45, tzinfo=UTC), early)
    assert schedule.is_due(datetime(2026, 11, 24, 2, 0, tzinfo=UTC), early)


def test_a_missing_pg_dump_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackupToolMissing) as caught:
        postgres.find_tool("pg_dump", 99, tmp_path)
    assert "pg_dump of PostgreSQL 99" in caught.value.detail
    assert str(tmp_path / "pg_dump") in caught.value.detail
    assert "PATRON_BACKUP_PG_BIN_DIR" in caught.value.detail


def test_the_cli_names_a_bad_schedule_and_exits_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from patron.cli.main import app

    env = {"PATRON_DATA_DIR": str(tmp_path), "PATRON_BACKUP_SCHEDULE": "daily"}
    result = CliRunner().invoke(app, ["backup", "create"], env=env)
    assert result.exit_code == 2
    assert "PATRON_BACKUP_SCHEDULE" in result.stderr
    assert "not a schedule" in result.stderr
