"""A client from another ecosystem: the OpenAI Node SDK (npm ``openai``) against the proxy.

``tests/node_client/chat.mjs`` runs one plain and one streamed chat completion to a ``cepo-``
model through the real proxy and scripted upstream on loopback and prints what the SDK gave it.
Its npm packages come from the committed lock file into the git-ignored
``tests/node_client/node_modules`` (``make test`` runs ``npm ci`` there; this module does too
when they are missing). Without ``node`` the test is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ProxyFactory
from tests.fake_upstream import DEFAULT_ANSWER, FakeUpstream

CLIENT_DIR = Path(__file__).parent / "node_client"
#: Seconds for ``npm ci`` from the lock file (one package, a few seconds when the registry answers).
NPM_CI_TIMEOUT = 180
#: Seconds for the two calls of ``chat.mjs``, node's start included.
CLIENT_TIMEOUT = 60


def _node_client_ready() -> None:
    """Fail (CI) or skip (elsewhere) without node; install the lock file's packages if missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are needed for the Node client check (.ci/run installs them)")
        pytest.skip("node / npm not installed")
    installed = CLIENT_DIR / "node_modules" / ".package-lock.json"
    lock = CLIENT_DIR / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=CLIENT_DIR,
            check=True,
            timeout=NPM_CI_TIMEOUT,
        )


def _run_client(base_url: str, model: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, "chat.mjs", base_url, model],
        cwd=CLIENT_DIR,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_openai_node_sdk_gets_reasoning_and_answer(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    _node_client_ready()
    proxy = make_proxy(upstream)
    result = _run_client(f"{proxy}/v1", "cepo-fake-model")

    plain = result["plain"]
    assert plain["model"] == "cepo-fake-model"
    assert DEFAULT_ANSWER.split()[-1] in plain["content"]
    assert plain["finish_reason"] == "stop"
    assert "plan" in (plain["reasoning"] or "").lower()
    details = plain["usage"]["completion_tokens_details"]
    assert 0 < details["reasoning_tokens"] < plain["usage"]["completion_tokens"]

    streamed = result["streamed"]
    assert DEFAULT_ANSWER.split()[-1] in streamed["content"]
    assert streamed["finish_reason"] == "stop"
    assert "plan" in streamed["reasoning"].lower()
    assert streamed["reasoning_chunks_before_content"] > 0
    assert streamed["usage"]["total_tokens"] > 0
    # Both calls ran CePO upstream: several calls each, not one pass-through call.
    assert upstream.calls > 2 * 2


def test_openai_node_sdk_plain_model_is_passed_through(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    _node_client_ready()
    proxy = make_proxy(upstream)
    result = _run_client(f"{proxy}/v1", "fake-model")

    assert result["plain"]["content"].endswith(DEFAULT_ANSWER)
    assert result["plain"]["reasoning"] is None
    assert result["streamed"]["content"].endswith(DEFAULT_ANSWER)
    assert result["streamed"]["reasoning"] == ""
    assert upstream.calls == 2
