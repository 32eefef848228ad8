"""Reading import files a row at a time: CSV, XLSX, JSON, JSON Lines and Parquet.

Every reader streams: CSV and JSON Lines a line at a time, a JSON array one object at a time,
XLSX through openpyxl's read-only mode, Parquet one record batch at a time. A file that cannot be
read at all raises ``ImportFileError`` with a message a person can act on; a row that is merely
wrong (ragged, undecodable bytes) comes out with a ``problem`` and ends in the error file.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from patron.errors import ValidationFailed

FORMATS = ("csv", "xlsx", "json", "jsonl", "parquet")
SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
SAMPLE_BYTES = 1024 * 1024
SNIFF_CHARS = 64 * 1024
READ_CHARS = 64 * 1024
PARQUET_BATCH = 1_000
ZIP_MAX_RATIO = 100  # a sheet's XML compresses well, but not a hundred to one
ZIP_RATIO_FLOOR = 16 * 1024 * 1024  # small members may compress as well as they like


class ImportFileError(ValidationFailed):
    """The file as a whole cannot be imported (format, encoding, size, structure)."""

    code = "import_file_invalid"
    title = "The file cannot be imported"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[{"field": "file", "message": detail, "code": self.code}])


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 1024**3
    max_cell_bytes: int = 1024 * 1024


@dataclass
class SourceRow:
    """One data row: its 1-based number among the data rows, its cells by header, or a problem."""

    number: int
    values: dict[str, Any]
    problem: str | None = None


@dataclass
class Source:
    """An opened file: its headers (as far as known before reading) and its rows, lazily."""

    format: str
    headers: list[str]
    rows: Iterator[SourceRow]
    closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for closer in self.closers:
            closer.close()


def detect_format(file_name: str, declared: str | None = None) -> str:
    if declared:
        if declared not in FORMATS:
            raise ImportFileError(f"Unknown format {declared!r}; use one of {', '.join(FORMATS)}.")
        return declared
    found = SUFFIXES.get(Path(file_name).suffix.lower())
    if found is None:
        raise ImportFileError(
            f"Cannot tell the format of {Path(file_name).name!r} from its name; "
            "use .csv, .xlsx, .json, .jsonl or .parquet."
        )
    return found


def check_size(path: Path, limits: Limits) -> int:
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise ImportFileError(
            f"The file has {size:,} bytes; imports take at most {limits.max_file_bytes:,} "
            "(setting PATRON_IMPORT_MAX_BYTES)."
        )
    return size


def open_source(path: Path, format: str, limits: Limits) -> Source:
    check_size(path, limits)
    opener = {
        "csv": _open_csv,
        "xlsx": _open_xlsx,
        "json": _open_json,
        "jsonl": _open_jsonl,
        "parquet": _open_parquet,
    }[format]
    return opener(path, limits)


def count_rows(path: Path, format: str, limits: Limits) -> int:
    """How many data rows the file has (for progress); reads it once, in constant memory."""
    if format == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    source = open_source(path, format, limits)
    try:
        return sum(1 for _ in source.rows)
    finally:
        source.close()


def clean_header(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value if value is not None else "")).strip()


def _headers(raw: list[Any]) -> list[str]:
    headers = [clean_header(value) for value in raw]
    seen: dict[str, int] = {}
    for index, header in enumerate(headers):
        if not header:
            header = f"column_{index + 1}"
        if header in seen:
            raise ImportFileError(f"The column {header!r} appears twice in the header row.")
        seen[header] = index
        headers[index] = header
    return headers


def _zip_rows(
    headers: list[str], cells: Iterator[list[Any]], limits: Limits
) -> Iterator[SourceRow]:
    width = len(headers)
    for number, row in enumerate(cells, start=1):
        values = list(row)
        while len(values) > width and values[-1] in (None, ""):
            values.pop()  # trailing empty cells are not a ragged row
        problem = None
        if len(values) != width:
            problem = f"the row has {len(values)} values, the header {width} columns"
            values = (values + [None] * width)[:width]
        yield SourceRow(number, dict(zip(headers, values, strict=True)), problem)


# ----- CSV ---------------------------------------------------------------------------------------
def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without a BOM) when the bytes decode as such, else the best guess."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None or b"\x00" in sample:
        raise ImportFileError(
            "The file is not text in any encoding we recognise; is it really a CSV file? "
            "Save it as CSV (UTF-8) and try again."
        )
    return best.encoding


def _sniff(text: str) -> csv.Dialect | type[csv.Dialect]:
    try:
        dialect = csv.Sniffer().sniff(text, delimiters=",;\t|")
    except csv.Error:
        return csv.excel
    dialect.doublequote = True  # the sniffer guesses this wrongly on short samples
    return dialect


def _open_csv(path: Path, limits: Limits) -> Source:
    with path.open("rb") as raw:
        sample = raw.read(SAMPLE_BYTES)
    if not sample.strip():
        raise ImportFileError("The file is empty.")
    encoding = detect_encoding(sample)
    stream = path.open("r", encoding=encoding, errors="replace", newline="")
    try:
        dialect = _sniff(stream.read(SNIFF_CHARS))
        stream.seek(0)
        csv.field_size_limit(limits.max_cell_bytes)
        reader = csv.reader(stream, dialect, skipinitialspace=True)
        first = _next_csv(reader, limits)
        if first is None:
            raise ImportFileError("The file has no header row.")
        headers = _headers(first)
    except BaseException:
        stream.close()
        raise
    return Source("csv", headers, _csv_rows(headers, reader, encoding, limits), [stream])


def _next_csv(reader: Any, limits: Limits) -> list[str] | None:
    try:
        return next(reader, None)
    except csv.Error as exc:
        message = str(exc)
        if "field larger than field limit" in message:
            raise ImportFileError(
                f"A cell on line {reader.line_num} is larger than {limits.max_cell_bytes:,} "
                "bytes (setting PATRON_IMPORT_MAX_CELL_BYTES); is a quote left open?"
            ) from None
        if "NUL" in message:
            raise ImportFileError(
                f"Line {reader.line_num} holds a NUL byte; the file is binary, not CSV."
            ) from None
        raise ImportFileError(f"Line {reader.line_num} is not valid CSV: {message}.") from None


def _csv_rows(
    headers: list[str], reader: Any, encoding: str, limits: Limits
) -> Iterator[SourceRow]:
    def cells() -> Iterator[list[str]]:
        while (row := _next_csv(reader, limits)) is not None:
            if row:  # a blank line is not a row
                yield row

    for row in _zip_rows(headers, cells(), limits):
        if row.problem is None and any("\ufffd" in str(value) for value in row.values.values()):
            row.problem = f"the row holds bytes that are not valid {encoding}"
        yield row


# ----- XLSX --------------------------------------------------------------------------------------
def check_zip(path: Path, limits: Limits) -> None:
    """Refuse a zip bomb before openpyxl inflates anything: look at the declared sizes."""
    if not zipfile.is_zipfile(path):
        raise ImportFileError("The file is not an XLSX workbook (it is not a zip archive).")
    with zipfile.ZipFile(path) as archive:
        total = 0
        for member in archive.infolist():
            total += member.file_size
            ratio = member.file_size / max(member.compress_size, 1)
            if member.file_size > ZIP_RATIO_FLOOR and ratio > ZIP_MAX_RATIO:
                raise ImportFileError(
                    f"The workbook part {member.filename!r} would inflate {ratio:,.0f} times "
                    f"to {member.file_size:,} bytes; refusing a likely zip bomb."
                )
        if total > limits.max_file_bytes:
            raise ImportFileError(
                f"The workbook would inflate to {total:,} bytes; imports take at most "
                f"{limits.max_file_bytes:,} (setting PATRON_IMPORT_MAX_BYTES)."
            )


def _open_xlsx(path: Path, limits: Limits) -> Source:
    from openpyxl import load_workbook

    check_zip(path, limits)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise ImportFileError(f"The workbook cannot be read: {type(exc).__name__}.") from None
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        first = next(rows, None)
        if first is None:
            raise ImportFileError("The first sheet is empty.")
        headers = _headers(list(first))
    except BaseException:
        workbook.close()
        raise

    def cells() -> Iterator[list[Any]]:
        for row in rows:
            if any(value not in (None, "") for value in row):
                yield list(row)

    return Source("xlsx", headers, _zip_rows(headers, cells(), limits), [workbook])


# ----- JSON and JSON Lines -----------------------------------------------------------------------
def _objects(number: int, value: Any) -> SourceRow:
    if not isinstance(value, dict):
        return SourceRow(number, {"value": value}, "the item is not an object of named fields")
    return SourceRow(number, {clean_header(key): item for key, item in value.items()})


def _peek_headers(rows: Iterator[SourceRow]) -> tuple[list[str], Iterator[SourceRow]]:
    first = next(rows, None)
    if first is None:
        return [], iter(())

    def chained() -> Iterator[SourceRow]:
        yield first
        yield from rows

    return list(first.values), chained()


def _open_jsonl(path: Path, limits: Limits) -> Source:
    stream = path.open("rb")

    def rows() -> Iterator[SourceRow]:
        number = 0
        for line_number, line in enumerate(stream, start=1):
            if len(line) > limits.max_cell_bytes:
                raise ImportFileError(
                    f"Line {line_number} is longer than {limits.max_cell_bytes:,} bytes."
                )
            if not line.strip():
                continue
            number += 1
            try:
                yield _objects(number, json.loads(line))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield SourceRow(number, {"line": line[:200].decode("utf-8", "replace")}, str(exc))

    headers, iterator = _peek_headers(rows())
    return Source("jsonl", headers, iterator, [stream])


def _open_json(path: Path, limits: Limits) -> Source:
    stream = path.open("r", encoding="utf-8-sig", errors="strict")
    headers, iterator = _peek_headers(_json_array(stream, limits))
    return Source("json", headers, iterator, [stream])


def _json_array(stream: IO[str], limits: Limits) -> Iterator[SourceRow]:
    """The objects of a top-level JSON array, decoded one at a time from a sliding buffer."""
    decoder = json.JSONDecoder()
    buffer, position, eof = "", 0, False

    def fill() -> bool:
        nonlocal buffer, position, eof
        try:
            chunk = stream.read(READ_CHARS)
        except UnicodeDecodeError:
            raise ImportFileError("The JSON file is not UTF-8 text.") from None
        buffer, position = buffer[position:] + chunk, 0
        eof = not chunk
        return bool(chunk)

    def skip(chars: str) -> str:
        nonlocal position
        while True:
            while position < len(buffer) and buffer[position] in chars:
                position += 1
            if position < len(buffer) or not fill():
                return buffer[position : position + 1]

    if skip(" \t\r\n\ufeff") != "[":
        raise ImportFileError("A JSON import is an array of objects: [{...}, {...}].")
    position += 1
    number = 0
    while True:
        following = skip(" \t\r\n,")
        if following == "]":
            return
        if not following:
            raise ImportFileError("The JSON array is not closed with ].")
        try:
            value, end = decoder.raw_decode(buffer, position)
        except json.JSONDecodeError as exc:
            if len(buffer) - position > limits.max_cell_bytes:
                raise ImportFileError(
                    f"An item of the array is larger than {limits.max_cell_bytes:,} bytes."
                ) from None
            if not eof and fill():
                continue
            raise ImportFileError(
                f"The JSON is not valid after item {number}: {exc.msg}."
            ) from None
        if end == len(buffer) and not eof and fill():
            continue  # a number may go on in the next chunk: decode it again, whole
        position = end
        number += 1
        yield _objects(number, value)


# ----- Parquet -----------------------------------------------------------------------------------
def _open_parquet(path: Path, limits: Limits) -> Source:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise ImportFileError(f"The Parquet file cannot be read: {exc}.") from None
    headers = [clean_header(name) for name in parquet.schema_arrow.names]

    def rows() -> Iterator[SourceRow]:
        number = 0
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH):
            for record in batch.to_pylist():
                number += 1
                yield SourceRow(number, {clean_header(key): value for key, value in record.items()})

    return Source("parquet", headers, rows(), [parquet])
