"""Liveness (never calls upstream) and readiness (the upstream answers its model list)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from reasoning.llm import LLMError
from server.deps import ServicesDep

router = APIRouter()


_OK = b'{"status":"ok"}'


# ``response_model=None`` and ready-made responses throughout: a return annotation would make
# FastAPI build a pydantic model per route at import and validate every answer through it.
@router.get("/health", include_in_schema=False, response_model=None)
async def health() -> Response:
    return Response(_OK, media_type="application/json")


@router.get("/ready", include_in_schema=False, response_model=None)
async def ready(services: ServicesDep) -> JSONResponse:
    try:
        await services.upstream.get_json("models")
    except LLMError as error:
        # In forward mode there is no key of ours: any HTTP answer proves connectivity.
        if services.settings.forward_client_key and error.status is not None:
            return JSONResponse({"status": "ready", "upstream": "reachable"})
        return JSONResponse({"status": "not ready", "reason": error.message}, status_code=503)
    return JSONResponse({"status": "ready"})
