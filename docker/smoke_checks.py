"""HTTP checks for docker/smoke.sh, standard library only.

    python3 docker/smoke_checks.py wait   BASE_URL SECONDS
    python3 docker/smoke_checks.py models BASE_URL MODEL
    python3 docker/smoke_checks.py stream BASE_URL MODEL [--expect-error]

``BASE_URL`` is the proxy's root, e.g. ``http://127.0.0.1:8000``. Each command prints
one line saying what it saw and exits 0 when the check passed, 1 otherwise.

``stream`` posts one streamed chat completion and reads the SSE body to the end. It
passes when the body ends with ``data: [DONE]``, and, without ``--expect-error``,
when at least one ``delta.content`` arrived and no error chunk did; with
``--expect-error`` (a stream cut by shutdown) when an error chunk arrived first.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

STREAM_TIMEOUT = 120.0


def wait(base_url: str, seconds: float) -> bool:
    """Poll ``GET /health`` until it answers 2xx or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:
                print(f"/health {response.status} {response.read().decode()[:200]}")
                return True
        except (urllib.error.URLError, OSError) as error:
            last = str(error)
        time.sleep(0.5)
    print(f"/health did not answer within {seconds}s: {last}")
    return False


def models(base_url: str, model: str) -> bool:
    """``GET /v1/models`` lists ``model``, and the CePO twin ``cepo-<model>``."""
    with urllib.request.urlopen(f"{base_url}/v1/models", timeout=10) as response:
        ids = [item["id"] for item in json.load(response)["data"]]
    ok = model in ids and f"cepo-{model}" in ids
    print(f"/v1/models {ids}")
    return ok


@dataclass
class StreamSummary:
    """What one SSE chat stream carried."""

    reasoning_chunks: int = 0
    content_chunks: int = 0
    content: str = ""
    errors: list[Any] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    done: bool = False
    after_done: int = 0

    def feed(self, payload: str) -> None:
        if self.done:
            self.after_done += 1
            return
        if payload == "[DONE]":
            self.done = True
            return
        chunk = json.loads(payload)
        if "error" in chunk:
            self.errors.append(chunk["error"])
            return
        for choice in chunk.get("choices", []):
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                self.reasoning_chunks += 1
            if delta.get("content"):
                self.content_chunks += 1
                self.content += delta["content"]
            if choice.get("finish_reason"):
                self.finish_reasons.append(choice["finish_reason"])


def stream(base_url: str, model: str, expect_error: bool) -> bool:
    """Post one streamed completion and judge the body (see the module docstring)."""
    body = {
        "model": model,
        "stream": True,
        "messages": [{"role": "user", "content": "What is 17 + 25? Answer with the number."}],
    }
    request = urllib.request.Request(
        f"{base_url}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
        method="POST",
    )
    summary = StreamSummary()
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=STREAM_TIMEOUT) as response:
            for raw in response:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("data:"):
                    summary.feed(line[5:].strip())
    except (urllib.error.URLError, OSError) as error:
        print(f"stream {model}: transport error after {time.monotonic() - started:.1f}s: {error}")
        return False
    elapsed = time.monotonic() - started
    print(
        f"stream {model}: {elapsed:.1f}s, {summary.reasoning_chunks} reasoning chunks, "
        f"{summary.content_chunks} content chunks, finish {summary.finish_reasons}, "
        f"errors {summary.errors}, [DONE] {summary.done}, content {summary.content[:80]!r}"
    )
    if not summary.done or summary.after_done:
        return False
    if expect_error:
        return bool(summary.errors)
    return summary.content_chunks > 0 and not summary.errors


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[1] == "wait":
        return 0 if wait(argv[2], float(argv[3]) if len(argv) > 3 else 30.0) else 1
    if len(argv) == 4 and argv[1] == "models":
        return 0 if models(argv[2], argv[3]) else 1
    if len(argv) in {4, 5} and argv[1] == "stream":
        expect_error = argv[4:] == ["--expect-error"]
        if len(argv) == 5 and not expect_error:
            print(__doc__, file=sys.stderr)
            return 2
        return 0 if stream(argv[2], argv[3], expect_error) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
