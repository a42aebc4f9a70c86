"""The app's one ``httpx.AsyncClient`` for upstream calls, without a cookie jar.

A plain client stores every ``Set-Cookie`` an upstream sends and replays it on later
calls. In a proxy those later calls are other users' requests, so a cookie set for one
caller (a session, a load balancer's stickiness) must not ride along on everyone's
calls. Parsing the cookies of every answer was also a quarter of httpx's own time per
call (issue 7). :class:`UpstreamHTTPClient` keeps none: nothing is stored, nothing sent.

The calls the proxy makes on every request (its POSTs) go out through
:meth:`UpstreamHTTPClient.send_direct`: the request is built whole by the caller and handed
to the client's transport, past the layers of ``send`` that these calls never use (auth
flow, redirects, cookies, event hooks): about a quarter of a millisecond of CPU per call.
"""

from __future__ import annotations

from typing import Any

import httpx


class _NoCookies(httpx.Cookies):
    """An empty jar that stays empty: cookies from responses are not extracted."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class UpstreamHTTPClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` whose ``cookies`` are always empty (see the module docstring)."""

    def __init__(self, *, transport: httpx.AsyncBaseTransport, **kwargs: Any) -> None:
        if "cookies" in kwargs:
            raise TypeError("UpstreamHTTPClient keeps no cookies")
        super().__init__(transport=transport, **kwargs)
        self._no_cookies = _NoCookies()
        self._direct = transport
        #: The ``timeout`` extension ``build_request`` would give a request.
        self.timeouts: dict[str, float | None] = self.timeout.as_dict()

    async def send_direct(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` as built (every header, ``extensions["timeout"]`` included) and
        return the response with its body unread (close it). No auth, no redirect is
        followed, no cookie kept, no hook run: what ``send`` would do for these calls."""
        if self.is_closed:
            raise RuntimeError("the upstream client has been closed")
        response = await self._direct.handle_async_request(request)
        response.request = request
        return response

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("UpstreamHTTPClient keeps no cookies")
