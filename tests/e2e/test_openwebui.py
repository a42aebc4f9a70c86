"""Open WebUI from PyPI in headless Chromium against the proxy (``make e2e-openwebui``).

The scripted upstream and the proxy run on loopback in this process; Open WebUI runs as its
own process in its own virtualenv (``.e2e/openwebui``, git-ignored), configured only through
its environment: one OpenAI connection (the proxy), no Ollama, no login (``WEBUI_AUTH=False``),
offline (no Hugging Face downloads, no version check). Everything else is its default setup:
built-in tools on, title, tags and follow-up generation on, the chat model as task model.

``openwebui_chat.mjs`` (playwright-core, Debian's ``chromium``) sends one chat to the
``cepo-`` model the way a user does and reports what the page shows. The test then checks:

- the reasoning renders as Open WebUI's own block ("Thought for ..."), with the CePO trace in it;
- CePO ran on that chat although Open WebUI attached its tools: the proxy's stage metrics
  count plan, execute, refine and final, and the upstream saw the run's calls without tools
  and the final step offered them;
- each background task (title, tags, follow-ups) cost the upstream exactly one call, its
  answer reached the page (the scripted title, tags and follow-ups), and the proxy received
  nothing else for the model.

Marked ``e2e``; skipped unless ``CEPO_E2E_OPENWEBUI`` names the ``open-webui`` executable, as
``make e2e-openwebui`` does after its installs, so the default run never starts it. Once
asked for, a missing install (Open WebUI, chromium, node, playwright-core) fails the test.
``CEPO_E2E_SCREENSHOT`` names where the screenshot goes (the make target writes the committed
``docs/openwebui-e2e.png``); by default it stays in the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ProxyFactory
from tests.fake_upstream import DEFAULT_ANSWER, FakeUpstream, RecordedRequest, filler_text
from tests.servers import unused_loopback_url

# Read at import: the proxy fixture clears CEPO_* from the environment before each test.
_OPENWEBUI = os.environ.get("CEPO_E2E_OPENWEBUI")
_SCREENSHOT = os.environ.get("CEPO_E2E_SCREENSHOT")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not _OPENWEBUI, reason="Open WebUI e2e: run `make e2e-openwebui`"),
]

E2E_DIR = Path(__file__).parent
REPO = E2E_DIR.parents[1]
OPENWEBUI = Path(_OPENWEBUI or REPO / ".e2e" / "openwebui" / "bin" / "open-webui").absolute()
CHROMIUM = os.environ.get("CEPO_E2E_CHROMIUM", "/usr/bin/chromium")
DRIVER = E2E_DIR / "openwebui_chat.mjs"
SCREENSHOT = Path(_SCREENSHOT).absolute() if _SCREENSHOT else None

MODEL = "cepo-fake-model"
API_KEY = "e2e-proxy-key"
PROMPT = "What is 6 times 7?"
#: What the scripted upstream answers to Open WebUI's three background tasks.
TITLE = "Multiplying six by seven"
TAGS = ["Mathematics", "Arithmetic"]
FOLLOW_UPS = ["What is 7 times 8?", "How can I multiply in my head?"]

#: Seconds for Open WebUI to answer /health after start (it imports a lot on two cores).
WEBUI_START_TIMEOUT = 300.0
#: Seconds for the whole browser session, and for one wait inside it.
DRIVER_TIMEOUT = 420.0
STEP_TIMEOUT_MS = 120_000


def _message_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text") or "" for p in content if isinstance(p, dict))
    return "\n".join(parts)


def task_kind(body: dict[str, Any]) -> str | None:
    """Which Open WebUI background task a chat request is (by the JSON key its ``### Task:``
    prompt asks for), ``None`` for the user's chat."""
    text = _message_text(body)
    if "### Task:" not in text:
        return None
    for kind in ("follow_ups", "tags", "title"):
        if f'"{kind}"' in text:
            return kind
    return "other"


def respond(body: dict[str, Any]) -> str:
    """The upstream's script: JSON answers to the UI's tasks, filler ending in the answer else."""
    kind = task_kind(body)
    if kind == "title":
        return json.dumps({"title": TITLE})
    if kind == "tags":
        return json.dumps({"tags": TAGS})
    if kind == "follow_ups":
        return json.dumps({"follow_ups": FOLLOW_UPS})
    return filler_text(24)


def _needs(path: Path | str, what: str) -> None:
    if not Path(path).exists():
        pytest.fail(f"{what} not found at {path}: `make e2e-openwebui` installs it")


@pytest.fixture
def scripted_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(models=["fake-model"], responder=respond, latency=0.3) as fake:
        yield fake


def _webui_env(data_dir: Path, proxy: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CEPO_", "OPENAI_"))}
    env.update(
        DATA_DIR=str(data_dir),
        PORT=str(port),
        # One OpenAI-compatible connection: the proxy. No Ollama.
        OPENAI_API_BASE_URLS=f"{proxy}/v1",
        OPENAI_API_KEYS=API_KEY,
        ENABLE_OLLAMA_API="False",
        # No login page: the first visitor is the admin.
        WEBUI_AUTH="False",
        WEBUI_SECRET_KEY="e2e-only-secret",
        # Nothing from outside: no Hugging Face downloads (the default embedding model then
        # fails to load, which only documents would need), no version check, no telemetry.
        OFFLINE_MODE="True",
        HF_HUB_OFFLINE="1",
        RAG_EMBEDDING_MODEL_AUTO_UPDATE="False",
        RAG_RERANKING_MODEL_AUTO_UPDATE="False",
        ENABLE_VERSION_UPDATE_CHECK="False",
        ANONYMIZED_TELEMETRY="False",
        DO_NOT_TRACK="True",
        SCARF_NO_ANALYTICS="True",
    )
    return env


@pytest.fixture
def open_webui(
    tmp_path: Path, make_proxy: ProxyFactory, scripted_upstream: FakeUpstream
) -> Iterator[tuple[str, str]]:
    """``(webui_url, proxy_url)``: Open WebUI serving on loopback, connected to the proxy."""
    _needs(OPENWEBUI, "Open WebUI")
    proxy = make_proxy(scripted_upstream, api_keys=[API_KEY])
    url = unused_loopback_url()
    port = int(url.rsplit(":", 1)[1])
    log_path = tmp_path / "open-webui.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(OPENWEBUI), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=_webui_env(tmp_path / "data", proxy, port),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(url, process, log_path)
        yield url, proxy
    finally:
        _stop(process)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + WEBUI_START_TIMEOUT
    with httpx.Client(timeout=5) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"Open WebUI exited with {process.returncode}:\n{_tail(log_path)}")
            try:
                if http.get(f"{url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(1)
    pytest.fail(f"Open WebUI did not answer /health in {WEBUI_START_TIMEOUT}s:\n{_tail(log_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _drive_browser(webui: str, screenshot: Path) -> dict[str, Any]:
    _needs(CHROMIUM, "Debian's chromium")
    _needs(E2E_DIR / "node_modules" / "playwright-core", "playwright-core")
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found: install nodejs and npm")
    done = subprocess.run(
        [node, str(DRIVER)],
        cwd=E2E_DIR,
        env={
            **os.environ,
            "WEBUI_URL": webui,
            "MODEL": MODEL,
            "PROMPT": PROMPT,
            "TITLE": TITLE,
            "SCREENSHOT": str(screenshot),
            "CHROMIUM": CHROMIUM,
            "STEP_TIMEOUT_MS": str(STEP_TIMEOUT_MS),
        },
        capture_output=True,
        text=True,
        timeout=DRIVER_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _proxy_metrics(proxy: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(
        f"{proxy}/metrics", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10
    )
    response.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _metric_sum(
    metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return sum(
        value
        for (sample, sample_labels), value in metrics.items()
        if sample == name and labels.items() <= dict(sample_labels).items()
    )


def _report(result: dict[str, Any], calls: list[RecordedRequest], stages: dict[str, float]) -> str:
    """What the run showed, for the failure message and ``-s`` output."""
    kinds = Counter(task_kind(c.body) or "chat" for c in calls)
    page = {**result, "reasoning_text": (result.get("reasoning_text") or "")[:600]}
    return json.dumps(
        {"page": page, "upstream_calls_by_kind": kinds, "proxy_stage_counts": stages}, indent=1
    )


def test_cepo_chat_in_open_webui_default_setup(
    open_webui: tuple[str, str], scripted_upstream: FakeUpstream, tmp_path: Path
) -> None:
    webui, proxy = open_webui
    screenshot = SCREENSHOT or tmp_path / "openwebui.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    result = _drive_browser(webui, screenshot)

    calls = [c for c in scripted_upstream.chat_requests if isinstance(c.body, dict)]
    metrics = _proxy_metrics(proxy)
    stages = {
        stage: _metric_sum(metrics, "cepo_proxy_stage_duration_seconds_count", stage=stage)
        for stage in ("plan", "execute", "refine", "final", "rate")
    }
    report = _report(result, calls, stages)
    print(report)

    # What the user sees: the page did everything the driver waited for.
    assert result["missing"] == [], report
    assert result["selected_model"] == MODEL, report
    # The reasoning renders as Open WebUI's native block: closed, it shows its label and the
    # answer; opened, the CePO trace, stage by stage.
    assert re.match(r"Thought( for .+)?$", result["reasoning_label"]), report
    assert result["assistant_text"].startswith(result["reasoning_label"]), report
    assert DEFAULT_ANSWER in result["assistant_text"], report
    assert "refine" not in result["assistant_text"].lower(), report
    trace = result["reasoning_text"].lower()
    assert all(stage in trace for stage in ("plan", "execution", "refine", "final")), report

    # CePO ran on the chat although Open WebUI attached its built-in tools.
    chat_calls = [c for c in calls if task_kind(c.body) is None]
    assert all(stages[stage] >= 1 for stage in ("plan", "execute", "refine", "final")), report
    assert len(chat_calls) > 1, report
    assert any(c.body.get("tools") for c in chat_calls), report  # the final step offered them
    assert any(not c.body.get("tools") for c in chat_calls), report  # plan, execute, ... not

    # Each background task cost exactly one upstream call, and its answer reached the page.
    task_calls = Counter(kind for c in calls if (kind := task_kind(c.body)) is not None)
    assert task_calls == {"title": 1, "tags": 1, "follow_ups": 1}, report
    assert result["title"] == TITLE, report
    assert result["follow_ups"] == FOLLOW_UPS, report
    assert sorted(t.lower() for t in result["tags"]) == sorted(t.lower() for t in TAGS), report
    # The proxy received the chat and the three tasks for the model, nothing more.
    served = _metric_sum(
        metrics, "cepo_proxy_requests_total", route="/v1/chat/completions", model=MODEL
    )
    assert served == 1 + sum(task_calls.values()), report
