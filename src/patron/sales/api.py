"""Routes for products, orders, pipeline stages, deals and sales targets."""

from fastapi import APIRouter

from patron.crud.api import crud_router
from patron.sales import schemas
from patron.sales.service import deals, orders, pipeline_stages, products, sales_targets

router = APIRouter()
for service, prefix in (
    (products, "Product"),
    (orders, "Order"),
    (pipeline_stages, "PipelineStage"),
    (deals, "Deal"),
    (sales_targets, "SalesTarget"),
):
    router.include_router(
        crud_router(
            service,
            create_schema=getattr(schemas, f"{prefix}Create"),
            update_schema=getattr(schemas, f"{prefix}Update"),
            read_schema=getattr(schemas, f"{prefix}Read"),
            filter_schema=getattr(schemas, f"{prefix}Filter"),
        )
    )
