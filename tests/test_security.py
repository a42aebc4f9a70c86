"""Access control, request ids, body limit, CORS and the refusal to run an open proxy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import openai
import pytest

from config.settings import SettingsError, load_settings
from server.observe import request_id_from
from tests.conftest import ProxyFactory
from tests.fake_upstream import FakeUpstream
from tests.openai_wire import assert_envelope
from tests.servers import unused_loopback_url

CHAT = "/v1/chat/completions"
QUESTION = [{"role": "user", "content": "What is 6 times 7?"}]
BODY = {"model": "fake-model", "messages": QUESTION}
CLIENT_KEYS = "client-key-one,client-key-two"
UPSTREAM_KEY = "sk-upstream-key"


def assert_401(response: httpx.Response) -> None:
    error = assert_envelope(response, 401)
    assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"
    assert response.headers["www-authenticate"] == "Bearer"
    assert "client-key" not in response.text


@pytest.fixture
def guarded(make_proxy: ProxyFactory, upstream: FakeUpstream) -> str:
    return make_proxy(upstream, api_keys=CLIENT_KEYS, upstream_api_key=UPSTREAM_KEY)


# -- CEPO_API_KEYS ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Bearer client-key-on", "Bearer client-key-one2", "Basic x", "Bearer"],
)
def test_missing_or_wrong_key_is_a_401_and_nothing_goes_upstream(
    guarded: str, upstream: FakeUpstream, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    assert_401(httpx.post(f"{guarded}{CHAT}", json=BODY, headers=headers))
    assert_401(httpx.get(f"{guarded}/v1/models", headers=headers))
    assert upstream.requests == []


def test_every_configured_key_is_accepted_and_never_forwarded(
    guarded: str, upstream: FakeUpstream
) -> None:
    for key in CLIENT_KEYS.split(","):
        with openai.OpenAI(base_url=f"{guarded}/v1", api_key=key, max_retries=0) as client:
            reply = client.chat.completions.create(model="fake-model", messages=QUESTION)  # type: ignore[arg-type]
            assert "42" in (reply.choices[0].message.content or "")
            assert [m.id for m in client.models.list()] == ["fake-model", "cepo-fake-model"]
    assert {r.headers["authorization"] for r in upstream.requests} == {f"Bearer {UPSTREAM_KEY}"}


def test_health_ready_and_metrics_stay_open(guarded: str) -> None:
    assert httpx.get(f"{guarded}/health").status_code == 200
    assert httpx.get(f"{guarded}/ready").status_code == 200
    assert httpx.get(f"{guarded}/metrics").status_code == 200


def test_metrics_can_require_a_key(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    base = make_proxy(upstream, api_keys=CLIENT_KEYS, metrics_require_key=True)
    assert_401(httpx.get(f"{base}/metrics"))
    assert_401(httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer nope"}))
    ok = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer client-key-two"})
    assert ok.status_code == 200 and "cepo_proxy_requests_total" in ok.text
    assert httpx.get(f"{base}/health").status_code == 200


def test_without_keys_everything_is_open(proxy: str) -> None:
    assert httpx.post(f"{proxy}{CHAT}", json=BODY).status_code == 200


# -- CEPO_FORWARD_CLIENT_KEY -----------------------------------------------------------------
def test_forward_mode_sends_the_callers_token_upstream(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    base = make_proxy(upstream, forward_client_key=True, upstream_api_key=UPSTREAM_KEY)
    with (
        openai.OpenAI(base_url=f"{base}/v1", api_key="alice-key", max_retries=0) as alice,
        openai.OpenAI(base_url=f"{base}/v1", api_key="bob-key", max_retries=0) as bob,
    ):
        alice.chat.completions.create(model="fake-model", messages=QUESTION)  # type: ignore[arg-type]
        bob.chat.completions.create(
            model="cepo-fake-model", messages=QUESTION, reasoning_effort="low"
        )  # type: ignore[arg-type]
        alice.models.list()
    seen = [(r.method, r.path, r.headers["authorization"]) for r in upstream.requests]
    chat = [auth for method, path, auth in seen if path == CHAT]
    assert chat[0] == "Bearer alice-key"
    assert chat[1:] and set(chat[1:]) == {"Bearer bob-key"}  # every CePO call
    assert ("GET", "/v1/models", "Bearer alice-key") in seen
    assert all(UPSTREAM_KEY not in auth for _, _, auth in seen)
    assert_401(httpx.post(f"{base}{CHAT}", json=BODY))


def test_forward_mode_ready_checks_connectivity_only(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    base = make_proxy(upstream, forward_client_key=True)
    upstream.models_available = False  # answers 503 (as an upstream without our key may 401)
    assert httpx.get(f"{base}/ready").status_code == 200
    gone = make_proxy(None, upstream_base_url=unused_loopback_url(), forward_client_key=True)
    assert httpx.get(f"{gone}/ready").status_code == 503


def test_forward_mode_with_api_keys_is_a_start_up_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CEPO_"):
            monkeypatch.delenv(name)
    with pytest.raises(SettingsError) as raised:
        load_settings(None, forward_client_key=True, api_keys="k1")
    message = str(raised.value)
    assert "CEPO_FORWARD_CLIENT_KEY" in message and "CEPO_API_KEYS" in message
    assert "k1" not in message


# -- request ids ----------------------------------------------------------------------------
def test_valid_request_id_is_echoed(proxy: str) -> None:
    for value in ("abc-123", "A.b_c-9", "x" * 128):
        response = httpx.get(f"{proxy}/health", headers={"X-Request-Id": value})
        assert response.headers["x-request-id"] == value


@pytest.mark.parametrize(
    "value", ["x" * 129, "x" * 200, "a b", "a;b", "<script>", "ünï", "a\r\nX-Evil: 1", ""]
)
def test_unsafe_request_id_is_replaced(value: str) -> None:
    generated = request_id_from(value)
    assert generated != value
    assert len(generated) == 32 and all(c in "0123456789abcdef" for c in generated)


def test_unsafe_request_ids_on_the_wire_are_replaced(proxy: str) -> None:
    for value in ("x" * 200, "a b c", "semi;colon", 'quote"d'):
        response = httpx.get(f"{proxy}/health", headers={"X-Request-Id": value})
        echoed = response.headers["x-request-id"]
        assert echoed != value and len(echoed) == 32
    first = httpx.get(f"{proxy}/health").headers["x-request-id"]
    second = httpx.get(f"{proxy}/health").headers["x-request-id"]
    assert first != second


def raw_request(base: str, request: bytes) -> bytes:
    """Send raw bytes to the proxy; the whole answer (the server closes the connection)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
    return received


def test_header_injection_through_the_request_id_goes_nowhere(proxy: str) -> None:
    # On the wire a CR LF inside a header value can only start another header.
    answer = raw_request(
        proxy,
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\r\nX-Evil: 1\r\n"
        b"Connection: close\r\n\r\n",
    )
    head = answer.split(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 200")
    assert b"x-evil" not in head
    assert head.count(b"x-request-id:") == 1 and b"x-request-id: a\r\n" in head + b"\r\n"


def test_errors_carry_the_request_id_too(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    base = make_proxy(upstream, api_keys="k", max_body_bytes=2048)
    auth = {"Authorization": "Bearer k", "X-Request-Id": "err-1"}
    cases = [
        httpx.post(f"{base}{CHAT}", json=BODY, headers={"X-Request-Id": "err-1"}),  # 401
        httpx.post(f"{base}{CHAT}", content=b"{", headers=auth),  # 400
        httpx.get(f"{base}/v1/nowhere", headers=auth),  # 404
        httpx.post(f"{base}{CHAT}", content=b"x" * 4096, headers=auth),  # 413
    ]
    assert [r.status_code for r in cases] == [401, 400, 404, 413]
    assert all(r.headers["x-request-id"] == "err-1" for r in cases)


# -- body size --------------------------------------------------------------------------------
LIMIT = 2048


@pytest.fixture
def limited(make_proxy: ProxyFactory, upstream: FakeUpstream) -> str:
    return make_proxy(upstream, max_body_bytes=LIMIT)


def big_body() -> dict[str, object]:
    return {"model": "fake-model", "messages": [{"role": "user", "content": "x" * 3 * LIMIT}]}


def assert_413(response: httpx.Response) -> None:
    error = assert_envelope(response, 413)
    assert error["code"] == "request_too_large" and str(LIMIT) in error["message"]


def test_body_over_the_limit_is_a_413_with_content_length(
    limited: str, upstream: FakeUpstream
) -> None:
    assert_413(httpx.post(f"{limited}{CHAT}", json=big_body()))
    assert_413(httpx.post(f"{limited}{CHAT}", json={**big_body(), "model": "cepo-fake-model"}))
    assert upstream.requests == []
    assert httpx.post(f"{limited}{CHAT}", json=BODY).status_code == 200


def test_body_over_the_limit_is_a_413_when_chunked(limited: str, upstream: FakeUpstream) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "fake-model", "messages": [{"role": "user", "content": "'
        for _ in range(16):
            yield b"x" * 512
        yield b'"}]}'

    request = httpx.Request("POST", f"{limited}{CHAT}", content=chunks())
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    with httpx.Client(timeout=10) as http:
        assert_413(http.send(request))
    assert upstream.requests == []


def test_declared_length_over_the_limit_is_refused_before_the_body_arrives(limited: str) -> None:
    # The body is never sent: the answer must not wait for it.
    answer = raw_request(
        limited,
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000000\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413")


# -- CORS -------------------------------------------------------------------------------------
PREFLIGHT = {
    "Origin": "https://app.example",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


def test_cors_is_off_by_default(proxy: str) -> None:
    preflight = httpx.options(f"{proxy}{CHAT}", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in preflight.headers
    simple = httpx.get(f"{proxy}/health", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_allows_the_configured_origins_only(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    base = make_proxy(upstream, cors_origins="https://app.example, https://other.example")
    preflight = httpx.options(f"{base}{CHAT}", headers=PREFLIGHT)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    answer = httpx.post(f"{base}{CHAT}", json=BODY, headers={"Origin": "https://other.example"})
    assert answer.headers["access-control-allow-origin"] == "https://other.example"
    assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()
    stranger = httpx.options(
        f"{base}{CHAT}", headers={**PREFLIGHT, "Origin": "https://evil.example"}
    )
    assert stranger.status_code == 400
    assert "access-control-allow-origin" not in stranger.headers


# -- refusing to run an open proxy ------------------------------------------------------------
def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEPO_")}
    env.update(values)
    return env


def test_public_bind_with_upstream_key_and_no_client_keys_refuses_to_start() -> None:
    env = clean_env(
        CEPO_HOST="0.0.0.0",
        CEPO_UPSTREAM_BASE_URL="http://127.0.0.1:9/v1",
        CEPO_UPSTREAM_API_KEY="sk-upstream-never-shown",
        # Belt and braces: were the check missing, start-up would still stop before binding.
        CEPO_UPSTREAM_KIND="local",
        CEPO_LOCAL_MODEL="/nonexistent/model.gguf",
    )
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
    assert len(lines) == 1, result.stderr
    assert "CEPO_API_KEYS" in lines[0] and "CEPO_ALLOW_UNAUTHENTICATED" in lines[0]
    assert "sk-upstream-never-shown" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "extra",
    [
        {"api_keys": "k"},
        {"allow_unauthenticated": True},
        {"host": "127.0.0.1"},
        {"host": "::1"},
        {"host": "localhost"},
        {"upstream_api_key": None},
    ],
)
def test_safe_combinations_start(monkeypatch: pytest.MonkeyPatch, extra: dict[str, object]) -> None:
    for name in list(os.environ):
        if name.startswith("CEPO_"):
            monkeypatch.delenv(name)
    values: dict[str, object] = {"host": "0.0.0.0", "upstream_api_key": "sk-x", **extra}
    assert load_settings(None, **values).host == values["host"]
