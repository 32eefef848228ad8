"""Every table, imported in one place so metadata, Alembic and the GDPR walk see them all."""

from patron.activities.models import Activity
from patron.customers.models import Customer
from patron.db.base import Base
from patron.events.models import Event, EventPrune
from patron.insights.models import AnalysisRun, AssociationRule, CustomerInsight
from patron.integration.duplicates_models import CustomerMerge, DuplicatePair
from patron.integration.etl_models import EtlRun
from patron.integration.imports_models import ImportRecord, ImportRun
from patron.integration.webhooks_models import (
    WebhookAttempt,
    WebhookCursor,
    WebhookDelivery,
    WebhookNotice,
    WebhookSubscription,
)
from patron.marketing.models import Campaign, CampaignMember, Segment, SegmentMember
from patron.privacy.models import Erasure
from patron.sales.models import Deal, Order, OrderLine, PipelineStage, Product, SalesTarget
from patron.security.audit_models import AuditEntry, AuditHead
from patron.security.models import ApiKey, Team, User, UserSession
from patron.service.models import Ticket
from patron.web.idempotency_models import IdempotentRequest
from patron.worker.models import Job

__all__ = [
    "Activity",
    "AnalysisRun",
    "ApiKey",
    "AssociationRule",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Campaign",
    "CampaignMember",
    "Customer",
    "CustomerInsight",
    "CustomerMerge",
    "Deal",
    "DuplicatePair",
    "Erasure",
    "EtlRun",
    "Event",
    "EventPrune",
    "IdempotentRequest",
    "ImportRecord",
    "ImportRun",
    "Job",
    "Order",
    "OrderLine",
    "PipelineStage",
    "Product",
    "SalesTarget",
    "Segment",
    "SegmentMember",
    "Team",
    "Ticket",
    "User",
    "UserSession",
    "WebhookAttempt",
    "WebhookCursor",
    "WebhookDelivery",
    "WebhookNotice",
    "WebhookSubscription",
]
