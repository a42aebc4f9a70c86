"""``unless_disconnected``: work runs in the caller's task, a leaving client cancels it.

Driven with a real Starlette ``Request`` whose ``receive`` is fed by the test, as uvicorn
feeds it: nothing after the body until ``http.disconnect``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request

from server.disconnect import WATCH_AFTER, ClientDisconnected, unless_disconnected


class Client:
    """The receiving side of one request: ``leave()`` sends ``http.disconnect``."""

    def __init__(self) -> None:
        self._messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.request = Request({"type": "http", "method": "POST", "headers": []}, self._receive)

    async def _receive(self) -> dict[str, Any]:
        return await self._messages.get()

    def leave(self) -> None:
        self._messages.put_nowait({"type": "http.disconnect"})


def _other_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


async def test_the_answer_comes_back_and_no_watcher_is_left() -> None:
    client = Client()

    async def work() -> str:
        await asyncio.sleep(0.01)
        return "answer"

    assert await unless_disconnected(client.request, work()) == "answer"
    await asyncio.sleep(0)  # the cancelled watcher ends at the next loop turn
    assert _other_tasks() == set()


async def test_quick_work_starts_no_watcher_and_slow_work_one() -> None:
    client = Client()
    seen: list[int] = []

    async def work(seconds: float) -> None:
        await asyncio.sleep(seconds)
        seen.append(len(_other_tasks()))

    await unless_disconnected(client.request, work(WATCH_AFTER / 5))
    await unless_disconnected(client.request, work(WATCH_AFTER * 2))
    assert seen == [0, 1]


async def test_a_leaving_client_cancels_the_work_and_the_cancel_is_taken_back() -> None:
    client = Client()
    unwound = asyncio.Event()

    async def work() -> str:
        try:
            await asyncio.sleep(30)
        finally:
            unwound.set()
        return "never"

    asyncio.get_running_loop().call_later(0.02, client.leave)
    with pytest.raises(ClientDisconnected):
        await unless_disconnected(client.request, work())
    assert unwound.is_set()  # finished before the exception reached us
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.01)  # no stray cancellation is delivered later
    assert _other_tasks() == set()


async def test_a_timeout_around_it_stays_a_timeout() -> None:
    client = Client()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.02):
            await unless_disconnected(client.request, asyncio.sleep(30))
    await asyncio.sleep(0)
    assert _other_tasks() == set()


async def test_cancelling_the_caller_is_not_mistaken_for_a_disconnect() -> None:
    client = Client()
    started = asyncio.Event()

    async def caller() -> None:
        started.set()
        await unless_disconnected(client.request, asyncio.sleep(30))

    task = asyncio.create_task(caller())
    await started.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert _other_tasks() == set()


async def test_a_client_leaving_as_the_work_fails_gets_the_disconnect() -> None:
    client = Client()

    async def work() -> None:
        await asyncio.sleep(WATCH_AFTER + 0.03)
        raise ValueError("upstream broke")

    asyncio.get_running_loop().call_later(WATCH_AFTER + 0.01, client.leave)
    with pytest.raises(ClientDisconnected):
        await unless_disconnected(client.request, work())
