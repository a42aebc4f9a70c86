"""The accuracy datasets: loading, prompts, the holdout rule and reproducible selection.

Each dataset is a JSONL file under ``bench/accuracy/data/``; an item's ``index`` is its
0-based line number, which is what ``--indices A:B`` and the holdout bound refer to.

Prompts are general instructions wrapped around the item's own text. They ask for a
final line ``Answer: <value>`` so that one extraction routine serves every arm; nothing
in them is tuned to particular items.

Holdout rule: development and reported measurements use only items below
:data:`DEV_BOUNDS` (GSM8K and CRUXEval: 300, letters: 100). The rest stays untouched by
tuning; :func:`select_indices` refuses it unless ``allow_holdout`` is set.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DatasetName = Literal["gsm8k", "cruxeval", "letters"]
DATASETS: tuple[DatasetName, ...] = ("gsm8k", "cruxeval", "letters")

DATA_DIR = Path(__file__).resolve().parent / "data"
_FILES: dict[DatasetName, str] = {
    "gsm8k": "gsm8k/test.jsonl",
    "cruxeval": "cruxeval/cruxeval.jsonl",
    "letters": "letters/letters.jsonl",
}

DEV_BOUNDS: dict[DatasetName, int] = {"gsm8k": 300, "cruxeval": 300, "letters": 100}
"""Items at or above these indices are the holdout."""

_ANSWER_FORMAT = "End your response with a final line of the form `Answer: <value>`"

_GSM8K_PROMPT = (
    "Solve the following math word problem. Reason step by step, then give the final "
    "numeric answer.\n"
    f"{_ANSWER_FORMAT}, where <value> is only the number (no units).\n\n"
    "Problem: {question}"
)

_LETTERS_PROMPT = (
    "{question}\n\n"
    "Count carefully, letter by letter.\n"
    f"{_ANSWER_FORMAT}, where <value> is only the count as a number."
)

_CRUXEVAL_PROMPT = (
    "You are given a Python function and an input to it. Work out, step by step, the exact "
    "value the function returns for that input.\n\n"
    "```python\n{code}\n```\n\n"
    "Call: f({input})\n\n"
    f"{_ANSWER_FORMAT}, where <value> is the returned value written as a Python literal "
    "(for example 'text', 3, [1, 2], {{'k': 0}}, (1, 'a'), True)."
)


class DatasetError(ValueError):
    """A dataset name, file or index selection is invalid."""


@dataclass(frozen=True, slots=True)
class Item:
    """One question: where it comes from, the prompt sent, and the expected answer as text.

    ``expected`` is the dataset's reference: a number (GSM8K, letters) or a Python literal
    (CRUXEval), always as the dataset writes it.
    """

    dataset: DatasetName
    index: int
    prompt: str
    expected: str

    @property
    def prompt_hash(self) -> str:
        """First 16 hex digits of the prompt's SHA-256 (did a stored record use this prompt?)."""
        return hashlib.sha256(self.prompt.encode("utf-8")).hexdigest()[:16]


def parse_dataset_names(text: str) -> list[DatasetName]:
    """``"gsm8k,letters"`` -> the names, in order, without duplicates; unknown names raise."""
    names: list[DatasetName] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        if name not in DATASETS:
            raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
        if name not in names:
            names.append(name)
    if not names:
        raise DatasetError("no dataset given")
    return names


def _build_item(dataset: DatasetName, index: int, row: dict[str, str]) -> Item:
    if dataset == "gsm8k":
        expected = row["answer"].rsplit("####", 1)[-1].strip()
        return Item(
            dataset, index, _GSM8K_PROMPT.format(question=row["question"].strip()), expected
        )
    if dataset == "cruxeval":
        prompt = _CRUXEVAL_PROMPT.format(code=row["code"].rstrip(), input=row["input"])
        return Item(dataset, index, prompt, row["output"])
    return Item(
        dataset, index, _LETTERS_PROMPT.format(question=row["question"].strip()), row["answer"]
    )


def load_dataset(dataset: DatasetName, data_dir: Path = DATA_DIR) -> list[Item]:
    """Every item of ``dataset``, in file order (``items[i].index == i``)."""
    path = data_dir / _FILES[dataset]
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    return [_build_item(dataset, i, json.loads(line)) for i, line in enumerate(lines)]


def parse_index_range(text: str | None) -> tuple[int | None, int | None]:
    """``"A:B"``, ``"A:"``, ``":B"`` or None -> (start, stop); a missing end is None."""
    if text is None or text.strip() in ("", ":"):
        return None, None
    start_text, sep, stop_text = text.partition(":")
    if not sep:
        raise DatasetError(f"--indices must look like A:B, got {text!r}")
    try:
        start = int(start_text) if start_text.strip() else None
        stop = int(stop_text) if stop_text.strip() else None
    except ValueError as exc:
        raise DatasetError(f"--indices must look like A:B with integers, got {text!r}") from exc
    if (start is not None and start < 0) or (stop is not None and stop < 0):
        raise DatasetError(f"--indices must be non-negative, got {text!r}")
    return start, stop


def select_indices(
    dataset: DatasetName,
    size: int,
    index_range: tuple[int | None, int | None] = (None, None),
    *,
    sample: int | None = None,
    seed: int = 0,
    allow_holdout: bool = False,
) -> list[int]:
    """The item indices to run, sorted.

    The range defaults to ``[0, DEV_BOUNDS[dataset])`` (clipped to ``size``); with
    ``sample`` N, ``random.Random(seed).sample`` picks N of the range (all of it if N is
    larger), so the same (range, N, seed) always gives the same items. A range reaching
    the holdout raises :class:`DatasetError` unless ``allow_holdout``.
    """
    bound = DEV_BOUNDS[dataset]
    start = 0 if index_range[0] is None else index_range[0]
    stop = min(bound, size) if index_range[1] is None else index_range[1]
    if stop > size:
        raise DatasetError(f"{dataset} has {size} items; --indices stop {stop} is past the end")
    if start >= stop:
        raise DatasetError(f"{dataset}: empty index range {start}:{stop}")
    if stop > bound and not allow_holdout:
        raise DatasetError(
            f"{dataset}: indices {start}:{stop} reach the holdout (index >= {bound}); "
            "development uses only the items below it. Pass --allow-holdout to run them anyway."
        )
    population = range(start, stop)
    if sample is None or sample >= len(population):
        return list(population)
    if sample <= 0:
        raise DatasetError(f"--sample must be positive, got {sample}")
    return sorted(random.Random(seed).sample(population, sample))


def select_items(items: Sequence[Item], indices: Sequence[int]) -> list[Item]:
    """The items at ``indices`` (as returned by :func:`select_indices`)."""
    return [items[i] for i in indices]
