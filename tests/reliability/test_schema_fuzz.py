"""schemathesis against the proxy's own OpenAPI schema: ``POST /v1/chat/completions`` and
``GET /v1/models``, bodies both valid and invalid for the declared schema.

Checks, for every generated request: never a 5xx of the proxy's own making (a 502 / 504
would be the scripted upstream's fault, and it answers every valid call), every error in
the OpenAI envelope, every 200 a whole answer or a whole stream (or, where schemathesis
stopped reading a stream after its 20-event limit, well-formed chunks up to there).
Afterwards nothing is left open (the ``clean`` fixture of the last test).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from config.settings import load_settings
from server.app import create_app
from tests.fake_upstream import FakeUpstream
from tests.openai_wire import is_envelope, sse_data
from tests.proxies import InThreadProxy
from tests.reliability.harness import read_stream

#: Examples per operation (the figures in bench/RESULTS.md quote these).
EXAMPLES_PER_OPERATION = 150

# The schema as the app publishes it at /openapi.json (building an app runs no lifespan).
SCHEMA = schemathesis.openapi.from_dict(
    create_app(load_settings(None, upstream_base_url="http://127.0.0.1:9/v1")).openapi()
).include(path_regex=r"^/v1/(chat/completions|models)$")

#: How many generated requests each status got (kept for the figures; checked below).
SEEN: dict[int, int] = {}


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_schema_fuzz(case: Any, proxy: InThreadProxy) -> None:
    response = case.call(base_url=proxy.url, timeout=30)
    SEEN[response.status_code] = SEEN.get(response.status_code, 0) + 1
    assert response.status_code < 500 or response.status_code in (502, 504), (
        response.status_code,
        response.text[:300],
    )
    assert "Traceback" not in response.text
    content_type = response.headers.get("content-type") or [""]  # schemathesis: value lists
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if response.status_code >= 400:
        assert is_envelope(response.json()), response.text[:300]
    elif content_type.startswith("text/event-stream"):
        lines = sse_data(response.text)
        if response.stream_cut_short:
            # schemathesis reads at most 20 events of a stream (its default), then hangs up:
            # the prefix it kept must be well-formed chunks, no error among them.
            assert lines and all(is_chunk(line) for line in lines), response.text[-300:]
        else:
            assert lines and lines[-1] == "[DONE]", (repr(case.body)[:800], response.text[-300:])
            read_stream(lines)
    else:
        body = response.json()
        assert "choices" in body or body.get("object") == "list", response.text[:300]


def is_chunk(line: str) -> bool:
    """A ``chat.completion.chunk`` that is not an error."""
    try:
        chunk = json.loads(line)
    except ValueError:
        return False
    return isinstance(chunk, dict) and chunk.get("object") == "chat.completion.chunk"


def test_fuzzing_left_nothing_behind(clean: FakeUpstream, proxy: InThreadProxy) -> None:
    """After the fuzzing: 400s were generated, and the upstream and the loop are idle."""
    if not SEEN:
        pytest.skip("run together with test_schema_fuzz")
    assert SEEN.get(400, 0) > 0 and SEEN.get(200, 0) > 0, SEEN
    assert httpx.get(f"{proxy.url}/health").status_code == 200
