"""Reasoning from the first moment, through the real proxy on a slow scripted upstream.

Verbose: the first reasoning text arrives before any upstream call has returned. Quiet: a
line per stage, never counters, and at most 12 lines for the paper's configuration.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import httpx
import pytest

from tests.conftest import ProxyFactory
from tests.fake_upstream import FakeUpstream, Fault

QUESTION = [{"role": "user", "content": "What is 6 times 7?"}]
PLAN_HEADING = "# Step: plan"
COUNTER = re.compile(r"\d+ of \d+")


def reasoning_stream(
    base: str, upstream: FakeUpstream, mode: str
) -> tuple[list[str], list[float | None]]:
    """The reasoning deltas of one medium run, and, read as the first one arrived, the end
    times of the upstream chat calls seen so far (``None``: still open)."""
    body = {"model": "cepo-fake-model", "messages": QUESTION, "stream": True}
    pieces: list[str] = []
    ended_at_first: list[float | None] = []
    headers = {"X-Reasoning-Mode": mode}
    url = f"{base}/v1/chat/completions"
    with httpx.stream("POST", url, json=body, headers=headers, timeout=60) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk: dict[str, Any] = json.loads(line[6:])
            for choice in chunk["choices"]:
                text = choice["delta"].get("reasoning_content")
                if text:
                    if not pieces:
                        ended_at_first = [r.ended for r in upstream.chat_requests]
                    pieces.append(text)
    return pieces, ended_at_first


@pytest.mark.parametrize("mode", ["verbose", "quiet"])
def test_first_reasoning_line_comes_before_any_upstream_call_returns(
    make_proxy: ProxyFactory, mode: str
) -> None:
    with FakeUpstream(latency=0.5) as slow:
        base = make_proxy(slow)
        pieces, ended_at_first = reasoning_stream(base, slow, mode)
    assert pieces
    assert all(ended is None for ended in ended_at_first)
    # the default preset samples without plans and chooses by agreement (no rating calls)
    if mode == "verbose":
        assert pieces[0].startswith("### Reasoning with CePO (preset medium)")
        assert (
            "3 candidates, 7 solutions (no plans) each (up to 14 attempts): solve, refine, "
            "answer, then choose by agreement." in pieces[0]
        )
    else:
        assert (
            pieces[0]
            == "Reasoning: 3 candidates, 7 solutions (no plans) each (up to 14 attempts)\n"
        )


def quiet_lines(pieces: list[str]) -> list[str]:
    return [line for line in "".join(pieces).splitlines() if line.strip()]


def test_quiet_mode_says_each_stage_once_without_counters(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    lines = quiet_lines(reasoning_stream(make_proxy(upstream), upstream, "quiet")[0])
    assert lines == [
        "Reasoning: 3 candidates, 7 solutions (no plans) each (up to 14 attempts)",
        "Sampling solutions",
        "Refining the solutions",
        "Writing the final answers",
        "Choosing among 3 answers",
    ]
    # with plans and ratings (the planned preset), each of their stages once as well
    upstream.reset()
    base = make_proxy(upstream, default_preset="planned")
    lines = quiet_lines(reasoning_stream(base, upstream, "quiet")[0])
    assert lines == [
        "Reasoning: 3 candidates, 3 plans each (up to 6 attempts)",
        "Planning",
        "Executing the plans",
        "Refining the solutions",
        "Writing the final answers",
        "Rating the answers",
        "Choosing among 3 answers",
    ]


def test_quiet_mode_stays_short_when_attempts_are_rejected(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    lock = threading.Lock()
    plans_cut = [0]

    def cut_the_first_plans(body: dict[str, Any]) -> Fault | None:
        if not body["messages"][-1]["content"].startswith(PLAN_HEADING):
            return None
        with lock:
            plans_cut[0] += 1
            return Fault.length() if plans_cut[0] <= 9 else None

    upstream.fault_for = cut_the_first_plans
    base = make_proxy(upstream, default_preset="planned")
    lines = quiet_lines(reasoning_stream(base, upstream, "quiet")[0])
    assert plans_cut[0] > 9  # 9 plans cut off, each replaced by a new attempt
    assert 7 <= len(lines) <= 12
    assert sum("attempts were cut off or failed" in line for line in lines) == 1
    assert not any(COUNTER.search(line) for line in lines)
    for stage in ("Planning", "Executing", "Refining", "final answers", "Rating", "Choosing"):
        assert any(stage in line for line in lines), stage
