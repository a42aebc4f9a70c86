"""No key ever leaves the proxy: a real ``cepo-proxy serve`` process with keys set, driven
through successes and failures (including an upstream that echoes the key it was sent),
then its logs, ``/metrics`` and every response grepped for both secrets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, aclosing
from pathlib import Path

import httpx
import pytest

from reasoning.llm import LLMError, LLMRequest
from server import passthrough
from server.protocol import ChatCompletionRequest
from server.request_context import RequestContext
from server.upstream.client import UpstreamClient
from server.upstream.llm import UpstreamLLM
from tests.fake_upstream import FakeUpstream, Fault
from tests.mock_upstream import mock_upstream_client

UPSTREAM_KEY = "sk-upstream-SECRET-7f3a9c2e"
CLIENT_KEY = "client-SECRET-b81d44f0"
SECRETS = (UPSTREAM_KEY, CLIENT_KEY, "SECRET")
CHAT = "/v1/chat/completions"
QUESTION = [{"role": "user", "content": "What is 6 times 7?"}]
START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(personality="cerebras", models=["llama"]) as fake:
        yield fake


@pytest.fixture
def proxy_process(upstream: FakeUpstream, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``(base url, log file)`` of a proxy subprocess; stopped with SIGTERM afterwards."""
    port = free_port()
    log_file = tmp_path / "proxy.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEPO_")}
    env.update(
        CEPO_UPSTREAM_BASE_URL=upstream.base_url,
        CEPO_UPSTREAM_KIND="cerebras",
        CEPO_UPSTREAM_API_KEY=UPSTREAM_KEY,
        CEPO_API_KEYS=f"other-key,{CLIENT_KEY}",
        CEPO_UPSTREAM_MAX_RETRIES="1",
        CEPO_LOG_FORMAT="json",
        CEPO_LOG_LEVEL="debug",
        CEPO_SHUTDOWN_GRACE_SECONDS="1",
        CEPO_PORT=str(port),
    )
    base = f"http://127.0.0.1:{port}"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "serve"], env=env, stdout=log, stderr=log
        )
        try:
            until = time.monotonic() + START_TIMEOUT
            while True:
                assert process.poll() is None, log_file.read_text()
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < until, "the proxy did not start"
                time.sleep(0.05)
            yield base, log_file
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def test_no_secret_in_logs_metrics_or_responses(
    proxy_process: tuple[str, Path], upstream: FakeUpstream
) -> None:
    base, log_file = proxy_process
    good = {"Authorization": f"Bearer {CLIENT_KEY}"}
    seen: list[httpx.Response] = []

    def call(method: str, path: str, **kwargs: object) -> httpx.Response:
        response = httpx.request(method, f"{base}{path}", timeout=30, **kwargs)  # type: ignore[arg-type]
        seen.append(response)
        return response

    plain = {"model": "llama", "messages": QUESTION}
    cepo = {"model": "cepo-llama", "messages": QUESTION, "reasoning_effort": "low"}
    # Rejected: no key, a near miss of the key, the key in the wrong scheme.
    for headers in (
        {},
        {"Authorization": f"Bearer {CLIENT_KEY[:-1]}"},
        {"Authorization": CLIENT_KEY},
    ):
        assert call("POST", CHAT, json=plain, headers=headers).status_code == 401
    # Accepted traffic of every kind.
    assert call("GET", "/v1/models", headers=good).status_code == 200
    assert call("POST", CHAT, json=plain, headers=good).status_code == 200
    assert call("POST", CHAT, json={**plain, "stream": True}, headers=good).status_code == 200
    assert call("POST", CHAT, json=cepo, headers=good).status_code == 200
    assert call("POST", CHAT, json={**cepo, "stream": True}, headers=good).status_code == 200
    assert all(r.headers["authorization"] == f"Bearer {UPSTREAM_KEY}" for r in upstream.requests)
    # The upstream refuses the key and echoes it, as OpenAI-compatible servers do.
    echo = f"Incorrect API key provided: {UPSTREAM_KEY}. Check your key."
    upstream.fault_for = lambda body: Fault.status(401, message=echo)
    refused = call("POST", CHAT, json=plain, headers=good)
    assert refused.status_code == 401 and "Incorrect API key provided: ***" in refused.text
    assert call("POST", CHAT, json={**plain, "stream": True}, headers=good).status_code == 401
    assert call("POST", CHAT, json=cepo, headers=good).status_code == 401
    assert call("POST", CHAT, json={**cepo, "stream": True}, headers=good).status_code == 200
    # Server errors echoing it too (retried once, then 502), and broken answers.
    upstream.fault_for = lambda body: Fault.status(500, message=f"internal: key={UPSTREAM_KEY}")
    assert call("POST", CHAT, json=plain, headers=good).status_code == 502
    upstream.fault_for = lambda body: Fault.status(
        429, retry_after=0, body={"error": {"message": UPSTREAM_KEY, "type": "rate_limit"}}
    )
    assert call("POST", CHAT, json=plain, headers=good).status_code == 429
    upstream.fault_for = lambda body: Fault.malformed_json()
    assert call("POST", CHAT, json=plain, headers=good).status_code == 502
    assert call("POST", CHAT, json={**cepo, "stream": True}, headers=good).status_code == 200
    upstream.fault_for = None
    assert call("POST", CHAT, content=b"{not json", headers=good).status_code == 400
    assert call("GET", "/nowhere", headers=good).status_code == 404
    metrics = call("GET", "/metrics", headers=good)
    assert "cepo_proxy_upstream_errors_total" in metrics.text

    for response in seen:
        exposed = response.text + json.dumps(dict(response.headers))
        for secret in SECRETS:
            assert secret not in exposed, (response.request.url, exposed)

    # Give the last access-log lines a moment to be written, then read the whole log.
    until = time.monotonic() + 5
    while log_file.read_text().count('"cepo_proxy.access"') < len(seen) - 1:
        assert time.monotonic() < until, log_file.read_text()
        time.sleep(0.05)
    log = log_file.read_text()
    for secret in SECRETS:
        assert secret not in log
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "cepo_proxy.access"]
    assert len(access) == len(seen) - 1  # every request but the /metrics scrape
    assert {line["status"] for line in access} >= {200, 400, 401, 404, 429, 502}
    for line in access:
        assert {"request_id", "duration_ms", "upstream_calls", "outcome"} <= set(line)
        assert "prompt" not in line and "answer" not in line


# -- paths the scripted upstream cannot take: a key echoed inside a 200 answer ----------------
def upstream_answering(body: bytes, content_type: str) -> UpstreamClient:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    return mock_upstream_client(answer, api_key=UPSTREAM_KEY, base_url="http://upstream.invalid/v1")


ECHOED_ERROR = json.dumps({"error": {"message": f"Incorrect API key provided: {UPSTREAM_KEY}"}})
REQUEST = LLMRequest(model="m", messages=[{"role": "user", "content": "hi"}])


async def test_an_error_inside_a_200_answer_is_scrubbed() -> None:
    client = upstream_answering(ECHOED_ERROR.encode(), "application/json")
    async with client.http:
        with pytest.raises(LLMError) as raised:
            await UpstreamLLM(
                client, metrics=client.metrics, fallback_context_length=4096
            ).complete(REQUEST, RequestContext())
        assert UPSTREAM_KEY not in str(raised.value) and "***" in raised.value.message
        relayed, raw = await passthrough.complete(
            client, {"model": "m", "messages": QUESTION}, RequestContext()
        )
        assert UPSTREAM_KEY not in json.dumps(relayed) and "***" in json.dumps(relayed)
        assert raw is not None and UPSTREAM_KEY.encode() not in raw and b"***" in raw


async def test_an_error_event_inside_a_stream_is_scrubbed() -> None:
    stream = f"data: {ECHOED_ERROR}\n\ndata: [DONE]\n\n".encode()
    client = upstream_answering(stream, "text/event-stream")
    async with client.http:
        llm = UpstreamLLM(client, metrics=client.metrics, fallback_context_length=4096)
        with pytest.raises(LLMError) as raised:
            async with aclosing(llm.stream(REQUEST, RequestContext())) as events:
                async for _ in events:
                    pass
        assert UPSTREAM_KEY not in str(raised.value) and "***" in raised.value.message
        parsed = ChatCompletionRequest.model_validate({"model": "m", "messages": QUESTION})
        emitted: list[bytes] = []

        async def emit(data: bytes) -> None:
            emitted.append(data)

        async with AsyncExitStack() as resources:
            produce = await passthrough.open_stream(
                client,
                {"model": "m", "messages": QUESTION, "stream": True},
                parsed,
                RequestContext(),
                resources,
            )
            await produce(emit)  # relayed as it came (the client sees the error event)
        relayed = b"".join(emitted)
        assert UPSTREAM_KEY.encode() not in relayed and b"***" in relayed
