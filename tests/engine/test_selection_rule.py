"""The selection rule as a pure function, the config model and the presets."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from config.presets import load_preset
from reasoning.config import CePOConfig
from reasoning.selection import Finalist, agreement, choose, majority_scores


def test_highest_score_wins() -> None:
    finalists = [Finalist(1, "1"), Finalist(2, "2"), Finalist(3, "3")]
    choice = choose(finalists, {2: 1.0})
    assert (choice.candidate, choice.decided_by) == (2, "score")


def test_tie_goes_to_agreement_then_order() -> None:
    finalists = [Finalist(1, "a"), Finalist(2, "b"), Finalist(3, "b"), Finalist(4, None)]
    assert agreement(finalists) == {1: 0, 2: 1, 3: 1, 4: 0}
    choice = choose(finalists, {})
    assert (choice.candidate, choice.decided_by) == (2, "agreement")
    choice = choose([Finalist(1, None), Finalist(2, None)], {})
    assert (choice.candidate, choice.decided_by) == (1, "order")


def test_unanimous_and_single() -> None:
    assert choose([Finalist(3, "x"), Finalist(5, "x")], {}).decided_by == "unanimous"
    assert choose([Finalist(3, "x")], {}).decided_by == "only candidate"
    with pytest.raises(ValueError):
        choose([], {})


def test_majority_scores_count_answer_groups() -> None:
    finalists = [Finalist(1, "7"), Finalist(2, "9"), Finalist(3, "9"), Finalist(4, None)]
    assert majority_scores(finalists) == {1: 1.0, 2: 2.0, 3: 2.0, 4: 0.0}


def test_config_defaults_are_the_papers() -> None:
    config = CePOConfig()
    assert (config.bestofn_n, config.planning_n, config.planning_m) == (3, 3, 6)
    assert config.bestofn_rating_type == "absolute"
    assert (config.planning_temperature, config.execution_temperature) == (0.55, 0.25)
    assert (config.refine_temperature, config.final_temperature) == (0.1, 0.0)


def test_merged_validates_and_names_the_field() -> None:
    config = CePOConfig().merged({"bestofn_n": 5, "bestofn_rating_type": "pairwise"})
    assert (config.bestofn_n, config.bestofn_rating_type) == (5, "pairwise")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"bestofn_n": 0}, "bestofn_n"),
        ({"refine_temperature": 2.5}, "refine_temperature"),
        ({"final_max_tokens": 200_000}, "final_max_tokens"),
        ({"no_such_knob": 1}, "no_such_knob"),
    ]
    for overrides, field in cases:
        with pytest.raises(ValidationError) as caught:
            CePOConfig().merged(overrides)
        assert field in str(caught.value)
    with pytest.raises(ValidationError, match="planning_m"):
        CePOConfig().merged({"planning_n": 5, "planning_m": 4})


def test_config_is_frozen() -> None:
    with pytest.raises(ValidationError):
        CePOConfig().bestofn_n = 2


def test_presets() -> None:
    # planned is the paper's shape with the measured selection (binary rating, pool vote),
    # finals kept to their executions' majority and plans and executions sampled at 0.7
    planned = CePOConfig(
        bestofn_rating_type="binary",
        selection_rule="pool",
        keep_execution_majority=True,
        planning_temperature=0.7,
        execution_temperature=0.7,
    )
    assert load_preset("planned") == planned
    # medium is the same without plans: 7 plain samples per candidate, the majority rating,
    # as many calls (3 x (3 + 3 + 2) + 3 ratings = 3 x (7 + 2))
    assert load_preset("medium") == planned.merged(
        {"plan_step": False, "planning_n": 7, "planning_m": 14, "bestofn_rating_type": "majority"}
    )
    thinking = load_preset("thinking")
    assert thinking.upstream_reasoning_effort is not None
    assert thinking.final_max_tokens > load_preset("medium").final_max_tokens
    low, high = load_preset("low"), load_preset("high")
    # low: one candidate of 4 plain samples, refine and final (6 calls, as sc6)
    assert (low.bestofn_n, low.planning_n, low.planning_m, low.plan_step) == (1, 4, 8, False)
    assert high.bestofn_n > 3 and high.planning_n > 3 and high.planning_m > 6
    with pytest.raises(ValueError, match="unknown preset"):
        load_preset("extreme")  # type: ignore[arg-type]
