"""Serving ``cepo-<model>`` requests: choose the preset, run the engine, stream or answer.

Headers: ``X-Reasoning-Mode: verbose | quiet`` (what ``reasoning_content`` carries)
and ``X-Reasoning-Format: reasoning_content | think`` (where the reasoning goes).
Requests with ``tools`` and ``reasoning_effort`` ``none`` / ``minimal`` bypass CePO:
they are passed through to the upstream model, with ``X-Reasoning-Bypassed`` set.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack, aclosing
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from config.presets import PresetName, load_preset
from reasoning.config import CePOConfig
from reasoning.engine import CePOEngine, RunRequest
from reasoning.errors import DeadlineExceeded
from reasoning.events import AnswerDelta, RunFinished, StatusUpdate, TraceBlock
from reasoning.llm import LLMError
from server.disconnect import ClientDisconnected, unless_disconnected
from server.errors import ProxyError, first_error, from_llm_error
from server.event_stream import Emit, event_stream, json_event
from server.passthrough_api import CLIENT_CLOSED, passthrough_response
from server.protocol import ChatCompletionRequest, completion_id
from server.request_context import RequestContext
from server.services import Services
from server.translate import (
    ChunkFactory,
    Mode,
    ReasoningFormat,
    combined_cepo,
    completion,
    render_block,
    render_status,
    run_request,
    usage_of,
)

PRESETS = ("low", "medium", "high")
BYPASS_EFFORTS = ("none", "minimal")
MODE_HEADER = "x-reasoning-mode"
FORMAT_HEADER = "x-reasoning-format"
BYPASS_HEADER = "X-Reasoning-Bypassed"


async def reasoning_response(
    request: Request,
    services: Services,
    context: RequestContext,
    body: dict[str, Any],
    parsed: ChatCompletionRequest,
) -> Response:
    settings = services.settings
    upstream_model = parsed.model.removeprefix(settings.model_prefix)
    if not upstream_model:
        raise ProxyError(400, "model name has nothing after the prefix", param="model")
    mode = _mode(request, settings.reasoning_mode)
    reasoning_format = _format(request)
    effort = parsed.reasoning_effort
    context.model = parsed.model
    context.mode = mode
    if settings.log_content:
        context.prompt = body.get("messages")
    if parsed.tools:
        return await _bypass(request, services, context, body, parsed, upstream_model, "tools")
    if effort in BYPASS_EFFORTS:
        return await _bypass(
            request, services, context, body, parsed, upstream_model, "reasoning_effort"
        )
    if effort is not None and effort not in PRESETS:
        raise ProxyError(
            400,
            f"reasoning_effort must be one of low, medium, high, none, minimal; got {effort!r}",
            param="reasoning_effort",
            code="invalid_value",
        )
    if parsed.logprobs:
        raise ProxyError(
            400, "logprobs are not available for CePO models", param="logprobs", code="unsupported"
        )
    preset: PresetName = effort or settings.default_preset  # type: ignore[assignment]
    config = _config(preset, parsed.cepo)
    if parsed.response_format is not None:
        # The answer must stay valid JSON: reasoning never goes into the content.
        reasoning_format = "reasoning_content"
    run = run_request(
        parsed,
        body,
        upstream_model=upstream_model,
        config=config,
        deadline=context.deadline,
        preset=preset,
    )
    runs = parsed.n or 1
    engine = CePOEngine(services.llm.for_request(context))
    await services.admission.enter()
    if parsed.stream:
        resources = AsyncExitStack()
        resources.callback(services.admission.leave)
        return _stream(
            services, context, parsed, engine, run, runs, mode, reasoning_format, resources
        )
    try:
        results = await unless_disconnected(request, _collect(engine, run, runs))
    except ClientDisconnected:
        context.outcome = "client_disconnected"
        return Response(status_code=CLIENT_CLOSED)
    except LLMError as error:
        context.outcome = "deadline" if isinstance(error, DeadlineExceeded) else "failed"
        raise from_llm_error(error) from None
    finally:
        services.admission.leave()
    for result in results:
        _observe_run(services, context, result.finished)
    return JSONResponse(
        completion(
            completion_id=completion_id(),
            model=parsed.model,
            answers=[
                (
                    r.finished.answer,
                    r.finished.finish_reason,
                    r.trace if mode == "verbose" else None,
                )
                for r in results
            ],
            usage=usage_of(
                [r.finished.usage for r in results], [r.finished.answer_usage for r in results]
            ),
            cepo=combined_cepo([r.finished.metadata for r in results]),
            reasoning_format=reasoning_format,
        )
    )


# -- request interpretation -------------------------------------------------------------
def _mode(request: Request, default: str) -> Mode:
    value = request.headers.get(MODE_HEADER, default).strip().lower()
    if value == "verbose":
        return "verbose"
    if value == "quiet":
        return "quiet"
    raise ProxyError(
        400,
        "header X-Reasoning-Mode must be verbose or quiet",
        param="X-Reasoning-Mode",
        code="invalid_header",
    )


def _format(request: Request) -> ReasoningFormat:
    value = request.headers.get(FORMAT_HEADER, "reasoning_content").strip().lower()
    if value == "think":
        return "think"
    if value in ("reasoning_content", ""):
        return "reasoning_content"
    raise ProxyError(
        400,
        "header X-Reasoning-Format must be think or reasoning_content",
        param="X-Reasoning-Format",
        code="invalid_header",
    )


def _config(preset: PresetName, overrides: dict[str, Any] | None) -> CePOConfig:
    config = load_preset(preset)
    if not overrides:
        return config
    try:
        return config.merged(overrides)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "cepo"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ProxyError(
            400, f"cepo.{field}: {message}", param=f"cepo.{field}", code="invalid_value"
        ) from None


async def _bypass(
    request: Request,
    services: Services,
    context: RequestContext,
    body: dict[str, Any],
    parsed: ChatCompletionRequest,
    upstream_model: str,
    reason: str,
) -> Response:
    forwarded = {k: v for k, v in body.items() if k != "cepo"}
    forwarded["model"] = upstream_model
    if reason == "reasoning_effort" or forwarded.get("reasoning_effort") in PRESETS:
        forwarded.pop("reasoning_effort", None)
    context.mode = "bypass"
    return await passthrough_response(
        request, services, context, forwarded, parsed, headers={BYPASS_HEADER: reason}
    )


# -- non-streaming ------------------------------------------------------------------------
class _Result:
    def __init__(self, finished: RunFinished, trace: str) -> None:
        self.finished = finished
        self.trace = trace


async def _collect(engine: CePOEngine, run: RunRequest, runs: int) -> list[_Result]:
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_collect_one(engine, run)) for _ in range(runs)]
    except ExceptionGroup as group_error:
        raise first_error(group_error) from None
    return [task.result() for task in tasks]


async def _collect_one(engine: CePOEngine, run: RunRequest) -> _Result:
    blocks: list[str] = []
    async with aclosing(engine.run(run)) as events:
        async for event in events:
            if isinstance(event, TraceBlock):
                blocks.append(render_block(event))
            elif isinstance(event, RunFinished):
                return _Result(event, "".join(blocks))
    raise LLMError("the reasoning run ended without an answer", status=502)


# -- streaming ----------------------------------------------------------------------------
def _stream(
    services: Services,
    context: RequestContext,
    parsed: ChatCompletionRequest,
    engine: CePOEngine,
    run: RunRequest,
    runs: int,
    mode: Mode,
    reasoning_format: ReasoningFormat,
    resources: AsyncExitStack,
) -> Response:
    factory = ChunkFactory(completion_id(), parsed.model)
    finished: list[RunFinished | None] = [None] * runs

    async def produce(emit: Emit) -> None:
        for index in range(runs):
            await emit(json_event(factory.chunk(index, {"role": "assistant", "content": ""})))
        async with asyncio.TaskGroup() as group:
            for index in range(runs):
                group.create_task(_stream_one(index, emit))
        if parsed.wants_usage_chunk:
            done = [f for f in finished if f is not None]
            usage = usage_of([f.usage for f in done], [f.answer_usage for f in done])
            await emit(
                json_event(factory.usage_chunk(usage, combined_cepo([f.metadata for f in done])))
            )

    async def _stream_one(index: int, emit: Emit) -> None:
        think_open = False
        think_closed = False
        async with aclosing(engine.run(run)) as events:
            async for event in events:
                reasoning_text = ""
                if isinstance(event, TraceBlock) and mode == "verbose":
                    reasoning_text = render_block(event)
                elif isinstance(event, StatusUpdate) and mode == "quiet":
                    reasoning_text = render_status(event.text)
                if reasoning_text:
                    if reasoning_format == "think":
                        if not think_open:
                            think_open = True
                            await emit(json_event(factory.chunk(index, {"content": "<think>\n"})))
                        await emit(json_event(factory.chunk(index, {"content": reasoning_text})))
                    else:
                        delta = {"reasoning_content": reasoning_text}
                        await emit(json_event(factory.chunk(index, delta)))
                    continue
                if isinstance(event, AnswerDelta) and event.text:
                    if think_open and not think_closed:
                        think_closed = True
                        await emit(json_event(factory.chunk(index, {"content": "</think>\n\n"})))
                    await emit(json_event(factory.chunk(index, {"content": event.text})))
                elif isinstance(event, RunFinished):
                    if think_open and not think_closed:
                        think_closed = True
                        await emit(json_event(factory.chunk(index, {"content": "</think>\n\n"})))
                    finished[index] = event
                    _observe_run(services, context, event)
                    await emit(
                        json_event(
                            factory.chunk(index, {}, event.finish_reason, cepo=event.metadata)
                        )
                    )

    return event_stream(
        produce,
        context=context,
        grace_seconds=services.settings.shutdown_grace_seconds,
        resources=resources,
    )


def _observe_run(services: Services, context: RequestContext, finished: RunFinished) -> None:
    """Account one finished run in the metrics and the request's context."""
    metadata = finished.metadata
    for stage, seconds in (metadata.get("stage_timings") or {}).items():
        services.metrics.stage_duration.labels(stage).observe(float(seconds))
    dropped = len(metadata.get("candidates_dropped") or [])
    if dropped:
        services.metrics.candidates_dropped.inc(dropped)
    # Calls and tokens reach the log line through the context's stats.
    if context.outcome != "deadline":
        context.outcome = "deadline" if metadata.get("deadline_hit") else "ok"
    if services.settings.log_content:
        context.answers.append(finished.answer)
