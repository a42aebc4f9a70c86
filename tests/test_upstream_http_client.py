"""The upstream client keeps no cookies: one caller's upstream session never reaches others."""

from __future__ import annotations

import httpx
import pytest

from server.upstream.http_client import UpstreamHTTPClient


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
        UpstreamHTTPClient(cookies={"a": "b"})
    client = UpstreamHTTPClient()
    with pytest.raises(TypeError):
        client.cookies = {"a": "b"}
