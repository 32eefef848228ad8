"""Exports: every record a caller may read, streamed in keyset batches, in four file formats.

``open_export`` checks the permission and the filters at once and returns the rows as a lazy
iterator: it reads ``BATCH_SIZE`` rows at a time through the entity's scoped select (the same
scope and filters as the list API), as plain rows of columns plus the related records its reads
load, shapes each with the entity's ``*Read`` schema and forgets the batch before reading the
next, so memory stays flat however many rows there are, and every row is what the API gives.

The writers stream too: CSV and JSON Lines a chunk of lines at a time, Parquet one row group per
batch, XLSX through openpyxl's write-only workbook. CSV and XLSX neutralise spreadsheet formula
injection (OWASP): a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return
gets a leading ``'``. JSON Lines and Parquet keep the data exactly as stored.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import operator
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import Text, func, select, type_coerce
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import RelationshipProperty, Session

from patron.crud import repository
from patron.crud.service import CrudService
from patron.errors import NotFound, ValidationFailed
from patron.security import audit, crypto
from patron.security.crypto_types import EncryptedText
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
    """The export's rows, ``batch_size`` at a time, each shaped by the entity's read schema.

    A batch is read as plain rows of the columns the schema shows, not as ORM records: building
    records (and collecting them as garbage) took more than half of an export's time. Beside
    the rows, one query per relationship the entity's reads load (a customer's insight, an
    order's lines) fetches the related records of the whole batch. The read schema then
    validates each row, as a mapping, as it would the record: a row is exactly the API's."""
    resource = _with_id_sort(spec)
    sort_key = resource.sort_fields[repository._parse_sort(resource, sort)[0]].key
    source = _source(spec)
    statement = _statement(spec, principal, filters).with_only_columns(*source.columns(sort_key))
    # model_validate and model_dump without their Python wrappers (same defaults): 3 % faster.
    validate = spec.read_schema.__pydantic_validator__.validate_python
    dump = spec.read_schema.__pydantic_serializer__.to_python
    after: tuple[Any, uuid.UUID] | None = None
    while True:
        window = repository.keyset(statement, resource, sort, after).limit(batch_size)
        # Rows made by the engine, not by the ORM's loader one column call at a time (5 % of the
        # export), on the session's own connection, so in its transaction. (Patron's sessions
        # never autoflush, so going around the ORM skips nothing.)
        rows = session.connection().execute(window).all()
        if not rows:
            return
        related = [_Related.load(session, relationship, rows) for relationship in source.related]
        session.expunge_all()  # forget the related records: the identity map must not grow
        names = rows[0]._fields
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
        for index, name in enumerate(names):
            if name in source.encrypted:
                columns[index] = _decrypt_all(source.encrypted[name], columns[index])
        # Each row is shaped when the writer asks for it, so its dicts die young: the garbage
        # collector has one batch of plain rows to keep track of, and little else.
        for values in zip(*columns, strict=True):
            record = dict(zip(names, values, strict=True))
            for found in related:
                record[found.key] = found.of(record)
            yield dump(validate(record), mode="json")
        if len(rows) < batch_size:
            return
        after = (record[sort_key], record["id"])


@dataclass(frozen=True)
class _Source:
    """Where an entity's read schema finds its values in plain rows: ``fields`` are columns of
    the model, ``related`` the relationships its reads load with a record, and ``encrypted``
    the fields read as stored and decrypted a batch at a time, with their contexts."""

    model: type[Any]
    fields: tuple[str, ...]
    related: tuple[RelationshipProperty[Any], ...]
    encrypted: dict[str, str]

    def columns(self, sort_key: str) -> list[Any]:
        """What to select: the schema's columns, the id, the sort key and the relationships'
        join keys, each labelled with its attribute's name."""
        names = dict.fromkeys(["id", sort_key, *self.fields])
        for relationship in self.related:
            names[_join_keys(relationship)[0]] = None
        return [
            type_coerce(getattr(self.model, name), Text).label(name)  # still sealed
            if name in self.encrypted
            else getattr(self.model, name).label(name)
            for name in names
        ]


_SOURCES: dict[str, _Source] = {}


def _source(spec: Exportable) -> _Source:
    """The entity's :class:`_Source`, worked out once. Refuses a read schema that would need
    more than columns and simply joined relationships (a Python property of the model, a
    relationship of a related record): its rows could silently differ from the API's."""
    if spec.name in _SOURCES:
        return _SOURCES[spec.name]
    resource = spec.service.resource
    mapper = sa_inspect(resource.model)
    wanted = set(spec.read_schema.model_fields)
    fields = tuple(prop.key for prop in mapper.column_attrs if prop.key in wanted)
    related = _loaded_relationships(resource)
    related |= {prop for prop in mapper.relationships if prop.key in wanted}
    for relationship in related:
        pairs = relationship.local_remote_pairs or []
        if relationship.secondary is not None or len(pairs) != 1:
            raise TypeError(f"{spec.name}: {relationship} does not join on one key")
        local, remote = pairs[0]
        if not relationship.primaryjoin.compare(local == remote):
            raise TypeError(f"{spec.name}: {relationship} joins on more than its key")
    for name in sorted(wanted - set(fields) - {relationship.key for relationship in related}):
        if hasattr(resource.model, name):
            raise TypeError(f"{spec.name}: {name} is neither a column nor a loaded relationship")
    source = _Source(
        model=resource.model,
        fields=fields,
        related=tuple(sorted(related, key=lambda relationship: relationship.key)),
        encrypted={
            name: mapper.columns[name].type.context
            for name in fields
            if isinstance(mapper.columns[name].type, EncryptedText)
        },
    )
    _SOURCES[spec.name] = source
    return source


def _loaded_relationships(resource: repository.Resource[Any]) -> set[RelationshipProperty[Any]]:
    """The relationships the resource's reads load with a record (its ``load_options``)."""
    found: set[RelationshipProperty[Any]] = set()
    for option in resource.load_options:
        for element in option.context:  # type: ignore[attr-defined]
            steps = [step for step in element.path.path if isinstance(step, RelationshipProperty)]
            if len(steps) > 1:
                raise TypeError(f"{resource.entity}: exports load one step, not {element.path}")
            found.update(steps)
    return found


def _join_keys(relationship: RelationshipProperty[Any]) -> tuple[str, str]:
    """(the parent's attribute, the related model's attribute) a relationship joins on."""
    [(local, remote)] = relationship.local_remote_pairs or []
    parent = relationship.parent.get_property_by_column(local).key
    return parent, relationship.mapper.get_property_by_column(remote).key


RELATED_CHUNK = 500  # parent keys per IN (...) list, as SQLAlchemy's selectinload takes them


@dataclass(frozen=True)
class _Related:
    """One relationship's records for a batch of rows, by the rows' join key: what loading the
    records with it (``selectinload``) would have put on each, in the relationship's order."""

    key: str
    local: str
    uselist: bool
    found: dict[Any, list[Any]]

    @classmethod
    def load(
        cls, session: Session, relationship: RelationshipProperty[Any], rows: Sequence[Any]
    ) -> _Related:
        local, remote = _join_keys(relationship)
        target = relationship.mapper.class_
        keys = list({getattr(row, local) for row in rows})
        found: dict[Any, list[Any]] = {}
        for start in range(0, len(keys), RELATED_CHUNK):
            chunk = keys[start : start + RELATED_CHUNK]
            statement = select(target).where(getattr(target, remote).in_(chunk))
            if relationship.order_by:
                statement = statement.order_by(*relationship.order_by)
            for record in session.scalars(statement):
                found.setdefault(getattr(record, remote), []).append(record)
        return cls(relationship.key, local, bool(relationship.uselist), found)

    def of(self, row: Mapping[str, Any]) -> Any:
        """The related records of ``row``: a list, or (one-to-one) a record or None."""
        records = self.found.get(row[self.local], [])
        if self.uselist:
            return records
        return records[0] if records else None


def _decrypt_all(context: str, stored: Sequence[str | None]) -> list[str | None]:
    """What the encrypted column type gives for each of ``stored`` (``crypto.decrypt``), with
    the keyring looked up once for the batch instead of once a value. A value under a key this
    process does not know yet (a rotation elsewhere) sends the batch the value-by-value way,
    which reloads the keyring (and raises as the column type would)."""
    decrypt = crypto.active_keyring().decrypt
    try:
        return [None if value is None else decrypt(context, value) for value in stored]
    except crypto.EncryptionKeyError:
        return [None if value is None else crypto.decrypt(context, value) for value in stored]


# ----- cells -------------------------------------------------------------------------------------
# Compact JSON text, as ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` gives;
# one encoder for every cell, not a new one per call.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """OWASP CSV injection: a text cell a spreadsheet could run as a formula gets a leading '."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _text_cell(value: Any) -> Any:
    """A cell for CSV/XLSX: text neutralised, lists and objects as compact JSON."""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, list | dict):
        return neutralise(_JSON.encode(value))
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
    """UTF-8 CSV with a header row, in chunks of about ``CHUNK_BYTES``.

    Rows go to the writer ``CSV_GROUP`` at a time, turned into columns: a column whose cells
    need nothing (numbers, empty cells, text that starts no formula), most of them, is checked
    and passed on whole, without running Python code for each cell."""
    first, rows = _peek(rows)
    names = _names(columns, first)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(names)
    cells = operator.itemgetter(*names) if len(names) > 1 else None
    rows = iter(rows)
    while group := list(itertools.islice(rows, CSV_GROUP)):
        if cells is None:  # one column or none: no transposing to do
            writer.writerows([_csv_cell(row.get(name)) for name in names] for row in group)
        else:
            by_column = zip(*[_row_cells(cells, row, names) for row in group], strict=True)
            writer.writerows(zip(*map(_csv_column, by_column), strict=True))
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


CSV_GROUP = 200  # rows written at a time: about 64 KiB of customers


def _row_cells(cells: Callable[[Any], tuple[Any, ...]], row: Any, names: list[str]) -> Any:
    """The row's values in column order (None for a missing one)."""
    try:
        return cells(row)
    except KeyError:
        return tuple(map(row.get, names))


# Cells the CSV writer takes as they are: None (written as an empty field, as "" is), numbers
# (as str() gives them), and text that cannot start a formula.
_CSV_AS_IS = frozenset({type(None), int, float})
_TEXT_OR_NONE = frozenset({type(None), str})
_FORMULA_LIKE = operator.methodcaller("startswith", FORMULA_STARTS)


def _csv_column(values: tuple[Any, ...]) -> Sequence[Any]:
    """One column of a group of rows, as the writer must get it. Most columns are only checked,
    with no Python code run per cell: their types, and whether any text could be a formula."""
    kinds = set(map(type, values))
    if kinds <= _CSV_AS_IS:
        return values
    if kinds <= _TEXT_OR_NONE and not any(map(_FORMULA_LIKE, filter(None, values))):
        return values
    return [value if type(value) in _CSV_AS_IS else _csv_cell(value) for value in values]


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
        buffer.write(_JSON.encode(row))
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
        return [None if value is None else _JSON.encode(value) for value in values]
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
    names = [column.name for column in columns]
    count = 0
    with pq.ParquetWriter(stream, schema, compression="zstd") as writer:
        batch: list[tuple[Any, ...]] = []  # each row's cells, in column order

        def flush() -> None:
            by_column = list(zip(*batch, strict=True)) or [()] * len(columns)
            arrays = [
                pa.array(
                    _arrow_values(column.kind, list(values)), type=schema.field(column.name).type
                )
                for column, values in zip(columns, by_column, strict=True)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            batch.clear()

        for row in rows:
            batch.append(tuple(map(row.get, names)))
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
