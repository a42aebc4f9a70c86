"""Errors as values in the OpenAI envelope: ``{"error": {"message", "type", "param", "code"}}``.

Every failure a client sees goes through :class:`ProxyError`; handlers installed by
:func:`install_error_handlers` turn framework errors (404, 405, validation) and
anything unexpected into the same envelope, never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from reasoning.errors import DeadlineExceeded
from reasoning.llm import LLMError, LLMTimeout

logger = logging.getLogger("cepo_proxy.errors")


class ProxyError(Exception):
    """An error to answer with: HTTP status plus the OpenAI error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.error_type, self.param, self.code)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def from_llm_error(error: LLMError) -> ProxyError:
    """Map an upstream failure to what the client sees.

    The upstream's own 4xx keeps its status (the client's request was wrong);
    upstream 5xx and connection failures are 502; timeouts and the request's
    deadline passing with no answer are 504.
    """
    if isinstance(error, LLMTimeout | DeadlineExceeded):
        return ProxyError(504, error.message, error_type="timeout", code=error.code or "timeout")
    status = error.status
    if status is not None and 400 <= status < 500:
        return ProxyError(
            status,
            error.message,
            error_type=error.error_type,
            param=error.param,
            code=error.code,
        )
    return ProxyError(
        502, error.message, error_type=error.error_type or "upstream_error", code=error.code
    )


def first_error(error: BaseException) -> BaseException:
    """The first leaf of an exception group (``TaskGroup`` wraps what its tasks raise)."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _validation_param(location: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in location if p != "body"]
    if not parts:
        return None
    text = parts[0]
    for part in parts[1:]:
        text += f"[{part}]" if part.isdigit() else f".{part}"
    return text


def validation_error(errors: list[Any]) -> ProxyError:
    """A 400 naming the first invalid field, from pydantic's error list."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    param = _validation_param(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid request"))
    if param:
        message = f"{param}: {message}"
    return ProxyError(400, message, param=param, code="invalid_value")


def error_response(exc: Exception) -> Response:
    """The response for an exception a handler raised: the OpenAI envelope for ours and
    the framework's, a 499 for a client that left mid-body, a logged 500 for the rest."""
    if isinstance(exc, ProxyError):
        return exc.response()
    if isinstance(exc, RequestValidationError):
        return validation_error(list(exc.errors())).response()
    if isinstance(exc, StarletteHTTPException):
        kinds = {404: "not_found_error", 405: "invalid_request_error"}
        codes = {404: "not_found", 405: "method_not_allowed"}
        return ProxyError(
            exc.status_code,
            str(exc.detail),
            error_type=kinds.get(exc.status_code, "invalid_request_error"),
            code=codes.get(exc.status_code),
            headers=dict(exc.headers or {}),
        ).response()
    if isinstance(exc, ClientDisconnect):
        # The client left while its body was being read: not an error of ours, and no
        # one is there to read an answer (499, nginx's "client closed request").
        logger.info("client disconnected before its request body was read")
        return Response(status_code=499)
    logger.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return ProxyError(
        500, "internal error", error_type="server_error", code="internal_error"
    ).response()


def install_error_handlers(app: FastAPI) -> None:
    """Answer every framework error in the OpenAI envelope (see :func:`error_response`)."""

    async def handle(_: Request, exc: Exception) -> Response:
        return error_response(exc)

    for kind in (
        ProxyError,
        StarletteHTTPException,
        RequestValidationError,
        ClientDisconnect,
        Exception,
    ):
        app.add_exception_handler(kind, handle)
