"""Self-consistency arms, matched comparisons, unstated answers and offline re-scoring,
end to end: the harness's CLI against a scripted proxy on loopback.

The scripted proxy: plain requests at temperature 0.7 answer right on two samples of
every three of the same item (the first of each three wrong); plain requests at other
temperatures are right on odd items only, without an ``Answer:`` line on items
divisible by 4 (so the harness falls back to the last number); CePO requests return
a recorded selection in their ``cepo`` object whose candidates 1 and 3 are wrong and
candidate 2 right, with the executions voting for the right answer, and the run
having chosen candidate 1.
"""

from __future__ import annotations

import gzip
import itertools
import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.accuracy import cli
from bench.accuracy.arms import ArmError, parse_arm
from bench.accuracy.datasets import load_dataset
from bench.accuracy.records import ItemRecord, read_results
from bench.accuracy.rescore import (
    PLAIN_RULE,
    PLAIN_SHAPES,
    PLURALITY_RULE,
    WITHOUT_MAJORITY_RULE,
    answer_counts,
    keep_execution_majority,
    keep_execution_plurality,
    plain_pool,
    read_refinals,
    rescore,
    rescore_record,
    without_execution_majority,
)
from bench.accuracy.rig import refinal
from bench.accuracy.runner import majority_sample
from reasoning.answers import plurality_key
from tests.servers import serve_in_thread

MODEL = "tiny"


class Proxy:
    def __init__(self) -> None:
        self.items = {item.prompt: item for item in load_dataset("gsm8k")}
        self.bodies: list[dict[str, Any]] = []
        self.samples: dict[str, itertools.count[int]] = {}
        self.lock = threading.Lock()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    async def chat(self, request: Request) -> JSONResponse:
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        ordinal = 0
        with self.lock:
            self.bodies.append(body)
            if body.get("temperature") == 0.7:
                ordinal = next(self.samples.setdefault(prompt, itertools.count()))
        item = self.items[prompt]
        right = item.expected.replace(",", "")
        wrong = str(int(right) + 1)
        response: dict[str, Any] = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        if body["model"].startswith("cepo-"):
            content = f"Answer: {wrong}"
            response["cepo"] = {
                "upstream_calls": 27,
                "config": {"bestofn_rating_type": "binary"},
                "ratings": [
                    {"type": "binary", "candidate": 1, "score": 1.0, "judge_answer": right},
                    {"type": "binary", "candidate": 2, "score": 0.0, "judge_answer": right},
                    {"type": "binary", "candidate": 3, "score": 0.0, "judge_answer": wrong},
                ],
                "selection": {
                    "extracted_answers": [
                        {"candidate": 1, "answer": wrong, "form": "answer_line", "failed": False},
                        {"candidate": 2, "answer": right, "form": "answer_line", "failed": False},
                        {"candidate": 3, "answer": "7", "form": None, "failed": True},
                    ],
                    "execution_answers": [
                        {"candidate": c, "attempt": 1, "answer": right} for c in (1, 2, 3)
                    ],
                },
            }
        elif body.get("temperature") == 0.7:
            content = f"Answer: {wrong if ordinal % 3 == 0 else right}"
        else:
            value = right if item.index % 2 else wrong
            content = f"so {value}" if item.index % 4 == 0 else f"Answer: {value}"
        response["choices"] = [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ]
        return JSONResponse(response)


@pytest.fixture
def proxy() -> Iterator[tuple[Proxy, str]]:
    scripted = Proxy()
    with serve_in_thread(scripted.app(), lifespan="off") as url:
        yield scripted, url + "/v1"


def _run(url: str, out: Path, arms: str) -> int:
    return cli.main(
        [
            "run",
            "--base-url",
            url,
            "--model",
            MODEL,
            "--datasets",
            "gsm8k",
            "--arms",
            arms,
            "--indices",
            "0:8",
            "--concurrency",
            "4",
            "--temperature",
            "0",
            "--out",
            str(out),
        ]
    )


def test_sc_arm_names_and_bounds() -> None:
    arm = parse_arm("sc6")
    assert (arm.samples, arm.temperature, arm.cepo) == (6, 0.7, False)
    with pytest.raises(ArmError):
        parse_arm("sc0")
    with pytest.raises(ArmError):
        parse_arm('sc5={"bestofn_n": 2}')


def test_majority_ties_go_to_the_answer_that_came_first() -> None:
    samples = [{"extracted": a} for a in ("1", "2", "2", "1", None)]
    assert majority_sample(samples) == 0
    assert majority_sample([{"extracted": None}]) is None
    assert majority_sample([{"extracted": "1"}, {"extracted": "2"}, {"extracted": "2"}]) == 1


def test_sc_arms_sample_at_their_own_temperature_and_vote(
    proxy: tuple[Proxy, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted, url = proxy
    out = tmp_path / "r.jsonl"
    assert _run(url, out, "baseline,sc6,medium") == 0
    _, items = read_results(out)
    sc = [it for it in items if it.arm == "sc6"]
    assert len(sc) == 8
    sc_bodies = [b for b in scripted.bodies if b.get("temperature") == 0.7]
    assert len(sc_bodies) == 6 * 8 and all(b["model"] == MODEL for b in sc_bodies)
    assert all("reasoning_effort" not in b for b in sc_bodies)
    for record in sc:
        assert record.temperature == 0.7 and record.upstream_calls == 6
        assert record.samples is not None and len(record.samples) == 6
        assert sum(bool(s["correct"]) for s in record.samples) == 4  # two of every three
        assert record.correct is True
        assert record.completion_tokens == 6 * 5
    assert {it.temperature for it in items if it.arm == "baseline"} == {0.0}

    assert cli.main(["report", "--in", str(out), "--versus", "medium:sc6"]) == 0
    report = capsys.readouterr().out
    assert "| sc6 | 8 | 100.0% (8/8)" in report
    assert "| medium | sc6 | 8 | 0 | 8 |" in report  # medium wrong everywhere, sc6 right
    baseline_row = next(line for line in report.splitlines() if line.startswith("| baseline |"))
    assert "| 2 (25.0%) | 0 |" in baseline_row  # items 0 and 4 stated no answer
    assert "| 0.7 |" in next(line for line in report.splitlines() if line.startswith("| sc6 |"))


def test_rescore_replays_every_rule_from_the_records(
    proxy: tuple[Proxy, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = proxy
    out = tmp_path / "r.jsonl"
    assert _run(url, out, "baseline,medium,sc9") == 0
    # committed results are gzipped: rescore reads those too
    packed = tmp_path / "r.jsonl.gz"
    packed.write_bytes(gzip.compress(out.read_bytes()))
    rows = {(row.arm, row.rule): row for row in rescore(read_results(packed)[1])}
    assert rows[("medium", "recorded")].correct == 0
    assert rows[("medium", "rating")].correct == 0  # candidate 1 was rated yes
    assert rows[("medium", "pool")].correct == 8  # the executions vote for candidate 2
    assert rows[("medium", "pool_judges")].correct == 8
    assert rows[("medium", "majority")].correct == 0  # 1 and 2 tie, the failed 3 is out
    assert rows[("medium", "oracle")].correct == 8
    assert rows[("medium", "pool_any")].correct == 8
    assert rows[("medium", "pool")].unstated == 0
    pool = rows[("medium", "pool")].versus_baseline
    assert pool is not None and pool.table.n == 8 and pool.table.won == 4
    assert {rule for arm, rule in rows if arm == "sc9"} == {
        "sc9@1",
        "sc9@3",
        "sc9@6",
        "sc9@9",
        "lowplain replay (1 x 4)",  # 9 samples: enough for 1 x 4, too few for 3 x 7
    }
    assert cli.main(["rescore", "--in", str(packed)]) == 0
    printed = capsys.readouterr().out
    assert "| medium | pool | 8 | 100.0%" in printed


def test_answer_counts_separate_what_was_produced_from_what_was_chosen(
    proxy: tuple[Proxy, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = proxy
    out = tmp_path / "r.jsonl"
    assert _run(url, out, "baseline,medium,sc9") == 0
    rows = {row.arm: row for row in answer_counts(read_results(out)[1])}
    assert set(rows) == {"medium", "sc9"}  # the baseline has nothing beyond its answer
    medium = rows["medium"]
    assert (medium.n, medium.answers, medium.answers_right) == (8, 24, 24)
    assert (medium.finals, medium.finals_right) == (24, 8)  # only candidate 2 is right
    assert medium.distinct == 1.0  # the three executions agree
    # the judge said yes to candidate 1 (wrong), no to 2 (right) and 3 (failed, wrong)
    assert (medium.yes, medium.yes_right, medium.no, medium.no_right) == (8, 0, 16, 8)
    assert not medium.samples
    sc9 = rows["sc9"]
    assert sc9.samples and (sc9.n, sc9.answers, sc9.answers_right) == (8, 72, 48)
    assert sc9.distinct == 2.0
    assert cli.main(["rescore", "--in", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (
        "| medium | 8 | 100.0% (24/24) | 33.3% (8/24) | 1.00 | 0.0% (0/8) | 50.0% (8/16) | – |"
        in printed
    )
    assert "| sc9 | 8 | 66.7% (48/72) | 2.00 |" in printed


def test_pool_any_counts_the_answers_the_plans_stated_where_recorded() -> None:
    selection: dict[str, Any] = {
        "extracted_answers": [
            {"candidate": 1, "answer": "5", "form": "answer_line", "failed": False},
            {"candidate": 2, "answer": "6", "form": "answer_line", "failed": False},
        ],
        "execution_answers": [{"candidate": 1, "attempt": 1, "answer": "5"}],
    }
    record = ItemRecord(
        "gsm8k",
        0,
        "medium",
        MODEL,
        f"cepo-{MODEL}",
        "h",
        "6",
        answer="Answer: 5",
        extracted="5",
        method="answer_line",
        correct=False,
        cepo={"selection": selection, "ratings": []},
    )
    before = rescore_record(record)
    assert before is not None and before["pool_any"] == (False, None)
    selection["plan_answers"] = [
        {"candidate": c, "attempt": a, "answer": "6"} for c in (1, 2) for a in (1, 2)
    ] + [{"candidate": 1, "attempt": 3, "answer": None}]
    rescored = rescore_record(record)
    assert rescored is not None and rescored["pool_any"] == (True, None)
    assert rescored["pool"] == (False, True)  # the engine's rule counts no plan


def _low(index: int, executions: list[str | None], *, correct: bool) -> ItemRecord:
    """A single-candidate CePO record whose final said 5 (right when ``correct``)."""
    selection = {
        "extracted_answers": [
            {"candidate": 1, "answer": "5", "form": "answer_line", "failed": False}
        ],
        "execution_answers": [
            {"candidate": 1, "attempt": n, "answer": key} for n, key in enumerate(executions, 1)
        ],
    }
    return ItemRecord(
        "gsm8k",
        index,
        "low",
        MODEL,
        f"cepo-{MODEL}",
        "h",
        "5" if correct else "6",
        answer="Answer: 5",
        extracted="5",
        method="answer_line",
        correct=correct,
        cepo={"selection": selection, "ratings": [], "config": {"final_temperature": 0.0}},
    )


def _plain(index: int, *, correct: bool, temperature: float = 0.0) -> ItemRecord:
    return ItemRecord(
        "gsm8k",
        index,
        "baseline",
        MODEL,
        MODEL,
        "h",
        "5",
        answer="so 5" if correct else "Answer: 4",
        extracted="5" if correct else "4",
        method="last_number" if correct else "answer_line",
        correct=correct,
        temperature=temperature,
    )


def test_direct_on_disagreement_replays_the_baseline_where_the_executions_split() -> None:
    items = [
        _low(0, ["5", "5"], correct=True),  # agree: the recorded answer stands
        _low(1, ["5", "6"], correct=False),  # split: the baseline's (right) answer
        _low(2, ["5", None], correct=True),  # one states none: the baseline's (wrong) one
        _low(3, ["6"], correct=False),  # a single execution agrees with itself
        _plain(0, correct=False),
        _plain(1, correct=True),
        _plain(2, correct=False),
        _plain(3, correct=True),
    ]
    rows = {(row.arm, row.rule): row for row in rescore(items)}
    direct = rows[("low", "direct_on_disagreement")]
    assert (direct.n, direct.correct) == (4, 2)  # items 0 and 1
    assert direct.unstated == 1  # the baseline's right answer was only a last number
    assert rows[("low", "recorded")].correct == 2  # items 0 and 2
    assert direct.versus_baseline is not None and direct.versus_baseline.table.won == 1
    # a baseline sampled at another temperature is not the engine's direct call
    hot = [*items[:4], *(_plain(i, correct=True, temperature=0.7) for i in range(4))]
    assert ("low", "direct_on_disagreement") not in {(r.arm, r.rule) for r in rescore(hot)}


def _medium(
    index: int,
    finals: list[tuple[str, str]],
    executions: list[list[str | None]],
    *,
    keep: bool = False,
) -> ItemRecord:
    """A three-candidate CePO record (majority of the finals) whose candidate n's final
    stated ``finals[n-1]`` (answer, form); the truth is 5."""
    selection = {
        "extracted_answers": [
            {"candidate": n, "answer": key, "form": form, "failed": False}
            for n, (key, form) in enumerate(finals, 1)
        ],
        "execution_answers": [
            {"candidate": n, "attempt": a, "answer": key}
            for n, keys in enumerate(executions, 1)
            for a, key in enumerate(keys, 1)
        ],
    }
    config = {"selection_rule": "majority", "keep_execution_majority": keep}
    recorded = Counter(key for key, _ in finals).most_common(1)[0][0]
    return _answered(
        index,
        "medium",
        recorded,
        request_model=f"cepo-{MODEL}",
        cepo={"selection": selection, "ratings": [], "config": config},
    )


def _answered(
    index: int, arm: str, extracted: str | None, *, request_model: str = MODEL, **fields: Any
) -> ItemRecord:
    """A GSM8K record (the truth is 5) of ``arm`` whose reply's answer line stated
    ``extracted``; ``fields`` are the arm's own (``cepo``, ``samples``)."""
    return ItemRecord(
        "gsm8k",
        index,
        arm,
        MODEL,
        request_model,
        "h",
        "5",
        answer=f"Answer: {extracted}",
        extracted=extracted,
        method="answer_line",
        correct=extracted == "5",
        **fields,
    )


def test_keep_execution_majority_estimates_finals_that_follow_their_executions() -> None:
    line = "answer_line"
    overturned = _medium(
        0,
        [("6", line), ("6", line), ("5", line)],
        [["5", "5", "6"], ["6", "6", "5"], ["5", "5", "6"]],  # candidate 1's majority: 5
    )
    estimate = keep_execution_majority(overturned)
    assert overturned.correct is False and estimate == (True, True)  # finals 5, 6, 5
    # a last number is no stated answer to overturn, and a split has no majority
    unstated = _medium(
        1,
        [("6", "last_number"), ("6", line), ("5", line)],
        [["5", "5", "6"], ["6", "5", None], ["5", "5", "6"]],
    )
    assert keep_execution_majority(unstated) == (False, False)
    # a record that ran with the option: its recorded choice is the rule already
    assert keep_execution_majority(_medium(2, [("5", line)] * 3, [["5"]] * 3, keep=True)) is None
    rows = {(row.arm, row.rule): row for row in rescore([overturned, unstated])}
    row = rows[("medium", "keep_execution_majority")]
    assert (row.n, row.correct, row.unstated) == (2, 1, 1)
    assert rows[("medium", "recorded")].correct == 0


def test_plurality_key_needs_a_strict_lead_of_at_least_two() -> None:
    assert plurality_key(["5", "5", "6", "7"]) == "5"  # no majority, a plurality
    assert plurality_key(["5", "5", "6", "6"]) is None  # a tie at the top
    assert plurality_key(["5", "6", "7", None]) is None  # nothing stated twice
    assert plurality_key(["5", "5", None, None]) == "5"  # missing answers count for none


def test_keep_execution_plurality_follows_a_lead_the_majority_rule_misses() -> None:
    line = "answer_line"
    # candidate 1's executions 5, 5, 6, 7: a plurality of 5 but no majority, so only the
    # plurality rule takes its final (6) to state 5; candidate 2's 6, 6, 5, 5 is a tie
    split = _medium(
        0,
        [("6", line), ("6", line), ("5", line)],
        [["5", "5", "6", "7"], ["6", "6", "5", "5"], ["5", "5", "6", "7"]],
        keep=True,
    )
    assert split.correct is False and without_execution_majority(split) == (False, True)
    assert keep_execution_plurality(split) == (True, True)  # finals 5, 6, 5
    assert keep_execution_plurality(_medium(1, [("5", line)] * 3, [[]] * 3)) is None
    rows = {(row.arm, row.rule): row for row in rescore([split])}
    assert (rows[("medium", PLURALITY_RULE)].correct, rows[("medium", "recorded")].correct) == (
        1,
        0,
    )


def test_without_execution_majority_restores_the_finals_the_option_replaced() -> None:
    line = "answer_line"
    ran = _medium(0, [("5", line), ("5", line), ("6", line)], [["5", "5", "6"]] * 3, keep=True)
    assert isinstance(ran.cepo, dict)
    ran.cepo["finals_against_majority"] = [
        # candidate 1's first final said 6; the option wrote it again from an execution
        {"candidate": 1, "final_answer": "6", "majority_answer": "5", "kept": "majority"},
        # candidate 3's second final stated no answer, so its first (6) stood
        {"candidate": 3, "final_answer": "6", "majority_answer": "5", "kept": "first"},
    ]
    assert ran.correct is True  # the finals 5, 5, 6: the majority of them is 5
    assert without_execution_majority(ran) == (False, True)  # 6, 5, 6 without the option
    # a record that ran without the option has nothing to undo
    assert without_execution_majority(_medium(1, [("5", line)] * 3, [["5"]] * 3)) is None
    rows = {(row.arm, row.rule): row for row in rescore([ran])}
    assert (
        rows[("medium", WITHOUT_MAJORITY_RULE)].correct,
        rows[("medium", "recorded")].correct,
    ) == (
        0,
        1,
    )


def _sc(index: int, answers: list[str | None]) -> ItemRecord:
    """A self-consistency record whose samples answered ``answers``; the truth is 5, and
    the record's own vote is the majority of all of them."""
    samples = [{"extracted": a, "correct": a == "5", "method": "answer_line"} for a in answers]
    chosen = majority_sample(samples)
    extracted = answers[chosen] if chosen is not None else None
    return _answered(index, f"sc{len(answers)}", extracted, samples=samples)


def test_medplain_replay_votes_over_three_groups_of_seven_samples() -> None:
    # the whole vote is 6 (10 samples against 9), but the groups' own majorities are
    # 5, 5 and 6, and the pool counts them too: 5 gets 9 + 2 votes, 6 gets 10 + 1
    groups = [["5"] * 4 + ["6"] * 3, ["5"] * 4 + ["6"] * 3, ["6"] * 4 + ["5"] + [None] * 2]
    split = _sc(0, [a for group in groups for a in group] + ["6"] * 6)
    assert split.correct is False
    assert plain_pool(split) == (True, None)
    # a group with no answer at all is a failed candidate, left out of the choice
    silent = _sc(1, [None] * 7 + ["6"] * 7 + ["5"] * 7 + [None] * 6)
    assert plain_pool(silent) == (False, None)  # 6 and 5 tie at 8 votes: candidate 2 first
    assert plain_pool(_sc(2, ["5"] * 20)) is None  # fewer than 21 samples
    rows = {(row.arm, row.rule): row for row in rescore([split, silent])}
    row = rows[("sc27", PLAIN_RULE)]
    assert (row.n, row.correct) == (2, 1)
    assert rows[("sc27", "sc27@27")].correct == 0


def test_lowplain_replay_votes_over_the_first_four_samples() -> None:
    rule = "lowplain replay (1 x 4)"
    shape = PLAIN_SHAPES[rule]
    assert shape == (1, 4)
    # all six samples tie 3 to 3 and the record's vote takes the first (6), while the
    # first four vote 5
    turned = _sc(0, ["6", "5", "5", "5", "6", "6"])
    assert turned.correct is False
    assert plain_pool(turned, shape) == (True, None)
    # a tie within the four: the first of the tied answers stands for the final
    assert plain_pool(_sc(1, ["6", "5", "5", "6", "5", "5"]), shape) == (False, None)
    # no answer in the four: the one candidate failed, so the item is wrong
    assert plain_pool(_sc(2, [None] * 4 + ["5", "5"]), shape) == (False, None)
    assert plain_pool(_sc(3, ["5"] * 3), shape) is None  # fewer than 4 samples
    rows = {(row.arm, row.rule): row for row in rescore([turned, _sc(4, ["5"] * 6)])}
    assert (rows[("sc6", rule)].n, rows[("sc6", rule)].correct) == (2, 2)
    assert rows[("sc6", "sc6@6")].correct == 1
    assert ("sc6", PLAIN_RULE) not in rows  # 6 samples are too few for 3 x 7


def test_measured_refinals_change_only_the_finals_that_stated_the_majority() -> None:
    line = "answer_line"
    overturned = _medium(
        0,
        [("6", line), ("6", line), ("5", line)],
        [["5", "5", "6"], ["6", "6", "5"], ["5", "5", "6"]],
    )
    case = ("gsm8k", 0, "medium", 1)
    assert keep_execution_majority(overturned, {case: True}) == (True, True)
    assert keep_execution_majority(overturned, {case: False}) == (False, True)
    assert keep_execution_majority(overturned, {}) is None  # the case was not measured
    rows = {(row.arm, row.rule): row for row in rescore([overturned], {case: True})}
    assert rows[("medium", "keep_execution_majority (measured)")].correct == 1
    assert ("medium", "keep_execution_majority (measured)") not in {
        (row.arm, row.rule) for row in rescore([overturned])
    }


def test_refinal_sends_the_final_step_from_the_majoritys_execution(tmp_path: Path) -> None:
    item = load_dataset("gsm8k")[0]
    execution = "Worked it out: 18.\nAnswer: 18"
    trace = (
        "### Candidate 1 · plan (attempt 1)\n\n1. Count the eggs.\n\n"
        f"### Candidate 1 · execution (attempt 1)\n\n{execution}\n\n"
        "### Candidate 1 · execution (attempt 2)\n\n### Step 1\nAnswer: 18\n\n"
        "### Candidate 1 · final answer\n\nAnswer: 20\n\n"
    )
    selection = {
        "extracted_answers": [
            {"candidate": 1, "answer": "20", "form": "answer_line", "failed": False}
        ],
        "execution_answers": [
            {"candidate": 1, "attempt": 1, "answer": "18"},
            {"candidate": 1, "attempt": 2, "answer": "18"},
        ],
    }
    record = ItemRecord(
        "gsm8k",
        0,
        "medium",
        MODEL,
        f"cepo-{MODEL}",
        item.prompt_hash,
        item.expected,
        answer="Answer: 20",
        extracted="20",
        method="answer_line",
        correct=False,
        reasoning=trace,
        cepo={"selection": selection, "ratings": [], "config": {"final_temperature": 0.0}},
    )
    results = tmp_path / "results.jsonl"
    results.write_text(record.to_json() + "\n")
    bodies: list[dict[str, Any]] = []

    async def chat(request: Request) -> JSONResponse:
        bodies.append(await request.json())
        message = {"role": "assistant", "content": "So 18 it is.\nAnswer: 18"}
        return JSONResponse({"choices": [{"index": 0, "message": message}]})

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    out = tmp_path / "refinals.jsonl"
    with serve_in_thread(app, lifespan="off") as url:
        args = ["--in", str(results), "--base-url", url + "/v1", "--model", MODEL]
        assert refinal.main([*args, "--out", str(out)]) == 0
        assert refinal.main([*args, "--out", str(out)]) == 0  # resumes: nothing to send
    (body,) = bodies
    assert body["temperature"] == 0.0 and body["max_tokens"] == 1024
    messages = body["messages"]
    assert messages[0] == {"role": "user", "content": item.prompt}
    assert messages[1] == {"role": "assistant", "content": execution}
    assert messages[2]["role"] == "user"
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert (row["answer"], row["majority_answer"], row["kept"]) == ("18", "18", True)
    assert read_refinals(out) == {("gsm8k", 0, "medium", 1): True}
