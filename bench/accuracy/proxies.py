"""The proxies a run spreads its requests across: one ``openai`` SDK client per base URL.

Contract of :class:`Proxies`:

* :meth:`Proxies.lease` hands out the proxy with the fewest (item, arm) tasks in flight;
  ties are broken at random (a fixed seed), so a regular order of arms cannot line up
  with the proxies and send one arm to one of them;
* a proxy that refused a connection (nothing listens there: see :func:`refused`) is set
  aside for the rest of the run while another one is left, so that a dead one cannot
  soak up the queue with instant failures; the last one is never set aside, and
  timeouts or HTTP errors set none aside;
* used as an async context manager, every client is closed on every path.

With one base URL this is exactly one client, as before.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import openai

_TIE_SEED = 0


@dataclass(slots=True, eq=False)
class Proxy:
    """One proxy of the run: its base URL, its client and its (item, arm) tasks in flight."""

    url: str
    client: openai.AsyncOpenAI
    in_flight: int = 0
    set_aside: bool = False


def refused(exc: BaseException) -> bool:
    """Whether ``exc`` is an :class:`openai.APIConnectionError` caused by a refused
    connection (nothing listens at the proxy's address).

    The chain of causes is searched for :class:`ConnectionRefusedError`, the socket's own
    error, rather than for one HTTP library's exception (the SDK's transport may change).
    """
    if not isinstance(exc, openai.APIConnectionError):
        return False
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ConnectionRefusedError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


class Proxies:
    """The run's proxies, in the order given (the first is the run record's ``base_url``)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        api_key: str,
        timeout: float,
        max_retries: int,
        progress: Callable[[str], None],
    ) -> None:
        if not urls:
            raise ValueError("at least one base URL is needed")
        self._progress = progress
        self._ties = random.Random(_TIE_SEED)
        self._proxies = [
            Proxy(
                url,
                openai.AsyncOpenAI(
                    base_url=url, api_key=api_key, timeout=timeout, max_retries=max_retries
                ),
            )
            for url in urls
        ]

    async def __aenter__(self) -> Proxies:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def urls(self) -> list[str]:
        """Every base URL, in the order given."""
        return [proxy.url for proxy in self._proxies]

    @contextlib.contextmanager
    def lease(self) -> Iterator[Proxy]:
        """The proxy for one (item, arm) task, counted in flight until the block ends."""
        usable = [proxy for proxy in self._proxies if not proxy.set_aside] or self._proxies
        fewest = min(proxy.in_flight for proxy in usable)
        proxy = self._ties.choice([proxy for proxy in usable if proxy.in_flight == fewest])
        proxy.in_flight += 1
        try:
            yield proxy
        finally:
            proxy.in_flight -= 1

    def failed(self, proxy: Proxy, exc: BaseException) -> None:
        """Note that a request to ``proxy`` raised ``exc``; sets it aside when it refused
        the connection and another proxy is still in use."""
        if proxy.set_aside or not refused(exc):
            return
        left = [other for other in self._proxies if not other.set_aside and other is not proxy]
        if not left:
            return
        proxy.set_aside = True
        self._progress(
            f"{proxy.url} refused a connection: set aside for this run; "
            f"still in use: {', '.join(other.url for other in left)}"
        )

    async def aclose(self) -> None:
        """Close every client (all of them, even when one fails to close)."""
        async with contextlib.AsyncExitStack() as stack:
            for proxy in self._proxies:
                stack.push_async_callback(proxy.client.close)
