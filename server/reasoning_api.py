"""Serving ``cepo-<model>`` requests: choose the preset, run the engine, stream or answer.

What the request asks for (effort, reasoning mode and format, tools policy) is read by
:mod:`server.conventions`. Passed through to the upstream model instead, with
``X-Reasoning-Bypassed`` set to the reason: UI background tasks (``ui-task``, see
:mod:`server.ui_tasks`), ``reasoning_effort`` ``none`` / ``minimal`` (``reasoning_effort``),
a required tool call (``tool_choice``) and, under the ``passthrough`` tools policy, any
request with tools (``tools``). Otherwise tools are offered to the answer step only
(``X-Reasoning-Tools: final-step``).
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from config.presets import PresetName, load_preset
from reasoning.config import CePOConfig
from reasoning.engine import CePOEngine, RunRequest
from reasoning.errors import DeadlineExceeded
from reasoning.events import AnswerDelta, RunFinished, StatusUpdate, TraceBlock
from reasoning.llm import LLMError
from server.conventions import reasoning_options, tool_call_required
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
    opening_block,
    render_block,
    render_status,
    run_request,
    tool_call_deltas,
    tool_offer,
    usage_of,
)
from server.ui_tasks import ui_task

BYPASS_HEADER = "X-Reasoning-Bypassed"
UI_TASK_HEADER = "X-Reasoning-UI-Task"
TOOLS_HEADER = "X-Reasoning-Tools"


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
    options = reasoning_options(
        body,
        request.headers,
        default_mode=settings.reasoning_mode,
        default_tools_policy=settings.tools_policy,
    )
    mode = options.mode
    reasoning_format = options.reasoning_format
    context.model = parsed.model
    context.mode = mode
    if settings.log_content:
        context.prompt = body.get("messages")
    if settings.bypass_ui_tasks and (task := ui_task(body["messages"])) is not None:
        return await _bypass(
            request,
            services,
            context,
            body,
            parsed,
            upstream_model,
            "ui-task",
            {UI_TASK_HEADER: task},
        )
    if options.bypass:
        return await _bypass(
            request, services, context, body, parsed, upstream_model, "reasoning_effort"
        )
    offer = None
    response_headers: dict[str, str] = {}
    if parsed.tools:
        if options.tools_policy == "passthrough":
            return await _bypass(request, services, context, body, parsed, upstream_model, "tools")
        if tool_call_required(body.get("tool_choice")):
            return await _bypass(
                request, services, context, body, parsed, upstream_model, "tool_choice"
            )
        offer = tool_offer(body)
        response_headers[TOOLS_HEADER] = "final-step"
    if parsed.logprobs:
        raise ProxyError(
            400, "logprobs are not available for CePO models", param="logprobs", code="unsupported"
        )
    preset: PresetName = options.effort or settings.default_preset  # type: ignore[assignment]
    config = _config(preset, options.overrides)
    if parsed.response_format is not None and reasoning_format == "think":
        # The answer must stay valid JSON: reasoning never goes into the content.
        reasoning_format = "reasoning_content"
    show_trace = mode == "verbose" and not options.exclude
    run = run_request(
        parsed,
        body,
        upstream_model=upstream_model,
        config=config,
        deadline=context.deadline,
        preset=preset,
        tools=offer,
    )
    runs = parsed.n or 1
    engine = CePOEngine(services.llm.for_request(context))
    await services.admission.enter()
    if parsed.stream:
        resources = AsyncExitStack()
        resources.callback(services.admission.leave)
        shown = "none" if options.exclude else mode
        return _stream(
            services,
            context,
            parsed,
            engine,
            run,
            runs,
            _Shown(shown, reasoning_format, opening_block(config, preset)),
            resources,
            response_headers,
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
                    r.trace if show_trace else None,
                    r.finished.tool_calls,
                )
                for r in results
            ],
            usage=usage_of(
                [r.finished.usage for r in results], [r.finished.answer_usage for r in results]
            ),
            cepo=combined_cepo([r.finished.metadata for r in results]),
            reasoning_format=reasoning_format,
        ),
        headers=response_headers,
    )


# -- request interpretation -------------------------------------------------------------
def _config(preset: PresetName, overrides: dict[str, Any] | None) -> CePOConfig:
    config = load_preset(preset)
    if not overrides:
        return config
    try:
        return config.merged(overrides)
    except ValidationError as error:
        first = error.errors()[0]
        # a rule across fields (a model validator) has no location: the param is ``cepo``
        param = ".".join(["cepo", *(str(part) for part in first["loc"])])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ProxyError(400, f"{param}: {message}", param=param, code="invalid_value") from None


async def _bypass(
    request: Request,
    services: Services,
    context: RequestContext,
    body: dict[str, Any],
    parsed: ChatCompletionRequest,
    upstream_model: str,
    reason: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """Answer with one plain upstream call; the proxy's own fields (``cepo``, and the
    effort fields, which chose CePO's preset) are not forwarded."""
    forwarded = {
        k: v for k, v in body.items() if k not in ("cepo", "reasoning_effort", "reasoning")
    }
    forwarded["model"] = upstream_model
    context.mode = "bypass"
    return await passthrough_response(
        request,
        services,
        context,
        forwarded,
        parsed,
        headers={BYPASS_HEADER: reason, **(headers or {})},
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
@dataclass(frozen=True, slots=True)
class _Shown:
    """What a stream shows of the reasoning: ``mode`` (``none`` when excluded), where it
    goes (``reasoning_format``), and the verbose opening text."""

    mode: Mode | Literal["none"]
    reasoning_format: ReasoningFormat
    opening: str


def _stream(
    services: Services,
    context: RequestContext,
    parsed: ChatCompletionRequest,
    engine: CePOEngine,
    run: RunRequest,
    runs: int,
    shown: _Shown,
    resources: AsyncExitStack,
    headers: dict[str, str],
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

        async def reasoning(text: str) -> None:
            nonlocal think_open
            if shown.reasoning_format == "think":
                if not think_open:
                    think_open = True
                    await emit(json_event(factory.chunk(index, {"content": "<think>\n"})))
                await emit(json_event(factory.chunk(index, {"content": text})))
            else:
                # The field is named by the format: reasoning_content or reasoning.
                await emit(json_event(factory.chunk(index, {shown.reasoning_format: text})))

        async def close_think() -> None:
            nonlocal think_closed
            if think_open and not think_closed:
                think_closed = True
                await emit(json_event(factory.chunk(index, {"content": "</think>\n\n"})))

        if shown.mode == "verbose":
            await reasoning(shown.opening)  # the run has started: say so before any call ends
        async with aclosing(engine.run(run)) as events:
            async for event in events:
                if isinstance(event, TraceBlock):
                    if shown.mode == "verbose":
                        await reasoning(render_block(event))
                elif isinstance(event, StatusUpdate):
                    if shown.mode == "quiet":
                        await reasoning(render_status(event.text))
                elif isinstance(event, AnswerDelta):
                    if event.text:
                        await close_think()
                        await emit(json_event(factory.chunk(index, {"content": event.text})))
                elif isinstance(event, RunFinished):
                    await close_think()
                    finished[index] = event
                    _observe_run(services, context, event)
                    if event.tool_calls:
                        delta = {"tool_calls": tool_call_deltas(event.tool_calls)}
                        await emit(json_event(factory.chunk(index, delta)))
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
        headers=headers,
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
