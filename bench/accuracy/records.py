"""The results file: JSON lines, appended and flushed one by one, read back to resume and report.

Two kinds of line, told apart by ``"kind"``:

* ``"item"`` — one (dataset, index, arm) outcome: :class:`ItemRecord`.
* ``"run"`` — written once at the start of every ``run`` invocation: :class:`RunRecord`
  (the exact command, model, sample, seed, the selected indices), so a report can say
  how its numbers were produced.

A (dataset, index, arm) is *done* when the file holds an item line for it without an
error, for the same model and the same prompt (``prompt_hash``); a rerun skips done
ones and retries the rest. When a key appears more than once, the last line wins.
Unreadable lines (a run killed mid-write) are skipped.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

RecordKey = tuple[str, int, str]
"""(dataset, index, arm)."""


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """The outcome of one item under one arm.

    ``model`` is the upstream model id the run was given; ``request_model`` is what was
    sent (``cepo-<id>`` for CePO arms). Token counts are the response's ``usage``
    (None when it had none); ``upstream_calls`` comes from the response's ``cepo``
    metadata (1 for the baseline). ``error`` is set, and the answer fields empty, when
    the request failed; such records are not done and do not count in reports.
    ``temperature`` is what the arm sampled at when it sets its own (self-consistency
    arms), else the run's ``--temperature``. ``samples`` (self-consistency arms) holds
    each sample's ``extracted`` answer, ``method``, ``correct``, ``completion_tokens``
    and ``finish_reason``, in the order they were asked for; the item's answer fields
    are those of the first sample with the majority answer, its token counts the sums.
    """

    dataset: str
    index: int
    arm: str
    model: str
    request_model: str
    prompt_hash: str
    expected: str
    answer: str | None = None
    extracted: str | None = None
    method: str | None = None
    correct: bool | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    latency_s: float | None = None
    upstream_calls: int | None = None
    finish_reason: str | None = None
    error: str | None = None
    cepo: dict[str, Any] | None = None
    reasoning: str | None = None
    finished_at: float | None = None
    temperature: float | None = None
    samples: list[dict[str, Any]] | None = None

    @property
    def key(self) -> RecordKey:
        """(dataset, index, arm)."""
        return (self.dataset, self.index, self.arm)

    def to_json(self) -> str:
        """One JSON line (without the newline), tagged ``"kind": "item"``."""
        return json.dumps({"kind": "item", **asdict(self)}, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """How a run was started: enough to repeat it exactly.

    ``base_url`` is the first proxy; ``base_urls`` every proxy the run spread its requests
    across, in the order given (empty in lines written before a run could have several).
    """

    command: str
    base_url: str
    model: str
    datasets: list[str]
    arms: list[str]
    sample: int | None
    seed: int
    indices: str | None
    allow_holdout: bool
    max_tokens: int | None
    temperature: float | None
    selected: dict[str, list[int]] = field(default_factory=dict)
    started_at: float = 0.0
    base_urls: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """One JSON line (without the newline), tagged ``"kind": "run"``."""
        return json.dumps({"kind": "run", **asdict(self)}, ensure_ascii=False)


def _build(cls: type[Any], data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{key: value for key, value in data.items() if key in names})


def read_results(path: Path) -> tuple[list[RunRecord], list[ItemRecord]]:
    """Every run and item line of ``path``, in file order; a missing file is empty. A
    ``.gz`` file is read through gzip (committed results are gzipped when large)."""
    runs: list[RunRecord] = []
    items: list[ItemRecord] = []
    if not path.exists():
        return runs, items
    with (
        gzip.open(path, "rt", encoding="utf-8")
        if path.suffix == ".gz"
        else path.open(encoding="utf-8")
    ) as handle:
        for line in handle:
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(data, dict):
                continue
            try:
                if data.get("kind") == "run":
                    runs.append(_build(RunRecord, data))
                elif data.get("kind") == "item":
                    items.append(_build(ItemRecord, data))
            except TypeError:
                continue
    return runs, items


def latest(items: Iterable[ItemRecord]) -> dict[tuple[str, str, int, str], ItemRecord]:
    """The last record of each (model, dataset, index, arm)."""
    found: dict[tuple[str, str, int, str], ItemRecord] = {}
    for item in items:
        found[(item.model, *item.key)] = item
    return found


def done_keys(
    items: Iterable[ItemRecord], model: str, prompt_hashes: dict[tuple[str, int], str]
) -> set[RecordKey]:
    """Keys with an error-free record for ``model`` whose prompt hash matches the current prompt."""
    return {
        item.key
        for item in items
        if item.error is None
        and item.model == model
        and prompt_hashes.get((item.dataset, item.index)) == item.prompt_hash
    }


class ResultsWriter:
    """Appends lines to a results file, flushing each so a killed run loses at most one line.

    Use as a context manager; the parent directory is created if needed.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: TextIO | None = None

    def __enter__(self) -> ResultsWriter:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self._path.open("a", encoding="utf-8")
        if self._path.stat().st_size > 0 and not _ends_with_newline(self._path):
            self._handle.write("\n")  # a run killed mid-line: keep the next record whole
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def write(self, record: ItemRecord | RunRecord) -> None:
        """Append one line and flush it to the operating system."""
        if self._handle is None:
            raise RuntimeError("ResultsWriter used outside its context")
        self._handle.write(record.to_json() + "\n")
        self._handle.flush()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"


def iter_items(paths: Iterable[Path]) -> Iterator[ItemRecord]:
    """Item records of several files, file by file."""
    for path in paths:
        yield from read_results(path)[1]
