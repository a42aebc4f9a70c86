"""``GET /metrics``: the Prometheus exposition of this process."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from server.deps import ServicesDep
from server.metrics import CONTENT_TYPE

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE)
