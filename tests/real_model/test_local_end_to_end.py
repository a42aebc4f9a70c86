"""End to end against a real model: llama.cpp with smollm2-135m, through the proxy.

Assertions are about structure and behaviour, never the model's wording. CePO runs use
small per-step token limits (``extra_body={"cepo": ...}``) so the module finishes in a
few minutes on 2 cores; the ``cepo`` metadata must show that planning succeeded and the
refine step ran, so a run that only reached the direct-answer fallback fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from server.local_model import ManagedLlamaServer
from tests.real_model.conftest import MODEL

pytestmark = pytest.mark.real_model

QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is 12 + 30? Reply with the number."}
]

#: Per-step limits: long enough for this model to finish a short plan, short enough to be
#: quick. A plan cut off by its limit is rejected and retried (up to ``planning_m``); a
#: cooler planning temperature keeps this model's plans short, so a run rarely needs that.
#: These runs check that the whole pipeline (plans, executions, refine and final) works on
#: a real model, so they ask for the planned shape (``low`` itself samples without plans)
#: with two plans, and ``direct_on_disagreement`` off: this 135M model's two executions
#: rarely agree.
SMALL_STEPS: dict[str, Any] = {
    "plan_step": True,
    "planning_n": 2,
    "planning_m": 4,
    "direct_on_disagreement": False,
    "planning_temperature": 0.3,
    "execution_temperature": 0.25,
    "planning_max_tokens": 320,
    "execution_max_tokens": 200,
    "refine_max_tokens": 200,
    "final_max_tokens": 64,
}
#: One plan (three attempts at most) for the runs that mainly check the wire shape.
ONE_PLAN: dict[str, Any] = {**SMALL_STEPS, "planning_n": 1, "planning_m": 3}


@pytest.fixture(scope="module")
def client(proxy_url: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=proxy_url, api_key="not-needed", timeout=600, max_retries=0) as sdk:
        yield sdk


def assert_cepo_worked(cepo: Any) -> None:
    """The run planned, executed and refined: no candidate fell back to a direct answer."""
    assert isinstance(cepo, dict), cepo
    assert cepo["fallback_candidates"] == [], cepo
    assert cepo["candidates_finished"] >= 1, cepo
    stages = cepo["stage_timings"]
    for stage in ("plan", "execute", "refine", "final"):
        assert stage in stages, (stage, cepo)
    rejected = len(cepo["attempts_rejected"])
    assert rejected < cepo["config"]["planning_m"], cepo  # at least one attempt succeeded


def extra(model: Any, name: str) -> Any:
    return (model.model_extra or {}).get(name)


# -- the build works: llama.cpp answers, directly -----------------------------------------


async def test_managed_server_completes_a_chat_with_the_real_model(model_path: str) -> None:
    # The first thing that breaks with a CPU-unsafe build (AMX): the first completion.
    async with (
        ManagedLlamaServer(Path(model_path), alias=MODEL, n_ctx=8192) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=120, trust_env=False) as http,
    ):
        listing = (await http.get("/models")).json()
        assert [card["id"] for card in listing["data"]] == [MODEL]

        body = {"model": MODEL, "messages": QUESTION, "max_tokens": 8, "temperature": 0}
        reply = (await http.post("/chat/completions", json=body)).raise_for_status().json()
        assert reply["choices"][0]["message"]["content"].strip()
        assert reply["choices"][0]["finish_reason"] in {"stop", "length"}
        assert reply["usage"]["completion_tokens"] >= 1

        pieces: list[str] = []
        async with http.stream(
            "POST", "/chat/completions", json={**body, "stream": True}
        ) as stream:
            stream.raise_for_status()
            async for line in stream.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    for choice in json.loads(line[6:])["choices"]:
                        pieces.append(choice["delta"].get("content") or "")
        assert "".join(pieces).strip()


# -- pass-through through the proxy ----------------------------------------------------------


def test_models_lists_the_local_model_and_its_cepo_twin(client: OpenAI) -> None:
    ids = {model.id for model in client.models.list()}
    assert {MODEL, f"cepo-{MODEL}"} <= ids


def test_passthrough_chat(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        max_tokens=16,
        temperature=0,
    )
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason in {"stop", "length"}
    assert reply.usage is not None and reply.usage.completion_tokens >= 1


def test_passthrough_chat_streaming(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=QUESTION,
            max_tokens=16,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)
    # llama.cpp sends no usage chunk; the proxy must still end with one.
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens >= 1


# -- CePO through the proxy --------------------------------------------------------------


def stream_cepo(
    client: OpenAI, cepo: dict[str, Any], headers: dict[str, str] | None = None
) -> list[ChatCompletionChunk]:
    stream = client.chat.completions.create(
        model=f"cepo-{MODEL}",
        messages=QUESTION,
        reasoning_effort="low",
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"cepo": cepo},
        extra_headers=headers,
    )
    with stream:
        return list(stream)  # ends only when the proxy sent [DONE] and closed


def test_cepo_verbose_streaming(client: OpenAI) -> None:
    chunks = stream_cepo(client, SMALL_STEPS)
    kinds: list[str] = []
    for chunk in chunks:
        for choice in chunk.choices:
            if extra(choice.delta, "reasoning_content"):
                kinds.append("reasoning")
            if choice.delta.content:
                kinds.append("content")
        if chunk.usage is not None:
            kinds.append("usage")
    assert "reasoning" in kinds and "content" in kinds, kinds
    assert kinds.index("reasoning") < kinds.index("content")
    assert kinds[-1] == "usage" and kinds.count("usage") == 1, kinds
    reasoning = "".join(
        extra(c.choices[0].delta, "reasoning_content") or "" for c in chunks if c.choices
    )
    assert len(reasoning.splitlines()) > 3  # whole step blocks, not status lines
    answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert answer.strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert_cepo_worked(extra(chunks[-1], "cepo"))


def test_cepo_quiet_streaming(client: OpenAI) -> None:
    chunks = stream_cepo(client, ONE_PLAN, {"X-Reasoning-Mode": "quiet"})
    statuses = [
        extra(c.choices[0].delta, "reasoning_content")
        for c in chunks
        if c.choices and extra(c.choices[0].delta, "reasoning_content")
    ]
    assert statuses
    for status in statuses:  # short status lines, one per delta
        assert status.endswith("\n") and status.count("\n") == 1, status
        assert len(status) < 300, status
    answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert answer.strip()
    assert chunks[-1].usage is not None
    assert_cepo_worked(extra(chunks[-1], "cepo"))


def test_cepo_non_streaming_carries_metadata(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model=f"cepo-{MODEL}",
        messages=QUESTION,
        reasoning_effort="low",
        extra_body={"cepo": ONE_PLAN},
    )
    message = reply.choices[0].message
    assert message.content and message.content.strip()
    assert extra(message, "reasoning_content")
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert_cepo_worked(extra(reply, "cepo"))
