"""Running items through arms against the proxy, over HTTP with the official ``openai`` SDK.

Contract of :func:`run_accuracy`:

* the selection (datasets x indices x arms) is fixed before any request, from
  :func:`bench.accuracy.datasets.select_indices`; the holdout rule applies;
* a ``run`` line is appended to the results file first, then one ``item`` line per
  finished (item, arm), flushed as it completes;
* (item, arm) pairs already done in the file (see :mod:`bench.accuracy.records`) are
  skipped; failed requests are recorded with their error and retried by the next run;
* at most ``concurrency`` (item, arm) tasks are in flight (a fixed pool of workers in one
  task group), spread across ``base_urls`` by :class:`bench.accuracy.proxies.Proxies`;
  cancelling the run (Ctrl-C) cancels them, and every finished line is kept;
* the SDK clients are closed on every path.

Non-streaming requests are used: the response's ``usage`` and its ``cepo`` object
(upstream calls, candidates, ratings) are read defensively via ``model_extra``, so a
proxy that omits them still gives a usable record.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from bench.accuracy.arms import Arm
from bench.accuracy.datasets import (
    DATA_DIR,
    DatasetName,
    Item,
    load_dataset,
    parse_index_range,
    select_indices,
    select_items,
)
from bench.accuracy.proxies import Proxies
from bench.accuracy.records import ItemRecord, ResultsWriter, RunRecord, done_keys, read_results
from bench.accuracy.scoring import score_reply

_UPSTREAM_CALL_KEYS = ("upstream_calls", "upstream_calls_made", "calls_made", "calls")
_MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything one ``run`` needs. ``command`` is recorded verbatim (secrets already masked).
    ``base_urls``: the proxies requests are spread across (at least one)."""

    base_urls: tuple[str, ...]
    model: str
    datasets: list[DatasetName]
    arms: list[Arm]
    out: Path
    sample: int | None = None
    seed: int = 0
    indices: str | None = None
    allow_holdout: bool = False
    concurrency: int = 1
    api_key: str = "not-needed"
    timeout: float = 3600.0
    max_retries: int = 0
    max_tokens: int | None = None
    temperature: float | None = None
    keep_reasoning: bool = True
    model_prefix: str = "cepo-"
    command: str = ""
    data_dir: Path = DATA_DIR


@dataclass(slots=True)
class RunSummary:
    """What a run did: pairs planned, skipped as already done, recorded, and failed."""

    planned: int = 0
    skipped: int = 0
    recorded: int = 0
    failed: int = 0
    correct: int = 0
    selected: dict[str, list[int]] = field(default_factory=dict)


def _print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def upstream_calls_from(cepo: dict[str, Any] | None) -> int | None:
    """The number of upstream calls a ``cepo`` metadata object reports, or None.

    Accepts an integer under one of a few plausible keys, or ``{"made": N}`` under them.
    """
    if not cepo:
        return None
    for key in _UPSTREAM_CALL_KEYS:
        value = cepo.get(key)
        if isinstance(value, dict):
            value = value.get("made")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _extra(model: Any) -> dict[str, Any]:
    extra = getattr(model, "model_extra", None)
    return extra if isinstance(extra, dict) else {}


def _record_from_response(
    item: Item, arm: Arm, config: RunConfig, response: ChatCompletion, latency: float
) -> ItemRecord:
    base = _base_record(item, arm, config)
    if not response.choices:
        return _with(base, error="response has no choices", latency_s=latency)
    choice = response.choices[0]
    content = choice.message.content or ""
    message_extra = _extra(choice.message)
    reasoning = message_extra.get("reasoning_content") or message_extra.get("reasoning")
    cepo = _extra(response).get("cepo")
    cepo = cepo if isinstance(cepo, dict) else None
    usage = response.usage
    details = usage.completion_tokens_details if usage is not None else None
    score = score_reply(item.dataset, content, item.expected)
    return _with(
        base,
        answer=content,
        extracted=score.extracted,
        method=score.method,
        correct=score.correct,
        prompt_tokens=usage.prompt_tokens if usage is not None else None,
        completion_tokens=usage.completion_tokens if usage is not None else None,
        reasoning_tokens=details.reasoning_tokens if details is not None else None,
        latency_s=latency,
        upstream_calls=upstream_calls_from(cepo) if arm.cepo else 1,
        finish_reason=choice.finish_reason,
        cepo=cepo,
        reasoning=reasoning if config.keep_reasoning and isinstance(reasoning, str) else None,
    )


def _base_record(item: Item, arm: Arm, config: RunConfig) -> ItemRecord:
    return ItemRecord(
        dataset=item.dataset,
        index=item.index,
        arm=arm.name,
        model=config.model,
        request_model=arm.request_model(config.model, config.model_prefix),
        prompt_hash=item.prompt_hash,
        expected=item.expected,
        temperature=arm.temperature if arm.samples is not None else config.temperature,
    )


def _with(record: ItemRecord, **changes: Any) -> ItemRecord:
    return replace(record, finished_at=time.time(), **changes)


async def _ask(client: openai.AsyncOpenAI, item: Item, arm: Arm, config: RunConfig) -> ItemRecord:
    """The record of ``item`` under ``arm``; a failed request raises its ``openai.OpenAIError``."""
    if arm.samples is not None:
        return await _ask_samples(client, item, arm, config)
    options = arm.request_options()
    if config.max_tokens is not None:
        options["max_tokens"] = config.max_tokens
    if config.temperature is not None:
        options["temperature"] = config.temperature
    started = time.perf_counter()
    response = await client.chat.completions.create(
        model=arm.request_model(config.model, config.model_prefix),
        messages=[{"role": "user", "content": item.prompt}],
        **options,
    )
    return _record_from_response(item, arm, config, response, time.perf_counter() - started)


def _failure_record(
    item: Item, arm: Arm, config: RunConfig, exc: openai.OpenAIError, latency: float
) -> ItemRecord:
    error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
    return _with(_base_record(item, arm, config), error=error, latency_s=latency)


async def _ask_samples(
    client: openai.AsyncOpenAI, item: Item, arm: Arm, config: RunConfig
) -> ItemRecord:
    """A self-consistency arm: ``arm.samples`` plain requests at the arm's temperature,
    all at once; the record is the majority answer's (see :func:`majority_sample`). The
    first failed sample's ``openai.OpenAIError`` is raised (the others are cancelled)."""
    assert arm.samples is not None
    options: dict[str, Any] = {"temperature": arm.temperature}
    if config.max_tokens is not None:
        options["max_tokens"] = config.max_tokens
    started = time.perf_counter()
    failure: BaseException | None = None
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(
                    client.chat.completions.create(
                        model=arm.request_model(config.model, config.model_prefix),
                        messages=[{"role": "user", "content": item.prompt}],
                        **options,
                    )
                )
                for _ in range(arm.samples)
            ]
    except* openai.OpenAIError as group_error:
        failure = group_error.exceptions[0]
    if failure is not None:
        raise failure
    latency = time.perf_counter() - started
    samples: list[dict[str, Any]] = []
    texts: list[str] = []
    prompt_tokens = completion_tokens = 0
    for task in tasks:
        response = task.result()
        choice = response.choices[0] if response.choices else None
        content = (choice.message.content if choice is not None else None) or ""
        score = score_reply(item.dataset, content, item.expected)
        usage = response.usage
        prompt_tokens += usage.prompt_tokens if usage is not None else 0
        completion_tokens += usage.completion_tokens if usage is not None else 0
        texts.append(content)
        samples.append(
            {
                "extracted": score.extracted,
                "method": score.method,
                "correct": score.correct,
                "completion_tokens": usage.completion_tokens if usage is not None else None,
                "finish_reason": choice.finish_reason if choice is not None else None,
            }
        )
    chosen = majority_sample(samples)
    return _with(
        _base_record(item, arm, config),
        answer=texts[chosen] if chosen is not None else texts[0],
        extracted=samples[chosen]["extracted"] if chosen is not None else None,
        method=samples[chosen]["method"] if chosen is not None else "none",
        correct=bool(samples[chosen]["correct"]) if chosen is not None else False,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_s=latency,
        upstream_calls=arm.samples,
        finish_reason=samples[chosen]["finish_reason"] if chosen is not None else None,
        samples=samples,
    )


def majority_sample(samples: list[dict[str, Any]]) -> int | None:
    """The index of the first sample whose ``extracted`` answer is the most frequent
    (ties: the answer that appeared first); ``None`` when no sample has an answer."""
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for index, sample in enumerate(samples):
        answer = sample.get("extracted")
        if answer is None:
            continue
        counts[answer] = counts.get(answer, 0) + 1
        first.setdefault(answer, index)
    if not counts:
        return None
    best = max(counts, key=lambda answer: (counts[answer], -first[answer]))
    return first[best]


def plan_items(config: RunConfig) -> dict[DatasetName, list[Item]]:
    """The items each dataset contributes to the run (raises DatasetError on a bad selection)."""
    index_range = parse_index_range(config.indices)
    planned: dict[DatasetName, list[Item]] = {}
    for dataset in config.datasets:
        items = load_dataset(dataset, config.data_dir)
        indices = select_indices(
            dataset,
            len(items),
            index_range,
            sample=config.sample,
            seed=config.seed,
            allow_holdout=config.allow_holdout,
        )
        planned[dataset] = select_items(items, indices)
    return planned


async def run_accuracy(
    config: RunConfig, *, progress: Callable[[str], None] = _print_progress
) -> RunSummary:
    """Run the configured selection through every arm, appending results to ``config.out``."""
    if config.concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if not config.base_urls:
        raise ValueError("at least one base URL is needed")
    planned = plan_items(config)
    summary = RunSummary(
        selected={name: [it.index for it in items] for name, items in planned.items()}
    )
    hashes: dict[tuple[str, int], str] = {
        (it.dataset, it.index): it.prompt_hash for items in planned.values() for it in items
    }
    done = done_keys(read_results(config.out)[1], config.model, hashes)
    jobs: deque[tuple[Item, Arm]] = deque()
    for items in planned.values():
        for item in items:
            for arm in config.arms:
                summary.planned += 1
                if (item.dataset, item.index, arm.name) in done:
                    summary.skipped += 1
                else:
                    jobs.append((item, arm))
    total = len(jobs)
    spread = f" across {len(config.base_urls)} proxies" if len(config.base_urls) > 1 else ""
    progress(
        f"{summary.planned} (item, arm) pairs planned, "
        f"{summary.skipped} already done, {total} to run{spread}"
    )
    async with Proxies(
        config.base_urls,
        api_key=config.api_key,
        timeout=config.timeout,
        max_retries=config.max_retries,
        progress=progress,
    ) as proxies:
        with ResultsWriter(config.out) as writer:
            writer.write(
                RunRecord(
                    command=config.command,
                    base_url=config.base_urls[0],
                    model=config.model,
                    datasets=list(config.datasets),
                    arms=[arm.name for arm in config.arms],
                    sample=config.sample,
                    seed=config.seed,
                    indices=config.indices,
                    allow_holdout=config.allow_holdout,
                    max_tokens=config.max_tokens,
                    temperature=config.temperature,
                    selected=summary.selected,
                    started_at=time.time(),
                    base_urls=list(config.base_urls),
                )
            )

            async def worker() -> None:
                while jobs:
                    item, arm = jobs.popleft()
                    with proxies.lease() as proxy:
                        started = time.perf_counter()
                        try:
                            record = await _ask(proxy.client, item, arm, config)
                        except openai.OpenAIError as exc:
                            proxies.failed(proxy, exc)
                            latency = time.perf_counter() - started
                            record = _failure_record(item, arm, config, exc, latency)
                    writer.write(record)
                    summary.recorded += 1
                    if record.error is not None:
                        summary.failed += 1
                        verdict = f"error: {record.error}"
                    else:
                        summary.correct += bool(record.correct)
                        verdict = "right" if record.correct else "wrong"
                        verdict += f" ({record.extracted} vs {item.expected})"
                    progress(
                        f"[{summary.recorded}/{total}] {item.dataset}#{item.index} {arm.name}: "
                        f"{verdict} in {record.latency_s or 0.0:.1f}s"
                    )

            async with asyncio.TaskGroup() as group:
                for _ in range(min(config.concurrency, max(total, 1))):
                    group.create_task(worker())
    return summary
