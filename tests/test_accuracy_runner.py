"""The accuracy harness end to end: CLI against a scripted proxy on loopback, JSONL, resume, report.

The scripted proxy answers from the dataset's own references: the baseline is wrong on
items whose index is a multiple of 3, CePO arms always right (in ``\\boxed{}`` form, with
a ``cepo`` object, reasoning tokens and a reasoning trace), and scripted items fail once
with a 500 so that resuming has something to retry.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.accuracy import cli
from bench.accuracy.datasets import (
    DATASETS,
    DatasetError,
    Item,
    load_dataset,
    parse_index_range,
    select_indices,
)
from bench.accuracy.records import ItemRecord, ResultsWriter, done_keys, read_results
from bench.accuracy.report import END_MARKER, START_MARKER, ReportError, replace_section
from tests.servers import serve_in_thread, unused_loopback_url

MODEL = "tiny-model"


@dataclass
class ScriptedProxy:
    """Answers chat completions the way the proxy would, from the datasets' references."""

    prompts: dict[str, Item]
    fail_once: set[tuple[str, int, str]] = field(default_factory=set)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    async def chat(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self.lock:
            self.bodies.append(body)
        item = self.prompts[body["messages"][-1]["content"]]
        cepo = body["model"].startswith("cepo-")
        arm = body.get("reasoning_effort") or ("override" if cepo else "baseline")
        key = (item.dataset, item.index, arm)
        with self.lock:
            if key in self.fail_once:
                self.fail_once.discard(key)
                return JSONResponse(
                    {"error": {"message": "scripted failure", "type": "server_error"}},
                    status_code=500,
                )
        right = cepo or item.index % 3 != 0
        answer = item.expected if right else _wrong(item)
        content = (
            f"Working through it step by step.\n\\boxed{{{answer}}}"
            if cepo
            else (f"Let me think.\nAnswer: {answer}")
        )
        usage: dict[str, Any] = {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}
        message: dict[str, Any] = {"role": "assistant", "content": content}
        response: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage,
        }
        if cepo:
            usage.update(prompt_tokens=900, completion_tokens=600, total_tokens=1500)
            usage["completion_tokens_details"] = {"reasoning_tokens": 580}
            message["reasoning_content"] = "Plan 1 ... Execution 1 ... Rating: correct"
            response["cepo"] = {"upstream_calls": 9, "calls_cancelled": 0, "chosen": 0}
        return JSONResponse(response)


def _wrong(item: Item) -> str:
    if item.dataset == "cruxeval":
        return "'certainly not this'"
    return str(int(item.expected.replace(",", "")) + 1)


@pytest.fixture
def all_items() -> dict[str, Item]:
    return {it.prompt: it for name in DATASETS for it in load_dataset(name)}


@pytest.fixture
def proxy(all_items: dict[str, Item]) -> Iterator[tuple[ScriptedProxy, str]]:
    scripted = ScriptedProxy(all_items)
    with serve_in_thread(scripted.app(), lifespan="off") as url:
        yield scripted, url + "/v1"


def _run_args(url: str, out: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--base-url",
        url,
        "--model",
        MODEL,
        "--datasets",
        "gsm8k,cruxeval,letters",
        "--arms",
        'baseline,low,wide={"bestofn_n": 2}',
        "--sample",
        "3",
        "--seed",
        "7",
        "--indices",
        "0:60",
        "--concurrency",
        "3",
        "--out",
        str(out),
        "--api-key",
        "secret-key",
        "--timeout",
        "20",
        *extra,
    ]


def test_run_records_every_pair_and_resumes(
    proxy: tuple[ScriptedProxy, str], tmp_path: Path
) -> None:
    scripted, url = proxy
    out = tmp_path / "results" / "run.jsonl"
    expected_indices = select_indices("gsm8k", 1319, (0, 60), sample=3, seed=7)
    scripted.fail_once.add(("gsm8k", expected_indices[0], "low"))

    assert cli.main(_run_args(url, out)) == 0

    runs, items = read_results(out)
    assert len(runs) == 1 and len(items) == 3 * 3 * 3
    assert len(scripted.bodies) == 27
    run = runs[0]
    assert run.model == MODEL and run.seed == 7 and run.sample == 3
    assert run.selected["gsm8k"] == expected_indices
    assert "secret-key" not in run.command and "--api-key '***'" in run.command
    assert run.command.startswith("python -m bench.accuracy run --base-url")

    failed = [it for it in items if it.error is not None]
    assert [(it.dataset, it.index, it.arm) for it in failed] == [
        ("gsm8k", expected_indices[0], "low")
    ]
    assert "500" in (failed[0].error or "")

    for it in items:
        if it.error is not None:
            continue
        assert it.model == MODEL
        assert it.latency_s is not None and it.latency_s >= 0
        assert it.answer and it.extracted is not None and it.prompt_hash
        if it.arm == "baseline":
            assert it.request_model == MODEL
            assert it.correct is (it.index % 3 != 0)
            assert it.upstream_calls == 1
            assert (it.prompt_tokens, it.completion_tokens, it.reasoning_tokens) == (50, 20, None)
            assert it.method == "answer_line"
        else:
            assert it.request_model == f"cepo-{MODEL}"
            assert it.correct is True
            assert it.upstream_calls == 9
            assert it.reasoning_tokens == 580
            assert it.reasoning and "Rating" in it.reasoning
            assert it.cepo == {"upstream_calls": 9, "calls_cancelled": 0, "chosen": 0}
            assert it.method == "boxed"

    baseline_bodies = [b for b in scripted.bodies if b["model"] == MODEL]
    assert all("reasoning_effort" not in b and "cepo" not in b for b in baseline_bodies)
    low_bodies = [b for b in scripted.bodies if b.get("reasoning_effort") == "low"]
    assert len(low_bodies) == 9 and all(b["model"] == f"cepo-{MODEL}" for b in low_bodies)
    wide_bodies = [b for b in scripted.bodies if "cepo" in b]
    assert len(wide_bodies) == 9
    assert all(b["cepo"] == {"bestofn_n": 2} and "reasoning_effort" not in b for b in wide_bodies)

    # Rerun: only the failed pair is asked again.
    scripted.bodies.clear()
    assert cli.main(_run_args(url, out)) == 0
    assert len(scripted.bodies) == 1
    runs, items = read_results(out)
    assert len(runs) == 2 and len(items) == 28
    assert items[-1].error is None and items[-1].correct is True

    # Third run: nothing left to do.
    scripted.bodies.clear()
    assert cli.main(_run_args(url, out)) == 0
    assert scripted.bodies == []


def test_two_base_urls_share_the_requests_and_resume(
    all_items: dict[str, Item], tmp_path: Path
) -> None:
    fail_once: set[tuple[str, int, str]] = set()
    lock = threading.Lock()
    first, second = (ScriptedProxy(all_items, fail_once=fail_once, lock=lock) for _ in "ab")
    out = tmp_path / "two.jsonl"
    expected_indices = select_indices("gsm8k", 1319, (0, 60), sample=3, seed=7)
    fail_once.add(("gsm8k", expected_indices[1], "baseline"))
    with (
        serve_in_thread(first.app(), lifespan="off") as first_url,
        serve_in_thread(second.app(), lifespan="off") as second_url,
    ):
        args = _run_args(first_url + "/v1", out, "--base-url", second_url + "/v1")
        assert cli.main(args) == 0

        # Both proxies were asked, and between them every pair exactly once.
        assert first.bodies and second.bodies
        assert len(first.bodies) + len(second.bodies) == 27
        runs, items = read_results(out)
        assert len(runs) == 1 and len(items) == 27
        assert len({it.key for it in items}) == 27
        assert runs[0].base_url == first_url + "/v1"
        assert runs[0].base_urls == [first_url + "/v1", second_url + "/v1"]
        assert f"--base-url {second_url}/v1" in runs[0].command
        assert [it.key for it in items if it.error is not None] == [
            ("gsm8k", expected_indices[1], "baseline")
        ]
        for it in items:
            if it.error is None:
                assert it.correct is (it.arm != "baseline" or it.index % 3 != 0)
                assert it.method == ("answer_line" if it.arm == "baseline" else "boxed")

        # Rerun: only the failed pair is asked again, of either proxy.
        first.bodies.clear()
        second.bodies.clear()
        assert cli.main(args) == 0
        assert len(first.bodies) + len(second.bodies) == 1
        runs, items = read_results(out)
        assert len(runs) == 2 and len(items) == 28
        assert items[-1].error is None and items[-1].correct is True

        # Nothing is left, and a single base URL resumes the same file.
        first.bodies.clear()
        second.bodies.clear()
        assert cli.main(_run_args(second_url + "/v1", out)) == 0
        assert first.bodies == [] and second.bodies == []
    assert read_results(out)[0][-1].base_urls == [second_url + "/v1"]


def test_a_refusing_base_url_is_set_aside(
    proxy: tuple[ScriptedProxy, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted, url = proxy
    dead = unused_loopback_url() + "/v1"
    out = tmp_path / "dead.jsonl"
    assert cli.main(_run_args(url, out, "--base-url", dead)) == 0

    # Only the tasks leased before the first refusal went to the dead proxy.
    _, items = read_results(out)
    failed = [it for it in items if it.error is not None]
    assert len(items) == 27 and 1 <= len(failed) <= 3
    assert all((it.error or "").startswith("APIConnectionError") for it in failed)
    assert len(scripted.bodies) == 27 - len(failed)
    assert f"{dead} refused a connection: set aside" in capsys.readouterr().err

    # The live proxy alone finishes the file.
    scripted.bodies.clear()
    assert cli.main(_run_args(url, out)) == 0
    assert len(scripted.bodies) == len(failed)
    assert all(it.error is None for it in read_results(out)[1][27:])


def test_report_updates_only_the_marked_section(
    proxy: tuple[ScriptedProxy, str], tmp_path: Path
) -> None:
    _, url = proxy
    out = tmp_path / "run.jsonl"
    assert cli.main(_run_args(url, out)) == 0
    results = tmp_path / "bench" / "RESULTS.md"
    results.parent.mkdir()
    before = "# Results\n\n## Performance\n\nfast enough\n\n"
    after = "\n## Reliability\n\nsolid\n"
    results.write_text(before + f"{START_MARKER}\nold numbers\n{END_MARKER}\n" + after)

    assert cli.main(["report", "--in", str(out), "--write-results", str(results)]) == 0

    text = results.read_text()
    assert text.startswith(before) and text.endswith(after)
    assert "old numbers" not in text
    section = text[text.index(START_MARKER) : text.index(END_MARKER)]
    assert "## Accuracy" in section
    assert "python -m bench.accuracy run" in section and f"model `{MODEL}`" in section
    assert "sample 3, seed 7" in section
    assert "### gsm8k" in section and "### letters" in section and "### cruxeval" in section
    assert "| baseline | 3 |" in section and "| wide | 3 |" in section
    assert "| low | 3 | 0 | 0 |" not in section  # CePO wins where the baseline is wrong
    assert "McNemar exact p" in section and "95% CI (Newcombe)" in section
    assert "![Accuracy against completion tokens per item](accuracy_tokens.png)" in section
    png = results.parent / "accuracy_tokens.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A second report replaces the section instead of adding one.
    assert cli.main(["report", "--in", str(out), "--write-results", str(results)]) == 0
    assert results.read_text().count(START_MARKER) == 1


def test_report_creates_missing_results_and_prints_without_one(
    proxy: tuple[ScriptedProxy, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = proxy
    out = tmp_path / "run.jsonl"
    assert cli.main(_run_args(url, out, "--no-reasoning")) == 0
    assert all(it.reasoning is None for it in read_results(out)[1])
    capsys.readouterr()
    assert cli.main(["report", "--in", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(START_MARKER) and printed.rstrip().endswith(END_MARKER)
    results = tmp_path / "new" / "RESULTS.md"
    assert cli.main(["report", "--in", str(out), "--write-results", str(results)]) == 0
    assert results.read_text().startswith("# Results\n\n" + START_MARKER)


def test_holdout_is_refused_without_the_flag(
    proxy: tuple[ScriptedProxy, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted, url = proxy
    out = tmp_path / "holdout.jsonl"
    args = [
        "run", "--base-url", url, "--model", MODEL, "--datasets", "letters",
        "--arms", "baseline", "--indices", "90:110", "--out", str(out), "--timeout", "20",
    ]  # fmt: skip
    assert cli.main(args) == 2
    assert "holdout" in capsys.readouterr().err
    assert scripted.bodies == [] and not out.exists()
    assert cli.main([*args, "--allow-holdout", "--sample", "2"]) == 0
    assert len(scripted.bodies) == 2


@pytest.mark.parametrize(
    "bad",
    [
        ["--datasets", "mmlu"],
        ["--arms", "baseline,turbo"],
        ["--arms", "baseline,baseline"],
        ["--arms", "x={not json}"],
        ["--indices", "5"],
        ["--concurrency", "0"],
    ],
)
def test_bad_arguments_exit_2(bad: list[str], tmp_path: Path) -> None:
    args = ["run", "--base-url", "http://127.0.0.1:9/v1", "--model", MODEL]
    assert cli.main([*args, "--out", str(tmp_path / "x.jsonl"), *bad]) == 2


def test_selection_is_reproducible_and_bounded() -> None:
    first = select_indices("gsm8k", 1319, (None, None), sample=20, seed=3)
    assert first == select_indices("gsm8k", 1319, (None, None), sample=20, seed=3)
    assert first != select_indices("gsm8k", 1319, (None, None), sample=20, seed=4)
    assert first == sorted(first) and len(set(first)) == 20 and max(first) < 300
    assert select_indices("letters", 200, (None, None)) == list(range(100))
    assert select_indices("cruxeval", 800, (10, 13), sample=50) == [10, 11, 12]
    assert parse_index_range("5:") == (5, None) and parse_index_range(":7") == (None, 7)
    with pytest.raises(DatasetError, match="holdout"):
        select_indices("gsm8k", 1319, (0, 301))
    with pytest.raises(DatasetError, match="past the end"):
        select_indices("letters", 200, (0, 500), allow_holdout=True)


def test_datasets_load_with_references() -> None:
    gsm8k = load_dataset("gsm8k")
    assert len(gsm8k) == 1319 and gsm8k[0].expected == "18"
    assert "Answer: <value>" in gsm8k[0].prompt and "Janet" in gsm8k[0].prompt
    crux = load_dataset("cruxeval")
    assert crux[3].expected == "'bcksrutq'" and "f('bcksrut', 'q')" in crux[3].prompt
    letters = load_dataset("letters")
    assert len(letters) == 200 and letters[0].expected == "1"


def test_done_keys_need_same_model_prompt_and_no_error(tmp_path: Path) -> None:
    item = load_dataset("letters")[0]

    def record(model: str, index: int, error: str | None = None) -> ItemRecord:
        return ItemRecord("letters", index, "low", model, "x", item.prompt_hash, "1", error=error)

    hashes = {("letters", 0): item.prompt_hash, ("letters", 1): item.prompt_hash}
    records = [record(MODEL, 0), record("other-model", 1), record(MODEL, 1, error="boom")]
    assert done_keys(records, MODEL, hashes) == {("letters", 0, "low")}
    assert done_keys(records, MODEL, {("letters", 0): "changed prompt"}) == set()


def test_run_lines_read_with_or_without_base_urls(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    old = {
        "kind": "run", "command": "python -m bench.accuracy run", "base_url": "http://a/v1",
        "model": MODEL, "datasets": ["letters"], "arms": ["baseline"], "sample": None,
        "seed": 0, "indices": None, "allow_holdout": False, "max_tokens": None,
        "temperature": None, "selected": {"letters": [1]}, "started_at": 1.0,
    }  # fmt: skip
    path.write_text(json.dumps(old) + "\n" + json.dumps({**old, "base_urls": ["x", "y"]}) + "\n")
    runs, _ = read_results(path)
    assert [run.base_url for run in runs] == ["http://a/v1", "http://a/v1"]
    assert [run.base_urls for run in runs] == [[], ["x", "y"]]


def test_results_file_survives_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "torn.jsonl"
    record = ItemRecord("letters", 1, "baseline", MODEL, MODEL, "h", "2", correct=True)
    path.write_text(record.to_json() + "\n" + '{"kind": "item", "dataset": "let')
    with ResultsWriter(path) as writer:
        writer.write(record)
    _, items = read_results(path)
    assert items == [record, record]
    assert json.loads(path.read_text().splitlines()[-1])["index"] == 1


def test_unbalanced_markers_are_refused() -> None:
    with pytest.raises(ReportError):
        replace_section(f"text {END_MARKER} and {START_MARKER}", "new")
    with pytest.raises(ReportError):
        replace_section(f"text {START_MARKER} only", "new")
    assert replace_section("# Title\n", "S\n") == "# Title\n\nS\n"


def test_report_compares_one_arm_with_several_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.jsonl"
    right = {  # items each arm got right, of four
        "baseline": {0},
        "medium": {0, 1},
        "sc27": {0, 1, 2},
        "medhot": {0, 1, 2, 3},
    }
    with ResultsWriter(out) as writer:
        for arm, good in right.items():
            for index in range(4):
                writer.write(
                    ItemRecord("gsm8k", index, arm, MODEL, MODEL, "h", "1", correct=index in good)
                )
    versus = "medium:sc27,medhot:medium,medhot:sc27,medhot:sc27"
    assert cli.main(["report", "--in", str(out), "--versus", versus]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| medhot |")]
    # its summary, then against the baseline, then each other arm once, in the order given
    assert [row.split(" | ")[1] for row in rows[1:]] == ["baseline", "medium", "sc27"]
    assert rows[2].startswith("| medhot | medium | 4 | 2 | 0 |")
    assert rows[3].startswith("| medhot | sc27 | 4 | 1 | 0 |")
