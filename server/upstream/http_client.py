"""The app's one HTTP client for upstream calls: httpx over aiohttp, without cookies.

The client is ``httpx.AsyncClient`` (so the rest of the proxy speaks httpx), its transport
httpx-aiohttp's :class:`AiohttpTransport` (aiohttp's connection pool and HTTP/1.1 parser;
aiohttp has no HTTP/2, so neither has the upstream client). ``bench/RESULTS.md`` has the
measurement behind the choice.

* **No cookies.** A plain client stores every ``Set-Cookie`` an upstream sends and replays
  it on later calls; in a proxy those later calls are other users' requests. Neither httpx's
  jar nor aiohttp's keeps anything here.
* **Outbound proxies.** ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` and ``NO_PROXY`` are
  read from the environment (lower-case names too) once, for the upstream's origin; an
  upstream on a loopback address never goes through a proxy. httpx itself ignores the
  environment's proxies once it is given a transport, so :func:`upstream_transport` applies
  them to the transport.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport


class _NoCookies(httpx.Cookies):
    """An empty jar that stays empty: cookies from responses are not extracted."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class UpstreamHTTPClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` whose ``cookies`` are always empty (see the module docstring)."""

    def __init__(self, *, transport: httpx.AsyncBaseTransport, **kwargs: Any) -> None:
        if "cookies" in kwargs:
            raise TypeError("UpstreamHTTPClient keeps no cookies")
        super().__init__(transport=transport, trust_env=False, **kwargs)
        self._no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("UpstreamHTTPClient keeps no cookies")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def upstream_proxy(base_url: str) -> str | None:
    """The outbound proxy the environment names for ``base_url``, ``None`` for a direct
    connection (no proxy set, the host matched by ``NO_PROXY``, or a loopback host)."""
    url = httpx.URL(base_url)
    if is_loopback(url.host):
        return None
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(url.host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def upstream_transport(
    base_url: str, *, max_connections: int, keepalive_expiry: float
) -> AiohttpTransport:
    """The transport for calls to ``base_url``: through the environment's proxy for it, if
    any, at most ``max_connections`` connections, idle ones closed after
    ``keepalive_expiry`` seconds."""
    proxy = upstream_proxy(base_url)
    limits = httpx.Limits(max_connections=max_connections, keepalive_expiry=keepalive_expiry)

    def session() -> aiohttp.ClientSession:
        # Built on the first call, not at start-up: a plain-HTTP upstream never needs it.
        ssl_context = httpx.create_ssl_context(trust_env=True)
        connector = aiohttp.TCPConnector(
            limit=max_connections, keepalive_timeout=keepalive_expiry, ssl=ssl_context
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return AiohttpTransport(
        limits=limits,
        proxy=httpx.Proxy(proxy) if proxy else None,
        client=session,
    )
