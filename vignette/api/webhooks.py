"""The webhook routes, `/api/webhooks`: the outbox's deliveries, and sending one again."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from vignette.api.dependencies import System
from vignette.api.openapi import error_answer
from vignette.system.webhooks import WebhookDelivery

MAX_LIST_LIMIT = 500
DeliveryStatus = Literal["pending", "sending", "delivered", "failed"]

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


class DeliveryOut(BaseModel):
    id: str  # the `webhook-id` of every attempt
    type: str
    story_id: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryOut:
        return cls.model_validate(delivery, from_attributes=True)


class EndpointOut(BaseModel):
    # Only the host: the URL's path or query may carry a receiver's token.
    host: str | None
    disabled: bool
    disabled_at: datetime | None
    reason: str | None


class DeliveryList(BaseModel):
    endpoint: EndpointOut
    deliveries: list[DeliveryOut]


@router.get("/deliveries", summary="Webhook events, newest first, with their attempts")
def list_deliveries(
    system: System,
    status: Annotated[DeliveryStatus | None, Query(description="only events in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 50,
) -> DeliveryList:
    hooks = system.webhooks
    disabled = hooks.endpoint_disabled()
    endpoint = EndpointOut(
        host=urlsplit(hooks.url).hostname if hooks.url else None,
        disabled=disabled is not None,
        disabled_at=None if disabled is None else disabled.disabled_at,
        reason=None if disabled is None else disabled.reason,
    )
    listed = [DeliveryOut.of(delivery) for delivery in hooks.list(status, limit)]
    return DeliveryList(endpoint=endpoint, deliveries=listed)


@router.post(
    "/deliveries/{event_id}/retry",
    status_code=202,
    summary="Send a webhook event again now, with the same webhook-id",
    description="Also enables the endpoint again if a 410 answer disabled it.",
    responses={
        404: error_answer("No webhook event has this id"),
        409: error_answer("The event is being sent right now"),
    },
)
def retry_delivery(system: System, event_id: str) -> DeliveryOut:
    retried = system.webhooks.retry(event_id)
    if retried is not None:
        return DeliveryOut.of(retried)
    if system.webhooks.get(event_id) is None:
        raise HTTPException(404, f"no webhook event has the id {event_id!r}")
    raise HTTPException(409, f"webhook event {event_id} is being sent right now")
