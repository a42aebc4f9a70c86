"""Liveness (never calls upstream) and readiness (the upstream answers its model list)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse

from reasoning.llm import LLMError
from server.deps import ServicesDep

router = APIRouter()


@router.get("/health", include_in_schema=False)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", include_in_schema=False)
async def ready(services: ServicesDep) -> JSONResponse:
    try:
        await services.upstream.get_json("models")
    except LLMError as error:
        # In forward mode there is no key of ours: any HTTP answer proves connectivity.
        if services.settings.forward_client_key and error.status is not None:
            return JSONResponse({"status": "ready", "upstream": "reachable"})
        return JSONResponse({"status": "not ready", "reason": error.message}, status_code=503)
    return JSONResponse({"status": "ready"})
