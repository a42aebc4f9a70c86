"""``POST /v1/chat/completions``: CePO for ``cepo-<model>``, pass-through for the rest."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from server.body import read_json_object
from server.deps import ServicesDep
from server.errors import validation_error
from server.passthrough_api import passthrough_response
from server.protocol import ChatCompletionRequest
from server.reasoning_api import reasoning_response
from server.request_context import request_deadline, request_priority

router = APIRouter()


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    body = await read_json_object(request, settings.max_body_bytes)
    try:
        parsed = ChatCompletionRequest.model_validate(body)
    except ValidationError as error:
        raise validation_error(list(error.errors())) from None
    started = time.monotonic()
    request_priority.set(started)
    request_deadline.set(started + settings.request_timeout)
    if parsed.model.startswith(settings.model_prefix):
        return await reasoning_response(request, services, body, parsed)
    return await passthrough_response(request, services, body, parsed)
