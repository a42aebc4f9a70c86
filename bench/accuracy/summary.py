"""From item records to numbers: per-arm accuracy and cost, paired comparisons with the baseline.

Records are first reduced to the last one per (model, dataset, index, arm). A record
with an error counts as an error, not as a wrong answer: it is left out of accuracy,
means and pairs (the count of errors is reported beside them). Pairs are the items on
which both the arm and the baseline have an error-free record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from statistics import fmean

from bench.accuracy.arms import BASELINE
from bench.accuracy.datasets import DATASETS
from bench.accuracy.records import ItemRecord, latest
from bench.accuracy.stats import (
    PairedTable,
    mcnemar_exact_p,
    min_detectable_difference,
    paired_difference_interval,
    paired_table,
    wilson_interval,
)


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """Accuracy and mean cost per item of one arm on one dataset.

    Means are over the error-free records that carry the value (None if none does).
    """

    model: str
    dataset: str
    arm: str
    n: int
    correct: int
    errors: int
    interval: tuple[float, float]
    prompt_tokens: float | None
    completion_tokens: float | None
    reasoning_tokens: float | None
    upstream_calls: float | None
    latency_s: float | None

    @property
    def accuracy(self) -> float:
        """Share right among error-free records; 0.0 when there are none."""
        return self.correct / self.n if self.n else 0.0


@dataclass(frozen=True, slots=True)
class Comparison:
    """An arm against the baseline on the items both answered."""

    model: str
    dataset: str
    arm: str
    table: PairedTable
    p_value: float
    interval: tuple[float, float]
    min_detectable: float | None


def _mean(values: Iterable[float | int | None]) -> float | None:
    present = [float(value) for value in values if value is not None]
    return fmean(present) if present else None


def _dataset_order(dataset: str) -> tuple[int, str]:
    return (DATASETS.index(dataset), "") if dataset in DATASETS else (len(DATASETS), dataset)


def _arm_order(arm: str, seen: list[str]) -> tuple[int, int]:
    fixed = [BASELINE, "low", "medium", "high"]
    if arm in fixed:
        return (0, fixed.index(arm))
    return (1, seen.index(arm))


def summarise(
    items: Iterable[ItemRecord], confidence: float = 0.95
) -> tuple[list[ArmSummary], list[Comparison]]:
    """Per-arm summaries and baseline comparisons, ordered by model, dataset, then arm."""
    records = latest(items)
    groups: dict[tuple[str, str, str], list[ItemRecord]] = {}
    seen_arms: list[str] = []
    for record in records.values():
        groups.setdefault((record.model, record.dataset, record.arm), []).append(record)
        if record.arm not in seen_arms:
            seen_arms.append(record.arm)
    keys = sorted(
        groups, key=lambda key: (key[0], _dataset_order(key[1]), _arm_order(key[2], seen_arms))
    )
    summaries: list[ArmSummary] = []
    comparisons: list[Comparison] = []
    for model, dataset, arm in keys:
        group = groups[(model, dataset, arm)]
        ok = [record for record in group if record.error is None]
        correct = sum(1 for record in ok if record.correct)
        summaries.append(
            ArmSummary(
                model=model,
                dataset=dataset,
                arm=arm,
                n=len(ok),
                correct=correct,
                errors=len(group) - len(ok),
                interval=wilson_interval(correct, len(ok), confidence),
                prompt_tokens=_mean(record.prompt_tokens for record in ok),
                completion_tokens=_mean(record.completion_tokens for record in ok),
                reasoning_tokens=_mean(record.reasoning_tokens for record in ok),
                upstream_calls=_mean(record.upstream_calls for record in ok),
                latency_s=_mean(record.latency_s for record in ok),
            )
        )
        if arm == BASELINE or (model, dataset, BASELINE) not in groups:
            continue
        baseline = {
            record.index: bool(record.correct)
            for record in groups[(model, dataset, BASELINE)]
            if record.error is None
        }
        paired = sorted((r.index, bool(r.correct)) for r in ok if r.index in baseline)
        table = paired_table([c for _, c in paired], [baseline[i] for i, _ in paired])
        comparisons.append(
            Comparison(
                model=model,
                dataset=dataset,
                arm=arm,
                table=table,
                p_value=mcnemar_exact_p(table.won, table.lost),
                interval=paired_difference_interval(table, confidence),
                min_detectable=min_detectable_difference(table.n, table.discordant_rate),
            )
        )
    return summaries, comparisons
