"""The operations routes: `/healthz` for probes and `/metrics` for Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from vignette import metrics
from vignette.api.dependencies import System
from vignette.api.schemas import HealthOut, PortraitSideOut

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    summary="200 when the actors and the database answer, 503 otherwise",
    responses={503: {"model": HealthOut, "description": "Something is down"}},
)
def healthz(system: System) -> JSONResponse:
    health = system.health()
    body = HealthOut(
        status="ok" if health.ok else "unavailable",
        detail="; ".join(health.problems) or None,
        portraits=None if health.portraits is None else PortraitSideOut.of(health.portraits),
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if health.ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def prometheus_metrics() -> Response:
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
