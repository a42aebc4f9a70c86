"""The upstream client keeps no cookies: one caller's upstream session never reaches others."""

from __future__ import annotations

import httpx
import pytest

from server.request_context import RequestContext
from server.upstream.http_client import UpstreamHTTPClient
from tests.mock_upstream import mock_upstream_client


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


def test_cookies_cannot_be_configured() -> None:
    with pytest.raises(TypeError):
        UpstreamHTTPClient(
            transport=httpx.MockTransport(lambda _: httpx.Response(204)), cookies={"a": "b"}
        )
    client = UpstreamHTTPClient(transport=httpx.MockTransport(lambda _: httpx.Response(204)))
    with pytest.raises(TypeError):
        client.cookies = {"a": "b"}


async def test_the_direct_post_carries_what_build_request_would() -> None:
    """``UpstreamClient`` posts through ``send_direct`` (past the client's auth, redirect and
    cookie layers): the request still has the client's default headers, JSON content, the
    key and the client's timeouts, and the response keeps its request."""
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"choices": []})

    timeout = httpx.Timeout(connect=1.5, read=7.0, write=7.0, pool=2.5)
    client = mock_upstream_client(upstream, api_key="sk-upstream", timeout=timeout)
    http = client.http
    async with http:
        data, _ = await client.post_json(
            "chat/completions", {"model": "m", "text": "héllo"}, RequestContext()
        )
        expected = http.build_request(
            "POST",
            "http://127.0.0.1:9/v1/chat/completions",
            json={"model": "m", "text": "héllo"},
            headers={"accept": "application/json", "authorization": "Bearer sk-upstream"},
        )
    assert data == {"choices": []}
    (sent,) = seen
    assert sent.url == expected.url
    assert sent.content == expected.content
    assert dict(sent.headers) == dict(expected.headers)
    assert sent.extensions["timeout"] == expected.extensions["timeout"]
    await http.aclose()
    with pytest.raises(RuntimeError):
        await http.send_direct(expected)


@pytest.mark.parametrize("encoding", [None, "gzip"])
async def test_a_json_answer_is_read_whole_encoded_or_not(encoding: str | None) -> None:
    """``post_json`` reads an unencoded body straight from the transport and leaves a
    content-encoded one to httpx's decoder: both come back as the same answer."""
    import gzip
    import json

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
