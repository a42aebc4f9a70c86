"""From item records to numbers: per-arm accuracy and cost, paired comparisons.

Records are first reduced to the last one per (model, dataset, index, arm). A record
with an error counts as an error, not as a wrong answer: it is left out of accuracy,
means and pairs (the count of errors is reported beside them). Every arm is compared
with the baseline, and each arm named in ``versus`` with its matched arm (by default
``low`` with ``sc6`` and ``medium`` with ``sc27``); pairs are the items on which both
arms have an error-free record.

An answer is *unstated* when the harness found it only as the reply's last number (or
found none): the reply gave no ``\boxed{}``, ``Answer:`` line or "the answer is".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from statistics import fmean

from bench.accuracy.arms import BASELINE, MATCHED_SC
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
    unstated: int = 0
    temperatures: tuple[float, ...] = ()

    @property
    def accuracy(self) -> float:
        """Share right among error-free records; 0.0 when there are none."""
        return self.correct / self.n if self.n else 0.0


@dataclass(frozen=True, slots=True)
class Comparison:
    """An arm against another (``against``, the baseline unless matched) on the items
    both answered."""

    model: str
    dataset: str
    arm: str
    table: PairedTable
    p_value: float
    interval: tuple[float, float]
    min_detectable: float | None
    against: str = BASELINE


UNSTATED_METHODS = ("last_number", "none")


def compare_arms(
    model: str,
    dataset: str,
    arm: str,
    against: str,
    arm_correct: dict[int, bool],
    other_correct: dict[int, bool],
    confidence: float = 0.95,
) -> Comparison:
    """``arm`` against ``against`` on the indices both have (correctness by index)."""
    paired = sorted(index for index in arm_correct if index in other_correct)
    table = paired_table([arm_correct[i] for i in paired], [other_correct[i] for i in paired])
    return Comparison(
        model=model,
        dataset=dataset,
        arm=arm,
        table=table,
        p_value=mcnemar_exact_p(table.won, table.lost),
        interval=paired_difference_interval(table, confidence),
        min_detectable=min_detectable_difference(table.n, table.discordant_rate),
        against=against,
    )


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
    items: Iterable[ItemRecord],
    confidence: float = 0.95,
    versus: Iterable[tuple[str, str]] = tuple(MATCHED_SC.items()),
) -> tuple[list[ArmSummary], list[Comparison]]:
    """Per-arm summaries, baseline comparisons, then the ``versus`` comparisons ((arm,
    other) pairs; an arm may have several), ordered by model, dataset, then arm."""
    pairs = list(versus)
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

    def correctness(model: str, dataset: str, arm: str) -> dict[int, bool]:
        return {
            record.index: bool(record.correct)
            for record in groups.get((model, dataset, arm), [])
            if record.error is None
        }

    summaries: list[ArmSummary] = []
    comparisons: list[Comparison] = []
    matched: list[Comparison] = []
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
                unstated=sum(1 for record in ok if record.method in UNSTATED_METHODS),
                temperatures=tuple(
                    sorted({r.temperature for r in ok if r.temperature is not None})
                ),
            )
        )
        mine = correctness(model, dataset, arm)
        if arm != BASELINE and (model, dataset, BASELINE) in groups:
            comparisons.append(
                compare_arms(
                    model,
                    dataset,
                    arm,
                    BASELINE,
                    mine,
                    correctness(model, dataset, BASELINE),
                    confidence,
                )
            )
        for other in (other for first, other in pairs if first == arm):
            if (model, dataset, other) in groups:
                matched.append(
                    compare_arms(
                        model,
                        dataset,
                        arm,
                        other,
                        mine,
                        correctness(model, dataset, other),
                        confidence,
                    )
                )
    return summaries, comparisons + matched
