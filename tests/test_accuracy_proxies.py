"""How the accuracy harness spreads its tasks across proxies; refusals come from loopback ports
nothing listens on."""

from __future__ import annotations

import openai
import pytest

from bench.accuracy.proxies import Proxies, refused
from tests.servers import unused_loopback_url

URLS = ["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1", "http://127.0.0.1:11/v1"]


def _proxies(urls: list[str], notes: list[str]) -> Proxies:
    return Proxies(urls, api_key="k", timeout=1.0, max_retries=0, progress=notes.append)


async def _refusal(proxies: Proxies) -> openai.APIConnectionError:
    """What a request to a port nothing listens on raises."""
    with proxies.lease() as proxy:
        client = proxy.client
    with pytest.raises(openai.APIConnectionError) as caught:
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    return caught.value


async def test_leases_go_to_the_proxy_with_fewest_in_flight() -> None:
    async with _proxies(URLS, []) as proxies:
        with proxies.lease() as a, proxies.lease() as b, proxies.lease() as c:
            assert {a.url, b.url, c.url} == set(URLS)  # one each before any gets a second
            with proxies.lease() as d, proxies.lease() as e:
                assert d is not e and d.in_flight == e.in_flight == 2
            with proxies.lease() as f:  # d's and e's tasks ended: one each again
                assert f.in_flight == 2
        assert a.in_flight == b.in_flight == c.in_flight == 0


async def test_ties_do_not_line_up_with_a_regular_order() -> None:
    # Two arms and two proxies: a strict alternation would send each arm to one proxy.
    async with _proxies(URLS[:2], []) as proxies:
        first_arm: list[str] = []
        for _ in range(40):
            with proxies.lease() as one, proxies.lease():
                first_arm.append(one.url)
        assert set(first_arm) == set(URLS[:2])


async def test_a_refusing_proxy_is_set_aside_but_never_the_last() -> None:
    notes: list[str] = []
    async with _proxies(
        [unused_loopback_url() + "/v1", unused_loopback_url() + "/v1"], notes
    ) as proxies:
        refusal = await _refusal(proxies)
        with proxies.lease() as one:
            pass
        proxies.failed(one, openai.APITimeoutError(request=refusal.request))
        proxies.failed(one, openai.APIConnectionError(request=refusal.request))
        assert not one.set_aside and notes == []
        proxies.failed(one, refusal)
        assert one.set_aside and len(notes) == 1 and one.url in notes[0]
        for _ in range(5):
            with proxies.lease() as other:
                assert other is not one
        proxies.failed(other, refusal)
        assert not other.set_aside and len(notes) == 1
        with proxies.lease() as last:
            assert last is other


async def test_every_client_is_closed() -> None:
    async with _proxies(URLS, []) as proxies:
        with proxies.lease() as a, proxies.lease() as b, proxies.lease() as c:
            clients = [a.client, b.client, c.client]
        assert not any(client.is_closed() for client in clients)
    assert all(client.is_closed() for client in clients)
    assert proxies.urls == URLS


async def test_refused_is_a_refused_connection_only() -> None:
    async with _proxies([unused_loopback_url() + "/v1"], []) as proxies:
        refusal = await _refusal(proxies)
    assert refused(refusal)
    assert not refused(openai.APIConnectionError(request=refusal.request))
    assert not refused(openai.APITimeoutError(request=refusal.request))
    assert not refused(ConnectionRefusedError())


def test_no_urls_is_an_error() -> None:
    with pytest.raises(ValueError):
        _proxies([], [])
