"""Reading a JSON request body safely: size-limited before it is in memory, then parsed."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.requests import Request

from server.errors import ProxyError

#: A JSON escape of a UTF-16 surrogate; only bodies holding one need the full check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


#: Strict JSON: no NaN / Infinity (Python's parser accepts them, encoders refuse them).
#: One decoder for every request: ``json.loads`` with hooks builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)


def _has_lone_surrogate(text: str, data: Any) -> bool:
    """True when a string in ``data`` holds an unpaired surrogate (``"\\ud800"``), which
    no UTF-8 encoder can write back out."""
    if not _SURROGATE_ESCAPE.search(text):
        return False
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _too_large(limit: int) -> ProxyError:
    return ProxyError(
        413,
        f"request body is larger than the limit of {limit} bytes",
        code="request_too_large",
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body; 413 past ``limit`` bytes (refused before they are in memory)."""
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
    return b"".join(chunks)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """``raw`` as a strict JSON object (UTF-8, no NaN or infinities, no lone surrogates);
    a 400 :class:`ProxyError` for anything else."""
    try:
        text = raw.decode("utf-8")
        data = _DECODER.decode(text)
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
    if _has_lone_surrogate(text, data):
        raise ProxyError(
            400, "request body holds an unpaired UTF-16 surrogate escape", code="invalid_json"
        )
    return data
