"""``POST /v1/chat/completions``: CePO for ``cepo-<model>``, pass-through for the rest."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from server.body import read_json_object
from server.deps import services_of
from server.errors import error_response, validation_error
from server.passthrough_api import passthrough_response
from server.protocol import ChatCompletionRequest
from server.reasoning_api import reasoning_response
from server.request_context import context_of

router = APIRouter()
PATH = "/v1/chat/completions"


def _inline_refs(schema: Any, defs: dict[str, Any]) -> Any:
    """``schema`` with every ``#/$defs/...`` reference replaced by its definition (the
    wire models are not recursive), so it stands alone inside an OpenAPI operation."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inline_refs(value, defs) for key, value in schema.items() if key != "$defs"}
    if isinstance(schema, list):
        return [_inline_refs(item, defs) for item in schema]
    return schema


def _request_body_doc() -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of the route. Documentation only: the body is read and
    validated by the handler itself (size limit first), so behaviour does not depend on it."""
    schema = ChatCompletionRequest.model_json_schema()
    body = _inline_refs(schema, schema.get("$defs", {}))
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}


@router.post(PATH, response_model=None, openapi_extra=_request_body_doc())
async def chat_completions(request: Request) -> Response:
    services = services_of(request)
    settings = services.settings
    body = await read_json_object(request, settings.max_body_bytes)
    try:
        parsed = ChatCompletionRequest.model_validate(body)
    except ValidationError as error:
        raise validation_error(list(error.errors())) from None
    context = context_of(request.scope)
    context.start_deadline(settings.request_timeout)
    if parsed.model.startswith(settings.model_prefix):
        return await reasoning_response(request, services, context, body, parsed)
    return await passthrough_response(request, services, context, body, parsed)


async def serve(scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /v1/chat/completions`` as a bare ASGI app, for :class:`server.app.ProxyApp`:
    the same handler as the route above, errors answered by :func:`error_response` as
    FastAPI's handlers would."""
    request = Request(scope, receive, send)
    try:
        response = await chat_completions(request)
    except Exception as error:
        response = error_response(error)
    await response(scope, receive, send)


def is_chat(scope: Scope) -> bool:
    """Whether ``scope`` is a chat completion request (what :func:`serve` answers)."""
    return bool(scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST")
