"""The proxy's own routes and its error envelope."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import openai
import pytest

from tests.conftest import ProxyFactory
from tests.fake_upstream import FakeUpstream
from tests.openai_wire import assert_envelope


def test_health_never_calls_upstream(proxy: str, upstream: FakeUpstream) -> None:
    before = len(upstream.requests)
    assert httpx.get(f"{proxy}/health").json() == {"status": "ok"}
    assert len(upstream.requests) == before


def test_ready_follows_the_upstream(proxy: str, upstream: FakeUpstream) -> None:
    assert httpx.get(f"{proxy}/ready").status_code == 200
    upstream.models_available = False
    assert httpx.get(f"{proxy}/ready").status_code == 503


def test_models_lists_each_upstream_model_with_its_cepo_twin(proxy: str) -> None:
    with openai.OpenAI(base_url=f"{proxy}/v1", api_key="k") as sdk:
        ids = [m.id for m in sdk.models.list()]
    assert ids == ["fake-model", "cepo-fake-model"]


def test_invalid_json_is_a_400(proxy: str) -> None:
    response = httpx.post(f"{proxy}/v1/chat/completions", content=b"{not json")
    assert assert_envelope(response, 400)["code"] == "invalid_json"


def test_schema_error_names_the_field(proxy: str) -> None:
    response = httpx.post(
        f"{proxy}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": 5}]},
    )
    error = assert_envelope(response, 400)
    assert str(error["param"]).startswith("messages[0].content")


def test_missing_messages_is_a_400(proxy: str) -> None:
    error = assert_envelope(httpx.post(f"{proxy}/v1/chat/completions", json={"model": "m"}), 400)
    assert error["param"] == "messages"


def test_the_chat_route_is_documented_with_the_wire_model(proxy: str) -> None:
    document = httpx.get(f"{proxy}/openapi.json").json()
    operation = document["paths"]["/v1/chat/completions"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ChatCompletionRequest"}
    model = document["components"]["schemas"]["ChatCompletionRequest"]
    assert {"model", "messages"} <= set(model["required"])
    assert {"stream", "n", "cepo", "reasoning_effort"} <= set(model["properties"])


def test_the_chat_body_is_json_with_or_without_its_content_type(proxy: str) -> None:
    body = b'{"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}'
    url = f"{proxy}/v1/chat/completions"
    assert httpx.post(url, content=body).status_code == 200
    plain = httpx.post(url, content=body, headers={"content-type": "text/plain"})
    assert_envelope(plain, 400)
    invalid = httpx.post(
        url, content=b'{"model": NaN}', headers={"content-type": "application/json"}
    )
    assert assert_envelope(invalid, 400)["code"] == "invalid_json"
    missing = httpx.post(url, json={"model": "fake-model"})
    assert assert_envelope(missing, 400)["param"] == "messages"


def test_unknown_route_and_wrong_method(proxy: str) -> None:
    assert_envelope(httpx.get(f"{proxy}/v1/nothing"), 404)
    assert_envelope(httpx.get(f"{proxy}/v1/chat/completions"), 405)


def test_a_bug_in_the_chat_route_is_a_500_envelope_without_details(
    proxy: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected error in the chat route becomes the 500 envelope, logged, nothing
    leaked."""
    from server.routes import chat

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("internal detail sk-not-for-clients")

    monkeypatch.setattr(chat, "passthrough_response", broken)
    with caplog.at_level("ERROR", logger="cepo_proxy.errors"):
        response = httpx.post(
            f"{proxy}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
    error = assert_envelope(response, 500)
    assert error["code"] == "internal_error"
    assert "sk-not-for-clients" not in response.text
    assert any("RuntimeError" in record.getMessage() for record in caplog.records)


def test_unreachable_upstream_is_a_502(make_proxy: ProxyFactory) -> None:
    from tests.servers import unused_loopback_url

    base = make_proxy(
        None,
        upstream_base_url=f"{unused_loopback_url()}/v1",
        upstream_kind="openai",
        upstream_max_retries=0,
    )
    response = httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert_envelope(response, 502)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CEPO_UPSTREAM_MAX_CONCURRENCY", "zero"),
        ("CEPO_PORT", "99999"),
        ("CEPO_UPSTREAM_BASE_URL", "ftp://x"),
    ],
)
def test_bad_setting_stops_start_up_naming_the_variable(variable: str, value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEPO_")}
    env[variable] = value
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0]
    assert "Traceback" not in result.stderr
