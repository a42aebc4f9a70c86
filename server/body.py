"""Reading a JSON request body safely: size-limited before it is in memory, then parsed."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from server.errors import ProxyError


def _too_large(limit: int) -> ProxyError:
    return ProxyError(
        413,
        f"request body is larger than the limit of {limit} bytes",
        code="request_too_large",
    )


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object; 413 past ``limit`` bytes, 400 for anything not an object."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit)
        except ValueError:
            raise ProxyError(400, "invalid Content-Length header") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        raise ProxyError(400, "request body is not valid UTF-8", code="invalid_json") from None
    except RecursionError:
        raise ProxyError(400, "request body is nested too deeply", code="invalid_json") from None
    except ValueError as error:
        raise ProxyError(
            400, f"request body is not valid JSON: {error}", code="invalid_json"
        ) from None
    if not isinstance(data, dict):
        raise ProxyError(400, "request body must be a JSON object", code="invalid_json")
    return data
