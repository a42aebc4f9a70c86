"""The app's one ``httpx.AsyncClient`` for upstream calls, without a cookie jar.

A plain client stores every ``Set-Cookie`` an upstream sends and replays it on later
calls. In a proxy those later calls are other users' requests, so a cookie set for one
caller (a session, a load balancer's stickiness) must not ride along on everyone's
calls. Parsing the cookies of every answer was also a quarter of httpx's own time per
call (issue 7). :class:`UpstreamHTTPClient` keeps none: nothing is stored, nothing sent.
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

    def __init__(self, **kwargs: Any) -> None:
        if "cookies" in kwargs:
            raise TypeError("UpstreamHTTPClient keeps no cookies")
        super().__init__(**kwargs)
        self._no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("UpstreamHTTPClient keeps no cookies")
