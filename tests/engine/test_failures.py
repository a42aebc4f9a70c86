"""Runs that cannot answer: every candidate failed, or no user message."""

from __future__ import annotations

import pytest

from reasoning.config import CePOConfig
from reasoning.errors import InvalidConversation, ReasoningFailed
from reasoning.llm import LLMError
from tests.engine.helpers import collect, request
from tests.engine.scripted_client import ScriptedClient


async def test_all_candidates_failing_raises_reasoning_failed_with_last_error() -> None:
    client = ScriptedClient(latency=0.002)
    client.on("final", lambda call: LLMError("overloaded", status=529, code="busy"))
    with pytest.raises(ReasoningFailed) as caught:
        await collect(client, request())
    assert caught.value.status == 529
    assert caught.value.code == "busy"
    assert "overloaded" in caught.value.message
    assert client.count("rate") == 0


async def test_everything_failing_tries_the_fallback_then_raises() -> None:
    client = ScriptedClient(latency=0.001)
    error = LLMError("down", status=503)
    for step in ("plan", "fallback"):
        client.on(step, lambda call: error)
    with pytest.raises(ReasoningFailed) as caught:
        await collect(client, request(CePOConfig(bestofn_n=2, planning_n=1, planning_m=2)))
    assert caught.value.status == 503
    assert client.count("plan") == 4
    assert client.count("fallback") == 2


async def test_no_user_message_is_an_invalid_conversation() -> None:
    client = ScriptedClient()
    with pytest.raises(InvalidConversation) as caught:
        await collect(client, request(messages=[{"role": "system", "content": "hi"}]))
    assert caught.value.status == 400
    assert client.calls == []
