"""``POST /v1/chat/completions``: CePO for ``cepo-<model>``, pass-through for the rest.

A plain FastAPI route whose body is the wire model :class:`ChatCompletionRequest` (so the
OpenAPI document shows it). Its route class reads the body first, size-limited and parsed
as strict JSON (:mod:`server.body`), and hands FastAPI the parsed object to validate; every
error, the body's own included, goes through the app's error handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from server.body import parse_json_object, read_body
from server.deps import ContextDep, ServicesDep, get_services
from server.passthrough_api import passthrough_response
from server.protocol import ChatCompletionRequest
from server.reasoning_api import reasoning_response

PATH = "/v1/chat/completions"


class _ReadRequest(Request):
    """A request whose body was read and parsed already."""

    def __init__(self, request: Request, raw: bytes, data: dict[str, Any]) -> None:
        super().__init__(request.scope, request.receive)
        self._raw = raw
        self._data = data

    async def body(self) -> bytes:
        return self._raw

    async def json(self) -> dict[str, Any]:
        return self._data


class JSONBodyRoute(APIRoute):
    """A route whose JSON body is read by :func:`read_body` and :func:`parse_json_object`
    (limit ``CEPO_MAX_BODY_BYTES``, strict JSON) before FastAPI validates it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def read_then_handle(request: Request) -> Response:
            services = await get_services(request)
            raw = await read_body(request, services.settings.max_body_bytes)
            return await handle(_ReadRequest(request, raw, parse_json_object(raw)))

        return read_then_handle


# A body without a Content-Type is read as JSON (one labelled otherwise is refused, 400).
router = APIRouter(route_class=JSONBodyRoute, strict_content_type=False)


@router.post(PATH, response_model=None)
async def chat_completions(
    request: Request, chat: ChatCompletionRequest, services: ServicesDep, context: ContextDep
) -> Response:
    body: dict[str, Any] = await request.json()  # the client's JSON, sent on as it came
    context.start_deadline(services.settings.request_timeout)
    if chat.model.startswith(services.settings.model_prefix):
        return await reasoning_response(request, services, context, body, chat)
    return await passthrough_response(request, services, context, body, chat)
