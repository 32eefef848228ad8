"""``GET /api/v1/exports/{entity}``: a file of every record the caller may read.

One route per entity, so each documents its own filters (the list's filters, without paging).
The permission and the filters are checked before the first byte; then the rows stream from
their own read-only session, so memory stays flat whatever the size. Parquet and XLSX are
written to a spooled temporary file (in memory up to 8 MiB, then on disk) and streamed from it.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.
import tempfile
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, create_model
from sqlalchemy.orm import Session

from patron.integration import exports
from patron.kit.clock import utcnow
from patron.security.deps import CurrentPrincipal
from patron.security.permissions import Principal
from patron.types import Schema

router = APIRouter(prefix="/exports", tags=["exports"])
SPOOL_BYTES = 8 * 1024 * 1024
READ_BYTES = 256 * 1024

FORMAT_FIELD = Field(
    default="csv",
    description="csv or xlsx (formula-like text gets a leading '), jsonl or parquet (exact).",
)


def _query_model(spec: exports.Exportable) -> type[BaseModel]:
    fields: dict[str, Any] = {"format": (exports.Format, FORMAT_FIELD)}
    for name in spec.filter_fields:
        info = spec.filter_schema.model_fields[name]
        fields[name] = (info.annotation, info)
    title = "".join(part.title() for part in spec.name.split("_"))
    return create_model(f"{title}ExportQuery", __base__=Schema, **fields)


def _body(
    request: Request, principal: Principal, entity: str, format: str, filters: dict[str, Any]
) -> StreamingResponse:
    session: Session = request.app.state.db.session(write=False)
    try:
        export = exports.open_export(session, principal, entity, filters)
        with request.app.state.db.unit_of_work() as audit_session:
            exports.record_export(audit_session, principal, export, format, filters)
    except BaseException:
        session.close()
        raise

    def chunks() -> Iterator[bytes]:
        try:
            if format == "csv":
                yield from exports.iter_csv(export.rows, export.columns)
            elif format == "jsonl":
                yield from exports.iter_jsonl(export.rows)
            else:
                with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
                    exports.write(format, export.rows, spool, export.columns)  # type: ignore[arg-type]
                    session.close()
                    spool.seek(0)
                    while chunk := spool.read(READ_BYTES):
                        yield chunk
        finally:
            session.close()

    name = exports.filename(export.entity, format, utcnow())
    return StreamingResponse(
        chunks(),
        media_type=exports.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _add_route(spec: exports.Exportable) -> None:
    model = _query_model(spec)
    label = spec.name.replace("_", " ")

    def export_entity(
        request: Request,
        principal: CurrentPrincipal,
        params: Annotated[model, Query()],  # type: ignore[valid-type]
    ) -> StreamingResponse:
        filters = params.model_dump(exclude={"format"}, exclude_unset=True)  # type: ignore[attr-defined]
        return _body(request, principal, spec.name, params.format, filters)  # type: ignore[attr-defined]

    router.add_api_route(
        "/" + spec.name.replace("_", "-"),
        export_entity,
        methods=["GET"],
        summary=f"Export {label}",
        operation_id=f"export_{spec.name}",
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "The file, as an attachment.",
                "content": {media: {} for media in exports.MEDIA_TYPES.values()},
            }
        },
    )


for _spec in exports.exportables().values():
    _add_route(_spec)


@router.get("/{entity}", include_in_schema=False)
def unknown_export(entity: str, principal: CurrentPrincipal) -> None:
    exports.exportable(entity)  # raises UnknownExport (404) for anything not routed above
    raise exports.UnknownExport(f"Export {entity!r} is at /exports/{entity.replace('_', '-')}.")
