"""One request alone per arm through a running proxy: calls, tokens and seconds.

Run on the GPU rig after ``serve.sh`` (nothing else in flight), from the project root:
``PYTHONPATH=/tmp/g/site:$PWD python3 bench/accuracy/rig/alone.py [GSM8K_INDEX]``.
Prints one JSON line per arm (baseline, low, medium, high) for one GSM8K item.
"""

from __future__ import annotations

import json
import sys
import time

import openai

from bench.accuracy.datasets import load_dataset

MODEL = "qwen2.5-coder-1.5b"


def main() -> None:
    client = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="x", timeout=600)
    item = load_dataset("gsm8k")[int(sys.argv[1]) if len(sys.argv) > 1 else 0]
    for arm in ("baseline", "low", "medium", "high"):
        model = MODEL if arm == "baseline" else f"cepo-{MODEL}"
        extra = {} if arm == "baseline" else {"reasoning_effort": arm}
        started = time.perf_counter()
        response = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": item.prompt}],
            temperature=0,
            max_tokens=1024,
            extra_body=extra,
        )
        seconds = time.perf_counter() - started
        cepo = (response.model_extra or {}).get("cepo") or {}
        usage = response.usage
        line = {
            "arm": arm,
            "item": item.index,
            "seconds": round(seconds, 2),
            "calls": cepo.get("upstream_calls", 1),
            "prompt_tokens": usage.prompt_tokens if usage else None,
            "completion_tokens": usage.completion_tokens if usage else None,
        }
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
