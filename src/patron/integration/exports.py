"""Exports: every record a caller may read, streamed in keyset batches, in four file formats.

``open_export`` checks the permission and the filters at once and returns the rows as a lazy
iterator: it reads ``BATCH_SIZE`` records at a time through the entity's scoped select (the same
scope and filters as the list API), shapes them with the entity's ``*Read`` schema and forgets
them before reading the next batch, so memory stays flat however many rows there are.

The writers stream too: CSV and JSON Lines a chunk of lines at a time, Parquet one row group per
batch, XLSX through openpyxl's write-only workbook. CSV and XLSX neutralise spreadsheet formula
injection (OWASP): a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return
gets a leading ``'``. JSON Lines and Parquet keep the data exactly as stored.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import types
import typing
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.crud import repository
from patron.crud.service import CrudService
from patron.errors import NotFound, ValidationFailed
from patron.security import audit
from patron.security.permissions import Action, Principal
from patron.security.personal import mask

BATCH_SIZE = 5_000
CHUNK_BYTES = 64 * 1024
XLSX_MAX_ROWS = 1_048_576  # Excel's limit per sheet, header included
XLSX_MAX_CELL = 32_767  # Excel's limit of characters in a cell

Format = Literal["csv", "jsonl", "parquet", "xlsx"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "parquet", "xlsx")
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
NOT_FILTERS = frozenset({"limit", "cursor"})  # list paging; an export reads everything

ColumnKind = Literal["string", "integer", "float", "boolean", "datetime", "date", "json"]


class UnknownExport(NotFound):
    code = "unknown_export"
    title = "No such export"


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind


@dataclass(frozen=True)
class Exportable:
    """An entity that can be exported: its service (resource, scope, read schema) and filters."""

    name: str
    service: CrudService[Any]
    filter_schema: type[BaseModel]

    @property
    def read_schema(self) -> type[BaseModel]:
        return self.service.read_schema

    @property
    def filter_fields(self) -> list[str]:
        return [name for name in self.filter_schema.model_fields if name not in NOT_FILTERS]

    @property
    def columns(self) -> list[Column]:
        return [
            Column(name, _kind(field.annotation))
            for name, field in self.read_schema.model_fields.items()
        ]


def _kind(annotation: Any) -> ColumnKind:
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _kind(args[0])
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "integer"
    if annotation is float:
        return "float"
    if annotation is datetime:
        return "datetime"
    if annotation is date:
        return "date"
    if annotation in (str, uuid.UUID):
        return "string"
    return "json"


def _registry() -> dict[str, Exportable]:
    from patron.activities.schemas import ActivityFilter
    from patron.activities.service import activities
    from patron.customers.schemas import CustomerFilter
    from patron.customers.service import customers
    from patron.marketing.schemas import CampaignFilter, SegmentFilter
    from patron.marketing.service import campaigns, segments
    from patron.sales.schemas import (
        DealFilter,
        OrderFilter,
        PipelineStageFilter,
        ProductFilter,
        SalesTargetFilter,
    )
    from patron.sales.service import deals, orders, pipeline_stages, products, sales_targets
    from patron.service.schemas import TicketFilter
    from patron.service.service import tickets

    entries = [
        Exportable("customers", customers, CustomerFilter),
        Exportable("products", products, ProductFilter),
        Exportable("orders", orders, OrderFilter),
        Exportable("tickets", tickets, TicketFilter),
        Exportable("activities", activities, ActivityFilter),
        Exportable("deals", deals, DealFilter),
        Exportable("pipeline_stages", pipeline_stages, PipelineStageFilter),
        Exportable("sales_targets", sales_targets, SalesTargetFilter),
        Exportable("campaigns", campaigns, CampaignFilter),
        Exportable("segments", segments, SegmentFilter),
    ]
    return {entry.name: entry for entry in entries}


_REGISTRY: dict[str, Exportable] | None = None


def exportables() -> dict[str, Exportable]:
    """Every exportable entity by name (``customers``, ``pipeline_stages``, ...)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _registry()
    return _REGISTRY


def exportable(entity: str) -> Exportable:
    found = exportables().get(entity.strip().lower().replace("-", "_"))
    if found is None:
        names = ", ".join(sorted(exportables()))
        raise UnknownExport(f"Nothing called {entity!r} can be exported; use one of {names}.")
    return found


def check_format(value: str) -> Format:
    if value not in FORMATS:
        raise ValidationFailed.field(
            "format", f"Unknown format {value!r}; use one of {', '.join(FORMATS)}.", "unknown"
        )
    return value  # type: ignore[return-value]


def parse_filters(spec: Exportable, filters: BaseModel | Mapping[str, Any] | None) -> BaseModel:
    """The entity's ``*Filter`` schema from a mapping (or a model); unknown names are refused."""
    if isinstance(filters, BaseModel):
        values = filters.model_dump(exclude_unset=True)
    else:
        values = dict(filters or {})
    for name in NOT_FILTERS & set(values):
        raise ValidationFailed.field(name, f"{name} pages a list; an export has every row.")
    try:
        return spec.filter_schema.model_validate(values)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(str(part) for part in error["loc"]) or "filter",
                "message": error["msg"],
                "code": error["type"],
            }
            for error in exc.errors(include_url=False)
        ]
        raise ValidationFailed("The export's filters are not valid.", errors=errors) from exc


@dataclass(frozen=True)
class Export:
    entity: str
    columns: list[Column]
    rows: Iterator[dict[str, Any]]


def open_export(
    session: Session,
    principal: Principal,
    entity: str,
    filters: BaseModel | Mapping[str, Any] | None = None,
    *,
    batch_size: int = BATCH_SIZE,
) -> Export:
    """Check the caller and the filters now; read the rows lazily, ``batch_size`` at a time."""
    spec = exportable(entity)
    principal.require(spec.service.resource.entity, Action.READ)
    parsed = parse_filters(spec, filters)
    sort = getattr(parsed, "sort", None) or "id"
    resource = _with_id_sort(spec)
    repository._parse_sort(resource, sort)  # an unknown sort field fails before any row
    return Export(
        entity=spec.name,
        columns=spec.columns,
        rows=_rows(session, principal, spec, parsed, sort, batch_size),
    )


def record_export(
    session: Session, principal: Principal, export: Export, format: str, filters: Mapping[str, Any]
) -> None:
    """Put the export on the audit trail: who took which records, in what format, filtered how."""
    spec = exportable(export.entity)
    audit.record(
        session,
        principal,
        action=audit.AuditAction.EXPORT,
        entity=spec.service.resource.event_name,
        detail={
            "export": export.entity,
            "format": format,
            "filters": {name: mask(name, value) for name, value in filters.items()},
        },
    )


def export_rows(
    session: Session,
    principal: Principal,
    entity: str,
    filters: BaseModel | Mapping[str, Any] | None = None,
    *,
    batch_size: int = BATCH_SIZE,
) -> Iterator[dict[str, Any]]:
    """The rows a caller may read, as JSON-ready dicts shaped by the entity's read schema."""
    return open_export(session, principal, entity, filters, batch_size=batch_size).rows


def count_rows(
    session: Session,
    principal: Principal,
    entity: str,
    filters: BaseModel | Mapping[str, Any] | None = None,
) -> int:
    """How many rows ``export_rows`` would give (for a progress bar)."""
    spec = exportable(entity)
    principal.require(spec.service.resource.entity, Action.READ)
    statement = _statement(spec, principal, parse_filters(spec, filters))
    count = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    return int(count or 0)


def _with_id_sort(spec: Exportable) -> repository.Resource[Any]:
    resource = spec.service.resource
    # Time-ordered ids: creation order, unique, and the primary key index serves the keyset.
    sort_fields = {**resource.sort_fields, "id": resource.model.id}
    return dataclasses.replace(resource, sort_fields=sort_fields, default_sort="id")


def _statement(spec: Exportable, principal: Principal, filters: BaseModel) -> Any:
    resource = spec.service.resource
    statement = repository.scoped_select(resource, principal)
    if resource.apply_filters is not None:
        statement = resource.apply_filters(statement, filters)
    return statement


def _rows(
    session: Session,
    principal: Principal,
    spec: Exportable,
    filters: BaseModel,
    sort: str,
    batch_size: int,
) -> Iterator[dict[str, Any]]:
    resource = _with_id_sort(spec)
    statement = _statement(spec, principal, filters)
    read_schema = spec.read_schema
    cursor: str | None = None
    while True:
        page = repository.page(
            session, statement, resource, sort=sort, limit=batch_size, cursor=cursor
        )
        shaped = [read_schema.model_validate(item).model_dump(mode="json") for item in page.items]
        session.expunge_all()  # forget the batch: the identity map must not grow with the export
        yield from shaped
        if not page.has_more:
            return
        cursor = page.next_cursor


# ----- cells -------------------------------------------------------------------------------------
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """OWASP CSV injection: a text cell a spreadsheet could run as a formula gets a leading '."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _text_cell(value: Any) -> Any:
    """A cell for CSV/XLSX: text neutralised, lists and objects as compact JSON."""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, list | dict):
        return neutralise(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    return value


def _names(columns: Sequence[Column] | None, first: Mapping[str, Any] | None) -> list[str]:
    if columns is not None:
        return [column.name for column in columns]
    return list(first or {})


def _peek(rows: Iterable[dict[str, Any]]) -> tuple[dict[str, Any] | None, Iterator[dict[str, Any]]]:
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return None, iterator

    def chained() -> Iterator[dict[str, Any]]:
        yield first
        yield from iterator

    return first, chained()


# ----- CSV and JSON Lines: chunks of lines ------------------------------------------------------
def iter_csv(
    rows: Iterable[dict[str, Any]], columns: Sequence[Column] | None = None
) -> Iterator[bytes]:
    """UTF-8 CSV with a header row, in chunks of about ``CHUNK_BYTES``."""
    first, rows = _peek(rows)
    names = _names(columns, first)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_csv_cell(row.get(name)) for name in names])
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _text_cell(value)


def iter_jsonl(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """One JSON object per line, values exactly as the API gives them."""
    buffer = io.StringIO()
    for row in rows:
        buffer.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
        buffer.write("\n")
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def write_csv(
    rows: Iterable[dict[str, Any]], stream: IO[bytes], columns: Sequence[Column] | None = None
) -> int:
    """Write CSV to a binary stream; returns the number of bytes."""
    return _write_chunks(iter_csv(rows, columns), stream)


def write_jsonl(
    rows: Iterable[dict[str, Any]], stream: IO[bytes], columns: Sequence[Column] | None = None
) -> int:
    return _write_chunks(iter_jsonl(rows), stream)


def _write_chunks(chunks: Iterable[bytes], stream: IO[bytes]) -> int:
    written = 0
    for chunk in chunks:
        if chunk:
            stream.write(chunk)
            written += len(chunk)
    return written


# ----- Parquet: one row group per batch ---------------------------------------------------------
def _arrow_type(kind: ColumnKind) -> Any:
    import pyarrow as pa

    return {
        "string": pa.string(),
        "integer": pa.int64(),
        "float": pa.float64(),
        "boolean": pa.bool_(),
        "datetime": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
        "json": pa.string(),
    }[kind]


def _infer_kind(value: Any) -> ColumnKind:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list | dict):
        return "json"
    return "string"


def _arrow_values(kind: ColumnKind, values: list[Any]) -> list[Any]:
    if kind == "datetime":
        return [None if value is None else datetime.fromisoformat(value) for value in values]
    if kind == "date":
        return [None if value is None else date.fromisoformat(value) for value in values]
    if kind == "json":
        return [
            None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            for value in values
        ]
    return values


def write_parquet(
    rows: Iterable[dict[str, Any]],
    stream: IO[bytes],
    columns: Sequence[Column] | None = None,
    *,
    row_group_size: int = BATCH_SIZE,
) -> int:
    """Parquet with typed columns (times as UTC timestamps, lists and objects as JSON text),
    written one row group at a time. Returns the number of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    first, rows = _peek(rows)
    if columns is None:
        columns = [Column(name, _infer_kind(value)) for name, value in (first or {}).items()]
    schema = pa.schema([pa.field(column.name, _arrow_type(column.kind)) for column in columns])
    count = 0
    with pq.ParquetWriter(stream, schema, compression="zstd") as writer:
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            arrays = [
                pa.array(
                    _arrow_values(column.kind, [row.get(column.name) for row in batch]),
                    type=schema.field(column.name).type,
                )
                for column in columns
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            batch.clear()

        for row in rows:
            batch.append(row)
            count += 1
            if len(batch) >= row_group_size:
                flush()
        if batch or count == 0:
            flush()
    return count


# ----- XLSX: openpyxl's write-only workbook -----------------------------------------------------
def _xlsx_cell(value: Any) -> Any:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    value = _text_cell(value)
    if isinstance(value, str):
        # Control characters cannot be stored in XLSX; show where they were. Excel refuses a
        # workbook with a cell over 32,767 characters, so a longer text is cut, marked with "…".
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        if len(value) > XLSX_MAX_CELL:
            value = value[: XLSX_MAX_CELL - 1] + "…"
    return value


def write_xlsx(
    rows: Iterable[dict[str, Any]],
    stream: IO[bytes],
    columns: Sequence[Column] | None = None,
    *,
    title: str = "export",
    max_rows: int = XLSX_MAX_ROWS,
) -> int:
    """A workbook with a header row; past Excel's row limit the rows go on to another sheet.
    Times stay ISO 8601 text, so no time zone is lost. Returns the number of rows."""
    from openpyxl import Workbook

    first, rows = _peek(rows)
    names = _names(columns, first)
    workbook = Workbook(write_only=True)
    sheets = 1
    sheet = workbook.create_sheet(title[:31])
    sheet.append(names)
    in_sheet = 1
    count = 0
    for row in rows:
        if in_sheet >= max_rows:
            sheets += 1
            sheet = workbook.create_sheet(f"{title[:26]} {sheets}")
            sheet.append(names)
            in_sheet = 1
        sheet.append([_xlsx_cell(row.get(name)) for name in names])
        in_sheet += 1
        count += 1
    workbook.save(stream)
    return count


WRITERS = {
    "csv": write_csv,
    "jsonl": write_jsonl,
    "parquet": write_parquet,
    "xlsx": write_xlsx,
}


def write(
    format: str,
    rows: Iterable[dict[str, Any]],
    stream: IO[bytes],
    columns: Sequence[Column] | None = None,
) -> None:
    WRITERS[check_format(format)](rows, stream, columns)


def filename(entity: str, format: str, at: datetime) -> str:
    return f"{entity.replace('_', '-')}-{at:%Y%m%dT%H%M%SZ}.{format}"
