"""The upstream HTTP client: no cookies, one request builder, outbound proxies, encodings."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from starlette.types import Receive, Scope, Send

from config.upstream_kinds import KINDS
from server.metrics import Metrics
from server.request_context import RequestContext
from server.upstream.client import UpstreamClient
from server.upstream.http_client import UpstreamHTTPClient, upstream_proxy, upstream_transport
from server.upstream.limiter import FairLimiter
from tests.conftest import ProxyFactory
from tests.fake_upstream import FakeUpstream
from tests.forward_proxy import forward_proxy
from tests.mock_upstream import mock_upstream_client
from tests.servers import serve_in_thread

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def real_client(base_url: str, *, api_key: str | None = None) -> UpstreamClient:
    """An UpstreamClient on the production transport (aiohttp under httpx)."""
    transport = upstream_transport(base_url, max_connections=8, keepalive_expiry=4.0)
    return UpstreamClient(
        UpstreamHTTPClient(transport=transport, timeout=httpx.Timeout(5.0)),
        base_url=base_url,
        api_key=api_key,
        kind=KINDS["openai"],
        limiter=FairLimiter(4),
        max_retries=0,
        metrics=Metrics("openai"),
    )


async def test_cookies_set_by_an_upstream_are_never_sent_back() -> None:
    seen: list[str | None] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(
            200, json={"ok": True}, headers={"set-cookie": "session=alice; Path=/"}
        )

    async with UpstreamHTTPClient(transport=httpx.MockTransport(upstream)) as client:
        for _ in range(3):
            response = await client.post("http://127.0.0.1:9/v1/chat/completions", json={})
            assert response.headers["set-cookie"] == "session=alice; Path=/"
        assert not client.cookies
    assert seen == [None, None, None]


async def _cookie_setter(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body", False):
        pass
    cookie = dict(scope["headers"]).get(b"cookie", b"")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"set-cookie", b"s=alice")],
        }
    )
    await send(
        {"type": "http.response.body", "body": json.dumps({"cookie": cookie.decode()}).encode()}
    )


@pytest.fixture
def cookie_upstream() -> Iterator[str]:
    with serve_in_thread(_cookie_setter) as base:
        yield f"{base}/v1"


async def test_the_real_transport_keeps_no_cookies_either(cookie_upstream: str) -> None:
    client = real_client(cookie_upstream)
    async with client.http:
        for _ in range(3):
            data, _ = await client.post_json("chat/completions", {"model": "m"}, RequestContext())
            assert data == {"cookie": ""}


def test_cookies_cannot_be_configured() -> None:
    with pytest.raises(TypeError):
        UpstreamHTTPClient(
            transport=httpx.MockTransport(lambda _: httpx.Response(204)), cookies={"a": "b"}
        )
    client = UpstreamHTTPClient(transport=httpx.MockTransport(lambda _: httpx.Response(204)))
    with pytest.raises(TypeError):
        client.cookies = {"a": "b"}


async def test_get_and_post_come_from_one_builder() -> None:
    """Both carry the client's defaults, the key that applies (the caller's own when
    forwarded) and the client's timeouts; the POST carries its JSON body."""
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"choices": [], "data": []})

    timeout = httpx.Timeout(connect=1.5, read=7.0, write=7.0, pool=2.5)
    client = mock_upstream_client(upstream, api_key="sk-upstream", timeout=timeout)
    forwarded = RequestContext(forwarded_key="sk-caller")
    async with client.http:
        await client.post_json("chat/completions", {"model": "m", "text": "héllo"}, forwarded)
        await client.get_json("models")
    post, get = seen
    assert post.method == "POST" and get.method == "GET"
    assert post.url == "http://127.0.0.1:9/v1/chat/completions"
    assert get.url == "http://127.0.0.1:9/v1/models"
    assert json.loads(post.content) == {"model": "m", "text": "héllo"}
    assert post.headers["content-type"] == "application/json"
    assert post.headers["authorization"] == "Bearer sk-caller"
    assert get.headers["authorization"] == "Bearer sk-upstream"
    for request in seen:
        assert request.headers["accept"] == "application/json"
        assert request.headers["user-agent"].startswith("python-httpx/")
        assert request.extensions["timeout"] == timeout.as_dict()


@pytest.mark.parametrize("encoding", [None, "gzip"])
async def test_a_json_answer_is_read_whole_encoded_or_not(encoding: str | None) -> None:
    answer = {"choices": [{"message": {"content": "x" * 5000}}]}
    raw = json.dumps(answer).encode()

    def upstream(_: httpx.Request) -> httpx.Response:
        if encoding is None:
            return httpx.Response(200, content=raw)
        return httpx.Response(
            200, content=gzip.compress(raw), headers={"content-encoding": encoding}
        )

    client = mock_upstream_client(upstream)
    async with client.http:
        data, content = await client.post_json("chat/completions", {"model": "m"}, RequestContext())
    assert data == answer
    assert content == raw


# -- outbound proxies -------------------------------------------------------------------------
def test_the_environment_names_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTP_PROXY", "proxy.example:8080")
    assert upstream_proxy("https://api.cerebras.ai/v1") == "http://proxy.example:3128"
    assert upstream_proxy("http://vllm.internal:8000/v1") == "http://proxy.example:8080"
    monkeypatch.setenv("NO_PROXY", "internal,.cerebras.ai")
    assert upstream_proxy("https://api.cerebras.ai/v1") is None
    assert upstream_proxy("http://vllm.internal:8000/v1") is None
    assert upstream_proxy("http://other.example/v1") == "http://proxy.example:8080"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "localhost", "[::1]"])
def test_a_loopback_upstream_never_goes_through_a_proxy(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:8080")
    monkeypatch.setenv("ALL_PROXY", "http://proxy.example:8080")
    assert upstream_proxy(f"http://{host}:8000/v1") is None


async def test_calls_go_through_the_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        FakeUpstream(models=["m"]) as fake,
        forward_proxy(httpx.URL(fake.base_url).port or 80) as proxy,
    ):
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        client = real_client("http://upstream.test/v1", api_key="sk-upstream")
        context = RequestContext()
        async with client.http:
            data, _ = await client.post_json(
                "chat/completions",
                {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                context,
            )
            assert data["choices"][0]["message"]["content"]
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
            async with client.stream("chat/completions", body, context) as response:
                streamed = b"".join([piece async for piece in response.aiter_bytes()])
            assert streamed.endswith(b"data: [DONE]\n\n")
            listing = await client.get_json("models", context)
            assert listing["data"][0]["id"] == "m"
    assert proxy.targets == [
        "http://upstream.test/v1/chat/completions",
        "http://upstream.test/v1/chat/completions",
        "http://upstream.test/v1/models",
    ]
    assert [r.headers.get("authorization") for r in fake.requests] == ["Bearer sk-upstream"] * 3


def test_the_proxy_app_reaches_its_upstream_through_the_proxy(
    make_proxy: ProxyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        FakeUpstream(models=["m"]) as fake,
        forward_proxy(httpx.URL(fake.base_url).port or 80) as proxy,
    ):
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        base = make_proxy(upstream_base_url="http://upstream.test/v1", upstream_kind="openai")
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        with httpx.Client(timeout=10, trust_env=False) as http:
            response = http.post(f"{base}/v1/chat/completions", json=body)
        assert response.status_code == 200
    assert proxy.targets == ["http://upstream.test/v1/chat/completions"]


@pytest.fixture
def tls_upstream(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """``(port, CA file)`` of an HTTPS upstream on loopback whose certificate names
    ``upstream.test``, issued by a test CA (trustme)."""
    ca = trustme.CA()
    issued = ca.issue_cert("upstream.test")
    key, cert, ca_file = tmp_path / "key.pem", tmp_path / "cert.pem", tmp_path / "ca.pem"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    ca.cert_pem.write_to_path(str(ca_file))
    with serve_in_thread(_cookie_setter, ssl_keyfile=str(key), ssl_certfile=str(cert)) as base:
        yield httpx.URL(base).port or 443, ca_file


async def test_https_calls_tunnel_through_the_environment_proxy(
    monkeypatch: pytest.MonkeyPatch, tls_upstream: tuple[int, Path]
) -> None:
    port, ca_file = tls_upstream
    with forward_proxy(port) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        client = real_client("https://upstream.test/v1")
        async with client.http:
            for _ in range(2):
                data, _ = await client.post_json(
                    "chat/completions", {"model": "m"}, RequestContext()
                )
                assert data == {"cookie": ""}
    assert proxy.targets == ["upstream.test:443"]  # one tunnel, kept alive for both calls
