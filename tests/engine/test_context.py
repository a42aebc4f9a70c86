"""Fitting prompts into the model's context: estimates, shortening, clamping."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from reasoning.budget import (
    CUT_MARKER,
    MIN_OUTPUT_TOKENS,
    estimate_tokens,
    fit_prompt,
    shorten_middle,
)
from reasoning.config import CePOConfig
from reasoning.errors import ContextOverflow
from reasoning.events import TraceBlock
from reasoning.llm import LLMError
from tests.engine.helpers import blocks, collect, finished, request
from tests.engine.scripted_client import ScriptedCall, ScriptedClient

CONTEXT = 3000


def long_execution(call: ScriptedCall) -> str:
    return f"OPENING-{call.ordinal} " + "x = x + 1; " * 600 + f" CONCLUSION-{call.ordinal}"


def test_estimate_is_conservative_for_prose() -> None:
    messages = [{"role": "user", "content": "word " * 400}]
    assert estimate_tokens(messages) >= 2000 / 4


def test_shorten_middle_keeps_both_ends_and_marks_the_cut() -> None:
    text = "HEAD " + "middle " * 500 + " TAIL"
    short = shorten_middle(text, 400)
    assert len(short) <= 400
    assert short.startswith("HEAD")
    assert short.endswith("TAIL")
    assert "characters cut from the middle" in short
    assert shorten_middle("short", 400) == "short"


def test_fit_prompt_changes_nothing_when_it_fits_or_context_is_unknown() -> None:
    def build(pieces: Sequence[str]) -> list[dict[str, str]]:
        return [{"role": "user", "content": "".join(pieces)}]

    fitted = fit_prompt(build, ["a" * 100], 50, 1000)
    assert (fitted.max_tokens, fitted.shortened) == (50, False)
    fitted = fit_prompt(build, ["a" * 100_000], 50, None)
    assert (fitted.max_tokens, fitted.shortened) == (50, False)


def test_fit_prompt_clamps_max_tokens_and_refuses_a_prompt_that_cannot_fit() -> None:
    def build(pieces: Sequence[str]) -> list[dict[str, str]]:
        return [{"role": "user", "content": "q" * 3500}]

    fitted = fit_prompt(build, [], 4096, 2000)
    assert fitted.max_tokens == 2000 - estimate_tokens(build(()))
    with pytest.raises(ContextOverflow) as caught:
        fit_prompt(build, [], 4096, 1000 + MIN_OUTPUT_TOKENS)
    assert isinstance(caught.value, LLMError)
    assert caught.value.code == "context_length_exceeded"


async def test_refine_and_rating_get_shortened_executions_that_fit() -> None:
    client = ScriptedClient(latency=0.002, context=CONTEXT)
    client.on("execute", long_execution)
    client.on("refine", lambda call: "Refined. " + call.prompt[-3000:])
    config = CePOConfig(bestofn_n=2, refine_max_tokens=1000, rating_max_tokens=800)
    events = await collect(client, request(config))
    result = finished(events)
    for call in client.calls:
        assert call.request.max_tokens is not None
        assert estimate_tokens(call.request.messages) + call.request.max_tokens <= CONTEXT
    for refine in client.of("refine"):
        assert refine.request.max_tokens == 1000
        assert refine.prompt.count("characters cut from the middle") == 3
        conclusions = sum(f"CONCLUSION-{n}" in refine.prompt for n in range(1, 7))
        assert conclusions == 3  # each execution keeps its ending
    assert result.metadata["context_shortened"] is True
    stages = {entry["stage"] for entry in result.metadata["context_shortenings"]}
    assert "refine" in stages
    notes = [b for b in blocks(events, "note") if "shortened to fit" in b.title]
    assert notes and all(isinstance(b, TraceBlock) for b in notes)
    # Plans ask for 4096 tokens, more than the whole context: clamped, not shortened.
    assert all((c.request.max_tokens or 0) < CONTEXT for c in client.of("plan"))


async def test_short_material_is_not_shortened() -> None:
    client = ScriptedClient(latency=0.002, context=CONTEXT)
    result = finished(await collect(client, request(CePOConfig(bestofn_n=1))))
    assert result.metadata["context_shortened"] is False
    assert all(CUT_MARKER[:10] not in call.prompt for call in client.calls)
