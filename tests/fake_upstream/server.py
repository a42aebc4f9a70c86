"""The scripted OpenAI-compatible upstream: an ASGI app with knobs, faults and a request log.

``FakeUpstream`` is both the ASGI app and, as a context manager, the running server::

    with FakeUpstream(personality="vllm", models=["m"]) as up:
        client = openai.OpenAI(base_url=up.base_url, api_key="x")
        up.faults.append(Fault.status(429, retry_after=0.1))
        ...
        assert up.open_calls == 0

Routes: ``POST /v1/chat/completions`` (JSON, or SSE with ``"stream": true``) and
``GET /v1/models``; anything else is a 404 (405 for a wrong method) in the personality's error
shape. It is a plain ASGI callable rather than a Starlette router because faults such as a
TCP reset need the raw transport (see ``exchange.py``).

Knobs are plain attributes, read when a request arrives, so a test may change them between
requests from its own thread: ``responder``, ``latency``, ``tokens_per_second``, ``faults``,
``fault_for``, ``personality``, ``models``, ``reject_unknown_models``, ``models_available``.

Each request is raced against the client's disconnect: when the client goes away first, the
response is cancelled and recorded as ``"client_disconnected"``.

For a fake running in another process (the benchmark), two admin routes, never recorded:
``GET /_stats`` answers the call counters as JSON (``calls``, ``open_calls``,
``max_open_calls``, ``disconnected_calls``, ``prompt_tokens``, ``completion_tokens``,
``latency``, ``tokens_per_second``);
``POST /_control`` with a JSON object sets ``latency`` and / or ``tokens_per_second`` and,
with ``"reset": true``, resets the counters (as ``reset()``), then answers the stats.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from starlette.types import Receive, Scope, Send

from tests.fake_upstream.exchange import Exchange
from tests.fake_upstream.faults import Fault
from tests.fake_upstream.personalities import (
    PERSONALITIES,
    Personality,
    PersonalityName,
    cerebras_rate_limit_headers,
)
from tests.fake_upstream.recording import (
    CHAT_PATH,
    Outcome,
    RecordedRequest,
    Recorder,
)
from tests.fake_upstream.replies import (
    Reply,
    Responder,
    count_prompt_tokens,
    count_tokens,
    default_responder,
    truncate,
)
from tests.fake_upstream.wire import (
    DONE,
    Choice,
    CompletionIds,
    chunk,
    completion_body,
    sse,
    stream_deltas,
    usage_dict,
)
from tests.servers import serve_in_thread

MODELS_PATH = "/v1/models"
STATS_PATH = "/_stats"
CONTROL_PATH = "/_control"
FaultPolicy = Callable[[dict[str, Any]], Fault | None]

_SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
}


class FakeUpstream:
    """A scripted OpenAI-compatible upstream (see the module docstring)."""

    def __init__(
        self,
        *,
        personality: PersonalityName = "openai",
        models: Iterable[str] = ("fake-model",),
        responder: Responder | None = None,
        default_tokens: int = 16,
        latency: float = 0.0,
        tokens_per_second: float | None = None,
        faults: Iterable[Fault] = (),
        fault_for: FaultPolicy | None = None,
        reject_unknown_models: bool = False,
        history_limit: int | None = None,
    ) -> None:
        self._defaults: dict[str, Any] = {
            "personality": personality,
            "models": list(models),
            "responder": responder or default_responder(default_tokens),
            "latency": latency,
            "tokens_per_second": tokens_per_second,
            "reject_unknown_models": reject_unknown_models,
            "fault_for": fault_for,
        }
        self.personality: PersonalityName = personality
        self.models: list[str] = list(models)
        self.default_tokens = default_tokens
        #: Called once per choice with the request body; default: filler text ending "Answer: 42".
        self.responder: Responder = responder or default_responder(default_tokens)
        #: Seconds before the response headers (a ``Reply.delay`` overrides it).
        self.latency = latency
        #: Stream pacing (one chunk per token); non-streamed replies take tokens / rate in total.
        self.tokens_per_second = tokens_per_second
        #: Faults consumed one per chat request, oldest first.
        self.faults: list[Fault] = list(faults)
        #: Decides a fault from the request body; consulted before ``faults`` (None: use them).
        self.fault_for: FaultPolicy | None = fault_for
        #: Answer 404 (personality shape) for a model not in ``models``.
        self.reject_unknown_models = reject_unknown_models
        #: When False, ``GET /v1/models`` answers 503 (an upstream that is not ready).
        self.models_available = True
        self.created = int(time.time())
        self._recorder = Recorder(history_limit)
        #: Tokens of the chat replies answered since start (or ``reset()``), as their usage says.
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._serving: contextlib.ExitStack | None = None
        self.url: str | None = None

    # -- running it ---------------------------------------------------------------------------

    def __enter__(self) -> FakeUpstream:
        stack = contextlib.ExitStack()
        self.url = stack.enter_context(serve_in_thread(self))
        self._serving = stack
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        serving, self._serving = self._serving, None
        if serving is not None:
            serving.close()

    @property
    def base_url(self) -> str:
        """``"http://127.0.0.1:PORT/v1"``: what an OpenAI client takes as ``base_url``."""
        if self.url is None:
            raise RuntimeError("FakeUpstream is not serving; use it as a context manager")
        return f"{self.url}/v1"

    # -- what it saw --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Requests received (chat and model list), oldest first (a copy; the last
        ``history_limit`` only, when the constructor was given one)."""
        return self._recorder.requests

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The ``POST /v1/chat/completions`` requests, oldest first."""
        return [r for r in self._recorder.requests if r.is_chat]

    @property
    def calls(self) -> int:
        """Chat completion requests received since start (or ``reset()``)."""
        return self._recorder.chat_calls

    @property
    def open_calls(self) -> int:
        """Chat completion requests whose response has not ended yet."""
        return self._recorder.open_calls

    @property
    def max_open_calls(self) -> int:
        """Peak of ``open_calls`` since start (or ``reset()``)."""
        return self._recorder.max_open_calls

    @property
    def disconnected_calls(self) -> int:
        """Chat requests whose client went away before the response ended."""
        return self._recorder.disconnected_calls

    def reset(self, *, knobs: bool = False) -> None:
        """Forget finished requests and the open-call peak.

        With ``knobs=True`` also restore every knob to its constructor value (faults emptied,
        model list available), so one server can be shared by many tests.
        """
        self._recorder.reset()
        self.prompt_tokens = self.completion_tokens = 0
        if knobs:
            for name, value in self._defaults.items():
                setattr(self, name, list(value) if isinstance(value, list) else value)
            self.faults = []
            self.models_available = True

    def wait_until_idle(self, timeout: float = 5.0) -> bool:
        """Block until no chat call is open (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while self.open_calls:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        raw_body = await _read_body(receive)
        if scope["path"] in (STATS_PATH, CONTROL_PATH):
            await self._admin(scope["method"], scope["path"], raw_body, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body: Any = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = None
        record = self._recorder.open(scope["method"], scope["path"], headers, body)
        exchange = Exchange(send, record, self._recorder)
        responding = asyncio.ensure_future(self._route(exchange, scope["method"], body))
        watching = asyncio.ensure_future(_wait_for_disconnect(receive))
        outcome: Outcome = "error"
        try:
            await asyncio.wait({responding, watching}, return_when=asyncio.FIRST_COMPLETED)
            if responding.done():
                outcome = responding.result()
            elif exchange.aborted:  # our own reset, seen by the watcher first
                outcome = "error"
            else:
                outcome = "client_disconnected"
        finally:
            responding.cancel()
            watching.cancel()
            await asyncio.gather(responding, watching, return_exceptions=True)
            self._recorder.close(record, outcome)

    async def _admin(self, method: str, path: str, raw_body: bytes, send: Send) -> None:
        """The admin routes (module docstring); a bad request is a plain 400."""
        status, problem = 200, None
        if (path, method) not in ((STATS_PATH, "GET"), (CONTROL_PATH, "POST")):
            status, problem = 405, f"method {method} not allowed"
        elif path == CONTROL_PATH:
            problem = self._control(raw_body)
            status = 400 if problem else 200
        payload: dict[str, Any] = {"error": problem} if problem else self.stats()
        data = json.dumps(payload).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    def _control(self, raw_body: bytes) -> str | None:
        try:
            order = json.loads(raw_body) if raw_body else {}
        except ValueError:
            return "body is not JSON"
        if not isinstance(order, dict):
            return "body is not a JSON object"
        latency = order.get("latency", self.latency)
        rate = order.get("tokens_per_second", self.tokens_per_second)
        if not isinstance(latency, int | float) or latency < 0:
            return "latency must be a number >= 0"
        if rate is not None and (not isinstance(rate, int | float) or rate <= 0):
            return "tokens_per_second must be a number > 0 or null"
        self.latency, self.tokens_per_second = float(latency), rate
        if order.get("reset") is True:
            self.reset()
        return None

    def stats(self) -> dict[str, Any]:
        """The call counters and pacing knobs, as ``GET /_stats`` answers them."""
        return {
            "calls": self.calls,
            "open_calls": self.open_calls,
            "max_open_calls": self.max_open_calls,
            "disconnected_calls": self.disconnected_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency": self.latency,
            "tokens_per_second": self.tokens_per_second,
        }

    async def _route(self, exchange: Exchange, method: str, body: Any) -> Outcome:
        personality = PERSONALITIES[self.personality]
        path = exchange.record.path
        routes = {CHAT_PATH: ("POST", self._chat), MODELS_PATH: ("GET", self._list_models)}
        if path not in routes:
            return await _error(exchange, personality, 404, f"no route {path}")
        allowed, handler = routes[path]
        if method != allowed:
            return await _error(exchange, personality, 405, f"method {method} not allowed")
        return await handler(exchange, personality, body)

    async def _list_models(
        self, exchange: Exchange, personality: Personality, body: Any
    ) -> Outcome:
        if not self.models_available:
            return await _error(exchange, personality, 503, "model list unavailable")
        data = [personality.model_entry(model, self.created) for model in self.models]
        await exchange.json(200, {"object": "list", "data": data})
        return "completed"

    # -- chat completions ---------------------------------------------------------------------

    async def _chat(self, exchange: Exchange, personality: Personality, body: Any) -> Outcome:
        rejection = self._validate(personality, body)
        if rejection is not None:
            status, message, param, code = rejection
            headers = self._rate_limit_headers(personality)
            return await _error(
                exchange, personality, status, message, param=param, code=code, headers=headers
            )
        fault = self._next_fault(body)
        exchange.record.fault = fault.kind if fault else None
        replies = [_as_reply(self.responder(body)) for _ in range(_choice_count(personality, body))]
        first = replies[0]
        delay = first.delay if first.delay is not None else self.latency
        if fault is not None and fault.kind == "refuse":
            await exchange.reset()
            return "error"
        if fault is not None and fault.kind == "stall_before_headers":
            delay += fault.seconds
        if delay > 0:
            await asyncio.sleep(delay)
        headers = {**self._rate_limit_headers(personality), **first.headers}
        if fault is not None and fault.kind == "status":
            return await _fault_status(exchange, personality, fault, headers)
        if first.status != 200:
            return await _error(exchange, personality, first.status, first.text, headers=headers)
        limit = _token_limit(personality, body)
        choices = [_choice(reply, limit, fault) for reply in replies]
        completion_tokens = sum(count_tokens(c.text) for c in choices)
        usage = first.usage or usage_dict(count_prompt_tokens(body), completion_tokens)
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(usage.get("completion_tokens") or 0)
        ids = CompletionIds(str(body["model"]))
        if body.get("stream") is True:
            include_usage = personality.honours_include_usage and _wants_usage(body)
            return await self._stream(
                exchange, personality, ids, choices, usage, include_usage, fault, headers
            )
        return await self._complete(exchange, personality, ids, choices, usage, fault, headers)

    def _validate(
        self, personality: Personality, body: Any
    ) -> tuple[int, str, str | None, str | None] | None:
        if not isinstance(body, dict):
            return 400, "request body is not a JSON object", None, None
        model = body.get("model")
        if not isinstance(model, str):
            return 400, "'model' is required", "model", None
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return 400, "'messages' must be a non-empty list", "messages", None
        if self.reject_unknown_models and model not in self.models:
            return 404, f"The model `{model}` does not exist.", "model", "model_not_found"
        if personality.n_policy == "reject" and _requested_n(body) != 1:
            return 500, "Only one completion choice is allowed", None, None
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                return 400, f"messages.{index}: must be an object", "messages", None
            role = message.get("role")
            for name in personality.rejected_history_fields:
                if name in message:
                    where = f"messages.{index}.{role}.{name}"
                    text = f"{where}: property '{where}' is unsupported"
                    return 400, text, "validation_error", "wrong_api_format"
        return None

    def _next_fault(self, body: dict[str, Any]) -> Fault | None:
        policy = self.fault_for
        if policy is not None and (fault := policy(body)) is not None:
            return fault
        try:
            return self.faults.pop(0)
        except IndexError:
            return None

    def _rate_limit_headers(self, personality: Personality) -> dict[str, str]:
        if not personality.rate_limit_headers:
            return {}
        return cerebras_rate_limit_headers(14_400 - self.calls, 60_000)

    def _pause(self) -> float:
        rate = self.tokens_per_second
        return 1.0 / rate if rate else 0.0

    async def _complete(
        self,
        exchange: Exchange,
        personality: Personality,
        ids: CompletionIds,
        choices: list[Choice],
        usage: dict[str, Any],
        fault: Fault | None,
        headers: dict[str, str],
    ) -> Outcome:
        payload = completion_body(ids, choices, usage, personality)
        if fault is not None and fault.kind == "empty_choices":
            payload["choices"] = []
        tokens = sum(count_tokens(c.text) + count_tokens(c.reasoning) for c in choices)
        if (pause := self._pause()) and tokens:
            await asyncio.sleep(pause * tokens)
        data = json.dumps(payload).encode()
        kind = fault.kind if fault is not None else None
        if kind == "malformed_json":
            data = data[: len(data) // 2]
        start_headers = {"content-type": "application/json", "content-length": str(len(data))}
        await exchange.start(200, {**start_headers, **headers})
        half = len(data) // 2
        if kind == "reset_mid_body":
            await exchange.body(data[:half])
            await exchange.reset()
            return "error"
        if kind == "stall_mid_stream" and fault is not None:
            await exchange.body(data[:half])
            await asyncio.sleep(fault.seconds)
            data = data[half:]
        await exchange.body(data, more=False)
        return "completed"

    async def _stream(
        self,
        exchange: Exchange,
        personality: Personality,
        ids: CompletionIds,
        choices: list[Choice],
        usage: dict[str, Any],
        include_usage: bool,
        fault: Fault | None,
        headers: dict[str, str],
    ) -> Outcome:
        await exchange.start(200, {**_SSE_HEADERS, **headers})
        kind = fault.kind if fault is not None else None
        if kind == "empty_choices":
            await exchange.chunk(sse(chunk(ids, [], with_usage_key=True, usage=usage)))
            await exchange.chunk(DONE)
            await exchange.end()
            return "completed"
        steps = stream_deltas(choices, personality)
        if kind == "malformed_json":
            await exchange.chunk(sse(chunk(ids, steps[0], with_usage_key=include_usage)))
            await exchange.chunk(b'data: {"id": "' + ids.id.encode() + b'", "choices": [{\n\n')
            await exchange.chunk(DONE)
            await exchange.end()
            return "completed"
        pause = self._pause()
        for position, step in enumerate(steps):
            if fault is not None and position == fault.after_chunks:
                if fault.kind == "reset_mid_body":
                    await exchange.reset()
                    return "error"
                if fault.kind == "stall_mid_stream":
                    await asyncio.sleep(fault.seconds)
            if pause and _carries_token(step):
                await asyncio.sleep(pause)
            await exchange.chunk(sse(chunk(ids, step, with_usage_key=include_usage)))
        if include_usage:
            await exchange.chunk(sse(chunk(ids, [], with_usage_key=True, usage=usage)))
        if kind != "no_done":
            await exchange.chunk(DONE)
        await exchange.end()
        return "completed"


# -- helpers ----------------------------------------------------------------------------------


async def _error(
    exchange: Exchange,
    personality: Personality,
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Outcome:
    await exchange.json(status, personality.error_body(status, message, param, code), headers)
    return "error"


async def _fault_status(
    exchange: Exchange, personality: Personality, fault: Fault, headers: dict[str, str]
) -> Outcome:
    extra = dict(headers)
    if fault.retry_after is not None:
        extra["retry-after"] = f"{fault.retry_after:g}"
    if fault.retry_after_ms is not None:
        extra["retry-after-ms"] = f"{fault.retry_after_ms:g}"
    extra.update(fault.headers)
    message = fault.message or f"injected {fault.status_code} from the fake upstream"
    if fault.body is not None:
        await exchange.json(fault.status_code, fault.body, extra)
        return "error"
    return await _error(exchange, personality, fault.status_code, message, headers=extra)


def _as_reply(value: str | Reply) -> Reply:
    return value if isinstance(value, Reply) else Reply(value)


def _requested_n(body: dict[str, Any]) -> int:
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1


def _choice_count(personality: Personality, body: dict[str, Any]) -> int:
    return _requested_n(body) if personality.n_policy == "honour" else 1


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _token_limit(personality: Personality, body: dict[str, Any]) -> int | None:
    """The completion token limit the upstream applies (ollama ignores max_completion_tokens)."""
    limit = _positive_int(body.get("max_tokens"))
    if personality.knows_max_completion_tokens:
        return _positive_int(body.get("max_completion_tokens")) or limit
    return limit


def _choice(reply: Reply, limit: int | None, fault: Fault | None) -> Choice:
    text, finish = reply.text, reply.finish_reason
    if fault is not None and fault.kind == "length":
        text, finish = truncate(text, max(count_tokens(text) // 2, 1)), "length"
    if limit is not None and count_tokens(text) > limit:
        text, finish = truncate(text, limit), "length"
    return Choice(text, finish, reply.reasoning, reply.tool_calls)


def _wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _carries_token(step: list[dict[str, Any]]) -> bool:
    delta = step[0]["delta"]
    return any(key != "role" and value for key, value in delta.items())


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


__all__ = ["FakeUpstream", "FaultPolicy"]
