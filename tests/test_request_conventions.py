"""Request conventions of other clients, through the real proxy with the OpenAI SDK.

``reasoning_effort`` in any case (``xhigh`` too), OpenRouter's ``reasoning`` object, the
reasoning mode and format chosen in the body, the ``reasoning`` field name, and upstream
thinking read from either field name.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ProxyFactory, sdk
from tests.fake_upstream import FakeUpstream, Reply, filler_text

QUESTION = [{"role": "user", "content": "What is 6 times 7?"}]


def create(base: str, **fields: Any) -> Any:
    extra_headers = fields.pop("extra_headers", None)
    return sdk(base).chat.completions.create(
        model="cepo-fake-model",
        messages=QUESTION,  # type: ignore[arg-type]
        extra_headers=extra_headers,
        extra_body=fields,
    )


def stream_deltas(
    base: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    payload = {"model": "cepo-fake-model", "messages": QUESTION, "stream": True, **body}
    response = httpx.post(
        f"{base}/v1/chat/completions", json=payload, headers=headers or {}, timeout=30
    )
    assert response.status_code == 200, response.text
    data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(line) for line in data[:-1]]
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


@pytest.fixture
def cepo(make_proxy: ProxyFactory, upstream: FakeUpstream) -> str:
    return make_proxy(upstream)


@pytest.mark.parametrize(
    ("fields", "preset"),
    [
        ({"reasoning_effort": "Low"}, "low"),
        ({"reasoning_effort": " HIGH "}, "high"),
        ({"reasoning_effort": "xhigh"}, "high"),
        ({"reasoning": {"effort": "LOW"}}, "low"),
        ({"reasoning": {"effort": "high"}, "reasoning_effort": "low"}, "low"),
        ({"reasoning": {"exclude": False}}, "medium"),
    ],
)
def test_effort_names_choose_the_preset(
    cepo: str, upstream: FakeUpstream, fields: dict[str, Any], preset: str
) -> None:
    reply = create(cepo, **fields)
    meta = (reply.model_extra or {})["cepo"]
    assert meta["preset"] == preset
    assert meta["upstream_calls"] == upstream.calls == {"low": 6, "medium": 27, "high": 56}[preset]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"reasoning": {"effort": "lots"}}, "reasoning.effort"),
        ({"reasoning": {"max_tokens": 2000}}, "reasoning.max_tokens"),
        ({"reasoning": "high"}, "reasoning"),
        ({"reasoning": {"exclude": "yes"}}, "reasoning.exclude"),
        ({"cepo": {"reasoning_mode": "loud"}}, "cepo.reasoning_mode"),
        ({"cepo": {"reasoning_format": "xml"}}, "cepo.reasoning_format"),
        ({"cepo": {"reasoning_mode": "quiet", "bestofn_n": 0}}, "cepo.bestofn_n"),
    ],
)
def test_bad_values_are_a_clear_400(
    cepo: str, upstream: FakeUpstream, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        create(cepo, **fields)
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == param
    assert upstream.calls == 0


def test_max_tokens_400_says_what_to_do(cepo: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        create(cepo, reasoning={"effort": "low", "max_tokens": 500})
    assert "not supported" in caught.value.message and "effort" in caught.value.message


def test_exclude_leaves_the_reasoning_out(cepo: str, upstream: FakeUpstream) -> None:
    reply = create(cepo, reasoning={"exclude": True, "effort": "low"})
    message = reply.choices[0].message
    assert "42" in (message.content or "")
    assert not {"reasoning_content", "reasoning"} & set(message.model_extra or {})
    deltas = stream_deltas(cepo, {"reasoning": {"exclude": True}, "reasoning_effort": "low"})
    assert not any("reasoning_content" in d or "reasoning" in d for d in deltas)
    assert "".join(d.get("content") or "" for d in deltas).strip().endswith("42")


def test_mode_and_format_in_the_body_win_over_the_headers(cepo: str) -> None:
    headers = {"X-Reasoning-Mode": "verbose", "X-Reasoning-Format": "think"}
    deltas = stream_deltas(
        cepo,
        {
            "reasoning_effort": "low",
            "cepo": {"reasoning_mode": "Quiet", "reasoning_format": "reasoning"},
        },
        headers,
    )
    lines = [d["reasoning"] for d in deltas if "reasoning" in d]
    assert lines and all(not line.startswith("###") for line in lines)  # quiet status lines
    assert not any("reasoning_content" in d for d in deltas)
    assert "<think>" not in "".join(d.get("content") or "" for d in deltas)
    # The two keys are the server's: the rest of the object still reaches the engine.
    reply = create(cepo, cepo={"reasoning_mode": "verbose", "bestofn_n": 1, "planning_n": 1})
    # medium's 27 calls become 3: one sample, refine, final
    assert (reply.model_extra or {})["cepo"]["upstream_calls"] == 3


@pytest.mark.parametrize("via", ["header", "body"])
def test_reasoning_format_names_the_field_reasoning(cepo: str, via: str) -> None:
    if via == "header":
        reply = create(
            cepo, reasoning_effort="low", extra_headers={"X-Reasoning-Format": "Reasoning"}
        )
    else:
        reply = create(cepo, reasoning_effort="low", cepo={"reasoning_format": "reasoning"})
    extra = reply.choices[0].message.model_extra or {}
    assert "reasoning_content" not in extra
    assert extra["reasoning"].startswith("### ")
    deltas = stream_deltas(cepo, {"reasoning_effort": "low"}, {"X-Reasoning-Format": "reasoning"})
    assert deltas[1]["reasoning"].startswith("### Reasoning with CePO")
    assert not any("reasoning_content" in d for d in deltas)


@pytest.mark.parametrize("personality", ["vllm", "ollama"])
def test_upstream_thinking_is_read_from_either_field(
    make_proxy: ProxyFactory, personality: str
) -> None:
    reply_with_thinking = Reply(filler_text(8), reasoning="UPSTREAM-THOUGHT here")
    with FakeUpstream(personality=personality, responder=lambda body: reply_with_thinking) as fake:  # type: ignore[arg-type]
        base = make_proxy(fake)
        reply = create(base, reasoning_effort="low")
        trace = (reply.choices[0].message.model_extra or {})["reasoning_content"]
        assert "[the model's own thinking]\nUPSTREAM-THOUGHT here" in trace
        deltas = stream_deltas(base, {"reasoning_effort": "low"})
        streamed = "".join(d.get("reasoning_content") or "" for d in deltas)
        assert "UPSTREAM-THOUGHT here" in streamed
        # Pass-through relays the upstream's own field unchanged.
        field = "reasoning_content" if personality == "vllm" else "reasoning"
        plain = sdk(base).chat.completions.create(model="fake-model", messages=QUESTION)  # type: ignore[arg-type]
        assert (plain.choices[0].message.model_extra or {})[field] == "UPSTREAM-THOUGHT here"
        chunks = sdk(base).chat.completions.create(
            model="fake-model",
            messages=QUESTION,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        relayed, usage = [], None
        for chunk in chunks:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                relayed.append((choice.delta.model_extra or {}).get(field) or "")
        assert "".join(relayed) == "UPSTREAM-THOUGHT here"
        assert usage is not None and usage.completion_tokens > 0
