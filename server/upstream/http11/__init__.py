"""A lean HTTP/1.1 transport for httpx: asyncio protocols and the httptools parser.

httpcore (with h11 and anyio) spent about 1.1 ms of CPU per upstream call; this transport
does the same work in a fraction of that (issue 7). The app keeps its one
``httpx.AsyncClient``; only its ``transport=`` is a :class:`LeanTransport`.

Contract of ``LeanTransport(*, max_connections, keepalive_expiry=5.0, ssl_context=None)``:

* ``handle_async_request(request) -> httpx.Response`` speaks HTTP/1.1 to ``http`` and
  ``https`` origins (TLS with ``ssl_context``, or ``httpx.create_ssl_context()`` built on
  the first https request); other schemes raise ``httpx.UnsupportedProtocol``. Sockets use
  TCP_NODELAY.
* Pool: per origin ``(scheme, host, port)``, idle kept-alive connections are reused most
  recently used first; at most ``max_connections`` exist in total. Idle connections closed
  by the server, or idle for ``keepalive_expiry`` seconds, are closed, never reused. Waiting
  for a free connection is bounded by ``timeout["pool"]`` (``httpx.PoolTimeout``);
  connecting by ``timeout["connect"]`` (``httpx.ConnectTimeout``); a refused or unreachable
  origin raises ``httpx.ConnectError``. Costs are O(1) in the number of connections.
* The request goes out as ``request.headers.raw`` from httpx (one write of head + body for a
  byte body; a streamed body uses chunked encoding when httpx chose it). Writes wait for
  flow control, bounded by ``timeout["write"]`` (``httpx.WriteTimeout``).
* The response is returned as soon as its head is parsed (1xx interim responses skipped),
  with ``extensions={"http_version": b"HTTP/1.1", "reason_phrase": ...}``. Its stream
  yields the body bytes available at each wake-up (chunked encoding decoded; gzip is left
  to httpx) and stops reading the socket while more than 256 KiB wait to be consumed.
  ``timeout["read"]`` bounds each wait for data (``httpx.ReadTimeout``); ``None`` waits
  forever.
* Errors are httpx exceptions only: EOF before any response byte raises
  ``RemoteProtocolError("Server disconnected without sending a response.")``; EOF in the
  body raises ``RemoteProtocolError``; a reset raises ``ReadError``; a malformed response
  raises ``RemoteProtocolError``.
* Closing the response stream after the complete message returns the connection to the pool
  when both sides allow keep-alive. Closing it earlier, any error, or cancellation at any
  point (including while waiting for the head) closes the socket at once, so the upstream
  sees the disconnect, and frees the slot. No background task is ever started.
* ``aclose()`` closes every connection (in-flight response streams then fail with
  ``ReadError``); later requests raise ``RuntimeError``.

Not supported: HTTP/2, proxies, ``Expect: 100-continue`` (the body is sent without waiting
for the interim response), protocol upgrades (``RemoteProtocolError``), retries of requests
on stale connections (a keep-alive connection the server closes while the request is
underway fails with ``RemoteProtocolError``; keep ``keepalive_expiry`` below the upstream's
idle timeout). Responses to HEAD have an empty body and their connection is not reused.
"""

from __future__ import annotations

from server.upstream.http11.transport import LeanTransport

__all__ = ["LeanTransport"]
