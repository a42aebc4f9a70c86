"""Hostile input: random bodies (hypothesis) and the specific cases of issue 9.

Whatever arrives, the proxy never answers 500 and every error is in the OpenAI envelope;
afterwards no upstream call is open and no task is left on its loop. Body limit for this
module: 1 MB (``CEPO_MAX_BODY_BYTES``); upstream: the scripted fake, answering at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fake_upstream import FakeUpstream
from tests.openai_wire import assert_envelope, is_envelope, sse_data
from tests.proxies import InThreadProxy
from tests.reliability.conftest import RELIABILITY_SETTINGS
from tests.reliability.harness import RawRequest, read_stream

BODY_LIMIT = 1_000_000
PATH = "/v1/chat/completions"
QUESTION = [{"role": "user", "content": "What is 6 times 7?"}]
#: Hypothesis examples per property (the figures in bench/RESULTS.md quote these).
RANDOM_BODY_EXAMPLES = 300
RANDOM_BYTES_EXAMPLES = 100
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


@pytest.fixture(scope="module")
def proxy_settings() -> dict[str, Any]:
    return {**RELIABILITY_SETTINGS, "max_body_bytes": BODY_LIMIT}


@pytest.fixture(scope="module")
def http(proxy: InThreadProxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.url, timeout=30) as client:
        yield client


def assert_sound(response: httpx.Response, *, stream: bool | None = None) -> None:
    """Never a 500; an error is the envelope; a 200 is a whole answer or a whole stream."""
    assert response.status_code != 500, response.text[:300]
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        assert_envelope(response)
        return
    assert response.status_code == 200, response.status_code
    if response.headers["content-type"].startswith("text/event-stream"):
        read_stream(sse_data(response.text))
    else:
        assert "choices" in response.json()


# -- random bodies ------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
models = st.sampled_from(["fake-model", "cepo-fake-model", "cepo-", "", "nope"]) | json_values
messages = (
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "role": st.sampled_from(["user", "system", "assistant", "tool", ""]) | json_values,
                "content": st.text(max_size=30) | json_values,
                "name": json_values,
            },
        ),
        max_size=3,
    )
    | json_values
)
small_cepo = st.fixed_dictionaries(
    {},
    optional={
        "bestofn_n": st.integers(-1, 2) | json_values,
        "planning_n": st.integers(0, 2),
        "planning_m": st.integers(0, 3),
        "bestofn_rating_type": st.sampled_from(["absolute", "pairwise", "majority", "x"]),
        "bogus": json_values,
    },
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": models,
        "messages": messages,
        "stream": st.booleans() | json_values,
        "stream_options": st.fixed_dictionaries({}, optional={"include_usage": json_values})
        | json_values,
        "n": st.integers(-2, 3) | json_values,
        "max_tokens": st.integers(-1, 40) | json_values,
        "temperature": st.floats(-1, 3) | json_values,
        "stop": json_values,
        "tools": json_values,
        "reasoning_effort": st.sampled_from(["low", "none", "minimal", "high", "x"]) | json_values,
        "cepo": small_cepo | json_values,
        "response_format": json_values,
        "logprobs": json_values,
    },
).flatmap(
    lambda known: st.dictionaries(st.text(max_size=10), json_values, max_size=3).map(
        lambda extra: {**extra, **known}
    )
)


@settings(
    max_examples=RANDOM_BODY_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=bodies, mode=st.sampled_from(["verbose", "quiet", "loud", ""]))
def test_random_bodies_never_500(http: httpx.Client, body: dict[str, Any], mode: str) -> None:
    assert_sound(http.post(PATH, json=body, headers={"X-Reasoning-Mode": mode}))


@settings(
    max_examples=RANDOM_BYTES_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(raw=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_random_bytes_never_500(http: httpx.Client, raw: bytes) -> None:
    response = http.post(PATH, content=raw, headers={"content-type": "application/json"})
    assert_sound(response)


def test_nothing_left_behind_by_the_fuzzing(clean: FakeUpstream) -> None:
    """Runs after the properties above: the ``clean`` fixture checks the upstream is idle
    and the proxy's loop back at its baseline."""
    assert clean.open_calls == 0


# -- specific cases ------------------------------------------------------------------------------


def test_huge_body_is_a_413_with_and_without_length(
    http: httpx.Client, clean: FakeUpstream
) -> None:
    huge = {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "x" * (2 * BODY_LIMIT)}],
    }
    data = json.dumps(huge).encode()
    assert assert_envelope(http.post(PATH, content=data))["code"] == "request_too_large"
    chunked = http.post(
        PATH, content=iter([data[i : i + 65536] for i in range(0, len(data), 65536)])
    )
    assert chunked.status_code == 413 and is_envelope(chunked.json())
    assert clean.calls == 0


def test_large_body_under_the_limit_is_served(http: httpx.Client, clean: FakeUpstream) -> None:
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "word " * 150_000}]}
    assert_sound(http.post(PATH, json=body))
    assert clean.calls == 1


@pytest.mark.parametrize("depth", [50, 500, 990, 1_100, 20_000, 200_000])
@pytest.mark.parametrize("where", ["extra", "cepo", "content", "body"])
def test_deeply_nested_json(
    http: httpx.Client, clean: FakeUpstream, depth: int, where: str
) -> None:
    nested = "[" * depth + "]" * depth
    if where == "body":
        raw = nested
    else:
        slot = {"extra": '"deep": NESTED', "cepo": '"cepo": {"x": NESTED}', "content": ""}[where]
        content = '"content": NESTED' if where == "content" else '"content": "hi"'
        message = '{"role": "user", ' + content + "}"
        fields = [
            f'"model": "{"cepo-fake-model" if where == "cepo" else "fake-model"}"',
            f'"messages": [{message}]',
        ]
        if slot:
            fields.append(slot)
        raw = "{" + ", ".join(fields) + "}"
        raw = raw.replace("NESTED", nested)
    if len(raw) > BODY_LIMIT:
        pytest.skip("deeper than the body limit allows")
    response = http.post(PATH, content=raw.encode())
    assert_sound(response)


WRONG_VALUES: dict[str, list[Any]] = {
    "model": [None, 5, True, [], {}, ""],
    "messages": [None, "hi", 5, {}, [], [5], [None], ["hi"], [{"content": "no role"}]],
    "stream": ["yes", "true", 1, 2, [], {}],
    "stream_options": ["x", 5, [], {"include_usage": "x"}],
    "n": ["2", 0, -1, 1.5, 2.0, True, 129, [], {}],
    "max_tokens": ["10", 0, -5, 1.5, [], {}],
    "max_completion_tokens": ["10", 0, {}],
    "temperature": ["hot", "0.5", True, -1, 3, [], {}],
    "top_p": ["x", "0.5", 2, -0.1],
    "stop": [5, [5], {}, [None]],
    "seed": ["x", 1.5, {}],
    "user": [5, [], {}],
    "logprobs": ["x", [], {}],
    "response_format": ["json", 5, []],
    "tools": ["x", 5, {}, [5]],
    "reasoning_effort": [5, [], {}, "extreme"],
    "cepo": ["x", 5, [], {"bestofn_n": "two"}, {"planning_m": -1}],
}
FIELDS_AND_WRONG_VALUES = [
    (field, value) for field, values in WRONG_VALUES.items() for value in values
]


@pytest.mark.parametrize("model", ["fake-model", "cepo-fake-model"])
@pytest.mark.parametrize(("field", "value"), FIELDS_AND_WRONG_VALUES)
def test_wrong_type_in_every_field(http: httpx.Client, model: str, field: str, value: Any) -> None:
    body: dict[str, Any] = {"model": model, "messages": QUESTION, field: value}
    response = http.post(PATH, json=body)
    assert_sound(response)
    if field in ("cepo", "reasoning_effort") and not model.startswith("cepo-"):
        return  # CePO fields mean nothing to a pass-through model (forwarded as they are)
    error = assert_envelope(response)
    assert response.status_code == 400
    assert str(error["param"]).split("[")[0].split(".")[0] in (field, "cepo"), error


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model": "fake-model", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
        b'{"model": "\xc3\x28", "messages": []}',
        b"\xef\xbb\xbf{}",
        b'{"model": "fake-model", "messages": [{"role": "user", "content": "\\ud800"}]}',
    ],
)
def test_invalid_utf8_and_lone_surrogates(http: httpx.Client, raw: bytes) -> None:
    assert_sound(http.post(PATH, content=raw))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("field", ["temperature", "top_p", "seed", "extra_field"])
@pytest.mark.parametrize("model", ["fake-model", "cepo-fake-model"])
def test_non_finite_numbers(http: httpx.Client, model: str, field: str, literal: str) -> None:
    """JSON has no NaN or Infinity, but Python's parser accepts them: they must not reach
    an encoder that refuses them."""
    raw = (
        f'{{"model": "{model}", "messages": [{{"role": "user", "content": "hi"}}], '
        f'"reasoning_effort": "low", "{field}": {literal}}}'
    )
    assert_sound(http.post(PATH, content=raw.encode()))


@pytest.mark.parametrize(
    "value",
    [
        "x" * 10_000,
        "<script>alert(1)</script>",
        "id; rm -rf /",
        "ünïcödé",
        "a b",
        "../../etc/passwd",
        "",
    ],
)
def test_hostile_request_ids_are_replaced(http: httpx.Client, value: str) -> None:
    body = {"model": "fake-model", "messages": QUESTION}
    response = http.post(PATH, json=body, headers={b"X-Request-Id": value.encode()})
    assert response.status_code == 200
    echoed = response.headers["x-request-id"]
    assert SAFE_REQUEST_ID.fullmatch(echoed) and echoed != value


@pytest.mark.parametrize("header", ["X-Request-Id", "X-Reasoning-Mode", "X-Reasoning-Format"])
@pytest.mark.parametrize(
    "injection",
    [b"abc\r\nX-Injected: 1", b"abc\nX-Injected: 1", b"abc\rX-Injected: 1", b"abc\x00def"],
)
def test_header_injection_is_refused(proxy: InThreadProxy, header: str, injection: bytes) -> None:
    """Raw bytes no HTTP client would send: the server refuses them (never a 500) and no
    injected header comes back."""
    request = RawRequest(proxy.url)
    try:
        body = json.dumps({"model": "cepo-fake-model", "messages": QUESTION}).encode()
        request.send("POST", PATH, body, raw_headers=header.encode() + b": " + injection + b"\r\n")
        received = request.read_all(10.0)
    finally:
        request.close()
    status = request.status()
    assert status is not None and status != 500 and (status >= 400 or status == 200), received[:300]
    head = received.split(b"\r\n\r\n", 1)[0].lower()
    assert b"x-injected" not in head


@pytest.mark.parametrize("value", ["loud", "verbose\tquiet", "verbose, quiet", "ä"])
def test_bad_reasoning_mode_is_a_400(http: httpx.Client, value: str) -> None:
    body = {"model": "cepo-fake-model", "messages": QUESTION}
    response = http.post(PATH, json=body, headers={b"X-Reasoning-Mode": value.encode()})
    error = assert_envelope(response)
    assert response.status_code == 400 and error["param"] == "X-Reasoning-Mode"


def test_a_control_byte_in_a_header_is_a_400_in_the_envelope(http: httpx.Client) -> None:
    """DEL is not allowed in a header value (RFC 9110 field-vchar). httptools refuses it
    while parsing, before the app; h11 lets it through to the app, which names the
    header. Either way: a 400 in the OpenAI envelope, and the server keeps serving."""
    body = {"model": "cepo-fake-model", "messages": QUESTION}
    response = http.post(PATH, json=body, headers={b"X-Reasoning-Mode": b"VERBOSE\x7f"})
    error = assert_envelope(response)
    assert response.status_code == 400
    assert error["param"] == "X-Reasoning-Mode" or error["code"] == "invalid_http_request"
    assert http.get("/health").status_code == 200


@pytest.mark.parametrize(
    "head",
    [
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_unparsable_requests_get_an_openai_error(proxy: InThreadProxy, head: bytes) -> None:
    """Requests the HTTP parser itself refuses never reach the app; uvicorn's plain-text
    "Invalid HTTP request received." is replaced by an OpenAI error (server/http_protocol.py).
    """
    request = RawRequest(proxy.url)
    try:
        request.send_raw(head)
        received = request.read_all(10.0)
    finally:
        request.close()
    assert request.status() == 400, received[:300]
    head_part, _, body = received.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head_part.lower()
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_http_request"


@pytest.mark.parametrize("count", [5_000, 20_000])
@pytest.mark.parametrize("model", ["fake-model", "cepo-fake-model"])
def test_thousands_of_messages(
    http: httpx.Client, clean: FakeUpstream, count: int, model: str
) -> None:
    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"}
        for i in range(count)
    ]
    body = {"model": model, "messages": history, "reasoning_effort": "low"}
    assert_sound(http.post(PATH, json=body))


def test_too_many_messages_is_refused(http: httpx.Client, clean: FakeUpstream) -> None:
    body = {"model": "fake-model", "messages": [{"role": "user"}] * 100_001}
    response = http.post(PATH, json=body)
    assert response.status_code in (400, 413)
    assert_envelope(response)
    assert clean.calls == 0


def test_unknown_cepo_key_is_named(http: httpx.Client, clean: FakeUpstream) -> None:
    body = {"model": "cepo-fake-model", "messages": QUESTION, "cepo": {"bestofn_nn": 3}}
    error = assert_envelope(http.post(PATH, json=body))
    assert error["param"] == "cepo.bestofn_nn"
    assert clean.calls == 0
