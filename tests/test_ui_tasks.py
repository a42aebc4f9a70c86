"""UI background tasks on a ``cepo-`` model: recognised, answered with one plain call.

The task texts below are written for these tests in the shape the UIs use (Open WebUI's
``### Task:`` templates with a ``<chat_history>`` and the JSON key asked for, LibreChat's
title request); they are not the UIs' own prompts.
"""

from __future__ import annotations

import json

import httpx
import pytest

from server.ui_tasks import ui_task
from tests.conftest import ProxyFactory, sdk
from tests.fake_upstream import FakeUpstream


def open_webui_task(ask: str, output: str) -> str:
    return (
        f"### Task:\n{ask}\n### Guidelines:\n- Keep it short.\n### Output:\n{output}\n"
        "### Chat History:\n<chat_history>\nUSER: How do tides work?\n"
        "ASSISTANT: The moon's gravity...\n</chat_history>"
    )


TASKS = {
    "title": open_webui_task("Name this chat in a few words.", 'JSON format: { "title": "..." }'),
    "tags": open_webui_task("Tag this chat by theme.", 'JSON format: { "tags": ["..."] }'),
    "follow_ups": open_webui_task(
        "Suggest questions the user could ask next.", 'JSON format: { "follow_ups": ["?"] }'
    ),
    "queries": open_webui_task("Suggest web searches.", '{ "queries": ["..."] }'),
    "image_prompt": open_webui_task("Describe an image for it.", '{ "prompt": "..." }'),
    "autocomplete": (
        '### Task:\nContinue the text.\n### Output Rules:\n- `{ "text": "..." }`\n'
        "<type>General</type>\n<text>The tide is</text>"
    ),
    "emoji": "Pick an emoji for the speaker's facial expression.\n\nMessage: ```hooray```",
}
LIBRECHAT_TITLE = (
    "Give a concise, 5-word-or-less title for the conversation.\n\n"
    "Conversation:\nUser: How do tides work?\nAI: The moon's gravity..."
)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_open_webui_tasks_are_recognised(name: str) -> None:
    assert ui_task([{"role": "user", "content": TASKS[name]}]) == name


def test_librechat_title_and_ordinary_chats() -> None:
    assert ui_task([{"role": "user", "content": LIBRECHAT_TITLE}]) == "title"
    parts = [{"type": "text", "text": TASKS["tags"]}]
    assert ui_task([{"role": "user", "content": parts}]) == "tags"
    for text in (
        "What is a good title for my essay on tides?",
        "### Task: list three prime numbers",  # a heading alone is not a template
        'Explain what { "title": 1 } means in JSON.',
    ):
        assert ui_task([{"role": "user", "content": text}]) is None
    # Only the latest user message counts: a task quoted earlier does not.
    history = [
        {"role": "user", "content": TASKS["title"]},
        {"role": "assistant", "content": '{"title": "Tides"}'},
        {"role": "user", "content": "Now explain neap tides."},
    ]
    assert ui_task(history) is None


@pytest.fixture
def cepo(make_proxy: ProxyFactory, upstream: FakeUpstream) -> str:
    return make_proxy(upstream)


@pytest.mark.parametrize("name", ["title", "tags", "follow_ups"])
def test_a_ui_task_costs_exactly_one_upstream_call(
    cepo: str, upstream: FakeUpstream, name: str
) -> None:
    upstream.responder = lambda body: '{"title": "Tides Explained"}'
    raw = sdk(cepo).chat.completions.with_raw_response.create(
        model="cepo-fake-model",
        messages=[{"role": "user", "content": TASKS[name]}],
        reasoning_effort="medium",
        extra_body={"cepo": {"bestofn_n": 2}},
    )
    assert raw.headers["X-Reasoning-Bypassed"] == "ui-task"
    assert raw.headers["X-Reasoning-UI-Task"] == name
    reply = raw.parse()
    assert json.loads(reply.choices[0].message.content or "") == {"title": "Tides Explained"}
    assert upstream.calls == 1
    sent = upstream.chat_requests[0].body
    assert sent["model"] == "fake-model"
    assert "cepo" not in sent and "reasoning_effort" not in sent


def test_a_streamed_ui_task_is_one_call_too(cepo: str, upstream: FakeUpstream) -> None:
    body = {
        "model": "cepo-fake-model",
        "messages": [{"role": "user", "content": LIBRECHAT_TITLE}],
        "stream": True,
    }
    with httpx.stream("POST", f"{cepo}/v1/chat/completions", json=body, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["X-Reasoning-Bypassed"] == "ui-task"
        text = response.read().decode()
    assert "reasoning_content" not in text and text.rstrip().endswith("data: [DONE]")
    assert upstream.calls == 1


def test_the_setting_turns_recognition_off(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    base = make_proxy(upstream, bypass_ui_tasks=False)
    raw = sdk(base).chat.completions.with_raw_response.create(
        model="cepo-fake-model", messages=[{"role": "user", "content": TASKS["title"]}]
    )
    assert "X-Reasoning-Bypassed" not in raw.headers
    assert upstream.calls == 27
