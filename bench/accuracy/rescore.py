"""Re-scoring selection offline: what each rule would have chosen in recorded runs.

A CePO record's ``cepo`` metadata holds every candidate's extracted answer (with its
form and whether it failed), every execution's answer and every rating (with the
binary judges' own results), so the candidates can be chosen again under any rule of
:mod:`reasoning.selection` with no new call. Beside the rules:

* ``recorded``: what the run chose (the record's own verdict);
* ``oracle``: right when any eligible candidate's answer is right (selection's ceiling);
* ``pool_any``: the most frequent answer among all the run's answers (executions',
  finalists' and, where the record has them, the answers the plans stated), whether or
  not a candidate gave it (a vote the engine cannot return, shown for reference);
* ``direct_on_disagreement``: the rule of that option, replayed on a single-candidate
  record: where its executions do not all state one answer (two different ones, or one
  without an answer; a single execution agrees with itself), the item's ``baseline``
  record stands in for the direct answer. The engine's direct call sends the client's
  conversation unchanged at the final step's temperature, which is the baseline's request
  when the baseline ran at that temperature; the rule is given only where it did (and the
  harness's prompts always ask for an answer line, so an answer is always wanted).
* ``keep_execution_majority``: that option, estimated on a record that ran without it:
  where a candidate's final states an answer other than the one most of its executions
  state (more than half, at least two), its new final is taken to state theirs, and the
  candidates are chosen again under the record's own rule and recorded ratings. An
  estimate, not a replay: the new final's text is not recorded (the engine keeps it only
  when it states the majority's answer), and ratings of changed finals are the old
  ones. Not given where the record ran with the option (its ``recorded`` is the rule).
* ``keep_execution_majority (measured)``: the same with the real outcome of each new
  final, where ``bench/accuracy/rig/refinal.py`` sent it to a model (``--refinals``):
  a candidate's final changes only where the new one stated the majority's answer.
  Given only for records whose every such candidate was measured.
* ``without keep_execution_majority``: on a record that ran with that option, each final
  it replaced gets back the answer it stated first, and the candidates are chosen again
  (the option's effect within one run; see :func:`without_execution_majority`).
* ``keep_execution_plurality``: the ``keep_execution_majority`` estimate with that
  option's looser vote, on any record: a final is taken to state its executions'
  plurality answer (more of them state it than any other answer, at least two; see
  :func:`reasoning.answers.plurality_key`) where it stated another. Finals the record's
  own option replaced already state their majority's answer, which is also the
  plurality's. It estimated the option before the engine had it (session 9); on a record
  that ran with it, it is the recorded rule.

A self-consistency record (``samples``) is re-scored at smaller k from its first
samples (``sc27@6`` is the majority of the first 6 of 27 samples), and, with 21 samples
or more, as ``medium`` with ``plan_step: false`` would vote on them
(``medplain replay (3 x 7)``, see :func:`plain_pool`).

:func:`answer_counts` says what the runs produced before any choice: how often a CePO
arm's executions and finals were right and how varied an item's executions were, how
the binary or blind judges' verdicts stood against the truth and what decided each
choice; for self-consistency arms, the samples. They separate a generation gap (the
right answer rarely produced) from a selection gap (produced, not chosen).

Candidates' answers are judged by the harness's own rule on ``Answer: <key>``, so
re-scoring covers the numeric datasets (GSM8K, letters); CRUXEval records are skipped
(their keys are lower-cased, which literals do not survive).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bench.accuracy.arms import BASELINE
from bench.accuracy.datasets import DatasetName
from bench.accuracy.records import ItemRecord, latest
from bench.accuracy.runner import majority_sample
from bench.accuracy.scoring import score_reply
from bench.accuracy.stats import wilson_interval
from bench.accuracy.summary import Comparison, compare_arms
from reasoning.answers import STATED_FORMS, answers_agree, majority_key, plurality_key
from reasoning.selection import RULES, Finalist, choose

RESCORED_DATASETS: tuple[DatasetName, ...] = ("gsm8k", "letters")
SC_PREFIXES = (1, 3, 6, 9, 12, 18, 27)


@dataclass(frozen=True, slots=True)
class RescoreRow:
    """One (dataset, arm, rule): accuracy over ``n`` items and, for a rule that returns a
    candidate, how many chosen answers were not stated; the paired comparison with the
    baseline when there is one."""

    model: str
    dataset: str
    arm: str
    rule: str
    n: int
    correct: int
    unstated: int | None
    versus_baseline: Comparison | None


def key_correct(dataset: str, key: str | None, expected: str) -> bool:
    """Whether the answer key ``key`` is right for a numeric dataset."""
    if key is None:
        return False
    return score_reply(cast(DatasetName, dataset), f"Answer: {key}", expected).correct


def _scores(metadata: dict[str, Any], finalists: Sequence[Finalist]) -> dict[int, float]:
    config = metadata.get("config") or {}
    if config.get("bestofn_rating_type") == "majority":
        counts = Counter(f.answer_key for f in finalists if f.answer_key is not None)
        return {
            f.candidate: float(counts[f.answer_key]) if f.answer_key is not None else 0.0
            for f in finalists
        }
    scores: dict[int, float] = {}
    for rating in metadata.get("ratings") or []:
        if rating.get("type") == "pairwise":
            winner = rating.get("winner")
            if isinstance(winner, int):
                scores[winner] = scores.get(winner, 0.0) + 1.0
        elif isinstance(rating.get("candidate"), int):
            number = rating["candidate"]
            scores[number] = scores.get(number, 0.0) + float(rating.get("score") or 0.0)
    return scores


def rescore_record(record: ItemRecord) -> dict[str, tuple[bool, bool | None]] | None:
    """``rule -> (correct, chosen answer stated)`` for one CePO record, or ``None`` when
    the record holds no selection metadata (the stated flag is ``None`` where no
    candidate is chosen)."""
    metadata = record.cepo
    if not isinstance(metadata, dict) or record.error is not None:
        return None
    selection = metadata.get("selection") or {}
    extracted = selection.get("extracted_answers")
    if not extracted:
        return None
    finalists = [
        Finalist(int(e["candidate"]), e.get("answer"), bool(e.get("failed"))) for e in extracted
    ]
    forms = {int(e["candidate"]): e.get("form") for e in extracted}
    executions = [e.get("answer") for e in selection.get("execution_answers") or []]
    out: dict[str, tuple[bool, bool | None]] = {
        "recorded": (bool(record.correct), record.method not in ("last_number", "none"))
    }
    for rule in RULES:
        out[rule] = _chosen(record, finalists, forms, rule)
    eligible = [f for f in finalists if not f.failed] or finalists
    out["oracle"] = (
        any(key_correct(record.dataset, f.answer_key, record.expected) for f in eligible),
        None,
    )
    plans = [e.get("answer") for e in selection.get("plan_answers") or []]
    everything = Counter(
        key for key in [*plans, *executions, *(f.answer_key for f in eligible)] if key is not None
    )
    top = everything.most_common(1)[0][0] if everything else None
    out["pool_any"] = (key_correct(record.dataset, top, record.expected), None)
    return out


def _chosen(
    record: ItemRecord, finalists: Sequence[Finalist], forms: Mapping[int, str | None], rule: str
) -> tuple[bool, bool]:
    """``(correct, stated)`` of the candidate ``rule`` chooses among ``finalists``, with
    the record's ratings and its executions' answers (and judges', for ``pool_judges``)."""
    metadata = cast(dict[str, Any], record.cepo)
    pool = [e.get("answer") for e in metadata["selection"].get("execution_answers") or []]
    if rule == "pool_judges":
        pool += [r.get("judge_answer") for r in metadata.get("ratings") or []]
    choice = choose(finalists, _scores(metadata, finalists), rule=rule, pool=pool)
    key = next(f.answer_key for f in finalists if f.candidate == choice.candidate)
    return key_correct(record.dataset, key, record.expected), forms.get(
        choice.candidate
    ) in STATED_FORMS


def _rechosen(
    record: ItemRecord, extracted: Sequence[Mapping[str, Any]], answers: Mapping[int, str | None]
) -> tuple[bool, bool]:
    """:func:`_chosen` under the record's own rule, with the finals of the candidates in
    ``answers`` taken to state those answers (the others as ``extracted`` recorded them)."""
    finalists = [
        Finalist(
            int(e["candidate"]),
            answers.get(int(e["candidate"]), e.get("answer")),
            bool(e.get("failed")),
        )
        for e in extracted
    ]
    forms = {int(e["candidate"]): e.get("form") for e in extracted}
    config = cast(dict[str, Any], record.cepo).get("config") or {}
    return _chosen(record, finalists, forms, config.get("selection_rule", "rating"))


def _sc_prefixes(record: ItemRecord) -> dict[str, tuple[bool, bool | None]] | None:
    if not record.samples or record.error is not None:
        return None
    out: dict[str, tuple[bool, bool | None]] = {}
    for k in SC_PREFIXES:
        if k > len(record.samples):
            break
        chosen = majority_sample(record.samples[:k])
        if chosen is None:
            out[f"@{k}"] = (False, False)
            continue
        sample = record.samples[chosen]
        out[f"@{k}"] = (
            bool(sample.get("correct")),
            sample.get("method") not in ("last_number", "none"),
        )
    return out


#: The plan-free shapes replayed on self-consistency samples: rule -> (candidates, samples
#: each). ``medplain`` is ``medium`` since session 7 (3 x 7); ``lowplain`` the staged
#: plan-free ``low`` (one candidate of 4 samples, refine and final: 6 calls, as ``sc6``).
PLAIN_SHAPES: dict[str, tuple[int, int]] = {
    "medplain replay (3 x 7)": (3, 7),
    "lowplain replay (1 x 4)": (1, 4),
}
PLAIN_RULE = "medplain replay (3 x 7)"


def plain_pool(
    record: ItemRecord, shape: tuple[int, int] = PLAIN_SHAPES[PLAIN_RULE]
) -> tuple[bool, bool | None] | None:
    """A plan-free CePO run of ``shape`` = (candidates, samples each) with the majority
    rating (``medium`` since session 7, the arm ``medplain``: 3 x 7), replayed on a
    self-consistency record: its first candidates x samples samples in groups in order,
    each group's most frequent answer (the first on a tie, as self-consistency's)
    standing in for its candidate's final, then the pool vote over those samples and the
    finals. The refine and final steps are not replayed (their real outcome is not in a
    sample record), so this is an estimate of the votes alone; with one candidate, the
    final that breaks a tie is taken to state the first of the tied answers. ``None``
    for a record with fewer samples."""
    candidates, size = shape
    samples = record.samples or []
    if record.error is not None or len(samples) < candidates * size:
        return None
    finalists: list[Finalist] = []
    for number in range(candidates):
        group = samples[number * size : (number + 1) * size]
        chosen = majority_sample(group)
        key = group[chosen].get("extracted") if chosen is not None else None
        finalists.append(Finalist(number + 1, key, key is None))
    if all(f.answer_key is None for f in finalists):
        return False, None
    counts = Counter(f.answer_key for f in finalists if f.answer_key is not None)
    scores = {
        f.candidate: float(counts[f.answer_key]) if f.answer_key is not None else 0.0
        for f in finalists
    }
    pool = [sample.get("extracted") for sample in samples[: candidates * size]]
    choice = choose(finalists, scores, rule="pool", pool=pool)
    key = next(f.answer_key for f in finalists if f.candidate == choice.candidate)
    return key_correct(record.dataset, key, record.expected), None


def direct_on_disagreement(
    record: ItemRecord, baseline: ItemRecord | None
) -> tuple[bool, bool | None] | None:
    """``(correct, stated)`` of a single-candidate CePO ``record`` under the
    ``direct_on_disagreement`` rule, with ``baseline`` (the same item's baseline record)
    as the direct answer; ``None`` where the rule cannot be replayed (see the module
    docstring)."""
    metadata = record.cepo
    if not isinstance(metadata, dict) or record.error is not None or baseline is None:
        return None
    if baseline.error is not None:
        return None
    selection = metadata.get("selection") or {}
    if len(selection.get("extracted_answers") or []) != 1:
        return None
    final_temperature = (metadata.get("config") or {}).get("final_temperature", 0.0)
    if baseline.temperature != final_temperature:
        return None
    keys = [e.get("answer") for e in selection.get("execution_answers") or []]
    if answers_agree(keys):
        return bool(record.correct), record.method not in ("last_number", "none")
    return bool(baseline.correct), baseline.method not in ("last_number", "none")


@dataclass(frozen=True, slots=True)
class Overturned:
    """A candidate whose stated final overturned most of its executions: the final's
    answer, the executions' majority answer and the first attempt that states it."""

    candidate: int
    final_answer: str | None
    majority: str
    from_attempt: int


def overturned_finals(
    record: ItemRecord, vote: Callable[[Sequence[str | None]], str | None] = majority_key
) -> list[Overturned]:
    """The candidates of a CePO ``record`` that ``keep_execution_majority`` would write
    again: a stated, not failed final (no direct or fallback answer) whose answer is not
    the majority's of its executions (:func:`reasoning.answers.majority_key`), or the
    answer of another ``vote`` over them (:func:`reasoning.answers.plurality_key`)."""
    metadata = record.cepo if isinstance(record.cepo, dict) else {}
    selection = metadata.get("selection") or {}
    no_final = {d.get("candidate") for d in metadata.get("direct_on_disagreement") or []}
    no_final.update(metadata.get("fallback_candidates") or [])
    executions: dict[int, list[tuple[int, str | None]]] = {}
    for execution in selection.get("execution_answers") or []:
        executions.setdefault(int(execution["candidate"]), []).append(
            (int(execution.get("attempt") or 0), execution.get("answer"))
        )
    out: list[Overturned] = []
    for entry in selection.get("extracted_answers") or []:
        number, key = int(entry["candidate"]), entry.get("answer")
        answers = executions.get(number, [])
        majority = vote([answer for _, answer in answers])
        stated = entry.get("form") in STATED_FORMS and not entry.get("failed")
        if stated and number not in no_final and majority is not None and key != majority:
            attempt = next(a for a, answer in answers if answer == majority)
            out.append(Overturned(number, key, majority, attempt))
    return out


#: ``(dataset, index, arm, candidate) -> kept`` from refinal.py's output
Refinals = Mapping[tuple[str, int, str, int], bool]


def read_refinals(path: Path) -> dict[tuple[str, int, str, int], bool]:
    """The outcomes :mod:`bench.accuracy.rig.refinal` wrote to ``path``."""
    outcomes: dict[tuple[str, int, str, int], bool] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            key = (row["dataset"], int(row["index"]), row["arm"], int(row["candidate"]))
            outcomes[key] = bool(row["kept"])
    return outcomes


def keep_execution_majority(
    record: ItemRecord, refinals: Refinals | None = None
) -> tuple[bool, bool | None] | None:
    """``(correct, stated)`` of a CePO ``record`` under the ``keep_execution_majority``
    estimate, or with ``refinals`` the measured outcomes (see the module docstring);
    ``None`` where it does not apply or a case was not measured."""
    metadata = record.cepo
    if not isinstance(metadata, dict) or record.error is not None:
        return None
    config = metadata.get("config") or {}
    if config.get("keep_execution_majority") or config.get("keep_execution_plurality"):
        return None
    selection = metadata.get("selection") or {}
    extracted = selection.get("extracted_answers")
    if not extracted:
        return None
    overturned = {case.candidate: case.majority for case in overturned_finals(record)}
    if refinals is not None:
        cases = {n: (record.dataset, record.index, record.arm, n) for n in overturned}
        if any(case not in refinals for case in cases.values()):
            return None
        overturned = {n: key for n, key in overturned.items() if refinals[cases[n]]}
    return _rechosen(record, extracted, overturned)


PLURALITY_RULE = "keep_execution_plurality"


def keep_execution_plurality(record: ItemRecord) -> tuple[bool, bool | None] | None:
    """``(correct, stated)`` of a CePO ``record`` had every stated final that differs
    from its executions' plurality answer (:func:`reasoning.answers.plurality_key`)
    stated that answer, chosen again under the record's own rule and recorded ratings;
    ``None`` for a record without finals (see the module docstring)."""
    metadata = record.cepo
    if not isinstance(metadata, dict) or record.error is not None:
        return None
    selection = metadata.get("selection") or {}
    extracted = selection.get("extracted_answers")
    if not extracted or not selection.get("execution_answers"):
        return None
    overturned = overturned_finals(record, plurality_key)
    return _rechosen(record, extracted, {case.candidate: case.majority for case in overturned})


WITHOUT_MAJORITY_RULE = "without keep_execution_majority"


def without_execution_majority(record: ItemRecord) -> tuple[bool, bool | None] | None:
    """``(correct, stated)`` of a CePO ``record`` that ran with ``keep_execution_majority``,
    had its first finals stood: each final the option replaced
    (``finals_against_majority`` entries kept as ``"majority"``) gets back the answer it
    stated first, and the candidates are chosen again under the record's own rule and
    recorded ratings (the judges rated the new finals; in the pool rule they only break
    ties). The option's effect within one run, free of the sampling that differs between
    runs. ``None`` for a record without the option."""
    metadata = record.cepo
    if not isinstance(metadata, dict) or record.error is not None:
        return None
    config = metadata.get("config") or {}
    extracted = (metadata.get("selection") or {}).get("extracted_answers")
    rewrites = config.get("keep_execution_majority") or config.get("keep_execution_plurality")
    if not rewrites or not extracted:
        return None
    first = {
        int(case["candidate"]): case.get("final_answer")
        for case in metadata.get("finals_against_majority") or []
        if case.get("kept") == "majority"
    }
    return _rechosen(record, extracted, first)


def rescore(items: Iterable[ItemRecord], refinals: Refinals | None = None) -> list[RescoreRow]:
    """Every rule's accuracy per (model, dataset, arm), in the records' order; with
    ``refinals``, also ``keep_execution_majority (measured)``."""
    records = latest(items)
    outcomes: dict[tuple[str, str, str, str], dict[int, tuple[bool, bool | None]]] = {}
    baseline: dict[tuple[str, str], dict[int, bool]] = {}
    baseline_records = {
        (r.model, r.dataset, r.index): r for r in records.values() if r.arm == BASELINE
    }
    for record in records.values():
        if record.dataset not in RESCORED_DATASETS or record.error is not None:
            continue
        if record.arm == BASELINE:
            baseline.setdefault((record.model, record.dataset), {})[record.index] = bool(
                record.correct
            )
            continue
        found = rescore_record(record) or _sc_prefixes(record)
        if found is None:
            continue
        direct = direct_on_disagreement(
            record, baseline_records.get((record.model, record.dataset, record.index))
        )
        if direct is not None:
            found["direct_on_disagreement"] = direct
        for rule, shape in PLAIN_SHAPES.items():
            plain = plain_pool(record, shape)
            if plain is not None:
                found[rule] = plain
        undone = without_execution_majority(record)
        if undone is not None:
            found[WITHOUT_MAJORITY_RULE] = undone
        plurality = keep_execution_plurality(record)
        if plurality is not None:
            found[PLURALITY_RULE] = plurality
        majority = keep_execution_majority(record)
        if majority is not None:
            found["keep_execution_majority"] = majority
            measured = keep_execution_majority(record, refinals) if refinals else None
            if measured is not None:
                found["keep_execution_majority (measured)"] = measured
        for rule, outcome in found.items():
            name = rule if not rule.startswith("@") else f"{record.arm}{rule}"
            key = (record.model, record.dataset, record.arm, name)
            outcomes.setdefault(key, {})[record.index] = outcome
    rows: list[RescoreRow] = []
    for (model, dataset, arm, rule), by_index in outcomes.items():
        correct = {index: outcome[0] for index, outcome in by_index.items()}
        stated = [outcome[1] for outcome in by_index.values() if outcome[1] is not None]
        base = baseline.get((model, dataset))
        rows.append(
            RescoreRow(
                model=model,
                dataset=dataset,
                arm=arm,
                rule=rule,
                n=len(by_index),
                correct=sum(correct.values()),
                unstated=sum(1 for s in stated if not s) if stated else None,
                versus_baseline=(
                    compare_arms(model, dataset, f"{arm}:{rule}", BASELINE, correct, base)
                    if base
                    else None
                ),
            )
        )
    return rows


def render_rescore(rows: Sequence[RescoreRow]) -> str:
    """The rows as markdown tables, one per (model, dataset)."""
    lines: list[str] = []
    groups = list(dict.fromkeys((row.model, row.dataset) for row in rows))
    for model, dataset in groups:
        lines += [
            f"### Re-scored selection: {dataset} — model `{model}`",
            "",
            "| arm | rule | n | accuracy | 95% CI (Wilson) | chosen without stated answer "
            "| vs baseline (points) | 95% CI | McNemar exact p |",
            "|---|---|--:|--:|---|--:|--:|---|--:|",
        ]
        for row in rows:
            if (row.model, row.dataset) != (model, dataset):
                continue
            low, high = wilson_interval(row.correct, row.n)
            unstated = "–" if row.unstated is None else str(row.unstated)
            versus = "| – | – | – |"
            c = row.versus_baseline
            if c is not None:
                versus = (
                    f"| {100 * c.table.difference:+.1f} (n {c.table.n}) "
                    f"| {100 * c.interval[0]:+.1f} to {100 * c.interval[1]:+.1f} "
                    f"| {c.p_value:.3f} |"
                )
            lines.append(
                f"| {row.arm} | {row.rule} | {row.n} | {100 * row.correct / row.n:.1f}% "
                f"| {100 * low:.1f}% – {100 * high:.1f}% | {unstated} {versus}"
            )
        lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class AnswerCounts:
    """What one arm's runs produced on one dataset, beyond the chosen answer: for CePO
    arms the executions' and finals' answers, how many distinct answers the executions
    of an item gave, the judges' verdicts against the truth and what decided the
    choice; for self-consistency arms the samples (``finals_*`` and the judge fields
    stay zero)."""

    model: str
    dataset: str
    arm: str
    n: int
    answers: int
    answers_right: int
    finals: int = 0
    finals_right: int = 0
    distinct: float = 0.0
    yes: int = 0
    yes_right: int = 0
    no: int = 0
    no_right: int = 0
    decided_by: tuple[tuple[str, int], ...] = ()
    samples: bool = False


def _cepo_counts(record: ItemRecord) -> dict[str, Any] | None:
    metadata = record.cepo
    if not isinstance(metadata, dict):
        return None
    selection = metadata.get("selection") or {}
    finals = {
        int(e["candidate"]): e.get("answer") for e in selection.get("extracted_answers") or []
    }
    if not finals:
        return None

    def right(key: str | None) -> bool:
        return key_correct(record.dataset, key, record.expected)

    executions = [e.get("answer") for e in selection.get("execution_answers") or []]
    verdicts: list[tuple[bool, bool]] = []  # (said yes, the rated answer is right)
    for rating in metadata.get("ratings") or []:
        if rating.get("type") in ("binary", "blind") and rating.get("candidate") in finals:
            said_yes = rating.get("verdict") == "yes" or (
                "verdict" not in rating and float(rating.get("score") or 0.0) >= 0.5
            )
            verdicts.append((said_yes, right(finals[rating["candidate"]])))
    return {
        "answers": len(executions),
        "answers_right": sum(right(key) for key in executions),
        "finals": len(finals),
        "finals_right": sum(right(key) for key in finals.values()),
        "distinct": len({key for key in executions if key is not None}),
        "verdicts": verdicts,
        "decided_by": selection.get("decided_by"),
    }


def answer_counts(items: Iterable[ItemRecord]) -> list[AnswerCounts]:
    """:class:`AnswerCounts` per (model, dataset, arm) for CePO and self-consistency arms
    of the re-scored datasets, in the records' order."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for record in latest(items).values():
        if record.dataset not in RESCORED_DATASETS or record.error is not None:
            continue
        key = (record.model, record.dataset, record.arm)
        if record.samples:
            first = [s.get("extracted") for s in record.samples[:9]]
            counts: dict[str, Any] | None = {
                "answers": len(record.samples),
                "answers_right": sum(bool(s.get("correct")) for s in record.samples),
                "distinct": len({a for a in first if a is not None}),
                "samples": True,
            }
        else:
            counts = _cepo_counts(record)
        if counts is not None:
            groups.setdefault(key, []).append(counts)
    rows: list[AnswerCounts] = []
    for (model, dataset, arm), found in groups.items():
        verdicts = [v for counts in found for v in counts.get("verdicts", [])]
        decided = Counter(c["decided_by"] for c in found if c.get("decided_by"))
        rows.append(
            AnswerCounts(
                model=model,
                dataset=dataset,
                arm=arm,
                n=len(found),
                answers=sum(c["answers"] for c in found),
                answers_right=sum(c["answers_right"] for c in found),
                finals=sum(c.get("finals", 0) for c in found),
                finals_right=sum(c.get("finals_right", 0) for c in found),
                distinct=sum(c["distinct"] for c in found) / len(found),
                yes=sum(1 for said_yes, _ in verdicts if said_yes),
                yes_right=sum(1 for said_yes, ok in verdicts if said_yes and ok),
                no=sum(1 for said_yes, _ in verdicts if not said_yes),
                no_right=sum(1 for said_yes, ok in verdicts if not said_yes and ok),
                decided_by=tuple(decided.most_common()),
                samples=bool(found[0].get("samples")),
            )
        )
    return rows


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}% ({part}/{whole})" if whole else "–"


def render_answer_counts(rows: Sequence[AnswerCounts]) -> str:
    """The rows as markdown tables, one per (model, dataset): CePO arms, then
    self-consistency arms."""
    lines: list[str] = []
    for model, dataset in dict.fromkeys((row.model, row.dataset) for row in rows):
        group = [row for row in rows if (row.model, row.dataset) == (model, dataset)]
        cepo = [row for row in group if not row.samples]
        sampled = [row for row in group if row.samples]
        if cepo:
            lines += [
                f"### Answers the CePO runs produced: {dataset} — model `{model}`",
                "",
                "| arm | n | executions right | finals right | distinct answers of an "
                "item's executions | judge said yes: right | judge said no: right | decided by |",
                "|---|--:|--:|--:|--:|--:|--:|---|",
            ]
            for row in cepo:
                decided = ", ".join(f"{how} {count}" for how, count in row.decided_by) or "–"
                lines.append(
                    f"| {row.arm} | {row.n} | {_share(row.answers_right, row.answers)} "
                    f"| {_share(row.finals_right, row.finals)} | {row.distinct:.2f} "
                    f"| {_share(row.yes_right, row.yes)} | {_share(row.no_right, row.no)} "
                    f"| {decided} |"
                )
            lines.append("")
        if sampled:
            lines += [
                f"### Samples of the self-consistency arms: {dataset} — model `{model}`",
                "",
                "| arm | n | samples right | distinct answers of an item's first 9 samples |",
                "|---|--:|--:|--:|",
            ]
            for row in sampled:
                lines.append(
                    f"| {row.arm} | {row.n} | {_share(row.answers_right, row.answers)} "
                    f"| {row.distinct:.2f} |"
                )
            lines.append("")
    return "\n".join(lines)
