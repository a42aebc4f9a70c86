"""Run ``keep_execution_majority``'s second final on recorded CePO runs, for real.

``rescore``'s ``keep_execution_majority`` rule takes every final written again to state
the executions' answer. This script measures that assumption against a real model at
the cost of one call per case instead of a whole run: for each candidate of the chosen
arms whose stated final overturned most of its executions (the engine's rule:
:func:`reasoning.answers.majority_key`), it takes the first execution that states the
majority's answer from the record's trace and sends the final step's request the engine
would send (the item's question, that execution as the draft reply, the closing turn of
:func:`reasoning.prompts.final_task`; the final step's temperature, the run's token
limit) to an OpenAI-compatible server. One JSON line per case: the reply's answer, its
form and whether the engine would keep it. ``rescore --refinals FILE`` then chooses the
candidates again with the real outcomes.

    .venv/bin/python bench/accuracy/rig/refinal.py --in RESULTS.jsonl.gz --arms medium,medhot \
        --base-url http://127.0.0.1:8011/v1 --model qwen2.5-coder-1.5b --out refinals.jsonl

Cases already in ``--out`` are skipped, so a cut run resumes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, cast

import httpx

from bench.accuracy.datasets import DatasetName, Item, load_dataset
from bench.accuracy.records import ItemRecord, latest, read_results
from bench.accuracy.rescore import overturned_finals
from reasoning.answers import find_answer
from reasoning.conversation import Conversation
from reasoning.prompts import final_task

_BLOCK = re.compile(r"^### (Candidate (\d+) · [^\n]+)\n\n", re.MULTILINE)
_EXECUTION = re.compile(r"Candidate (\d+) · execution \(attempt (\d+)\)$")


def executions_of(trace: str) -> dict[tuple[int, int], str]:
    """``(candidate, attempt) -> execution text`` from a verbose trace."""
    found: dict[tuple[int, int], str] = {}
    matches = list(_BLOCK.finditer(trace))
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        title = _EXECUTION.match(match.group(1))
        if title is None:
            continue
        end = following.start() if following is not None else len(trace)
        found[(int(title.group(1)), int(title.group(2)))] = trace[match.end() : end].strip()
    return found


def cases(record: ItemRecord) -> list[dict[str, Any]]:
    """The record's candidates whose stated final overturns their executions' majority
    (:func:`bench.accuracy.rescore.overturned_finals`), as output rows."""
    return [
        {
            "dataset": record.dataset,
            "index": record.index,
            "arm": record.arm,
            "candidate": case.candidate,
            "final_answer": case.final_answer,
            "majority_answer": case.majority,
            "from_attempt": case.from_attempt,
        }
        for case in overturned_finals(record)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in", dest="inputs", type=Path, required=True)
    parser.add_argument("--arms", default="medium,medhot")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-tokens", type=int, default=1024)
    args = parser.parse_args(argv)
    arms = [arm.strip() for arm in args.arms.split(",") if arm.strip()]
    done: set[tuple[str, int, str, int]] = set()
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            done.add((row["dataset"], row["index"], row["arm"], row["candidate"]))
    records = [r for r in latest(read_results(args.inputs)[1]).values() if r.arm in arms]
    prompts: dict[str, list[Item]] = {}
    with httpx.Client(base_url=args.base_url, timeout=600) as client, args.out.open("a") as out:
        for record in sorted(records, key=lambda r: (r.arm, r.index)):
            if not record.reasoning or record.error is not None:
                continue
            traced = executions_of(record.reasoning)
            config = (record.cepo or {}).get("config") or {}
            for case in cases(record):
                key = (case["dataset"], case["index"], case["arm"], case["candidate"])
                draft = traced.get((case["candidate"], case["from_attempt"]))
                if key in done or draft is None:
                    continue
                if record.dataset not in prompts:
                    prompts[record.dataset] = load_dataset(cast(DatasetName, record.dataset))
                item = prompts[record.dataset][record.index]
                assert item.prompt_hash == record.prompt_hash, key
                conversation = Conversation.from_messages(
                    [{"role": "user", "content": item.prompt}]
                )
                body = {
                    "model": args.model,
                    "messages": conversation.with_draft(draft, final_task(None)),
                    "temperature": config.get("final_temperature", 0.0),
                    "max_tokens": min(args.max_tokens, config.get("final_max_tokens", 4096)),
                }
                started = time.monotonic()
                response = client.post("/chat/completions", json=body)
                response.raise_for_status()
                text = response.json()["choices"][0]["message"].get("content") or ""
                found = find_answer(text)
                case.update(
                    reply=text,
                    answer=found.key if found is not None else None,
                    form=found.form if found is not None else None,
                    kept=found is not None
                    and found.stated
                    and found.key == case["majority_answer"],
                    seconds=round(time.monotonic() - started, 2),
                )
                out.write(json.dumps(case) + "\n")
                out.flush()
                print(
                    f"{case['arm']} #{case['index']} c{case['candidate']}: "
                    f"{case['final_answer']} -> {case['answer']} "
                    f"(majority {case['majority_answer']}, kept {case['kept']})",
                    file=sys.stderr,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
