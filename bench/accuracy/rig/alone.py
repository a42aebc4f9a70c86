"""One request alone per preset through a running proxy: calls, tokens and seconds.

Run on the GPU rig after ``serve.sh`` (nothing else in flight), from the project root:
``PYTHONPATH=/tmp/g/site:$PWD python3 bench/accuracy/rig/alone.py [GSM8K_INDEX]``.
Prints one JSON line per arm for one GSM8K item: the plain model (baseline), then
``low``, ``medium`` (the default), ``planned`` (the paper's plan-and-execute shape, sent
as ``medium`` with the preset's values as ``cepo`` overrides: ``reasoning_effort`` does
not name it) and ``high``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import openai

from bench.accuracy.datasets import load_dataset
from config.presets import load_preset

MODEL = "qwen2.5-coder-1.5b"
BASE_URL = "http://127.0.0.1:8000/v1"
ARMS = ("baseline", "low", "medium", "planned", "high")


def request_extra(arm: str) -> dict[str, Any]:
    """The body fields that make a ``cepo-*`` request run ``arm``'s preset."""
    if arm == "baseline":
        return {}
    if arm == "planned":
        return {"reasoning_effort": "medium", "cepo": load_preset("planned").model_dump()}
    return {"reasoning_effort": arm}


def measure(
    item_index: int = 0, *, base_url: str = BASE_URL, model: str = MODEL
) -> list[dict[str, Any]]:
    """One line per arm of :data:`ARMS`, each request sent alone, one after another."""
    item = load_dataset("gsm8k")[item_index]
    lines: list[dict[str, Any]] = []
    with openai.OpenAI(base_url=base_url, api_key="x", timeout=600, max_retries=0) as client:
        for arm in ARMS:
            started = time.perf_counter()
            response = client.chat.completions.create(
                model=model if arm == "baseline" else f"cepo-{model}",
                messages=[{"role": "user", "content": item.prompt}],
                temperature=0,
                max_tokens=1024,
                extra_body=request_extra(arm),
            )
            seconds = time.perf_counter() - started
            cepo = (response.model_extra or {}).get("cepo") or {}
            usage = response.usage
            lines.append(
                {
                    "arm": arm,
                    "item": item.index,
                    "seconds": round(seconds, 2),
                    "calls": cepo.get("upstream_calls", 1),
                    "plan_step": (cepo.get("config") or {}).get("plan_step"),
                    "prompt_tokens": usage.prompt_tokens if usage else None,
                    "completion_tokens": usage.completion_tokens if usage else None,
                }
            )
            print(json.dumps(lines[-1]), flush=True)
    return lines


if __name__ == "__main__":
    measure(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
